//! The local proxy's life as the user controls it: start and stop (remembered across launches in
//! the app), allowed origins, and what the Proxy page shows. The server itself is
//! [`crate::proxy`]; the app and `keyhold serve` both run it through here.

use std::sync::Arc;

use serde::Serialize;
use specta::Type;

use crate::agents::tokens::{self, TokenInfo};
use crate::proxy::{self, config};
use crate::workspace::{Workspace, WorkspaceError};

/// The running proxy, if any.
#[derive(Default)]
pub struct ProxyHandle(tokio::sync::Mutex<Option<proxy::Running>>);

impl ProxyHandle {
    /// Whether it runs, without waiting (false while it is being started or stopped): for the
    /// tray's redraw.
    pub fn running_now(&self) -> bool {
        self.0.try_lock().ok().is_some_and(|g| g.is_some())
    }
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct ProxyStatus {
    pub running: bool,
    /// e.g. http://127.0.0.1:11500 while running.
    pub address: Option<String>,
    pub port: u16,
    pub allowed_origins: Vec<String>,
    pub tokens: Vec<TokenInfo>,
}

/// Whether the proxy ran when Keyhold last quit (the app starts it again).
pub fn was_running(ws: &Workspace) -> bool {
    config::enabled(&ws.conn())
}

pub async fn status(ws: &Workspace, handle: &ProxyHandle) -> Result<ProxyStatus, WorkspaceError> {
    let running = handle.0.lock().await.as_ref().map(|r| r.addr);
    let conn = ws.conn_unlocked()?;
    let settings = config::load(&conn);
    Ok(ProxyStatus {
        running: running.is_some(),
        address: running.map(|a| format!("http://{a}")),
        port: running.map_or(settings.port, |a| a.port()),
        allowed_origins: settings.allowed_origins,
        tokens: tokens::list(&conn, None)?,
    })
}

/// Starts (or restarts, with the saved settings) the proxy on `port` (default: the saved one).
/// `remember`: the app notes that it should run at the next launch; `keyhold serve` does not.
/// Returns the address it listens on.
pub async fn start(
    ws: &Arc<Workspace>,
    handle: &ProxyHandle,
    port: Option<u16>,
    remember: bool,
) -> Result<std::net::SocketAddr, WorkspaceError> {
    let mut settings = config::load(&ws.conn());
    if let Some(p) = port {
        settings.port = p;
    }
    let mut slot = handle.0.lock().await;
    if let Some(old) = slot.take() {
        old.stop().await;
    }
    let port = settings.port;
    let running = proxy::start(Arc::clone(ws), settings)
        .await
        .map_err(|e| WorkspaceError::Listen { port, detail: e.to_string() })?;
    let addr = running.addr;
    if remember {
        config::save(&ws.conn(), addr.port(), true)
            .map_err(|source| WorkspaceError::Save { what: "the proxy's settings", source })?;
    }
    *slot = Some(running);
    Ok(addr)
}

/// Stops the proxy (answers in flight are finished) and remembers it should stay stopped. Only
/// while unlocked: the user's tools depend on it, and a locked Keyhold changes nothing.
pub async fn stop(ws: &Workspace, handle: &ProxyHandle) -> Result<(), WorkspaceError> {
    ws.require_unlocked()?;
    if let Some(r) = handle.0.lock().await.take() {
        r.stop().await;
    }
    let s = config::load(&ws.conn());
    config::save(&ws.conn(), s.port, false)
        .map_err(|source| WorkspaceError::Save { what: "the proxy's settings", source })
}

/// For the tray: on if off, off if on. Returns whether it now runs.
pub async fn toggle(ws: &Arc<Workspace>, handle: &ProxyHandle) -> Result<bool, WorkspaceError> {
    let running = handle.0.lock().await.is_some();
    if running {
        stop(ws, handle).await.map(|()| false)
    } else {
        start(ws, handle, None, true).await.map(|_| true)
    }
}

/// Sets the browser origins allowed to call the proxy (scheme, host and port each); a running
/// proxy restarts with them.
pub async fn set_origins(ws: &Arc<Workspace>, handle: &ProxyHandle, origins: &[String]) -> Result<(), WorkspaceError> {
    let origins: Vec<String> =
        origins.iter().map(|o| o.trim().trim_end_matches('/').to_string()).filter(|o| !o.is_empty()).collect();
    if let Some(bad) =
        origins.iter().find(|o| !(o.starts_with("http://") || o.starts_with("https://")) || o.matches('/').count() > 2)
    {
        return Err(WorkspaceError::BadOrigin(bad.clone()));
    }
    ws.with_unlocked(|c, u| {
        config::save_origins(c, u, &origins)
            .map_err(|source| WorkspaceError::Save { what: "the allowed origins", source })
    })?;
    let running = handle.0.lock().await.is_some();
    if running {
        start(ws, handle, None, true).await?;
    }
    Ok(())
}

/// Stops the proxy on the way out, without changing what is remembered.
pub async fn shut_down(handle: &ProxyHandle) {
    if let Some(r) = handle.0.lock().await.take() {
        r.stop().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datadir::DataDir;
    use crate::passphrase::Passphrase;
    use crate::vault::{kdf::KdfParams, snapshot};

    #[tokio::test]
    async fn the_proxy_is_not_stopped_from_a_locked_keyhold() {
        snapshot::use_fast_encryption_for_tests();
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::resolve(Some(tmp.path().to_path_buf())).unwrap();
        let ws = Arc::new(Workspace::open_with(dir, KdfParams::FAST_FOR_TESTS).unwrap());
        ws.create_vault(&Passphrase::new("proxy stop passphrase".into()), None).unwrap();
        let handle = ProxyHandle::default();
        start(&ws, &handle, Some(0), true).await.unwrap();
        ws.lock();
        // Someone at the locked window (or its tray) cannot turn the user's proxy off.
        assert!(matches!(stop(&ws, &handle).await, Err(WorkspaceError::Locked)));
        assert!(handle.running_now(), "still serving the user's tools");
        assert!(was_running(&ws), "and still to be started at the next launch");
        shut_down(&handle).await;
    }
}
