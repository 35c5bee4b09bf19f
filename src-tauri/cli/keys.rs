//! `keyhold keys …`: provider keys from a terminal.

use std::path::Path;

use clap::Subcommand;
use serde_json::json;
use zeroize::Zeroizing;

use super::output::{Failure, Output};
use super::place::Place;
use super::term;
use keyhold_core::app;
use keyhold_core::error::ErrorKind;
use keyhold_core::keys::{self, KeySummary, Reach, Saved};
use keyhold_core::providers::AuthStyle;
use keyhold_core::workspace::WorkspaceError;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a key (read from standard input; none for a local Ollama).
    Add {
        /// Provider id: anthropic, openai, mistral, gemini, deepseek, xai, groq, cerebras,
        /// openrouter, together, custom, ollama.
        #[arg(long)]
        provider: String,
        #[arg(long)]
        label: String,
        /// In the form the provider's SDK takes: OpenAI-style …/v1; Anthropic without /v1.
        #[arg(long, value_name = "URL")]
        base_url: Option<String>,
        /// Allow plain http:// to another machine (a gateway on your own network): the key
        /// travels unencrypted. Without it, cloud keys need https:// unless the host is this machine.
        #[arg(long)]
        allow_insecure_http: bool,
        /// Count this server as local although it is not on this machine (an Ollama on your own
        /// network): offline mode may use it and its calls cost nothing.
        #[arg(long)]
        local: bool,
    },
    /// List keys, masked.
    List,
    /// Test K against its provider's model list (one authenticated call).
    Test { key: String },
    /// Show the models K's last successful test found.
    Models { key: String },
    /// Make K the default key of its provider.
    Default { key: String },
    /// Replace K's secret (new key on standard input); id, label and references stay.
    Rotate { key: String },
    /// Stop K from being sent anywhere.
    Deactivate { key: String },
    /// Allow K to be used again.
    Activate { key: String },
    /// Delete K.
    Remove {
        key: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

fn read_key(passphrase_file: Option<&Path>) -> Result<Zeroizing<String>, Failure> {
    if passphrase_file == Some(Path::new("-")) {
        return Err(Failure::from_message(
            ErrorKind::Usage,
            "The key is read from standard input, so the passphrase cannot be: use --passphrase-file FILE.".into(),
        ));
    }
    let text = if term::stdin_is_terminal() {
        term::with(|t| t.prompt_hidden("Paste the key (hidden): ")).map_err(|e| {
            Failure::from_message(ErrorKind::Input, format!("Could not read the key from the terminal: {e}"))
        })?
    } else {
        term::with(|t| t.read_stdin()).map_err(|e| {
            Failure::from_message(ErrorKind::Input, format!("Could not read the key from standard input: {e}"))
        })?
    };
    Ok(Zeroizing::new(text))
}

fn line(k: &KeySummary) -> String {
    format!(
        "{:<16} {:<11} {:<20} {:<16} {:<8} {:<7} {}",
        k.id,
        k.provider,
        k.label,
        if k.masked.is_empty() { "(no key)" } else { &k.masked },
        if k.active { "active" } else { "inactive" },
        if k.is_default { "default" } else { "" },
        k.base_url.as_deref().unwrap_or("")
    )
}

fn saved(out: &Output, verb: &str, s: &Saved) {
    for w in &s.warnings {
        crate::errln!("keyhold: note: {w}");
    }
    let masked = if s.key.masked.is_empty() { "no key" } else { &s.key.masked };
    out.success(
        &format!("{verb} {} ({}, {masked}).", s.key.label, s.key.provider),
        json!({ "ok": true, "key": s.key, "warnings": s.warnings }),
    );
}

/// Long enough for a slow provider, short enough that a dead one is reported promptly.
const KEY_TEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

pub fn run(
    command: &KeysCommand,
    passphrase_file: Option<&Path>,
    place: &Place<'_>,
    out: &Output,
) -> Result<(), Failure> {
    match command {
        KeysCommand::Add { provider, label, base_url, allow_insecure_http, local } => {
            // Refuse an unknown provider before asking for the passphrase.
            let spec = keys::provider(provider).map_err(WorkspaceError::from)?;
            let needs_key = spec.auth != AuthStyle::None;
            let ws = place.unlocked(passphrase_file, "Adding a key")?;
            let secret = if needs_key { Some(read_key(passphrase_file)?) } else { None };
            let reach = Reach { allow_insecure_http: *allow_insecure_http, marked_local: *local };
            let s = app::keys::add(&ws, provider, label, base_url.as_deref(), secret, reach)?;
            saved(out, "Added", &s);
        }
        KeysCommand::Rotate { key } => {
            let ws = place.unlocked(passphrase_file, "Replacing a key")?;
            let secret = read_key(passphrase_file)?;
            let s = app::keys::rotate(&ws, key, secret)?;
            saved(out, "Replaced the key of", &s);
        }
        KeysCommand::List => {
            let ws = place.workspace()?;
            let list = app::keys::list(&ws)?;
            if out.json {
                crate::outln!("{}", json!({ "ok": true, "keys": list }));
            } else if list.is_empty() {
                crate::outln!("No provider keys yet. Add one with: keyhold keys add --provider P --label L");
            } else {
                crate::outln!(
                    "{:<16} {:<11} {:<20} {:<16} {:<8} {:<7} BASE URL",
                    "ID",
                    "PROVIDER",
                    "LABEL",
                    "KEY",
                    "STATE",
                    "DEFAULT"
                );
                list.iter().for_each(|k| crate::outln!("{}", line(k)));
            }
        }
        KeysCommand::Test { key } => {
            let ws = place.unlocked(passphrase_file, "Testing a key")?;
            let (k, verdict) = place.block_on(app::keys::test(&ws, key, KEY_TEST_TIMEOUT))??;
            let sentence = k.last_test.clone().unwrap_or_default();
            if !verdict.is_valid() {
                if out.json {
                    crate::outln!("{}", json!({ "ok": false, "key": k, "verdict": verdict }));
                    return Err(Failure::quiet());
                }
                return Err(Failure::from_message(ErrorKind::KeyTestFailed, format!("{}: {sentence}", k.label)));
            }
            out.success(&format!("{}: {sentence}", k.label), json!({ "ok": true, "key": k, "verdict": verdict }));
        }
        KeysCommand::Models { key } => {
            let k = app::keys::find(&*place.workspace()?, key)?;
            if out.json {
                crate::outln!("{}", json!({ "ok": true, "models": k.models, "fetched_at": k.models_fetched_at }));
            } else if k.models.is_empty() {
                crate::outln!("No models known for {} yet: run `keyhold keys test {}`.", k.label, k.label);
            } else {
                k.models.iter().for_each(|m| crate::outln!("{m}"));
            }
        }
        KeysCommand::Default { key } => {
            let k = app::keys::set_default(&*place.unlocked(passphrase_file, "Choosing the default key")?, key)?;
            out.success(
                &format!("{} is now the default {} key.", k.label, k.provider),
                json!({ "ok": true, "key": k }),
            );
        }
        KeysCommand::Deactivate { key } | KeysCommand::Activate { key } => {
            let active = matches!(command, KeysCommand::Activate { .. });
            let action = if active { "Reactivating a key" } else { "Deactivating a key" };
            let k = app::keys::set_active(&*place.unlocked(passphrase_file, action)?, key, active)?;
            let state = if active { "active again" } else { "deactivated: it will not be sent anywhere" };
            out.success(&format!("{} is {state}.", k.label), json!({ "ok": true, "key": k }));
        }
        KeysCommand::Remove { key, yes } => {
            let ws = place.unlocked(passphrase_file, "Deleting a key")?;
            let k = app::keys::find(&ws, key)?;
            if !yes {
                confirm(&format!(
                    "Delete the key {} ({}, {})? This cannot be undone. [y/N] ",
                    k.label, k.provider, k.masked
                ))?;
            }
            let k = app::keys::remove(&ws, &k.id)?;
            out.success(&format!("Deleted {}.", k.label), json!({ "ok": true, "key": k }));
        }
    }
    Ok(())
}

fn confirm(question: &str) -> Result<(), Failure> {
    if !term::stdin_is_terminal() {
        return Err(Failure::from_message(ErrorKind::Usage, "Deleting a key needs confirmation: add --yes.".into()));
    }
    crate::err!("{question}");
    let answer = term::with(|t| t.read_line()).map_err(|e| Failure::from_message(ErrorKind::Input, e.to_string()))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Failure::from_message(ErrorKind::Cancelled, "Nothing was deleted.".into()))
    }
}
