//! Tauri commands: parse, call the core, map the error. Nothing else belongs here.
//!
//! Passphrases arrive as plain `String`s (that is what IPC carries) and are moved into a
//! zeroizing [`Passphrase`] on the first line. Replies never contain them.

use std::sync::Arc;

use serde::Serialize;
use specta::Type;
use tauri::State;

use zeroize::Zeroizing;

use crate::core::keys::{self, KeySummary, Saved};
use crate::core::passphrase::{self, Passphrase, Strength};
use crate::core::providers::{self, probe::Verdict, Provider};
use crate::core::workspace::{Workspace, WorkspaceError, WorkspaceInfo};

/// What the front-end gets when a command fails: a stable kind to branch on, and a message to show.
#[derive(Debug, Clone, Serialize, Type)]
pub struct CommandError {
    pub kind: String,
    pub message: String,
}

impl From<WorkspaceError> for CommandError {
    fn from(e: WorkspaceError) -> Self {
        CommandError { kind: e.kind().into(), message: e.to_string() }
    }
}

type Ws<'a> = State<'a, Arc<Workspace>>;

/// Vault work (Argon2id, Stronghold) takes seconds: it runs off the UI thread.
async fn blocking<T: Send + 'static>(
    ws: &Ws<'_>,
    f: impl FnOnce(&Workspace) -> Result<T, WorkspaceError> + Send + 'static,
) -> Result<T, CommandError> {
    let ws = Arc::clone(ws);
    tauri::async_runtime::spawn_blocking(move || f(&ws))
        .await
        .map_err(|e| CommandError { kind: "internal".into(), message: format!("Keyhold hit an internal error: {e}") })?
        .map_err(CommandError::from)
}

/// The window reports its first paint; the log line is what start-up measurements read.
#[tauri::command]
#[specta::specta]
pub fn frontend_ready() {
    let ms = crate::shell::app::since_start().as_millis();
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
    ws: Ws<'_>,
    current: String,
    replacement: String,
    confirm: String,
) -> Result<(), CommandError> {
    let (o, n, c) = (Passphrase::new(current), Passphrase::new(replacement), Passphrase::new(confirm));
    blocking(&ws, move |ws| ws.change_passphrase(&o, &n, Some(&c))).await
}

/// Settings → LLM Providers. Every key command needs Keyhold unlocked, even those that touch no
/// secret: locked means locked. A key arrives as a `String` and is moved into zeroizing memory
/// at once; no reply carries one.
#[tauri::command]
#[specta::specta]
pub fn providers_catalog() -> Vec<Provider> {
    providers::catalog().to_vec()
}

#[tauri::command]
#[specta::specta]
pub fn keys_list(ws: Ws<'_>) -> Result<Vec<KeySummary>, CommandError> {
    Ok(ws.with_db_and_master(|c, _| keys::list(c))?)
}

#[tauri::command]
#[specta::specta]
pub fn keys_add(
    ws: Ws<'_>,
    provider: String,
    label: String,
    base_url: Option<String>,
    secret: String,
) -> Result<Saved, CommandError> {
    let secret = Zeroizing::new(secret);
    let base_url = base_url.filter(|u| !u.trim().is_empty());
    let secret = (!secret.is_empty()).then_some(secret);
    Ok(ws.with_db_and_master(|c, m| keys::add(c, m, &provider, &label, base_url.as_deref(), secret))?)
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct KeyTest {
    pub key: KeySummary,
    pub verdict: Verdict,
}

#[tauri::command]
#[specta::specta]
pub async fn keys_test(ws: Ws<'_>, id: String) -> Result<KeyTest, CommandError> {
    let ws = Arc::clone(&ws);
    let (key, verdict) = ws.test_key(&id, std::time::Duration::from_secs(20)).await?;
    Ok(KeyTest { key, verdict })
}

#[tauri::command]
#[specta::specta]
pub fn keys_rotate(ws: Ws<'_>, id: String, secret: String) -> Result<Saved, CommandError> {
    let secret = Zeroizing::new(secret);
    Ok(ws.with_db_and_master(|c, m| keys::rotate(c, m, &id, secret))?)
}

#[tauri::command]
#[specta::specta]
pub fn keys_set_active(ws: Ws<'_>, id: String, active: bool) -> Result<KeySummary, CommandError> {
    Ok(ws.with_db_and_master(|c, _| keys::set_active(c, &id, active))?)
}

#[tauri::command]
#[specta::specta]
pub fn keys_set_default(ws: Ws<'_>, id: String) -> Result<KeySummary, CommandError> {
    Ok(ws.with_db_and_master(|c, _| keys::set_default(c, &id))?)
}

#[tauri::command]
#[specta::specta]
pub fn keys_remove(ws: Ws<'_>, id: String) -> Result<KeySummary, CommandError> {
    Ok(ws.with_db_and_master(|c, _| keys::remove(c, &id))?)
}

#[cfg(test)]
mod tests;
