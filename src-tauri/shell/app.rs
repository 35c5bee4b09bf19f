//! Starts the window and the tray over an open workspace.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tauri::{Manager, WindowEvent};
use tauri_specta::Event;

use crate::core::workspace::Workspace;
use crate::shell::commands::ChatSink;
use crate::shell::{events::{LedgerChanged, VaultChanged}, tray};

static STARTED: OnceLock<Instant> = OnceLock::new();

/// Marks the process start, for the "first paint" measurement. Called first thing in `main`.
pub fn mark_start() {
    let _ = STARTED.set(Instant::now());
}

pub fn since_start() -> Duration {
    STARTED.get().map(Instant::elapsed).unwrap_or_default()
}

pub fn run(workspace: Arc<Workspace>) -> tauri::Result<()> {
    let ipc = crate::shell::ipc::<tauri::Wry>();
    let invoke_handler = ipc.invoke_handler();
    let for_setup = Arc::clone(&workspace);
    tauri::Builder::default()
        .invoke_handler(invoke_handler)
        .manage(workspace)
        .manage(crate::shell::proxy::ProxyHandle::default())
        .setup(move |app| {
            ipc.mount_events(app);
            let chat_handle = app.handle().clone();
            app.manage(ChatSink(Box::new(move |delta| {
                if let Err(e) = delta.emit(&chat_handle) {
                    tracing::warn!(error = %e, "could not send a piece of an answer to the window");
                }
            })));
            let tray = tray::install(app.handle(), Arc::clone(&for_setup))?;
            tray.show(for_setup.status());
            // Every change of the vault's state, wherever it came from, reaches tray and window.
            let mut changes = for_setup.subscribe();
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                while changes.changed().await.is_ok() {
                    let status = *changes.borrow_and_update();
                    tray.show(status);
                    if let Err(e) = (VaultChanged { status }).emit(&handle) {
                        tracing::warn!(error = %e, "could not tell the window the vault changed");
                    }
                }
            });
            // Every ledger row reaches the window, so today's spend and charts stay live.
            let mut ledger = for_setup.subscribe_ledger();
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                while ledger.changed().await.is_ok() {
                    let revision = *ledger.borrow_and_update() as u32;
                    let _ = (LedgerChanged { revision }).emit(&handle);
                }
            });
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.set_title("Keyhold");
            }
            // The proxy runs again if it ran when Keyhold last quit. It answers "locked" until
            // the vault is unlocked.
            if crate::core::proxy::config::enabled(&for_setup.conn()) {
                let handle = app.handle().clone();
                let ws = Arc::clone(&for_setup);
                tauri::async_runtime::spawn(async move {
                    let proxy = handle.state::<crate::shell::proxy::ProxyHandle>();
                    if let Err(e) = crate::shell::proxy::start(&ws, &proxy, None).await {
                        tracing::warn!(error = %e.message, "could not restart the proxy");
                    }
                });
            }
            tracing::info!("window and tray started");
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window keeps Keyhold in the tray; Quit (tray) really quits.
            if let WindowEvent::CloseRequested { api, .. } = event {
                if window.label() == "main" {
                    api.prevent_close();
                    let _ = window.hide();
                }
            }
        })
        .run(tauri::generate_context!())
}
