//! The workspace: one data dir, its vault and database, and whether it is unlocked right now.
//!
//! Both fronts (the window's commands and the CLI) drive Keyhold through this type, so a rule
//! such as "a wrong passphrase changes nothing" holds the same way in both.

use std::sync::{Mutex, RwLock};

use serde::{Deserialize, Serialize};
use specta::Type;
use tokio::sync::watch;

use crate::activity::{Activity, AgentStatus};
use crate::budget::Budgets;
use crate::datadir::{DataDir, DataDirError, WriterLock};
use crate::db::{self, DbError};
use crate::error::{ErrorKind, Kinded};
use crate::keys::{self, KeyError, KeySummary};
use crate::passphrase::{self, Passphrase};
use crate::providers::probe::{self, Verdict};
use crate::seal::MasterSecret;
use crate::vault::{self, kdf::KdfParams, VaultError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum VaultStatus {
    /// First run: no vault yet.
    NoVault,
    Locked,
    Unlocked,
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct WorkspaceInfo {
    pub status: VaultStatus,
    pub data_dir: String,
    /// RFC 3339, UTC.
    pub vault_created_at: Option<String>,
    pub last_unlocked_at: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("Keyhold is locked. Unlock it with your passphrase first.")]
    Locked,
    #[error("Keyhold is already unlocked.")]
    AlreadyUnlocked,
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Agents(#[from] crate::agents::AgentError),
    #[error("Could not save {what} in Keyhold's database: {source}")]
    Save { what: &'static str, source: rusqlite::Error },
}

impl From<passphrase::PassphraseError> for WorkspaceError {
    fn from(e: passphrase::PassphraseError) -> Self {
        WorkspaceError::Vault(e.into())
    }
}

impl Kinded for WorkspaceError {
    fn kind(&self) -> ErrorKind {
        match self {
            WorkspaceError::Vault(v) => v.kind(),
            WorkspaceError::DataDir(d) => d.kind(),
            WorkspaceError::Db(_) | WorkspaceError::Save { .. } => ErrorKind::Database,
            WorkspaceError::Locked => ErrorKind::Locked,
            WorkspaceError::AlreadyUnlocked => ErrorKind::AlreadyUnlocked,
            WorkspaceError::Agents(a) => a.kind(),
            WorkspaceError::Keys(k) => k.kind(),
        }
    }
}

const CREATED_AT: &str = "vault.created_at";
const OFFLINE: &str = "offline";

const LAST_UNLOCK: &str = "vault.last_unlocked_at";

pub struct Workspace {
    dir: DataDir,
    db: Mutex<rusqlite::Connection>,
    master: RwLock<Option<MasterSecret>>,
    status: watch::Sender<VaultStatus>,
    kdf: KdfParams,
    /// Budget reservations in flight and budget alerts.
    budgets: Budgets,
    /// Bumped whenever a ledger row is written, for live views.
    ledger_rev: watch::Sender<u64>,
    /// Offline mode: every agent runs on its local steps only.
    offline: std::sync::atomic::AtomicBool,
    /// What each agent is doing now, for the tray.
    activity: Activity,
    _writer: WriterLock,
}

impl Workspace {
    /// Opens the data dir for writing: creates it if missing, takes the writer lock (a second
    /// process gets "Keyhold is already running"), opens and migrates the database. Starts locked.
    pub fn open(dir: DataDir) -> Result<Workspace, WorkspaceError> {
        Self::open_with(dir, KdfParams::DEFAULT)
    }

    pub fn open_with(dir: DataDir, kdf: KdfParams) -> Result<Workspace, WorkspaceError> {
        let writer = dir.lock_for_writing()?;
        remove_leftovers(&dir);
        let conn = db::open(&dir.db_path())?;
        db::checkpoint_in_background(&conn, &dir.db_path());
        let initial = if dir.vault_paths().exists() { VaultStatus::Locked } else { VaultStatus::NoVault };
        let offline = db::get_setting(&conn, OFFLINE).ok().flatten().as_deref() == Some("on");
        tracing::info!(data_dir = %dir.path().display(), status = ?initial, "workspace opened");
        Ok(Workspace {
            dir,
            db: Mutex::new(conn),
            master: RwLock::new(None),
            status: watch::Sender::new(initial),
            kdf,
            budgets: Budgets::default(),
            ledger_rev: watch::Sender::new(0),
            offline: std::sync::atomic::AtomicBool::new(offline),
            activity: Activity::default(),
            _writer: writer,
        })
    }

    pub fn data_dir(&self) -> &DataDir {
        &self.dir
    }

    pub fn status(&self) -> VaultStatus {
        *self.status.borrow()
    }

    /// Vault status changes, for the tray and the window.
    pub fn subscribe(&self) -> watch::Receiver<VaultStatus> {
        self.status.subscribe()
    }

    pub fn info(&self) -> WorkspaceInfo {
        let (created, last) = {
            let conn = self.db.lock().unwrap_or_else(|p| p.into_inner());
            (db::get_setting(&conn, CREATED_AT).ok().flatten(), db::get_setting(&conn, LAST_UNLOCK).ok().flatten())
        };
        WorkspaceInfo {
            status: self.status(),
            data_dir: self.dir.path().display().to_string(),
            vault_created_at: created,
            last_unlocked_at: last,
        }
    }

    /// First run: creates the vault and leaves Keyhold unlocked.
    pub fn create_vault(&self, new: &Passphrase, confirm: Option<&Passphrase>) -> Result<(), WorkspaceError> {
        passphrase::check_new(new, confirm)?;
        let master = vault::create(&self.dir.vault_paths(), new, self.kdf)?;
        tracing::info!("vault created");
        self.record_time(CREATED_AT);
        self.set_unlocked(master);
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
        if let Some(header) = opened.settled_header {
            // We hold the writer lock: finish the interrupted passphrase change.
            match header.write(&self.dir.vault_paths().header) {
                Ok(()) => tracing::info!("finished an interrupted passphrase change"),
                Err(e) => tracing::warn!(error = %e, "could not finish an interrupted passphrase change"),
            }
        }
        self.record_time(LAST_UNLOCK);
        self.set_unlocked(opened.master);
        release_kdf_memory();
        tracing::info!("vault unlocked");
        Ok(())
    }

    /// Drops the master secret. Idempotent.
    pub fn lock(&self) {
        let had = self.master.write().unwrap_or_else(|p| p.into_inner()).take().is_some();
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
        passphrase::check_new(new, confirm)?;
        vault::change_passphrase(&self.dir.vault_paths(), old, new, self.kdf)?;
        tracing::info!("vault passphrase changed");
        Ok(())
    }

    /// The database, only while unlocked: what the window shows of keys and agents stays behind
    /// the passphrase.
    pub fn conn_unlocked(&self) -> Result<std::sync::MutexGuard<'_, rusqlite::Connection>, WorkspaceError> {
        self.require_unlocked()?;
        Ok(self.conn())
    }

    pub fn require_unlocked(&self) -> Result<(), WorkspaceError> {
        match self.status() {
            VaultStatus::Unlocked => Ok(()),
            _ => Err(WorkspaceError::Locked),
        }
    }

    /// The database connection, for the core's own modules (router, ledger).
    pub fn conn(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Daily budgets: reservations in flight and alerts.
    pub fn budgets(&self) -> &Budgets {
        &self.budgets
    }

    pub(crate) fn ledger_changed(&self) {
        self.ledger_rev.send_modify(|r| *r += 1);
    }

    pub fn offline(&self) -> bool {
        self.offline.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Switches offline mode and remembers it.
    pub fn set_offline(&self, on: bool) -> Result<(), WorkspaceError> {
        db::set_setting(&self.conn(), OFFLINE, if on { "on" } else { "off" })
            .map_err(|source| WorkspaceError::Save { what: "offline mode", source })?;
        self.offline.store(on, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(on, "offline mode");
        self.activity.changed();
        Ok(())
    }

    /// What each agent is doing now (calls in flight, last answer on a fallback).
    pub fn activity(&self) -> &Activity {
        &self.activity
    }

    /// Every agent's state and today's spend, for the tray.
    pub fn agent_statuses(&self) -> Vec<AgentStatus> {
        self.activity.statuses(&self.conn(), self.offline())
    }

    /// Ticks whenever the ledger gets a row.
    pub fn subscribe_ledger(&self) -> watch::Receiver<u64> {
        self.ledger_rev.subscribe()
    }

    /// Runs `f` on the database: key metadata needs no secret.
    pub fn with_db<T>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection) -> Result<T, KeyError>,
    ) -> Result<T, WorkspaceError> {
        let mut conn = self.db.lock().unwrap_or_else(|p| p.into_inner());
        Ok(f(&mut conn)?)
    }

    /// Runs `f` on the database with the master secret (sealing, opening), or says it is locked.
    pub fn with_db_and_master<T>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection, &MasterSecret) -> Result<T, KeyError>,
    ) -> Result<T, WorkspaceError> {
        let guard = self.master.read().unwrap_or_else(|p| p.into_inner());
        let master = guard.as_ref().ok_or(WorkspaceError::Locked)?;
        let mut conn = self.db.lock().unwrap_or_else(|p| p.into_inner());
        Ok(f(&mut conn, master)?)
    }

    /// Tests a key against its provider's model list and records the verdict. The key is opened
    /// for this call only; a deactivated key is refused before anything is sent.
    pub async fn test_key(
        &self,
        k: &str,
        timeout: std::time::Duration,
    ) -> Result<(KeySummary, Verdict), WorkspaceError> {
        let ep = self.with_db_and_master(|c, m| keys::endpoint(c, m, k))?;
        let verdict = probe::test(ep.provider, &ep.base_url, ep.secret.as_deref().map(String::as_str), timeout).await;
        drop(ep.secret);
        let sentence = verdict.sentence(&ep.provider.name);
        tracing::info!(key = %ep.key.label, provider = %ep.provider.id, verdict = %sentence, "key tested");
        let models = match &verdict {
            Verdict::Valid { models } => Some(models.as_slice()),
            _ => None,
        };
        let key = self.with_db(|c| keys::record_test(c, &ep.key.id, &sentence, models))?;
        Ok((key, verdict))
    }

    /// Runs `f` with the master secret, or says Keyhold is locked.
    pub fn with_master<T>(&self, f: impl FnOnce(&MasterSecret) -> T) -> Result<T, WorkspaceError> {
        let guard = self.master.read().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(f).ok_or(WorkspaceError::Locked)
    }

    fn set_unlocked(&self, master: MasterSecret) {
        *self.master.write().unwrap_or_else(|p| p.into_inner()) = Some(master);
        self.status.send_replace(VaultStatus::Unlocked);
    }

    fn record_time(&self, key: &str) {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let conn = self.db.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = db::set_setting(&conn, key, &now) {
            tracing::warn!(error = %e, key, "could not record a time in the database");
        }
    }
}

/// Argon2id (128 MiB) and Stronghold's scrypt (512 MiB) leave freed pages in glibc's heap after an
/// unlock; handing them back keeps an idle Keyhold (and `keyhold serve`) small.
fn release_kdf_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Removes what an interrupted write left in the data dir: Stronghold's snapshot temp files
/// (`vault.stronghold.<random>`) and the header's (`vault.header.json.tmp`). Only called with
/// the writer lock held, so no write of this process or another is under way.
fn remove_leftovers(dir: &DataDir) {
    let Ok(entries) = std::fs::read_dir(dir.path()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let leftover = name.strip_prefix("vault.stronghold.").is_some_and(|rest| !rest.is_empty())
            || name == "vault.header.json.tmp";
        if leftover && entry.file_type().is_ok_and(|t| t.is_file()) {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => tracing::info!(file = %name, "removed a file an interrupted write left behind"),
                Err(e) => tracing::warn!(file = %name, error = %e, "could not remove a leftover file"),
            }
        }
    }
}

/// What `keyhold vault check` reports.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub unlock_ms: u64,
    pub keys_total: usize,
    /// Labels of stored keys that did not open.
    pub keys_failed: Vec<String>,
}

/// Opens the vault and every stored key, reading only, without the writer lock: it works while
/// the app is running. Fails on the first thing that would stop Keyhold from working.
pub fn check(dir: &DataDir, passphrase: &Passphrase) -> Result<CheckReport, WorkspaceError> {
    let started = std::time::Instant::now();
    let opened = vault::open(&dir.vault_paths(), passphrase)?;
    let unlock_ms = started.elapsed().as_millis() as u64;
    // An interrupted passphrase change is finished here too, when no running Keyhold holds the
    // writer lock (one that does finished it when it was unlocked).
    if let (Some(header), Ok(_writer)) = (&opened.settled_header, dir.lock_for_writing()) {
        match header.write(&dir.vault_paths().header) {
            Ok(()) => tracing::info!("finished an interrupted passphrase change"),
            Err(e) => tracing::warn!(error = %e, "could not finish an interrupted passphrase change"),
        }
    }
    let conn = db::open(&dir.db_path())?;
    let (keys_total, keys_failed) = keys::check_all(&conn, &opened.master)?;
    Ok(CheckReport { unlock_ms, keys_total, keys_failed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::snapshot;

    fn p(s: &str) -> Passphrase {
        Passphrase::new(s.into())
    }

    fn workspace() -> (tempfile::TempDir, Workspace) {
        snapshot::use_fast_encryption_for_tests();
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::resolve(Some(tmp.path().join("data"))).unwrap();
        (tmp, Workspace::open_with(dir, KdfParams::FAST_FOR_TESTS).unwrap())
    }

    #[test]
    fn first_run_create_lock_and_unlock() {
        let (_t, ws) = workspace();
        let mut rx = ws.subscribe();
        assert_eq!(ws.status(), VaultStatus::NoVault);
        assert!(matches!(ws.with_master(|_| ()), Err(WorkspaceError::Locked)));
        let err = ws.create_vault(&p("long enough 123"), Some(&p("long enough 124"))).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadPassphrase);
        assert_eq!(ws.status(), VaultStatus::NoVault);
        ws.create_vault(&p("long enough 123"), Some(&p("long enough 123"))).unwrap();
        assert_eq!(ws.status(), VaultStatus::Unlocked);
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), VaultStatus::Unlocked);
        assert!(ws.info().vault_created_at.is_some());

        ws.lock();
        assert_eq!(ws.status(), VaultStatus::Locked);
        assert!(matches!(ws.with_master(|_| ()), Err(WorkspaceError::Locked)));
        assert_eq!(ws.unlock(&p("long enough 124")).unwrap_err().kind(), ErrorKind::WrongPassphrase);
        assert_eq!(ws.status(), VaultStatus::Locked);
        ws.unlock(&p("long enough 123")).unwrap();
        assert!(ws.with_master(|_| ()).is_ok());
        assert!(ws.info().last_unlocked_at.is_some());
        assert_eq!(ws.unlock(&p("long enough 123")).unwrap_err().kind(), ErrorKind::AlreadyUnlocked);
    }

    #[test]
    fn a_second_workspace_on_the_same_dir_is_refused_while_the_first_is_open() {
        let (tmp, ws) = workspace();
        let again =
            Workspace::open_with(DataDir::resolve(Some(tmp.path().join("data"))).unwrap(), KdfParams::FAST_FOR_TESTS);
        let err = again.err().unwrap();
        assert_eq!(err.kind(), ErrorKind::AlreadyRunning);
        assert!(err.to_string().starts_with(&format!("Keyhold is already running (pid {})", std::process::id())));
        drop(ws);
    }

    #[test]
    fn files_an_interrupted_write_left_are_removed_at_the_next_open_and_nothing_else() {
        let (tmp, ws) = workspace();
        ws.create_vault(&p("long enough 123"), None).unwrap();
        drop(ws);
        let data = tmp.path().join("data");
        for leftover in ["vault.stronghold.3f9a1c0de4b2", "vault.header.json.tmp"] {
            std::fs::write(data.join(leftover), b"half-written").unwrap();
        }
        std::fs::write(data.join("notes.txt"), b"the user's own").unwrap();
        let ws =
            Workspace::open_with(DataDir::resolve(Some(data.clone())).unwrap(), KdfParams::FAST_FOR_TESTS).unwrap();
        assert!(!data.join("vault.stronghold.3f9a1c0de4b2").exists() && !data.join("vault.header.json.tmp").exists());
        for kept in ["vault.stronghold", "vault.header.json", "notes.txt"] {
            assert!(data.join(kept).exists(), "{kept}");
        }
        ws.unlock(&p("long enough 123")).unwrap();
    }

    #[test]
    fn vault_check_finishes_an_interrupted_passphrase_change() {
        use crate::vault::header::Header;
        let (tmp, ws) = workspace();
        ws.create_vault(&p("long enough 123"), None).unwrap();
        drop(ws);
        let dir = DataDir::resolve(Some(tmp.path().join("data"))).unwrap();
        let paths = dir.vault_paths();
        // A crash after the header gained the new slot, before the snapshot was replaced.
        let old_slot = Header::read(&paths.header).unwrap().slots[0].clone();
        let (mut pending, _key) =
            crate::vault::new_slot(&p("a newer passphrase 9"), KdfParams::FAST_FOR_TESTS).unwrap();
        pending.pending = true;
        Header::new(vec![pending, old_slot]).write(&paths.header).unwrap();
        check(&dir, &p("long enough 123")).unwrap();
        assert_eq!(Header::read(&paths.header).unwrap().slots.len(), 1, "settled: the next unlock reads one slot");
    }

    #[test]
    fn changing_the_passphrase_needs_the_old_one() {
        let (_t, ws) = workspace();
        ws.create_vault(&p("first passphrase 1"), None).unwrap();
        let err = ws.change_passphrase(&p("not the first one"), &p("second passphrase 2"), None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WrongPassphrase);
        ws.change_passphrase(&p("first passphrase 1"), &p("second passphrase 2"), Some(&p("second passphrase 2")))
            .unwrap();
        ws.lock();
        assert!(ws.unlock(&p("first passphrase 1")).is_err());
        ws.unlock(&p("second passphrase 2")).unwrap();
    }
}
