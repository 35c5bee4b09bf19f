//! Starts the window and the tray over a workspace, and keeps them in step with the core.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tauri::{Manager, WindowEvent};
use tauri_specta::Event;

use crate::shell::events::{ConfigurationChanged, LedgerChanged, OfflineChanged, OllamaChanged, VaultChanged};
use crate::shell::state::{refresh_ollama, ChatSink, Environment, SaveDialog};
use crate::shell::tray::{self, Tray, TrayRefresh};
use keyhold_core::app::proxy::ProxyHandle;
use keyhold_core::datadir::DataDir;
use keyhold_core::workspace::Workspace;

/// How often the local Ollama is looked at.
const OLLAMA_EVERY: Duration = Duration::from_secs(30);

pub fn run(dir: DataDir) -> Result<(), String> {
    // WebKit derives navigator.language from the locale; under LANG=C (or none, as in CI and
    // some minimal desktops) it is "c", which Intl rejects, and pages that format numbers fail.
    let locale = ["LC_ALL", "LC_MESSAGES", "LANG"].iter().find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()));
    if locale.as_deref().is_none_or(|l| l == "C" || l == "POSIX" || l.starts_with("C.")) {
        std::env::set_var("LANG", "en_US.UTF-8");
        std::env::remove_var("LC_ALL");
    }
    let ipc = crate::shell::ipc::<tauri::Wry>();
    let invoke_handler = ipc.invoke_handler();
    tauri::Builder::default()
        // A second launch hands over to this one: the window comes forward, nothing else starts.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| tray::show_main_window(app)))
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .invoke_handler(invoke_handler)
        .setup(move |app| {
            // The workspace is opened here, after the single-instance check, so a second launch
            // of the app never reaches the writer lock; a CLI writer holding it is reported.
            let workspace = match Workspace::open(dir) {
                Ok(ws) => Arc::new(ws),
                Err(e) => {
                    eprintln!("keyhold: {e}");
                    std::process::exit(1);
                }
            };
            ipc.mount_events(app);
            keyhold_core::providers::upstream::warm_tokenizer();
            app.manage(Arc::clone(&workspace));
            // Commands typed in a terminal while the app runs are run by it.
            let host = crate::cli::remote::Host {
                workspace: Arc::clone(&workspace),
                runtime: tauri::async_runtime::handle().inner().clone(),
                front: crate::cli::remote::Front::App,
            };
            match crate::cli::remote::listen(host) {
                Ok(listening) => {
                    app.manage(listening);
                }
                Err(e) => tracing::warn!(error = %e, "the command line cannot reach the app; its commands will say it is running"),
            }
            app.manage(ProxyHandle::default());
            app.manage(crate::shell::state::ChatStops::default());
            let chat_handle = app.handle().clone();
            app.manage(ChatSink(Box::new(move |delta| {
                if let Err(e) = delta.emit(&chat_handle) {
                    tracing::warn!(error = %e, "could not send a piece of an answer to the window");
                }
            })));

            let steps_handle = app.handle().clone();
            app.manage(crate::shell::state::PassphraseSteps(Arc::new(move |p| {
                let _ = p.emit(&steps_handle);
            })));

            let (pull_handle, changed_handle) = (app.handle().clone(), app.handle().clone());
            app.manage(crate::shell::state::OllamaEvents {
                pull: Box::new(move |progress| {
                    let _ = (crate::shell::events::OllamaPull { progress }).emit(&pull_handle);
                }),
                changed: Box::new(move |status| {
                    let _ = (OllamaChanged { status }).emit(&changed_handle);
                }),
            });

            let dialog_handle = app.handle().clone();
            app.manage(SaveDialog(Arc::new(move |ext| {
                if let Some(chosen) = test_save_dialog() {
                    return chosen;
                }
                use tauri_plugin_dialog::DialogExt;
                dialog_handle
                    .dialog()
                    .file()
                    .set_title("Export usage")
                    .set_file_name(format!("keyhold-usage.{ext}"))
                    .add_filter(ext.to_uppercase(), &[ext])
                    .blocking_save_file()
                    .and_then(|p| p.into_path().ok())
            })));

            // Without a tray host the icon would never show: the window is all there is, and
            // closing it quits.
            let tray = if !tray::host_present() {
                tracing::warn!("no system tray on this desktop: the window's own controls (Lock, Proxy, Offline) are all there is, and closing it quits");
                None
            } else {
                match tray::install(app.handle(), Arc::clone(&workspace)) {
                    Ok(t) => Some(Arc::new(t)),
                    Err(e) => {
                        tracing::warn!(error = %e, "no system tray: the window's own controls (Lock, Proxy, Offline) are all there is");
                        None
                    }
                }
            };
            app.manage(Environment { tray_available: tray.is_some(), ollama: Mutex::new(None) });
            let redraw = redraw_tray(app.handle().clone(), tray.clone());
            redraw();
            let redraw = Arc::new(redraw);
            let r = Arc::clone(&redraw);
            app.manage(TrayRefresh(Box::new(move || r())));

            // Vault, ledger and agent activity changes reach the tray and the window.
            let mut vault = workspace.subscribe();
            let (handle, r) = (app.handle().clone(), Arc::clone(&redraw));
            tauri::async_runtime::spawn(async move {
                while vault.changed().await.is_ok() {
                    let status = *vault.borrow_and_update();
                    r();
                    if let Err(e) = (VaultChanged { status }).emit(&handle) {
                        tracing::warn!(error = %e, "could not tell the window the vault changed");
                    }
                }
            });
            let mut ledger = workspace.subscribe_ledger();
            let (handle, r) = (app.handle().clone(), Arc::clone(&redraw));
            tauri::async_runtime::spawn(async move {
                while ledger.changed().await.is_ok() {
                    let revision = *ledger.borrow_and_update() as u32;
                    r();
                    let _ = (LedgerChanged { revision }).emit(&handle);
                }
            });
            let mut configuration = workspace.subscribe_configuration();
            let (handle, r) = (app.handle().clone(), Arc::clone(&redraw));
            tauri::async_runtime::spawn(async move {
                while configuration.changed().await.is_ok() {
                    let revision = *configuration.borrow_and_update() as u32;
                    r();
                    let _ = (ConfigurationChanged { revision }).emit(&handle);
                }
            });
            let mut activity = workspace.activity().subscribe();
            let (handle, r, ws) = (app.handle().clone(), Arc::clone(&redraw), Arc::clone(&workspace));
            tauri::async_runtime::spawn(async move {
                let mut offline = ws.offline();
                while activity.changed().await.is_ok() {
                    activity.borrow_and_update();
                    r();
                    if ws.offline() != offline {
                        offline = ws.offline();
                        let _ = (OfflineChanged { on: offline }).emit(&handle);
                    }
                }
            });

            // Budget alerts become desktop notifications.
            let mut alerts = workspace.budgets().subscribe_alerts();
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                use tauri_plugin_notification::NotificationExt;
                while let Ok(a) = alerts.recv().await {
                    let body = format!(
                        "{} has spent {} of its {} daily budget ({} %).",
                        a.agent,
                        a.spent_usd.shown(),
                        a.budget_usd.shown(),
                        a.percent
                    );
                    if let Err(e) = handle.notification().builder().title("Keyhold budget").body(body).show() {
                        tracing::warn!(error = %e, "could not show a budget notification");
                    }
                }
            });

            // The local Ollama, now, every so often, and at once when the keys change (an
            // Ollama just added must not read "No local Ollama" for half a minute).
            let (handle, ws) = (app.handle().clone(), Arc::clone(&workspace));
            let mut keys_changed = workspace.subscribe_configuration();
            tauri::async_runtime::spawn(async move {
                loop {
                    let env = handle.state::<Environment>();
                    let status = refresh_ollama(&ws, &env).await;
                    let _ = (OllamaChanged { status }).emit(&handle);
                    tokio::select! {
                        _ = tokio::time::sleep(OLLAMA_EVERY) => {}
                        changed = keys_changed.changed() => {
                            if changed.is_err() {
                                tokio::time::sleep(OLLAMA_EVERY).await;
                            }
                        }
                    }
                }
            });

            // The proxy runs again if it ran when Keyhold last quit (it answers "locked" until
            // the vault is unlocked).
            if keyhold_core::app::proxy::was_running(&workspace) {
                let (handle, ws, r) = (app.handle().clone(), Arc::clone(&workspace), Arc::clone(&redraw));
                tauri::async_runtime::spawn(async move {
                    let proxy = handle.state::<ProxyHandle>();
                    if let Err(e) = keyhold_core::app::proxy::start(&ws, &proxy, None, true).await {
                        tracing::warn!(error = %e, "could not restart the proxy");
                    }
                    r();
                });
            }

            // The window is made only now, with everything it calls in place.
            let config = app.config().app.windows.first().cloned().ok_or("no window in tauri.conf.json")?;
            tauri::WebviewWindowBuilder::from_config(app.handle(), &config)?.build()?;
            tracing::info!(tray = tray.is_some(), "window started");
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window keeps Keyhold in the tray; Quit (tray) really quits. Without a
            // tray, closing quits: there would be no way back to the window.
            if let WindowEvent::CloseRequested { api, .. } = event {
                let has_tray = window.app_handle().try_state::<Environment>().is_some_and(|e| e.tray_available);
                if window.label() == "main" && has_tray {
                    api.prevent_close();
                    let _ = window.hide();
                }
            }
        })
        .build(tauri::generate_context!())
        .map_err(|e| e.to_string())?
        .run(|handle, event| {
            // Quitting: the vault snapshot takes where the ledger ends (rows written in the last
            // second would otherwise be past the saved mark).
            if let tauri::RunEvent::Exit = event {
                if let Some(ws) = handle.try_state::<Arc<Workspace>>() {
                    ws.keep_ledger_mark();
                }
            }
        });
    Ok(())
}

fn redraw_tray(handle: tauri::AppHandle, tray: Option<Arc<Tray<tauri::Wry>>>) -> impl Fn() + Send + Sync + 'static {
    move || {
        if let Some(t) = &tray {
            let proxy_on = handle.try_state::<ProxyHandle>().is_some_and(|p| p.running_now());
            t.refresh(proxy_on);
        }
    }
}

/// A stand-in for the native save dialog in debug builds only, for the end-to-end tests:
/// WebDriver cannot drive a GTK file chooser. `KEYHOLD_TEST_SAVE_DIALOG` names a file holding
/// the path the "user" picks (empty: they cancel). Release builds never read it.
#[cfg(debug_assertions)]
fn test_save_dialog() -> Option<Option<std::path::PathBuf>> {
    let answer = std::env::var_os("KEYHOLD_TEST_SAVE_DIALOG")?;
    let text = std::fs::read_to_string(answer).unwrap_or_default();
    let text = text.trim();
    Some((!text.is_empty()).then(|| std::path::PathBuf::from(text)))
}

#[cfg(not(debug_assertions))]
fn test_save_dialog() -> Option<Option<std::path::PathBuf>> {
    None
}
