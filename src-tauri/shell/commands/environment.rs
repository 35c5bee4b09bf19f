//! The app's surroundings: tray, offline mode, start at login, the local Ollama.

use serde::Serialize;
use specta::Type;
use tauri::State;

use keyhold_core::ollama::OllamaStatus;

use crate::shell::error::{CommandError, Ws};
use crate::shell::state::{refresh_ollama, Environment};

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
pub async fn ollama_refresh(ws: Ws<'_>, env: State<'_, Environment>) -> Result<OllamaStatus, CommandError> {
    Ok(refresh_ollama(&ws, &env).await)
}
