//! Agents: their cards, and creating, editing, copying and deleting them.

use keyhold_core::agents::{self, Agent, AgentCard, AgentSpec, SavedAgent};
use keyhold_core::workspace::WorkspaceError;

use crate::shell::error::{CommandError, Ws};

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
    let mut conn = ws.conn_unlocked()?;
    let saved = match id.filter(|i| !i.is_empty()) {
        Some(id) => agents::update(&mut conn, &id, &spec),
        None => agents::add(&mut conn, &spec),
    };
    Ok(saved.map_err(WorkspaceError::from)?)
}

#[tauri::command]
#[specta::specta]
pub fn agents_duplicate(ws: Ws<'_>, id: String) -> Result<Agent, CommandError> {
    let mut conn = ws.conn_unlocked()?;
    Ok(agents::duplicate(&mut conn, &id).map_err(WorkspaceError::from)?)
}

#[tauri::command]
#[specta::specta]
pub fn agents_remove(ws: Ws<'_>, id: String) -> Result<Agent, CommandError> {
    let conn = ws.conn_unlocked()?;
    Ok(agents::remove(&conn, &id).map_err(WorkspaceError::from)?)
}
