//! Agent mode in the window: a conversation through the router, streamed back as events.

use std::sync::Arc;

use tauri::State;

use keyhold_core::app::chat::{self, ConversationEntry};
use keyhold_core::conversations::{Conversation, ConversationInfo, SavedLine};
use keyhold_core::providers::canonical::Turn;
use keyhold_core::router::{AnswerSink, Flow, Reply};

use crate::shell::error::{CommandError, Ws};
use crate::shell::events::ChatDelta;
use crate::shell::state::{ChatSink, ChatStops};

/// Agent mode: sends the conversation through the router. Each piece of the answer is emitted
/// as a `ChatDelta` for `chat_id` as it arrives; the reply's bill comes back at the end.
#[tauri::command]
#[specta::specta]
pub async fn chat_send(
    sink: State<'_, ChatSink>,
    stops: State<'_, ChatStops>,
    ws: Ws<'_>,
    agent: String,
    chat_id: String,
    turns: Vec<Turn>,
) -> Result<Reply, CommandError> {
    let ws = Arc::clone(&ws);
    let a = chat::agent(&ws, &agent)?;
    let stop = tokio::sync::watch::Sender::new(false);
    stops.0.lock().unwrap_or_else(|p| p.into_inner()).insert(chat_id.clone(), stop.clone());
    let mut emit = Emit { sink: &sink, chat_id: &chat_id, stop };
    let result = chat::send(&ws, &a, turns, &mut emit).await;
    stops.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&chat_id);
    Ok(result?)
}

/// The window's end of an answer: its pieces as events, and its Stop button.
struct Emit<'a> {
    sink: &'a ChatSink,
    chat_id: &'a str,
    stop: tokio::sync::watch::Sender<bool>,
}

impl AnswerSink for Emit<'_> {
    fn text(&mut self, text: &str) -> Flow {
        if *self.stop.borrow() {
            // Stop was pressed while this piece was on its way: it is not shown.
            return Flow::Stop;
        }
        (self.sink.0)(ChatDelta { chat_id: self.chat_id.to_string(), text: text.to_string() });
        Flow::Continue
    }

    fn stop_signal(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        Some(self.stop.subscribe())
    }
}

/// Stops the answer being streamed for `chat_id`: what arrived stays, and is metered. False when
/// that answer had already ended.
#[tauri::command]
#[specta::specta]
pub fn chat_stop(stops: State<'_, ChatStops>, chat_id: String) -> bool {
    match stops.0.lock().unwrap_or_else(|p| p.into_inner()).get(&chat_id) {
        Some(s) => {
            // Kept even with nobody listening yet: a stream that starts later sees it at once.
            s.send_replace(true);
            true
        }
        None => false,
    }
}

/// Saved conversations, newest first: every agent's (or one agent's), those holding `query`.
#[tauri::command]
#[specta::specta]
pub fn conversations_list(
    ws: Ws<'_>,
    agent: Option<String>,
    query: Option<String>,
) -> Result<Vec<ConversationEntry>, CommandError> {
    Ok(chat::conversations(&ws, agent.as_deref(), query.as_deref())?)
}

/// Names a conversation (the name stays through later answers).
#[tauri::command]
#[specta::specta]
pub fn conversation_rename(ws: Ws<'_>, id: String, title: String) -> Result<ConversationInfo, CommandError> {
    Ok(chat::rename(&ws, &id, &title)?)
}

#[tauri::command]
#[specta::specta]
pub fn conversation_open(ws: Ws<'_>, id: String) -> Result<Conversation, CommandError> {
    Ok(chat::open(&ws, &id)?)
}

/// Saves a conversation (a new one when `id` is None), sealed under the vault.
#[tauri::command]
#[specta::specta]
pub fn conversation_save(
    ws: Ws<'_>,
    agent: String,
    id: Option<String>,
    lines: Vec<SavedLine>,
) -> Result<ConversationInfo, CommandError> {
    Ok(chat::save(&ws, &agent, id.as_deref(), lines)?)
}

#[tauri::command]
#[specta::specta]
pub fn conversation_remove(ws: Ws<'_>, id: String) -> Result<(), CommandError> {
    Ok(chat::remove(&ws, &id)?)
}
