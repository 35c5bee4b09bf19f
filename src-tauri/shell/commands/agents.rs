//! Agents: their cards, and creating, editing, copying and deleting them.

use keyhold_core::agents::{self, Agent, AgentCard, AgentSpec, SavedAgent};

use crate::shell::error::{blocking, CommandError, Ws};

#[tauri::command]
#[specta::specta]
pub fn agents_list(ws: Ws<'_>) -> Result<Vec<AgentCard>, CommandError> {
    let conn = ws.conn_unlocked()?;
    Ok(agents::cards(&conn)?)
}

/// Creates an agent (`id` empty) or replaces one's settings.
#[tauri::command]
#[specta::specta]
pub fn agents_save(ws: Ws<'_>, id: Option<String>, spec: AgentSpec) -> Result<SavedAgent, CommandError> {
    Ok(ws.with_unlocked(|c, u| match id.filter(|i| !i.is_empty()) {
        Some(id) => agents::update(c, u, &id, &spec),
        None => agents::add(c, u, &spec),
    })?)
}

#[tauri::command]
#[specta::specta]
pub fn agents_duplicate(ws: Ws<'_>, id: String) -> Result<Agent, CommandError> {
    Ok(ws.with_unlocked(|c, u| agents::duplicate(c, u, &id))?)
}

#[tauri::command]
#[specta::specta]
pub fn agents_remove(ws: Ws<'_>, id: String) -> Result<Agent, CommandError> {
    Ok(ws.with_unlocked(|c, u| agents::remove(c, u, &id))?)
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
