//! The Proxy page: start and stop, allowed origins, agents' local tokens.

use tauri::State;

use keyhold_core::agents::tokens::{Issued, TokenInfo};
use keyhold_core::app::connect::{Connection, Tool};
use keyhold_core::app::{self, proxy::ProxyHandle, proxy::ProxyStatus};

use crate::shell::error::{CommandError, Ws};

type Handle<'a> = State<'a, ProxyHandle>;

#[tauri::command]
#[specta::specta]
pub async fn proxy_status(ws: Ws<'_>, handle: Handle<'_>) -> Result<ProxyStatus, CommandError> {
    Ok(app::proxy::status(&ws, &handle).await?)
}

/// Starts the proxy (on `port`, else the saved one) and remembers it runs at the next launch.
#[tauri::command]
#[specta::specta]
pub async fn proxy_start(ws: Ws<'_>, handle: Handle<'_>, port: Option<u16>) -> Result<ProxyStatus, CommandError> {
    ws.require_unlocked()?;
    app::proxy::start(&ws, &handle, port, true).await?;
    Ok(app::proxy::status(&ws, &handle).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn proxy_stop(ws: Ws<'_>, handle: Handle<'_>) -> Result<ProxyStatus, CommandError> {
    app::proxy::stop(&ws, &handle).await?;
    Ok(app::proxy::status(&ws, &handle).await?)
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
    app::proxy::set_origins(&ws, &handle, &origins).await?;
    Ok(app::proxy::status(&ws, &handle).await?)
}

#[tauri::command]
#[specta::specta]
pub fn tokens_issue(ws: Ws<'_>, agent: String, label: Option<String>) -> Result<Issued, CommandError> {
    Ok(app::agents::issue_token(&ws, &agent, label.as_deref())?)
}

#[tauri::command]
#[specta::specta]
pub fn tokens_revoke(ws: Ws<'_>, id: String) -> Result<TokenInfo, CommandError> {
    Ok(app::agents::revoke_token(&ws, &id)?)
}

/// What `tool` needs to use Keyhold as `agent`, with a token issued for it now and the proxy's
/// own port (the Proxy page's "Connect a tool").
#[tauri::command]
#[specta::specta]
pub fn connect_tool(ws: Ws<'_>, tool: Tool, agent: String) -> Result<Connection, CommandError> {
    Ok(app::connect::connect(&ws, tool, &agent, None)?)
}
