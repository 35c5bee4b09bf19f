//! Agent mode in the window: a conversation through the router, streamed back as events.

use std::sync::Arc;

use tauri::State;

use keyhold_core::agents;
use keyhold_core::ledger::Mode;
use keyhold_core::providers::canonical::Turn;
use keyhold_core::router::{self, Reply};
use keyhold_core::workspace::WorkspaceError;

use crate::shell::error::{CommandError, Ws};
use crate::shell::events::ChatDelta;
use crate::shell::state::ChatSink;

/// Agent mode: sends the conversation through the router. Each piece of the answer is emitted
/// as a `ChatDelta` for `chat_id` as it arrives; the reply's bill comes back at the end.
#[tauri::command]
#[specta::specta]
pub async fn chat_send(
    sink: State<'_, ChatSink>,
    ws: Ws<'_>,
    agent: String,
    chat_id: String,
    turns: Vec<Turn>,
) -> Result<Reply, CommandError> {
    let ws = Arc::clone(&ws);
    let a = {
        let conn = ws.conn_unlocked()?;
        agents::find(&conn, &agent).map_err(WorkspaceError::from)?
    };
    let req = router::agent_request(&a, turns);
    let mut emit = |text: &str| (sink.0)(ChatDelta { chat_id: chat_id.clone(), text: text.to_string() });
    Ok(router::call(&ws, &a, req, Mode::Agent, &mut emit).await?)
}
