//! The vault: first run, lock and unlock, the passphrase, start at login, and the window's
//! first-paint report.

use std::sync::Arc;

use tauri::State;

use keyhold_core::passphrase::{self, Passphrase, Strength};
use keyhold_core::vault::VaultStep;
use keyhold_core::workspace::WorkspaceInfo;

use crate::shell::error::{blocking, CommandError, Ws};
use crate::shell::events::PassphraseProgress;
use crate::shell::state::PassphraseSteps;

/// The window reports its first paint; the log line is what start-up measurements read.
#[tauri::command]
#[specta::specta]
pub fn frontend_ready() {
    let ms = crate::shell::state::since_start().as_millis();
    tracing::info!(ms = ms as u64, "first paint");
}

#[tauri::command]
#[specta::specta]
pub fn workspace_info(ws: Ws<'_>) -> WorkspaceInfo {
    ws.info()
}

#[tauri::command]
#[specta::specta]
pub fn passphrase_strength(passphrase: String) -> Strength {
    passphrase::strength(&Passphrase::new(passphrase))
}

#[tauri::command]
#[specta::specta]
pub async fn create_vault(ws: Ws<'_>, passphrase: String, confirm: String) -> Result<WorkspaceInfo, CommandError> {
    let (p, c) = (Passphrase::new(passphrase), Passphrase::new(confirm));
    blocking(&ws, move |ws| ws.create_vault(&p, Some(&c)).map(|()| ws.info())).await
}

#[tauri::command]
#[specta::specta]
pub async fn unlock(ws: Ws<'_>, passphrase: String) -> Result<WorkspaceInfo, CommandError> {
    let p = Passphrase::new(passphrase);
    blocking(&ws, move |ws| ws.unlock(&p).map(|()| ws.info())).await
}

#[tauri::command]
#[specta::specta]
pub fn lock(ws: Ws<'_>) -> WorkspaceInfo {
    ws.lock();
    ws.info()
}

#[tauri::command]
#[specta::specta]
pub async fn change_passphrase(
    steps: State<'_, PassphraseSteps>,
    ws: Ws<'_>,
    current: String,
    replacement: String,
    confirm: String,
    rotate_master: bool,
) -> Result<(), CommandError> {
    let (o, n, c) = (Passphrase::new(current), Passphrase::new(replacement), Passphrase::new(confirm));
    let emit = Arc::clone(&steps.0);
    blocking(&ws, move |ws| {
        // Each step said as it starts, numbered across the change and the rotation after it.
        let of = VaultStep::IN_A_CHANGE + if rotate_master { VaultStep::IN_A_ROTATION } else { 0 };
        let done = std::cell::Cell::new(0);
        let say = |s: VaultStep| {
            done.set(done.get() + 1);
            emit(PassphraseProgress { step: done.get(), of, words: s.words().to_string() });
        };
        ws.change_passphrase_reporting(&o, &n, Some(&c), &say)?;
        if rotate_master {
            ws.rotate_master_reporting(&n, &say)?;
        }
        Ok(())
    })
    .await
}

/// The user has seen what was changed outside Keyhold (protected records, the usage ledger) and
/// takes the database as it is now. Needs the passphrase, as `keyhold vault check --accept` does:
/// an unattended unlocked window is not enough to bless an edit.
#[tauri::command]
#[specta::specta]
pub async fn accept_changes(ws: Ws<'_>, passphrase: String) -> Result<WorkspaceInfo, CommandError> {
    let p = Passphrase::new(passphrase);
    blocking(&ws, move |ws| {
        ws.unlock_or_verify(&p)?;
        ws.accept_configuration()?;
        Ok(ws.info())
    })
    .await
}

#[tauri::command]
#[specta::specta]
pub fn set_autostart(on: bool) -> Result<bool, CommandError> {
    keyhold_core::autostart::set(on)?;
    Ok(keyhold_core::autostart::enabled())
}
