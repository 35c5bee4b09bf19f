//! The desktop shell: window, tray and the thin commands the front-end calls.

pub mod app;
pub mod commands;
pub mod events;
pub mod proxy;
pub mod tray;

/// The typed IPC surface: every command and event the front-end may use. `ui/src/bindings.ts`
/// is generated from this (see the `typescript_bindings_are_current` test).
pub fn ipc<R: tauri::Runtime>() -> tauri_specta::Builder<R> {
    tauri_specta::Builder::<R>::new()
        .commands(tauri_specta::collect_commands![
            commands::frontend_ready,
            commands::workspace_info,
            commands::passphrase_strength,
            commands::create_vault,
            commands::unlock,
            commands::lock,
            commands::change_passphrase,
            commands::providers_catalog,
            commands::keys_list,
            commands::keys_add,
            commands::keys_test,
            commands::keys_rotate,
            commands::keys_set_active,
            commands::keys_set_default,
            commands::keys_remove,
            commands::agents_list,
            commands::agents_save,
            commands::agents_duplicate,
            commands::agents_remove,
            commands::chat_send,
            commands::prices_list,
            commands::prices_set,
            proxy::proxy_status,
            proxy::proxy_start,
            proxy::proxy_stop,
            proxy::proxy_set_origins,
            proxy::tokens_issue,
            proxy::tokens_revoke,
            commands::app_environment,
            commands::set_offline,
            commands::ollama_refresh,
            commands::set_autostart,
            commands::usage_view,
            commands::usage_export,
        ])
        .events(tauri_specta::collect_events![
            events::VaultChanged,
            events::ChatDelta,
            events::LedgerChanged,
            events::OllamaChanged,
            events::OfflineChanged
        ])
}

#[cfg(test)]
mod bindings_test {
    /// Fails when a command or type changed in Rust without the TypeScript being regenerated.
    /// Regenerate with `KEYHOLD_WRITE_BINDINGS=1 cargo test typescript_bindings_are_current`.
    #[test]
    fn typescript_bindings_are_current() {
        let committed_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/src/bindings.ts");
        let tmp = tempfile::tempdir().unwrap();
        let fresh_path = tmp.path().join("bindings.ts");
        super::ipc::<tauri::Wry>()
            .export(
                specta_typescript::Typescript::default()
                    .header("// Generated from the Rust commands by tauri-specta. Do not edit.\n"),
                &fresh_path,
            )
            .unwrap();
        let fresh = std::fs::read_to_string(&fresh_path).unwrap();
        if std::env::var_os("KEYHOLD_WRITE_BINDINGS").is_some() {
            std::fs::write(&committed_path, &fresh).unwrap();
        }
        let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
        assert!(
            committed == fresh,
            "ui/src/bindings.ts is stale: run KEYHOLD_WRITE_BINDINGS=1 cargo test typescript_bindings_are_current"
        );
    }
}
