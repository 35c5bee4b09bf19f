//! Where passphrases come from: a file, standard input ("-"), or a prompt on a terminal.
//! Never from an argument, which would end up in shell history and `ps`.

use std::io::{IsTerminal, Read};
use std::path::Path;

use super::output::Failure;
use keyhold_core::error::ErrorKind;
use keyhold_core::passphrase::Passphrase;

const HOW: &str = "Give it with --passphrase-file FILE (or --passphrase-file - to read standard input), or run the command in a terminal to be prompted.";

fn read_source(file: &Path) -> Result<Passphrase, Failure> {
    let mut text = String::new();
    if file == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map_err(|e| {
            Failure::from_message(ErrorKind::Input, format!("Could not read the passphrase from standard input: {e}"))
        })?;
    } else {
        text = std::fs::read_to_string(file).map_err(|e| {
            Failure::from_message(
                ErrorKind::Input,
                format!("Could not read the passphrase file {}: {e}", file.display()),
            )
        })?;
    }
    Ok(Passphrase::new(text))
}

fn prompt(label: &str) -> Result<Passphrase, Failure> {
    rpassword::prompt_password(label).map(Passphrase::new).map_err(|e| {
        Failure::from_message(ErrorKind::Input, format!("Could not read the passphrase from the terminal: {e}"))
    })
}

fn no_source() -> Failure {
    Failure::from_message(ErrorKind::NoPassphrase, format!("No passphrase given. {HOW}"))
}

/// An unlocked workspace for a command that changes something: every change needs the vault
/// passphrase, from the command line as from the window (the core refuses a change without it).
/// `action` says what in the refusal, e.g. "Adding an agent".
pub fn unlocked(
    dir: keyhold_core::datadir::DataDir,
    file: Option<&Path>,
    action: &str,
) -> Result<keyhold_core::workspace::Workspace, Failure> {
    let ws = keyhold_core::workspace::Workspace::open(dir)?;
    let p = match file {
        Some(f) => read_source(f)?,
        None if std::io::stdin().is_terminal() => prompt("Vault passphrase: ")?,
        None => {
            return Err(Failure::from_message(
                ErrorKind::NoPassphrase,
                format!("{action} needs the vault passphrase (every change to Keyhold's configuration, and every use of a key, does). Nothing was changed. {HOW}"),
            ))
        }
    };
    ws.unlock(&p)?;
    Ok(ws)
}

/// The current passphrase.
pub fn passphrase(file: Option<&Path>, label: &str) -> Result<Passphrase, Failure> {
    match file {
        Some(f) => read_source(f),
        None if std::io::stdin().is_terminal() => prompt(label),
        None => Err(no_source()),
    }
}

/// A new passphrase: from a file once, or typed twice at a prompt (the second is returned as the
/// confirmation, for the core to compare).
pub fn new_passphrase(file: Option<&Path>, label: &str) -> Result<(Passphrase, Option<Passphrase>), Failure> {
    match file {
        Some(f) => Ok((read_source(f)?, None)),
        None if std::io::stdin().is_terminal() => Ok((prompt(label)?, Some(prompt("Type it again: ")?))),
        None => Err(no_source()),
    }
}
