//! What a command answers when it fails, and the helpers every command file shares.

use std::sync::Arc;

use serde::Serialize;
use specta::Type;
use tauri::State;

use keyhold_core::error::{ErrorKind, Kinded};
use keyhold_core::workspace::{Workspace, WorkspaceError};

/// What the front-end gets when a command fails: a kind to switch on, and a message to show.
#[derive(Debug, Clone, Serialize, Type)]
pub struct CommandError {
    pub kind: ErrorKind,
    pub message: String,
}

impl CommandError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CommandError { kind, message: message.into() }
    }
}

/// Every core error knows its kind: `?` turns it into what the window gets.
impl<E: Kinded> From<E> for CommandError {
    fn from(e: E) -> Self {
        CommandError { kind: e.kind(), message: e.to_string() }
    }
}

/// The workspace, as every command receives it.
pub type Ws<'a> = State<'a, Arc<Workspace>>;

/// Vault work (Argon2id, Stronghold) takes seconds: it runs off the UI thread.
pub async fn blocking<T: Send + 'static>(
    ws: &Ws<'_>,
    f: impl FnOnce(&Workspace) -> Result<T, WorkspaceError> + Send + 'static,
) -> Result<T, CommandError> {
    let ws = Arc::clone(ws);
    tauri::async_runtime::spawn_blocking(move || f(&ws))
        .await
        .map_err(|e| CommandError::new(ErrorKind::Internal, format!("Keyhold hit an internal error: {e}")))?
        .map_err(CommandError::from)
}
