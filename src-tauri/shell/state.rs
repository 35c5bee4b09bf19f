//! What the app keeps while it runs and the commands read: the start time, the surroundings
//! (tray, Ollama), and where chat answers go. A leaf: it imports no other shell module.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use keyhold_core::ollama::{self, OllamaStatus};
use keyhold_core::workspace::Workspace;

use crate::shell::events::{ChatDelta, PassphraseProgress};

static STARTED: OnceLock<Instant> = OnceLock::new();

/// Marks the process start, for the "first paint" measurement. Called first thing in `main`.
pub fn mark_start() {
    let _ = STARTED.set(Instant::now());
}

pub fn since_start() -> Duration {
    STARTED.get().map(Instant::elapsed).unwrap_or_default()
}

/// What the window shows about its surroundings.
#[derive(Default)]
pub struct Environment {
    pub tray_available: bool,
    pub ollama: Mutex<Option<OllamaStatus>>,
}

/// Where pieces of an answer go: the window's event bus in the app, a recorder in tests.
pub struct ChatSink(pub Box<dyn Fn(ChatDelta) + Send + Sync>);

/// Where the local Ollama's news goes: pull progress, and the model list after a change. The
/// window's events in the app, nothing in tests.
pub struct OllamaEvents {
    pub pull: Box<dyn Fn(ollama::PullProgress) + Send + Sync>,
    pub changed: Box<dyn Fn(OllamaStatus) + Send + Sync>,
}

/// Where a passphrase change's steps go: the window's event bus in the app, a recorder in tests.
pub struct PassphraseSteps(pub std::sync::Arc<dyn Fn(PassphraseProgress) + Send + Sync>);

/// The Stop buttons of answers being streamed, by chat id.
#[derive(Default)]
pub struct ChatStops(pub Mutex<std::collections::HashMap<String, tokio::sync::watch::Sender<bool>>>);

/// The save dialog: given a file extension, the path the user picked, or `None` if they
/// cancelled. The native dialog in the app; the only way an export learns where to write.
#[derive(Clone)]
pub struct SaveDialog(pub std::sync::Arc<dyn Fn(&'static str) -> Option<std::path::PathBuf> + Send + Sync>);

/// Looks at the Ollama of the user's Ollama key (or the default address), remembers it, and
/// keeps that key's model list current for the agent form's picker.
pub async fn refresh_ollama(ws: &Workspace, env: &Environment) -> OllamaStatus {
    let status = keyhold_core::app::local::look(ws).await;
    *env.ollama.lock().unwrap_or_else(|p| p.into_inner()) = Some(status.clone());
    status
}

/// [`refresh_ollama`], and the news to the window (the header's badge and the Local models page
/// hear it together, so they never disagree).
pub async fn refresh_and_tell(ws: &Workspace, env: &Environment, events: &OllamaEvents) -> OllamaStatus {
    let status = refresh_ollama(ws, env).await;
    (events.changed)(status.clone());
    status
}
