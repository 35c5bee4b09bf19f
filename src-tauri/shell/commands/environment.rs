//! The app's surroundings: tray, offline mode, start at login, the local Ollama.

use serde::Serialize;
use specta::Type;
use tauri::State;

use keyhold_core::error::ErrorKind;
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

/// The address a link in an answer may open: a web page or a mail address, never a script, a
/// file or anything the system would run.
fn web_address(url: &str) -> Result<String, CommandError> {
    let refuse = || {
        CommandError::new(
            ErrorKind::Usage,
            "Only web (http, https) and mail addresses open from an answer; this one was not opened.",
        )
    };
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase()).ok_or_else(refuse)?;
    let ok = match scheme.as_str() {
        "http" | "https" => url[scheme.len()..].starts_with("://") && url.len() > scheme.len() + 3,
        "mailto" => url.len() > "mailto:".len(),
        _ => false,
    };
    if !ok || url.chars().any(|c| c.is_control() || c == ' ') {
        return Err(refuse());
    }
    Ok(url.to_string())
}

/// Opens a link from an answer in the user's browser (the window showed the address first).
#[tauri::command]
#[specta::specta]
pub fn open_link(url: String) -> Result<(), CommandError> {
    let url = web_address(&url)?;
    tauri_plugin_opener::open_url(&url, None::<&str>).map_err(|e| {
        tracing::warn!(error = %e, "opening a link failed");
        CommandError::new(ErrorKind::Internal, "No browser opened the link: copy its address and open it yourself.")
    })
}

#[cfg(test)]
mod link_tests {
    use super::web_address;

    #[test]
    fn only_web_and_mail_addresses_open_from_an_answer() {
        assert!(web_address("https://docs.example.com/a?b=1").is_ok());
        assert!(web_address("HTTP://example.com").is_ok());
        assert!(web_address("mailto:a@example.com").is_ok());
        for bad in [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "data:text/html,x",
            "https:",
            "https:/x",
            "ftp://x",
            "x",
            "https://a b",
            "https://a\nb",
        ] {
            let e = web_address(bad).unwrap_err();
            assert!(e.message.contains("was not opened"), "{bad}");
        }
    }
}
