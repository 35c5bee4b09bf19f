//! The usage ledger's chain in the workspace (`ledger::chain`): armed at unlock with a check from
//! the start of the day (and of the whole ledger in the background), its mark kept in the vault
//! snapshot, and what was found acknowledged by the user.

use std::time::{Duration, Instant};

use crate::ledger::chain::{self, ChainKey, Mark};

use super::{Secrets, Workspace};

/// How often, at most, the snapshot takes the ledger's mark while rows are written: a snapshot
/// rewrite costs about a millisecond (see the README's Performance section), and rows deleted
/// from the end of the ledger within this time of a kill -9 are what the mark cannot see.
const MARK_EVERY: Duration = Duration::from_secs(1);

impl Workspace {
    /// At unlock: the writer takes the chain key and checks the ledger against the snapshot's
    /// mark; the rest of the ledger is checked on a background thread. What is found is shown
    /// with the other changes made outside Keyhold, and holds budgets closed.
    pub(super) fn arm_ledger(&self, s: &Secrets, mark: Option<Mark>) {
        *self.saved_mark.lock().unwrap_or_else(|p| p.into_inner()) = mark.clone();
        let key = ChainKey::new(&s.token_key);
        let started = Instant::now();
        match self.ledger.arm(key.copy(), mark.clone()) {
            Ok(c) => tracing::info!(
                rows = c.rows,
                adopted = c.adopted,
                breaks = c.breaks.len(),
                ms = started.elapsed().as_millis() as u64,
                "usage ledger checked from the start of the day"
            ),
            Err(e) => {
                // Not checked is not trusted: budgets stay closed until the user looks.
                tracing::error!(error = %e, "could not check the usage ledger");
                self.ledger.note([chain::Break::Unchecked { detail: e.to_string() }]);
            }
        }
        // A first unlock (no mark) checked everything already.
        if mark.is_none() {
            return;
        }
        let path = self.dir.db_path();
        let breaks = self.ledger.breaks_handle();
        let mark = self.ledger.mark();
        let _ = std::thread::Builder::new().name("ledger-check".into()).spawn(move || {
            let started = Instant::now();
            let checked = crate::db::open(&path).map_err(|e| e.to_string()).and_then(|c| {
                chain::check(&c, &key, chain::Head::genesis(), mark.as_ref(), &|_| false).map_err(|e| e.to_string())
            });
            match checked {
                Ok(c) => {
                    tracing::info!(
                        rows = c.rows,
                        breaks = c.breaks.len(),
                        ms = started.elapsed().as_millis() as u64,
                        "whole usage ledger checked"
                    );
                    crate::ledger::writer::note(&breaks, c.breaks);
                }
                Err(e) => tracing::warn!(error = %e, "could not check the whole usage ledger"),
            }
        });
    }

    /// What the snapshot should keep of the ledger: the writer's mark, or the one it kept last
    /// (while locked, or before the unlock's check).
    pub(super) fn mark_to_keep(&self) -> Option<Mark> {
        self.ledger.mark().or_else(|| self.saved_mark.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    pub(super) fn mark_kept(&self, mark: Option<Mark>) {
        if mark.is_some() {
            *self.saved_mark.lock().unwrap_or_else(|p| p.into_inner()) = mark;
            *self.mark_saved_at.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        }
    }

    /// After ledger rows: the snapshot takes the new mark, at most once every [`MARK_EVERY`].
    pub(super) fn keep_ledger_mark_soon(&self) {
        let due = self.mark_saved_at.lock().unwrap_or_else(|p| p.into_inner()).elapsed() >= MARK_EVERY;
        if due {
            self.keep_ledger_mark();
        }
    }

    /// The snapshot takes the ledger's mark now, if it moved (at lock, at exit, and from
    /// [`Workspace::keep_ledger_mark_soon`]).
    pub fn keep_ledger_mark(&self) {
        if !self.ledger.take_mark_moved() {
            return;
        }
        let guard = self.secrets.read().unwrap_or_else(|p| p.into_inner());
        let Some(s) = guard.as_ref() else { return };
        // The manifest's lock first, as every configuration change takes it: the snapshot is
        // never rewritten with a manifest older than one written meanwhile.
        let manifest = s.manifest.lock().unwrap_or_else(|p| p.into_inner());
        self.write_manifest(s, &manifest);
    }
}
