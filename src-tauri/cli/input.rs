//! Where passphrases come from: a file, standard input ("-"), or a prompt on a terminal.
//! Never from an argument, which would end up in shell history and `ps`. Read through the
//! command's terminal (`term`), so a command run by the running Keyhold reads them where the
//! user typed it.

use std::path::Path;

use super::output::Failure;
use super::term;
use keyhold_core::error::ErrorKind;
use keyhold_core::passphrase::Passphrase;

const HOW: &str = "Give it with --passphrase-file FILE (or --passphrase-file - to read standard input), or run the command in a terminal to be prompted.";

fn read_source(file: &Path) -> Result<Passphrase, Failure> {
    let text = if file == Path::new("-") {
        term::with(|t| t.read_stdin()).map_err(|e| {
            Failure::from_message(ErrorKind::Input, format!("Could not read the passphrase from standard input: {e}"))
        })?
    } else {
        term::with(|t| t.read_file(file)).map_err(|e| {
            Failure::from_message(
                ErrorKind::Input,
                format!("Could not read the passphrase file {}: {e}", file.display()),
            )
        })?
    };
    Ok(Passphrase::new(text))
}

fn prompt(label: &str) -> Result<Passphrase, Failure> {
    term::with(|t| t.prompt_hidden(label)).map(Passphrase::new).map_err(|e| {
        Failure::from_message(ErrorKind::Input, format!("Could not read the passphrase from the terminal: {e}"))
    })
}

fn no_source() -> Failure {
    Failure::from_message(ErrorKind::NoPassphrase, format!("No passphrase given. {HOW}"))
}

/// The passphrase for a command that changes something: every change needs it, from the command
/// line as from the window. `action` says what in the refusal, e.g. "Adding an agent".
pub fn passphrase_for(file: Option<&Path>, action: &str) -> Result<Passphrase, Failure> {
    match file {
        Some(f) => read_source(f),
        None if term::stdin_is_terminal() => prompt("Vault passphrase: "),
        None => Err(Failure::from_message(
            ErrorKind::NoPassphrase,
            format!("{action} needs the vault passphrase (every change to Keyhold's configuration, and every use of a key, does). Nothing was changed. {HOW}"),
        )),
    }
}

/// The current passphrase.
pub fn passphrase(file: Option<&Path>, label: &str) -> Result<Passphrase, Failure> {
    match file {
        Some(f) => read_source(f),
        None if term::stdin_is_terminal() => prompt(label),
        None => Err(no_source()),
    }
}

/// A new passphrase: from a file once, or typed twice at a prompt (the second is returned as the
/// confirmation, for the core to compare).
pub fn new_passphrase(file: Option<&Path>, label: &str) -> Result<(Passphrase, Option<Passphrase>), Failure> {
    match file {
        Some(f) => Ok((read_source(f)?, None)),
        None if term::stdin_is_terminal() => Ok((prompt(label)?, Some(prompt("Type it again: ")?))),
        None => Err(no_source()),
    }
}
