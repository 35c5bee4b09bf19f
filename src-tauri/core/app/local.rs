//! The user's local model server (Ollama): where it is, and what a look at it found.

use crate::datadir::DataDir;
use crate::keys::{self, KeySummary};
use crate::ollama::{self, OllamaStatus};
use crate::providers::probe::Verdict;
use crate::workspace::Workspace;

/// The user's Ollama key, if they added one.
pub fn users_key(ws: &Workspace) -> Option<KeySummary> {
    ollama::users_key(&ws.conn())
}

/// The address to look at: the given one, else the user's Ollama key's, else Ollama's default.
pub fn address(ws: &Workspace, given: Option<&str>) -> String {
    given.map(str::to_string).unwrap_or_else(|| ollama::address_of(users_key(ws).as_ref()))
}

/// [`address`], from the data dir's database directly (no writer lock: `keyhold ollama` works
/// beside any Keyhold).
pub fn address_in(dir: &DataDir, given: Option<&str>) -> String {
    given.map(str::to_string).unwrap_or_else(|| {
        let key = crate::db::open(&dir.db_path()).ok().and_then(|c| ollama::users_key(&c));
        ollama::address_of(key.as_ref())
    })
}

/// Looks at the user's Ollama and, when it answers, records that as its key's passed test (the
/// same verdict, and sentence, as testing the key), with its model list for the agent form.
pub async fn look(ws: &Workspace) -> OllamaStatus {
    let key = users_key(ws);
    let status = ollama::status(&ollama::address_of(key.as_ref())).await;
    if let (Some(k), true) = (&key, status.running) {
        let verdict = Verdict::Valid { models: status.models.iter().map(|m| m.name.clone()).collect() };
        let sentence = verdict.sentence_for("Ollama", true);
        // The model list routes, so it is signed: written only while unlocked.
        let recorded = match ws.with_unlocked(|c, u| keys::record_test(c, Some(u), &k.id, &verdict, &sentence)) {
            Err(crate::workspace::WorkspaceError::Locked) => {
                keys::record_test(&ws.conn(), None, &k.id, &verdict, &sentence).map_err(Into::into)
            }
            other => other,
        };
        if let Err(e) = recorded {
            tracing::warn!(error = %e, "could not record what the Ollama status refresh found");
        }
    }
    status
}
