//! The desktop shell: window, tray and the thin commands the front-end calls.

//! Dependencies run one way: `error`, `events` and `state` import no other shell module;
//! `commands` those; `tray` `state`; `app` wires it all. Everything a command does is a call
//! into `keyhold_core::app`; no shell module holds the database.

pub mod app;
pub mod commands;
pub mod error;
pub mod events;
pub mod state;
pub mod tray;

/// The typed IPC surface: every command and event the front-end may use. `ui/src/bindings.ts`
/// is generated from this (see the `typescript_bindings_are_current` test).
pub fn ipc<R: tauri::Runtime>() -> tauri_specta::Builder<R> {
    tauri_specta::Builder::<R>::new()
        .commands(tauri_specta::collect_commands![
            commands::vault::frontend_ready,
            commands::vault::workspace_info,
            commands::vault::passphrase_strength,
            commands::vault::create_vault,
            commands::vault::unlock,
            commands::vault::lock,
            commands::vault::change_passphrase,
            commands::vault::accept_changes,
            commands::keys::providers_catalog,
            commands::keys::keys_list,
            commands::keys::keys_add,
            commands::keys::keys_test,
            commands::keys::keys_rotate,
            commands::keys::keys_set_active,
            commands::keys::keys_set_default,
            commands::keys::keys_remove,
            commands::agents::agents_list,
            commands::agents::agents_save,
            commands::agents::agents_duplicate,
            commands::agents::agents_remove,
            commands::chat::chat_send,
            commands::chat::chat_stop,
            commands::chat::conversations_list,
            commands::chat::conversation_open,
            commands::chat::conversation_save,
            commands::chat::conversation_remove,
            commands::chat::conversation_rename,
            commands::agents::overview,
            commands::prices::prices_list,
            commands::prices::prices_set,
            commands::prices::prices_remove,
            commands::privacy::privacy_preview,
            commands::privacy::dictionary_list,
            commands::privacy::dictionary_add,
            commands::privacy::dictionary_remove,
            commands::privacy::payload_log_days,
            commands::privacy::phone_region_get,
            commands::privacy::phone_region_set,
            commands::privacy::payload_log_set_days,
            commands::privacy::payload_log_list,
            commands::privacy::payload_log_open,
            commands::proxy::proxy_status,
            commands::proxy::proxy_start,
            commands::proxy::proxy_stop,
            commands::proxy::proxy_set_origins,
            commands::proxy::tokens_issue,
            commands::proxy::tokens_revoke,
            commands::proxy::connect_tool,
            commands::environment::app_environment,
            commands::environment::set_offline,
            commands::environment::open_link,
            commands::environment::ollama_refresh,
            commands::environment::ollama_pull,
            commands::environment::ollama_remove,
            commands::vault::set_autostart,
            commands::usage::usage_view,
            commands::usage::usage_export,
        ])
        .events(tauri_specta::collect_events![
            events::VaultChanged,
            events::ChatDelta,
            events::LedgerChanged,
            events::ConfigurationChanged,
            events::OllamaChanged,
            events::OfflineChanged,
            events::OllamaPull,
            events::PassphraseProgress,
            events::TrayFailed
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
