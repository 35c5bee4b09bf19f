//! The proxy inside the app: started and stopped from the Proxy page and the tray, remembered
//! across launches. The server itself is `keyhold_core::proxy`; the Proxy page's commands are
//! in `commands::proxy`.

use std::sync::Arc;

use serde::Serialize;
use specta::Type;

use crate::shell::error::CommandError;
use keyhold_core::agents::tokens::{self, TokenInfo};
use keyhold_core::error::ErrorKind;
use keyhold_core::proxy::{self, config};
use keyhold_core::workspace::{Workspace, WorkspaceError};

/// The running proxy, if any.
#[derive(Default)]
pub struct ProxyHandle(pub tokio::sync::Mutex<Option<proxy::Running>>);

#[derive(Debug, Clone, Serialize, Type)]
pub struct ProxyStatus {
    pub running: bool,
    /// e.g. http://127.0.0.1:11500 while running.
    pub address: Option<String>,
    pub port: u16,
    pub allowed_origins: Vec<String>,
    pub tokens: Vec<TokenInfo>,
}

fn fail(kind: ErrorKind, message: String) -> CommandError {
    CommandError::new(kind, message)
}

pub async fn status(ws: &Workspace, handle: &ProxyHandle) -> Result<ProxyStatus, CommandError> {
    let running = handle.0.lock().await.as_ref().map(|r| r.addr);
    let conn = ws.conn_unlocked()?;
    let settings = config::load(&conn);
    Ok(ProxyStatus {
        running: running.is_some(),
        address: running.map(|a| format!("http://{a}")),
        port: running.map_or(settings.port, |a| a.port()),
        allowed_origins: settings.allowed_origins,
        tokens: tokens::list(&conn, None).map_err(WorkspaceError::from)?,
    })
}

/// Starts (or restarts, with new settings) the proxy and remembers it should run.
pub async fn start(ws: &Arc<Workspace>, handle: &ProxyHandle, port: Option<u16>) -> Result<(), CommandError> {
    let mut settings = config::load(&ws.conn());
    if let Some(p) = port {
        settings.port = p;
    }
    let mut slot = handle.0.lock().await;
    if let Some(old) = slot.take() {
        old.stop().await;
    }
    let port = settings.port;
    let running = proxy::start(Arc::clone(ws), settings).await.map_err(|e| {
        fail(ErrorKind::Proxy, format!("Could not listen on 127.0.0.1:{port}: {e}. Choose another port."))
    })?;
    config::save(&ws.conn(), running.addr.port(), true).map_err(|e| fail(ErrorKind::Database, e.to_string()))?;
    *slot = Some(running);
    Ok(())
}

pub async fn stop(ws: &Workspace, handle: &ProxyHandle) -> Result<(), CommandError> {
    if let Some(r) = handle.0.lock().await.take() {
        r.stop().await;
    }
    let s = config::load(&ws.conn());
    config::save(&ws.conn(), s.port, false).map_err(|e| fail(ErrorKind::Database, e.to_string()))
}

/// For the tray: on if off, off if on.
pub async fn toggle(ws: &Arc<Workspace>, handle: &ProxyHandle) -> Result<bool, CommandError> {
    let running = handle.0.lock().await.is_some();
    if running {
        stop(ws, handle).await.map(|()| false)
    } else {
        start(ws, handle, None).await.map(|()| true)
    }
}
