//! Local anonymization in the window: the "what the model receives" preview and the dictionary.
//! No reply carries a value the policy hides: the preview is the redacted text (placeholders
//! only), and the dictionary is listed as hints.

use serde::Serialize;
use specta::Type;
use zeroize::Zeroizing;

use keyhold_core::agents;
use keyhold_core::privacy::{dictionary, outbound, Counts, Dictionary, Policy, Redactor, Rules, Span};
use keyhold_core::providers::canonical::Turn;
use keyhold_core::router;

use crate::shell::error::{CommandError, Ws};

/// The last message as a cloud step of the agent would receive it.
#[derive(Debug, Clone, Serialize, Type)]
pub struct Preview {
    pub policy: Policy,
    /// The message with each replacement as its placeholder.
    pub text: String,
    /// Where each placeholder sits in `text` (character offsets), for highlighting.
    pub spans: Vec<Span>,
    /// Replacements in the whole request (system prompt and earlier turns included).
    pub counts: Counts,
    /// `block` would refuse to send this to a cloud step.
    pub blocked: bool,
}

/// Shows what the agent's cloud steps would receive for this conversation: the same redaction
/// the router applies (earlier turns and the system prompt count for the numbering).
#[tauri::command]
#[specta::specta]
pub fn privacy_preview(ws: Ws<'_>, agent: String, turns: Vec<Turn>) -> Result<Preview, CommandError> {
    Ok(ws.with_unlocked(|c, u| -> Result<Preview, keyhold_core::workspace::WorkspaceError> {
        let a = agents::find(c, &agent)?;
        let terms = if a.privacy.uses_dictionary() { dictionary::load(c, u)? } else { Vec::new() };
        let dict = Dictionary::new(&terms);
        let mut r = Redactor::new(Rules::builtin(), a.privacy, &dict);
        let req = router::agent_request(&a, turns);
        if let Some(s) = &req.system {
            r.redact(s, "the system prompt");
        }
        let mut last = (String::new(), Vec::new());
        for (i, t) in req.turns.iter().enumerate() {
            last = r.redact_with_spans(&t.text, &format!("message {}", i + 1));
        }
        let counts = r.counts().clone();
        Ok(Preview {
            policy: a.privacy,
            text: last.0,
            spans: last.1,
            blocked: a.privacy == Policy::Block && !counts.is_empty(),
            counts,
        })
    })?)
}

#[tauri::command]
#[specta::specta]
pub fn dictionary_list(ws: Ws<'_>) -> Result<Vec<dictionary::TermInfo>, CommandError> {
    Ok(ws.with_unlocked(|c, u| dictionary::list(c, u))?)
}

/// Adds terms (one per entry); returns the whole list (as hints).
#[tauri::command]
#[specta::specta]
pub fn dictionary_add(ws: Ws<'_>, terms: Vec<String>) -> Result<Vec<dictionary::TermInfo>, CommandError> {
    let terms: Vec<Zeroizing<String>> = terms.into_iter().map(Zeroizing::new).collect();
    ws.with_unlocked(|c, u| dictionary::add(c, u, &terms))?;
    dictionary_list(ws)
}

#[tauri::command]
#[specta::specta]
pub fn dictionary_remove(ws: Ws<'_>, id: String) -> Result<Vec<dictionary::TermInfo>, CommandError> {
    ws.with_unlocked(|c, u| dictionary::remove(c, u, &id))?;
    dictionary_list(ws)
}

/// How many days the outbound payload log keeps (0: off).
#[tauri::command]
#[specta::specta]
pub fn payload_log_days(ws: Ws<'_>) -> Result<u32, CommandError> {
    Ok(ws.with_unlocked(|c, u| outbound::retention(c, u))?)
}

/// Turns the outbound payload log on (1 to 90 days) or off (0, which also empties it).
#[tauri::command]
#[specta::specta]
pub fn payload_log_set_days(ws: Ws<'_>, days: u32) -> Result<u32, CommandError> {
    ws.with_unlocked(|c, u| outbound::set_retention(c, u, days))?;
    payload_log_days(ws)
}

/// The newest logged requests (who, where, when, size; no bodies).
#[tauri::command]
#[specta::specta]
pub fn payload_log_list(ws: Ws<'_>) -> Result<Vec<outbound::PayloadInfo>, CommandError> {
    Ok(ws.with_unlocked(|c, _| outbound::list(c, 200))?)
}

/// One logged request, exactly as the provider received it (after redaction), at the user's
/// request.
#[tauri::command]
#[specta::specta]
pub fn payload_log_open(ws: Ws<'_>, id: String) -> Result<String, CommandError> {
    Ok(ws.with_unlocked(|c, u| outbound::open(c, u, &id))?)
}
