//! Agents: their cards, and creating, editing, copying and deleting them.

use keyhold_core::agents::{Agent, AgentCard, AgentSpec, SavedAgent};
use keyhold_core::app;

use crate::shell::error::{blocking, CommandError, Ws};

#[tauri::command]
#[specta::specta]
pub fn agents_list(ws: Ws<'_>) -> Result<Vec<AgentCard>, CommandError> {
    ws.require_unlocked()?;
    Ok(app::agents::cards(&ws)?)
}

/// Creates an agent (`id` empty) or replaces one's settings.
#[tauri::command]
#[specta::specta]
pub fn agents_save(ws: Ws<'_>, id: Option<String>, spec: AgentSpec) -> Result<SavedAgent, CommandError> {
    Ok(app::agents::save(&ws, id.as_deref(), &spec)?)
}

#[tauri::command]
#[specta::specta]
pub fn agents_duplicate(ws: Ws<'_>, id: String) -> Result<Agent, CommandError> {
    Ok(app::agents::duplicate(&ws, &id)?)
}

#[tauri::command]
#[specta::specta]
pub fn agents_remove(ws: Ws<'_>, id: String) -> Result<Agent, CommandError> {
    Ok(app::agents::remove(&ws, &id)?)
}

/// The Overview page: spend, agents' states, keys and what they are used by.
#[tauri::command]
#[specta::specta]
/// Off the UI thread: the first one after an update (or a move to another time zone) builds the
/// local-day rollup from the whole ledger.
pub async fn overview(
    ws: Ws<'_>,
    env: tauri::State<'_, crate::shell::state::Environment>,
) -> Result<keyhold_core::overview::Overview, CommandError> {
    let ollama = env.ollama.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|s| s.running);
    blocking(&ws, move |w| w.overview(ollama)).await
}
