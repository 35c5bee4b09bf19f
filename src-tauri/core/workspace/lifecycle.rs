//! The vault's life in the workspace: first run, unlock (settling an interrupted change),
//! lock, passphrase change and master-secret rotation.

use crate::integrity::{Tampered, Unlocked};
use crate::ledger::chain::Mark;
use crate::passphrase::{self, Passphrase};
use crate::seal::MasterSecret;
use crate::vault;

use super::{
    db, integrity, release_kdf_memory, Secrets, Unlocking, VaultStatus, Workspace, WorkspaceError, CREATED_AT,
    LAST_UNLOCK, OFFLINE,
};

impl Workspace {
    /// First run: creates the vault and leaves Keyhold unlocked.
    pub fn create_vault(&self, new: &Passphrase, confirm: Option<&Passphrase>) -> Result<(), WorkspaceError> {
        passphrase::check_new(new, confirm)?;
        let vault::Opened { contents, key, .. } = vault::create(&self.dir.vault_paths(), new, self.kdf)?;
        tracing::info!("vault created");
        let token_key = contents.token_key.expect("a new vault has a token key");
        // Rows a command line wrote before the vault existed are the user's own: tag them now.
        let u = Unlocked::new(&contents.master, &token_key);
        crate::sealing::retag_everything(&mut self.conn(), &u, None)?;
        drop(u);
        self.record_time(CREATED_AT);
        let manifest = crate::manifest::Manifest::read(&self.conn()).map_err(|e| self.db_error(e))?;
        // A database that already holds keys, agents or tokens was not written by this vault:
        // the user looks it over and adopts it before any of it is used.
        let held = crate::manifest::database_holds_anything(&self.conn()).map_err(|e| self.db_error(e))?;
        let secrets = if held {
            tracing::warn!("the new vault found a database it never signed: waiting for the user to adopt it");
            Secrets::unadopted(contents.master, token_key, key)
        } else {
            Secrets::new(contents.master, token_key, key, manifest)
        };
        // Rows written before the vault existed are chained now (there is no mark yet).
        self.arm_ledger(&secrets, None);
        self.write_manifest(&secrets, &secrets.manifest.lock().unwrap_or_else(|p| p.into_inner()).clone());
        self.set_unlocked(secrets);
        Ok(())
    }

    pub fn unlock(&self, passphrase: &Passphrase) -> Result<(), WorkspaceError> {
        if self.status() == VaultStatus::Unlocked {
            return Err(WorkspaceError::AlreadyUnlocked);
        }
        let opened = match vault::open(&self.dir.vault_paths(), passphrase) {
            Ok(o) => o,
            Err(e) => {
                // Vault errors name files and causes, never the passphrase.
                tracing::warn!(error = %e, "unlock refused");
                return Err(e.into());
            }
        };
        if let Some(header) = &opened.settled_header {
            // We hold the writer lock: finish the interrupted passphrase change.
            match header.write(&self.dir.vault_paths().header) {
                Ok(()) => tracing::info!("finished an interrupted passphrase change"),
                Err(e) => tracing::warn!(error = %e, "could not finish an interrupted passphrase change"),
            }
        }
        let (secrets, mark) = self.settle(opened)?;
        let first_chain = mark.is_none();
        self.arm_ledger(&secrets, mark);
        if first_chain {
            // The ledger was chained for the first time: the snapshot keeps where it ends.
            self.write_manifest(&secrets, &secrets.manifest.lock().unwrap_or_else(|p| p.into_inner()).clone());
        }
        let u = Unlocked::new(&secrets.master, &secrets.token_key);
        let changed = self.check_settings(&u);
        drop(u);
        *self.changed.lock().unwrap_or_else(|p| p.into_inner()) = changed;
        self.record_time(LAST_UNLOCK);
        self.set_unlocked(secrets);
        if self.offline() {
            // Turned on while locked: the saved configuration takes "on" (it only keeps data
            // here). An "off" is never taken this way: it is signed, and checked.
            self.note_offline();
        }
        release_kdf_memory();
        tracing::info!("vault unlocked");
        Ok(())
    }

    /// Brings a freshly opened vault to the current state, holding the writer lock: finishes an
    /// interrupted master-secret rotation (keeping the master the database's records are under),
    /// and adopts a database written before tags (tags every record, then marks the snapshot).
    fn settle(&self, opened: vault::Opened) -> Result<(Secrets, Option<Mark>), WorkspaceError> {
        let vault::Opened { contents, key, .. } = opened;
        let vault::Contents { master, pending, token_key, stretched, manifest, ledger } = contents;
        let mark = ledger.as_deref().and_then(Mark::from_bytes);
        *self.saved_mark.lock().unwrap_or_else(|p| p.into_inner()) = mark.clone();
        // A snapshot written with the old second stretch is rewritten without it, once.
        let mut rewrite = stretched;
        // Every record's tag changed (a rotation, a first tagging): the manifest is read again.
        let mut retagged = false;
        let master = match pending {
            None => master,
            Some(next) => {
                rewrite = true;
                retagged = true;
                let adopted = token_key
                    .as_ref()
                    .is_some_and(|t| crate::sealing::is_current(&self.conn(), &Unlocked::new(&next, t)));
                if adopted {
                    tracing::info!("finished an interrupted master-secret rotation");
                    next
                } else {
                    tracing::info!("rolled back an interrupted master-secret rotation");
                    master
                }
            }
        };
        let token_key = match token_key {
            Some(t) => t,
            None => {
                let t = MasterSecret::generate();
                crate::sealing::retag_everything(&mut self.conn(), &Unlocked::new(&master, &t), None)?;
                tracing::info!("configuration tagged under the vault (first unlock of this version)");
                rewrite = true;
                retagged = true;
                t
            }
        };
        // The saved configuration. A snapshot with none (an older version's, or one put in place
        // of this vault's) never signed this database: what it holds is shown to the user, and
        // used only once they adopt it; a database holding nothing needs no look. A rotation
        // re-tagged every record, so the manifest is read again.
        let saved = manifest.as_deref().and_then(crate::manifest::Manifest::from_bytes);
        let mut adopted = true;
        let manifest = match saved {
            Some(m) if !retagged => m,
            Some(_) => {
                rewrite = true;
                crate::manifest::Manifest::read(&self.conn()).map_err(|e| self.db_error(e))?
            }
            None => {
                rewrite = true;
                if crate::manifest::database_holds_anything(&self.conn()).map_err(|e| self.db_error(e))? {
                    tracing::warn!("the vault has never signed this database: waiting for the user to adopt it");
                    adopted = false;
                    crate::manifest::Manifest::default()
                } else {
                    crate::manifest::Manifest::read(&self.conn()).map_err(|e| self.db_error(e))?
                }
            }
        };
        // Key rows tagged before their model list was covered are tagged again, once, when their
        // tag is the one the snapshot saved last (a replayed older tag is not).
        let mut manifest = manifest;
        let upgraded = {
            let saved = |id: &str| manifest.0.get(&("key".to_string(), id.to_string())).map(|e| e.tag.clone());
            crate::keys::upgrade_tags(&self.conn(), &Unlocked::new(&master, &token_key), &saved)?
        };
        for (id, tag) in upgraded {
            if let Some(e) = manifest.0.get_mut(&("key".to_string(), id)) {
                e.tag = crate::manifest::hex(&tag);
            }
            rewrite = true;
        }
        let secrets = if adopted {
            Secrets::new(master, token_key, key, manifest)
        } else {
            Secrets::unadopted(master, token_key, key)
        };
        if rewrite {
            // The vault opened and the database is consistent with `master`: a snapshot that
            // cannot be rewritten now (a full disk) must not keep the user out. The next unlock
            // tries again.
            self.write_manifest(&secrets, &secrets.manifest.lock().unwrap_or_else(|p| p.into_inner()).clone());
        }
        Ok((secrets, mark))
    }

    /// Checks the protected settings after an unlock. Offline mode whose "off" does not hold is
    /// turned on (the safe side) and reported; nothing else is changed.
    fn check_settings(&self, u: &Unlocked) -> Vec<Tampered> {
        let conn = self.conn();
        let bad = match crate::sealing::check_everything(&conn, u) {
            Ok(bad) => bad,
            Err(e) => {
                tracing::warn!(error = %e, "could not check the configuration's tags");
                return Vec::new();
            }
        };
        let offline_ok = matches!(integrity::get_setting(&conn, u, OFFLINE), Ok(Ok(Some(_))));
        if !offline_ok {
            let _ = db::set_setting(&conn, OFFLINE, "on");
            self.offline.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        for t in &bad {
            tracing::warn!(problem = %t.what, "a protected record was changed outside Keyhold");
        }
        bad
    }

    /// Unlocks with `passphrase`, or, when already unlocked, checks it against the vault without
    /// changing anything: what a running Keyhold asks of a command typed in a terminal, so that
    /// an unlocked window never stands in for the passphrase.
    pub fn unlock_or_verify(&self, passphrase: &Passphrase) -> Result<Unlocking, WorkspaceError> {
        match self.unlock(passphrase) {
            Ok(()) => Ok(Unlocking::Unlocked),
            Err(WorkspaceError::AlreadyUnlocked) => {
                let opened = vault::open_to_confirm(&self.dir.vault_paths(), passphrase);
                drop(opened.map_err(|e| {
                    tracing::warn!(error = %e, "a passphrase from the command line was refused");
                    WorkspaceError::from(e)
                })?);
                release_kdf_memory();
                Ok(Unlocking::WasUnlocked)
            }
            Err(e) => Err(e),
        }
    }

    /// Protected records found changed outside Keyhold at the last unlock.
    pub fn changed_outside(&self) -> Vec<Tampered> {
        self.changed.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Drops the master secret. Idempotent.
    pub fn lock(&self) {
        // The snapshot keeps where the ledger ends before the key goes.
        self.keep_ledger_mark();
        self.ledger.disarm();
        let had = self.secrets.write().unwrap_or_else(|p| p.into_inner()).take().is_some();
        if had {
            self.status.send_replace(VaultStatus::Locked);
            tracing::info!("vault locked");
        }
    }

    /// Needs the current passphrase even while unlocked, as 1Password does: an unattended
    /// unlocked screen must not be enough to take the vault over.
    pub fn change_passphrase(
        &self,
        old: &Passphrase,
        new: &Passphrase,
        confirm: Option<&Passphrase>,
    ) -> Result<(), WorkspaceError> {
        self.change_passphrase_reporting(old, new, confirm, &|_| {})
    }

    /// [`Workspace::change_passphrase`], saying each step as it starts.
    pub fn change_passphrase_reporting(
        &self,
        old: &Passphrase,
        new: &Passphrase,
        confirm: Option<&Passphrase>,
        progress: &dyn Fn(vault::VaultStep),
    ) -> Result<(), WorkspaceError> {
        passphrase::check_new(new, confirm)?;
        // Held for the change: no manifest is written under the old key after the new one
        // took over.
        let mut guard = self.secrets.write().unwrap_or_else(|p| p.into_inner());
        let key = vault::change_passphrase_reporting(&self.dir.vault_paths(), old, new, self.kdf, progress)?;
        if let Some(s) = guard.as_mut() {
            s.key = key;
            // The snapshot was rewritten from its file: it carries the manifest as saved there.
            let saved = s.manifest.lock().unwrap_or_else(|p| p.into_inner()).clone();
            self.write_manifest(s, &saved);
        }
        tracing::info!("vault passphrase changed");
        Ok(())
    }

    /// Replaces the master secret: every key is re-sealed and every protected record re-tagged
    /// under a new one, so an old copy of the vault file with an old passphrase opens nothing
    /// current. Needs the passphrase even while unlocked. Crash-safe: the snapshot first holds
    /// both secrets, the database moves in one transaction and records which one it is under,
    /// and the next unlock finishes (or rolls back) an interrupted rotation.
    pub fn rotate_master(&self, passphrase: &Passphrase) -> Result<(), WorkspaceError> {
        self.rotate_master_until(passphrase, RotationStage::Finished, &|_| {})
    }

    /// [`Workspace::rotate_master`], saying each step as it starts.
    pub fn rotate_master_reporting(
        &self,
        passphrase: &Passphrase,
        progress: &dyn Fn(vault::VaultStep),
    ) -> Result<(), WorkspaceError> {
        self.rotate_master_until(passphrase, RotationStage::Finished, progress)
    }

    pub(crate) fn rotate_master_until(
        &self,
        passphrase: &Passphrase,
        stop: RotationStage,
        progress: &dyn Fn(vault::VaultStep),
    ) -> Result<(), WorkspaceError> {
        let paths = self.dir.vault_paths();
        let mut guard = self.secrets.write().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            return Err(WorkspaceError::Locked);
        }
        progress(vault::VaultStep::CheckingPassphrase);
        let opened = vault::open_to_confirm(&paths, passphrase)?;
        let vault::Contents { master: old, token_key, .. } = opened.contents;
        let token_key = token_key.ok_or(WorkspaceError::Locked)?;
        let next = MasterSecret::generate();
        let kept = opened.contents.manifest.clone();
        let pending = vault::Contents {
            master: old.copy(),
            pending: Some(next.copy()),
            token_key: Some(token_key.copy()),
            stretched: false,
            manifest: kept.clone(),
            ledger: self.mark_to_keep().map(|m| m.to_bytes()),
        };
        progress(vault::VaultStep::WritingNewSecret);
        vault::rewrite(&paths, &opened.key, &pending)?;
        if stop == RotationStage::SnapshotPending {
            return Ok(());
        }
        progress(vault::VaultStep::ResealingRecords);
        let moved = crate::sealing::rotate(
            &mut self.conn(),
            &Unlocked::new(&old, &token_key),
            &Unlocked::new(&next, &token_key),
        );
        if let Err(e) = moved {
            // Nothing moved: the snapshot goes back to the one secret.
            let back = vault::Contents {
                master: old,
                pending: None,
                token_key: Some(token_key),
                stretched: false,
                manifest: kept,
                ledger: self.mark_to_keep().map(|m| m.to_bytes()),
            };
            if let Err(w) = vault::rewrite(&paths, &opened.key, &back) {
                tracing::warn!(error = %w, "could not roll the snapshot back; the next unlock will");
            }
            return Err(e.into());
        }
        // Every tag changed: the saved configuration is what the rotation wrote.
        let after = crate::manifest::Manifest::read(&self.conn()).map_err(|e| self.db_error(e))?;
        if stop == RotationStage::DatabaseDone {
            *guard = Some(Secrets::new(next, token_key, opened.key, after));
            return Ok(());
        }
        let done = vault::Contents {
            master: next.copy(),
            pending: None,
            token_key: Some(token_key.copy()),
            stretched: false,
            manifest: Some(after.to_bytes()),
            ledger: self.mark_to_keep().map(|m| m.to_bytes()),
        };
        progress(vault::VaultStep::RetiringOldSecret);
        vault::rewrite(&paths, &opened.key, &done)?;
        *guard = Some(Secrets::new(next, token_key, opened.key, after));
        tracing::info!("master secret rotated");
        Ok(())
    }
}

/// How far a master-secret rotation goes (tests stop it early, as a crash would).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RotationStage {
    SnapshotPending,
    DatabaseDone,
    Finished,
}
