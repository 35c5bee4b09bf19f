//! Settings → LLM Providers. Every key command needs Keyhold unlocked, even those that touch no
//! secret: locked means locked. A key arrives as a `String` and is moved into zeroizing memory
//! at once; no reply carries one.

use std::sync::Arc;

use serde::Serialize;
use specta::Type;
use zeroize::Zeroizing;

use keyhold_core::app;
use keyhold_core::keys::{KeySummary, Reach, Saved};
use keyhold_core::providers::{self, probe::Verdict, Provider};

use crate::shell::error::{CommandError, Ws};

#[tauri::command]
#[specta::specta]
pub fn providers_catalog() -> Vec<Provider> {
    providers::catalog().to_vec()
}

#[tauri::command]
#[specta::specta]
pub fn keys_list(ws: Ws<'_>) -> Result<Vec<KeySummary>, CommandError> {
    ws.require_unlocked()?;
    Ok(app::keys::list(&ws)?)
}

#[tauri::command]
#[specta::specta]
pub fn keys_add(
    ws: Ws<'_>,
    provider: String,
    label: String,
    base_url: Option<String>,
    secret: String,
    reach: Reach,
) -> Result<Saved, CommandError> {
    let secret = Zeroizing::new(secret);
    let base_url = base_url.filter(|u| !u.trim().is_empty());
    let secret = (!secret.is_empty()).then_some(secret);
    Ok(app::keys::add(&ws, &provider, &label, base_url.as_deref(), secret, reach)?)
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
    let (key, verdict) = app::keys::test(&ws, &id, std::time::Duration::from_secs(20)).await?;
    Ok(KeyTest { key, verdict })
}

#[tauri::command]
#[specta::specta]
pub fn keys_rotate(ws: Ws<'_>, id: String, secret: String) -> Result<Saved, CommandError> {
    let secret = Zeroizing::new(secret);
    Ok(app::keys::rotate(&ws, &id, secret)?)
}

#[tauri::command]
#[specta::specta]
pub fn keys_set_active(ws: Ws<'_>, id: String, active: bool) -> Result<KeySummary, CommandError> {
    Ok(app::keys::set_active(&ws, &id, active)?)
}

#[tauri::command]
#[specta::specta]
pub fn keys_set_default(ws: Ws<'_>, id: String) -> Result<KeySummary, CommandError> {
    Ok(app::keys::set_default(&ws, &id)?)
}

#[tauri::command]
#[specta::specta]
pub fn keys_remove(ws: Ws<'_>, id: String) -> Result<KeySummary, CommandError> {
    Ok(app::keys::remove(&ws, &id)?)
}
