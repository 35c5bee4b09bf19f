//! `keyhold redact` and `keyhold dictionary …`: local anonymization from a terminal.

use std::path::Path;

use clap::{Subcommand, ValueEnum};
use serde_json::json;
use zeroize::Zeroizing;

use super::output::{Failure, Output};
use super::place::Place;
use keyhold_core::app::{self, privacy, privacy::PolicyOf};
use keyhold_core::error::ErrorKind;
use keyhold_core::privacy::{Policy, ToolValues};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PolicyArg {
    Off,
    Secrets,
    Pii,
    Block,
}

impl From<PolicyArg> for Policy {
    fn from(p: PolicyArg) -> Policy {
        match p {
            PolicyArg::Off => Policy::Off,
            PolicyArg::Secrets => Policy::Secrets,
            PolicyArg::Pii => Policy::Pii,
            PolicyArg::Block => Policy::Block,
        }
    }
}

/// What an agent's tool calls get back of the values its policy replaced.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ToolValuesArg {
    /// E-mail addresses, names and the rest come back; secrets never do.
    Restore,
    /// Every value stays a placeholder in tool calls.
    Placeholders,
}

impl From<ToolValuesArg> for ToolValues {
    fn from(t: ToolValuesArg) -> ToolValues {
        match t {
            ToolValuesArg::Restore => ToolValues::Restore,
            ToolValuesArg::Placeholders => ToolValues::Placeholders,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum DictionaryCommand {
    /// Add terms to hide (one per line on standard input): client names, project code names,
    /// people. Applied by the pii and block policies.
    Add,
    /// List the terms, each as a hint (first and last letter, length): a term is never shown again.
    List,
    /// Remove a term by its id.
    Remove { id: String },
}

fn read_stdin(what: &str) -> Result<Zeroizing<String>, Failure> {
    let text = super::term::with(|t| t.read_stdin()).map_err(|e| {
        Failure::from_message(ErrorKind::Input, format!("Could not read {what} from standard input: {e}"))
    })?;
    Ok(Zeroizing::new(text))
}

fn stdin_is_taken(passphrase_file: Option<&Path>, what: &str) -> Result<(), Failure> {
    if passphrase_file == Some(Path::new("-")) {
        return Err(Failure::from_message(
            ErrorKind::Usage,
            format!("{what} is read from standard input, so the passphrase cannot be: use --passphrase-file FILE."),
        ));
    }
    Ok(())
}

/// `keyhold redact`: what a cloud model would receive for the text on standard input.
pub fn redact(
    agent: Option<&str>,
    policy: Option<PolicyArg>,
    passphrase_file: Option<&Path>,
    place: &Place<'_>,
    out: &Output,
) -> Result<(), Failure> {
    stdin_is_taken(passphrase_file, "The text")?;
    let text = read_stdin("the text")?;
    let ws = place.workspace()?;
    let policy = match (agent, policy) {
        (Some(_), Some(_)) => {
            return Err(Failure::from_message(ErrorKind::Usage, "Give --agent or --policy, not both.".into()))
        }
        (Some(a), None) => app::agents::find(&ws, a)?.privacy,
        (None, Some(p)) => p.into(),
        (None, None) => Policy::default(),
    };
    // The dictionary is sealed in the vault: it applies when the passphrase is at hand.
    let with_dictionary = passphrase_file.is_some() && policy.uses_dictionary();
    if with_dictionary {
        let p = super::input::passphrase(passphrase_file, "Vault passphrase: ")?;
        place.unlock(&ws, &p)?;
    }
    let r = privacy::redact(&ws, &text, PolicyOf::Given(policy), with_dictionary)?;
    if r.policy.uses_dictionary() && !r.dictionary_applied {
        crate::errln!(
            "keyhold: note: your dictionary was not applied (it is sealed in the vault): give --passphrase-file FILE to include it."
        );
    }
    let (redacted, policy) = (&r.text, r.policy);
    if out.json {
        crate::outln!("{}", json!({ "text": redacted, "policy": policy, "findings": r.findings }));
    } else {
        crate::out!("{redacted}");
        if !redacted.ends_with('\n') {
            crate::outln!();
        }
        crate::errln!("keyhold: {} policy: replaced {}.", policy.as_str(), r.counts.sentence());
        if policy == Policy::Block && !r.counts.is_empty() {
            crate::errln!("keyhold: with the block policy, a cloud step would refuse this text.");
        }
    }
    Ok(())
}

pub fn dictionary(
    command: &DictionaryCommand,
    passphrase_file: Option<&Path>,
    place: &Place<'_>,
    out: &Output,
) -> Result<(), Failure> {
    match command {
        DictionaryCommand::Add => {
            stdin_is_taken(passphrase_file, "The terms")?;
            let ws = place.unlocked(passphrase_file, "Adding dictionary terms")?;
            let text = read_stdin("the terms")?;
            let terms: Vec<Zeroizing<String>> = text.lines().map(|l| Zeroizing::new(l.to_string())).collect();
            let added = privacy::add_terms(&ws, &terms)?;
            out.success(
                &format!(
                    "Added {} term(s) to your dictionary: {}.",
                    added.len(),
                    added.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(", ")
                ),
                json!({ "ok": true, "added": added }),
            );
        }
        DictionaryCommand::List => {
            let ws = place.unlocked(passphrase_file, "Listing the dictionary")?;
            let list = privacy::dictionary(&ws)?;
            if out.json {
                crate::outln!("{}", json!({ "ok": true, "terms": list }));
            } else if list.is_empty() {
                crate::outln!(
                    "Your dictionary is empty. Add terms with: keyhold dictionary add (one per line on standard input)"
                );
            } else {
                crate::outln!("{:<16} {:<28} ADDED", "ID", "TERM");
                for t in list {
                    crate::outln!("{:<16} {:<28} {}", t.id, t.hint, t.created_at);
                }
            }
        }
        DictionaryCommand::Remove { id } => {
            let ws = place.unlocked(passphrase_file, "Removing a dictionary term")?;
            privacy::remove_term(&ws, id)?;
            out.success(&format!("Removed {id} from your dictionary."), json!({ "ok": true }));
        }
    }
    Ok(())
}

/// `keyhold phone-region [REGION]`: shows the region whose phone numbers are found without a
/// context word, or sets it (a country code, `system` or `none`).
pub fn phone_region(
    set: Option<&str>,
    passphrase_file: Option<&Path>,
    place: &Place<'_>,
    out: &Output,
) -> Result<(), Failure> {
    let action = if set.is_some() { "Setting the phone region" } else { "Reading the phone region" };
    let ws = place.unlocked(passphrase_file, action)?;
    let r = match set {
        Some(choice) => privacy::set_phone_region(&ws, choice)?,
        None => privacy::phone_region(&ws)?,
    };
    let system = r.system.as_deref().unwrap_or("none (the locale names no country)");
    let line = match (&r.region, r.choice.as_str()) {
        (Some(code), "system") => format!("Phone numbers: {code}, the system's region."),
        (None, "system") => "Phone numbers: no region (the system locale names no country), so a national number needs a context word such as \"call\" or \"Telefon\". Set one with: keyhold phone-region DE".to_string(),
        (None, _) => format!(
            "Phone numbers: no region, so a national number needs a context word such as \"call\" or \"Telefon\" (the system's is {system})."
        ),
        (Some(code), _) => format!("Phone numbers: {code} (the system's is {system})."),
    };
    out.success(&line, json!({ "ok": true, "phone_region": r }));
    Ok(())
}
