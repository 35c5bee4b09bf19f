//! Local anonymization in the window: the "what the model receives" preview and the dictionary.
//! No reply carries a value the policy hides: the preview is the redacted text (placeholders
//! only), and the dictionary is listed as hints.

use zeroize::Zeroizing;

use keyhold_core::app::privacy::{self, Preview};
use keyhold_core::privacy::region::PhoneRegion;
use keyhold_core::privacy::{dictionary, outbound};
use keyhold_core::providers::canonical::Turn;

use crate::shell::error::{CommandError, Ws};

/// Shows what the agent's cloud steps would receive for this conversation: the same redaction
/// the router applies (earlier turns and the system prompt count for the numbering).
#[tauri::command]
#[specta::specta]
pub fn privacy_preview(ws: Ws<'_>, agent: String, turns: Vec<Turn>) -> Result<Preview, CommandError> {
    Ok(privacy::preview(&ws, &agent, turns)?)
}

#[tauri::command]
#[specta::specta]
pub fn dictionary_list(ws: Ws<'_>) -> Result<Vec<dictionary::TermInfo>, CommandError> {
    Ok(privacy::dictionary(&ws)?)
}

/// Adds terms (one per entry); returns the whole list (as hints).
#[tauri::command]
#[specta::specta]
pub fn dictionary_add(ws: Ws<'_>, terms: Vec<String>) -> Result<Vec<dictionary::TermInfo>, CommandError> {
    let terms: Vec<Zeroizing<String>> = terms.into_iter().map(Zeroizing::new).collect();
    privacy::add_terms(&ws, &terms)?;
    dictionary_list(ws)
}

#[tauri::command]
#[specta::specta]
pub fn dictionary_remove(ws: Ws<'_>, id: String) -> Result<Vec<dictionary::TermInfo>, CommandError> {
    privacy::remove_term(&ws, &id)?;
    dictionary_list(ws)
}

/// How many days the outbound payload log keeps (0: off).
#[tauri::command]
#[specta::specta]
pub fn payload_log_days(ws: Ws<'_>) -> Result<u32, CommandError> {
    Ok(privacy::payload_log_days(&ws)?)
}

/// Turns the outbound payload log on (1 to 90 days) or off (0, which also empties it).
#[tauri::command]
#[specta::specta]
pub fn payload_log_set_days(ws: Ws<'_>, days: u32) -> Result<u32, CommandError> {
    Ok(privacy::set_payload_log_days(&ws, days)?)
}

/// The region whose national phone numbers are hidden without a context word.
#[tauri::command]
#[specta::specta]
pub fn phone_region_get(ws: Ws<'_>) -> Result<PhoneRegion, CommandError> {
    Ok(privacy::phone_region(&ws)?)
}

/// Sets it: a country code (`DE`), `system` (the locale's) or `none`.
#[tauri::command]
#[specta::specta]
pub fn phone_region_set(ws: Ws<'_>, choice: String) -> Result<PhoneRegion, CommandError> {
    Ok(privacy::set_phone_region(&ws, &choice)?)
}

/// The newest logged requests (who, where, when, size; no bodies).
#[tauri::command]
#[specta::specta]
pub fn payload_log_list(ws: Ws<'_>) -> Result<Vec<outbound::PayloadInfo>, CommandError> {
    Ok(privacy::payload_log(&ws)?)
}

/// One logged request, exactly as the provider received it (after redaction), at the user's
/// request.
#[tauri::command]
#[specta::specta]
pub fn payload_log_open(ws: Ws<'_>, id: String) -> Result<String, CommandError> {
    Ok(privacy::payload(&ws, &id)?)
}
