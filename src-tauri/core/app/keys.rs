//! Provider keys: add, replace, test, (de)activate, choose the default, remove.

use std::time::Duration;

use zeroize::Zeroizing;

use crate::keys::{self, KeySummary, Reach, Saved};
use crate::providers::probe::{self, Verdict};
use crate::workspace::{Workspace, WorkspaceError};

/// Every key, masked, as stored (its health from its last test).
pub fn list(ws: &Workspace) -> Result<Vec<KeySummary>, WorkspaceError> {
    Ok(keys::list(&ws.conn())?)
}

/// One key by id or label.
pub fn find(ws: &Workspace, key: &str) -> Result<KeySummary, WorkspaceError> {
    Ok(keys::find(&ws.conn(), key)?)
}

pub fn add(
    ws: &Workspace,
    provider: &str,
    label: &str,
    base_url: Option<&str>,
    secret: Option<Zeroizing<String>>,
    reach: Reach,
) -> Result<Saved, WorkspaceError> {
    let saved = ws.with_unlocked(|c, u| keys::add(c, u, provider, label, base_url, secret, reach))?;
    // Whoever watches the keys (the window's Local models badge, its pages) looks again now.
    ws.configuration_changed();
    Ok(saved)
}

/// Replaces the key's secret (it keeps its label, agents and ledger rows).
pub fn rotate(ws: &Workspace, key: &str, secret: Zeroizing<String>) -> Result<Saved, WorkspaceError> {
    ws.with_unlocked(|c, u| keys::rotate(c, u, key, secret))
}

pub fn set_active(ws: &Workspace, key: &str, active: bool) -> Result<KeySummary, WorkspaceError> {
    let k = ws.with_unlocked(|c, u| keys::set_active(c, u, key, active))?;
    ws.configuration_changed();
    Ok(k)
}

pub fn set_default(ws: &Workspace, key: &str) -> Result<KeySummary, WorkspaceError> {
    ws.with_unlocked(|c, u| keys::set_default(c, u, key))
}

pub fn remove(ws: &Workspace, key: &str) -> Result<KeySummary, WorkspaceError> {
    let k = ws.with_unlocked(|c, u| keys::remove(c, u, key))?;
    ws.configuration_changed();
    Ok(k)
}

/// Tests a key against its provider's model list and records the verdict. The key is opened
/// for this call only; a deactivated key is refused before anything is sent.
pub async fn test(ws: &Workspace, key: &str, timeout: Duration) -> Result<(KeySummary, Verdict), WorkspaceError> {
    let ep = ws.with_unlocked(|c, u| keys::endpoint(c, u, key))?;
    let verdict = probe::test(ep.provider, &ep.base_url, ep.secret.as_deref().map(String::as_str), timeout).await;
    drop(ep.secret);
    let sentence = verdict.sentence_for(&ep.provider.name, ep.provider.auth == crate::providers::AuthStyle::None);
    tracing::info!(key = %ep.key.label, provider = %ep.provider.id, verdict = %sentence, "key tested");
    let key = ws.with_unlocked(|c, u| keys::record_test(c, Some(u), &ep.key.id, &verdict, &sentence))?;
    Ok((key, verdict))
}
