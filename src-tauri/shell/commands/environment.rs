//! The app's surroundings: tray, offline mode, start at login, the local Ollama.

use serde::Serialize;
use specta::Type;
use tauri::State;

use keyhold_core::ollama::{self, OllamaStatus};

use crate::shell::error::{CommandError, Ws};
use crate::shell::state::{refresh_and_tell, refresh_ollama, Environment, OllamaEvents};

#[derive(Debug, Clone, Serialize, Type)]
pub struct AppEnvironment {
    /// False when the desktop has no tray host: the window's controls are all there is.
    pub tray_available: bool,
    pub offline: bool,
    pub autostart: bool,
    pub ollama: Option<OllamaStatus>,
}

#[tauri::command]
#[specta::specta]
pub fn app_environment(ws: Ws<'_>, env: State<'_, Environment>) -> AppEnvironment {
    AppEnvironment {
        tray_available: env.tray_available,
        offline: ws.offline(),
        autostart: keyhold_core::autostart::enabled(),
        ollama: env.ollama.lock().unwrap_or_else(|p| p.into_inner()).clone(),
    }
}

#[tauri::command]
#[specta::specta]
pub fn set_offline(ws: Ws<'_>, on: bool) -> Result<bool, CommandError> {
    ws.set_offline(on)?;
    Ok(ws.offline())
}

/// Looks at the local Ollama now (the app also does every 30 s).
#[tauri::command]
#[specta::specta]
pub async fn ollama_refresh(
    events: State<'_, OllamaEvents>,
    ws: Ws<'_>,
    env: State<'_, Environment>,
) -> Result<OllamaStatus, CommandError> {
    Ok(refresh_and_tell(&ws, &env, &events).await)
}

/// The address of the user's Ollama, as last looked at.
async fn ollama_url(ws: &Ws<'_>, env: &State<'_, Environment>) -> String {
    let known = env.ollama.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|s| s.url.clone());
    match known {
        Some(u) => u,
        None => refresh_ollama(ws, env).await.url,
    }
}

/// Pulls a model into the local Ollama (through ollama-rs); progress arrives as `OllamaPull`
/// events, and the new model list as `OllamaChanged` when it is done.
#[tauri::command]
#[specta::specta]
pub async fn ollama_pull(
    events: State<'_, OllamaEvents>,
    ws: Ws<'_>,
    env: State<'_, Environment>,
    model: String,
) -> Result<OllamaStatus, CommandError> {
    // The window changes the user's models only while unlocked (the terminal's `keyhold ollama`
    // is the user's own shell, which could run `ollama` itself).
    ws.require_unlocked()?;
    let url = ollama_url(&ws, &env).await;
    let pulled = ollama::pull(&url, &model, |progress| (events.pull)(progress)).await;
    let status = refresh_and_tell(&ws, &env, &events).await;
    pulled?;
    Ok(status)
}

/// Removes a model from the local Ollama.
#[tauri::command]
#[specta::specta]
pub async fn ollama_remove(
    events: State<'_, OllamaEvents>,
    ws: Ws<'_>,
    env: State<'_, Environment>,
    model: String,
) -> Result<OllamaStatus, CommandError> {
    ws.require_unlocked()?;
    let url = ollama_url(&ws, &env).await;
    ollama::remove(&url, &model).await?;
    Ok(refresh_and_tell(&ws, &env, &events).await)
}
