//! The tray icon: Open, Lock, Quit, and an icon that shows whether Keyhold is locked.

use std::sync::Arc;

use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Runtime};

use crate::core::workspace::{VaultStatus, Workspace};

const TRAY_ID: &str = "keyhold";

/// What the tray keeps so it can be updated when the vault's state changes.
pub struct Tray<R: Runtime> {
    icon: TrayIcon<R>,
    lock_item: MenuItem<R>,
}

pub fn install<R: Runtime>(app: &AppHandle<R>, workspace: Arc<Workspace>) -> tauri::Result<Tray<R>> {
    let open = MenuItem::with_id(app, "open", "Open Keyhold", true, None::<&str>)?;
    let lock_item = MenuItem::with_id(app, "lock", "Lock", false, None::<&str>)?;
    let proxy_item = MenuItem::with_id(app, "proxy", "Proxy on/off", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit Keyhold", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&open, &lock_item, &proxy_item, &PredefinedMenuItem::separator(app)?, &quit])?;
    let icon = TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon_for(VaultStatus::Locked))
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(move |app, event| match event.id().as_ref() {
            "open" => show_main_window(app),
            "lock" => workspace.lock(),
            "proxy" => {
                let app = app.clone();
                let ws = Arc::clone(&workspace);
                tauri::async_runtime::spawn(async move {
                    let handle = app.state::<crate::shell::proxy::ProxyHandle>();
                    match crate::shell::proxy::toggle(&ws, &handle).await {
                        Ok(on) => tracing::info!(on, "proxy toggled from the tray"),
                        Err(e) => tracing::warn!(error = %e.message, "could not toggle the proxy"),
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
    Ok(Tray { icon, lock_item })
}

impl<R: Runtime> Tray<R> {
    pub fn show(&self, status: VaultStatus) {
        let _ = self.icon.set_icon(Some(icon_for(status)));
        let _ = self.icon.set_tooltip(Some(match status {
            VaultStatus::NoVault => "Keyhold: set a passphrase to start",
            VaultStatus::Locked => "Keyhold: locked",
            VaultStatus::Unlocked => "Keyhold: unlocked",
        }));
        let _ = self.lock_item.set_enabled(status == VaultStatus::Unlocked);
    }
}

fn icon_for(status: VaultStatus) -> Image<'static> {
    let bytes: &'static [u8] = match status {
        VaultStatus::Unlocked => include_bytes!("../../icons/tray.png"),
        VaultStatus::Locked | VaultStatus::NoVault => include_bytes!("../../icons/tray-locked.png"),
    };
    Image::from_bytes(bytes).expect("the tray icons are PNGs built into the binary")
}

pub fn show_main_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}
