//! The tray: one line per agent with its state and today's spend, and the controls (open, lock,
//! proxy on/off, offline mode, quit). The icon shows locked, offline, or an agent over budget.

use std::sync::Arc;

use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Runtime};

use keyhold_core::activity::{AgentState, AgentStatus};
use keyhold_core::workspace::{VaultStatus, Workspace};

const TRAY_ID: &str = "keyhold";

pub struct Tray<R: Runtime> {
    icon: TrayIcon<R>,
    app: AppHandle<R>,
    workspace: Arc<Workspace>,
}

/// Whether the desktop shows tray icons at all. Building the icon succeeds either way (it is a
/// D-Bus object waiting to be shown), so this asks the session bus whether a StatusNotifier host
/// is there (KDE, most panels, GNOME with the AppIndicator extension). `KEYHOLD_TRAY=on|off`
/// overrides the answer.
pub fn host_present() -> bool {
    match std::env::var("KEYHOLD_TRAY").as_deref() {
        Ok("on") => return true,
        Ok("off") => return false,
        _ => {}
    }
    let Ok(bus) = zbus::blocking::Connection::session() else { return false };
    let Ok(dbus) = zbus::blocking::fdo::DBusProxy::new(&bus) else { return false };
    ["org.kde.StatusNotifierWatcher", "org.freedesktop.StatusNotifierWatcher"]
        .iter()
        .any(|name| zbus::names::BusName::try_from(*name).is_ok_and(|n| dbus.name_has_owner(n).unwrap_or(false)))
}

pub fn install<R: Runtime>(app: &AppHandle<R>, workspace: Arc<Workspace>) -> tauri::Result<Tray<R>> {
    let ws = Arc::clone(&workspace);
    let icon = TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon(include_bytes!("../../icons/tray-locked.png")))
        .show_menu_on_left_click(false)
        .on_menu_event(move |app, event| match event.id().as_ref() {
            "open" => show_main_window(app),
            "lock" => ws.lock(),
            "offline" => {
                let on = !ws.offline();
                if let Err(e) = ws.set_offline(on) {
                    let action = if on { "Turning offline mode on" } else { "Turning offline mode off" };
                    failed(app, action, e);
                }
            }
            "proxy" => {
                let app = app.clone();
                let ws = Arc::clone(&ws);
                tauri::async_runtime::spawn(async move {
                    let handle = app.state::<keyhold_core::app::proxy::ProxyHandle>();
                    let was_running = handle.running_now();
                    match keyhold_core::app::proxy::toggle(&ws, &handle).await {
                        Ok(on) => tracing::info!(on, "proxy toggled from the tray"),
                        Err(e) => {
                            let action = if was_running { "Stopping the proxy" } else { "Starting the proxy" };
                            failed(&app, action, e);
                        }
                    }
                    if let Some(tray) = app.try_state::<TrayRefresh>() {
                        (tray.0)();
                    }
                });
            }
            "quit" => app.exit(0),
            _ => {}
        })
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click { button: MouseButton::Left, button_state: MouseButtonState::Up, .. } = event {
                show_main_window(tray.app_handle());
            }
        })
        .build(app)?;
    Ok(Tray { icon, app: app.clone(), workspace })
}

/// A tray action that failed: logged, and said in the window, which comes to the front (a
/// tray menu has nowhere to show a sentence).
fn failed<R: Runtime>(app: &AppHandle<R>, action: &str, e: keyhold_core::workspace::WorkspaceError) {
    use tauri_specta::Event;
    tracing::warn!(error = %e, "{action} from the tray failed");
    let event = crate::shell::events::TrayFailed { action: action.to_string(), error: e.into() };
    if let Err(e) = event.emit(app) {
        tracing::warn!(error = %e, "could not tell the window");
    }
    show_main_window(app);
}

/// Redraws the tray from the outside (after the proxy was toggled).
pub struct TrayRefresh(pub Box<dyn Fn() + Send + Sync>);

fn icon(bytes: &'static [u8]) -> Image<'static> {
    Image::from_bytes(bytes).expect("the tray icons are PNGs built into the binary")
}

fn state_word(s: AgentState) -> &'static str {
    match s {
        AgentState::Idle => "idle",
        AgentState::Working => "working",
        AgentState::OnFallback => "on fallback",
        AgentState::OverBudget => "over budget",
        AgentState::Offline => "offline",
    }
}

impl<R: Runtime> Tray<R> {
    /// Rebuilds menu, tooltip and icon from the workspace's current state.
    pub fn refresh(&self, proxy_running: bool) {
        let ws = &self.workspace;
        let status = ws.status();
        let unlocked = status == VaultStatus::Unlocked;
        let agents = if unlocked { ws.agent_statuses() } else { Vec::new() };
        let over = agents.iter().any(|a| a.state == AgentState::OverBudget);
        let bytes: &'static [u8] = if !unlocked {
            include_bytes!("../../icons/tray-locked.png")
        } else if ws.offline() {
            include_bytes!("../../icons/tray-offline.png")
        } else if over {
            include_bytes!("../../icons/tray-alert.png")
        } else {
            include_bytes!("../../icons/tray.png")
        };
        let _ = self.icon.set_icon(Some(icon(bytes)));
        let summary = match status {
            VaultStatus::NoVault => "Keyhold: set a passphrase to start".to_string(),
            VaultStatus::Locked => "Keyhold: locked".to_string(),
            VaultStatus::Unlocked => {
                let working = agents.iter().filter(|a| a.state == AgentState::Working).count();
                format!(
                    "Keyhold: {} agent(s), {working} working{}{}{}",
                    agents.len(),
                    if over { ", one over budget" } else { "" },
                    if ws.offline() { ", offline mode" } else { "" },
                    if proxy_running { ", proxy on" } else { "" }
                )
            }
        };
        let _ = self.icon.set_tooltip(Some(&summary));
        match self.menu(&summary, &agents, unlocked, proxy_running) {
            Ok(menu) => {
                let _ = self.icon.set_menu(Some(menu));
            }
            Err(e) => tracing::warn!(error = %e, "could not build the tray menu"),
        }
    }

    fn menu(
        &self,
        summary: &str,
        agents: &[AgentStatus],
        unlocked: bool,
        proxy_running: bool,
    ) -> tauri::Result<Menu<R>> {
        let app = &self.app;
        let menu = Menu::new(app)?;
        menu.append(&MenuItem::with_id(app, "summary", summary, false, None::<&str>)?)?;
        for a in agents {
            let line = format!("{} — {} · ${} today", a.name, state_word(a.state), a.spent_today_usd);
            menu.append(&MenuItem::with_id(app, format!("agent:{}", a.name), line, false, None::<&str>)?)?;
        }
        menu.append(&PredefinedMenuItem::separator(app)?)?;
        menu.append(&MenuItem::with_id(app, "open", "Open Keyhold", true, None::<&str>)?)?;
        menu.append(&MenuItem::with_id(app, "lock", "Lock", unlocked, None::<&str>)?)?;
        menu.append(&CheckMenuItem::with_id(app, "proxy", "Proxy", unlocked, proxy_running, None::<&str>)?)?;
        menu.append(&CheckMenuItem::with_id(
            app,
            "offline",
            "Offline mode",
            true,
            self.workspace.offline(),
            None::<&str>,
        )?)?;
        menu.append(&PredefinedMenuItem::separator(app)?)?;
        menu.append(&MenuItem::with_id(app, "quit", "Quit Keyhold", true, None::<&str>)?)?;
        Ok(menu)
    }
}

pub fn show_main_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}
