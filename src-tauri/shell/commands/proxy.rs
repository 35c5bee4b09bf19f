//! The Proxy page: start and stop, allowed origins, agents' local tokens.

use tauri::State;

use keyhold_core::agents::tokens::{self, Issued, TokenInfo};
use keyhold_core::error::ErrorKind;
use keyhold_core::proxy::config;
use keyhold_core::workspace::WorkspaceError;

use crate::shell::error::{CommandError, Ws};
use crate::shell::proxy::{start, status, stop, ProxyHandle, ProxyStatus};

type Handle<'a> = State<'a, ProxyHandle>;

#[tauri::command]
#[specta::specta]
pub async fn proxy_status(ws: Ws<'_>, handle: Handle<'_>) -> Result<ProxyStatus, CommandError> {
    status(&ws, &handle).await
}

#[tauri::command]
#[specta::specta]
pub async fn proxy_start(ws: Ws<'_>, handle: Handle<'_>, port: Option<u16>) -> Result<ProxyStatus, CommandError> {
    ws.require_unlocked()?;
    start(&ws, &handle, port).await?;
    status(&ws, &handle).await
}

#[tauri::command]
#[specta::specta]
pub async fn proxy_stop(ws: Ws<'_>, handle: Handle<'_>) -> Result<ProxyStatus, CommandError> {
    stop(&ws, &handle).await?;
    status(&ws, &handle).await
}

/// Sets the browser origins allowed to call the proxy (one per line in the UI); a running proxy
/// restarts with them.
#[tauri::command]
#[specta::specta]
pub async fn proxy_set_origins(
    ws: Ws<'_>,
    handle: Handle<'_>,
    origins: Vec<String>,
) -> Result<ProxyStatus, CommandError> {
    let origins: Vec<String> =
        origins.iter().map(|o| o.trim().trim_end_matches('/').to_string()).filter(|o| !o.is_empty()).collect();
    if let Some(bad) =
        origins.iter().find(|o| !(o.starts_with("http://") || o.starts_with("https://")) || o.matches('/').count() > 2)
    {
        return Err(CommandError::new(
            ErrorKind::BadOrigin,
            format!("\"{bad}\" is not an origin: give scheme, host and port only, like http://localhost:5173."),
        ));
    }
    ws.with_unlocked(|c, u| {
        config::save_origins(c, u, &origins)
            .map_err(|source| WorkspaceError::Save { what: "the allowed origins", source })
    })?;
    let running = handle.0.lock().await.is_some();
    if running {
        start(&ws, &handle, None).await?;
    }
    status(&ws, &handle).await
}

#[tauri::command]
#[specta::specta]
pub fn tokens_issue(ws: Ws<'_>, agent: String, label: Option<String>) -> Result<Issued, CommandError> {
    Ok(ws.with_unlocked(|c, u| tokens::issue(c, u, &agent, label.as_deref()))?)
}

#[tauri::command]
#[specta::specta]
pub fn tokens_revoke(ws: Ws<'_>, id: String) -> Result<TokenInfo, CommandError> {
    Ok(ws.with_unlocked(|c, u| tokens::revoke(c, u, &id))?)
}
