//! The workspace: one data dir, its vault and database, and whether it is unlocked right now.
//!
//! This file is the handle (what the workspace holds, and the crate-private ways to its
//! database); `lifecycle` creates, unlocks, locks and re-keys it; `error` says what went wrong.
//! The fronts (the window's commands, the CLI) reach it through [`crate::app`], so a rule such
//! as "a wrong passphrase changes nothing" holds the same way in both.

mod error;
mod ledger;
mod lifecycle;

pub use error::WorkspaceError;
#[cfg(test)]
pub(crate) use lifecycle::RotationStage;

use std::sync::{Mutex, RwLock};

use serde::{Deserialize, Serialize};
use specta::Type;
use tokio::sync::watch;

use crate::activity::{Activity, AgentStatus};
use crate::budget::Budgets;
use crate::datadir::{DataDir, WriterLock};
use crate::db::{self, DbError};
use crate::integrity::{self, Tampered, Unlocked};

use crate::seal::MasterSecret;
use crate::vault::kdf::KdfParams;

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
    /// Protected records found changed outside Keyhold at the last unlock, each as the sentence
    /// naming it and what to do. Not used until saved again in Keyhold.
    pub changed_outside: Vec<String>,
    /// The database was never signed by this vault: `changed_outside` lists what it holds (its
    /// first line says so), and nothing in it is used until the user adopts it.
    pub never_signed: bool,
}

const CREATED_AT: &str = "vault.created_at";
const OFFLINE: &str = "offline";

const LAST_UNLOCK: &str = "vault.last_unlocked_at";

/// What an unlocked workspace holds in memory: the master secret and the proxy-token key, both
/// zeroized on drop. Dropping them is what "locked" means.
struct Secrets {
    master: MasterSecret,
    token_key: MasterSecret,
    /// The snapshot key the passphrase derived, to rewrite the snapshot's manifest after a
    /// change without asking again.
    key: crate::vault::kdf::VaultKey,
    /// The configuration as Keyhold last saved it (`crate::manifest`), also in the snapshot.
    manifest: std::sync::Mutex<crate::manifest::Manifest>,
    /// The database's manifest as last read, and the `data_version` it was read at: read again
    /// only once another connection (or program) has committed.
    seen: std::sync::Mutex<Option<(i64, crate::manifest::Manifest)>>,
    /// False while the database was never signed by this vault and the user has not adopted
    /// it: nothing in it is used, and the snapshot keeps no manifest, so the next unlock asks
    /// again.
    adopted: std::sync::atomic::AtomicBool,
}

impl Secrets {
    fn new(
        master: MasterSecret,
        token_key: MasterSecret,
        key: crate::vault::kdf::VaultKey,
        manifest: crate::manifest::Manifest,
    ) -> Self {
        Secrets {
            master,
            token_key,
            key,
            manifest: std::sync::Mutex::new(manifest),
            seen: std::sync::Mutex::new(None),
            adopted: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// Secrets over a database this vault never signed: its saved configuration is empty until
    /// the user adopts what the database holds.
    fn unadopted(master: MasterSecret, token_key: MasterSecret, key: crate::vault::kdf::VaultKey) -> Self {
        let s = Secrets::new(master, token_key, key, Default::default());
        s.adopted.store(false, std::sync::atomic::Ordering::SeqCst);
        s
    }

    fn is_adopted(&self) -> bool {
        self.adopted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// What the database's signed records are now (cached until another connection commits).
    fn current(&self, conn: &rusqlite::Connection) -> rusqlite::Result<crate::manifest::Manifest> {
        let version: i64 = conn.pragma_query_value(None, "data_version", |r| r.get(0))?;
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((v, m)) = seen.as_ref().filter(|(v, _)| *v == version) {
            let _ = v;
            return Ok(m.clone());
        }
        let m = crate::manifest::Manifest::read(conn)?;
        *seen = Some((version, m.clone()));
        Ok(m)
    }
}

/// What [`Workspace::unlock_or_verify`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlocking {
    /// It was locked; the passphrase unlocked it.
    Unlocked,
    /// It was unlocked; the passphrase was checked, and is right.
    WasUnlocked,
}

pub struct Workspace {
    dir: DataDir,
    db: Mutex<rusqlite::Connection>,
    secrets: RwLock<Option<Secrets>>,
    /// Protected records found changed outside Keyhold at the last unlock (shown to the user).
    changed: Mutex<Vec<Tampered>>,
    status: watch::Sender<VaultStatus>,
    kdf: KdfParams,
    /// Budget reservations in flight and budget alerts.
    budgets: Budgets,
    /// Writes ledger rows, many to a commit under load (`ledger::writer`).
    ledger: crate::ledger::Writer,
    /// Bumped whenever a ledger row is written, for live views.
    ledger_rev: watch::Sender<u64>,
    /// Bumped when the configuration may have changed from elsewhere (a command from a terminal,
    /// run by this Keyhold), so the window's pages read it again.
    config_rev: watch::Sender<u64>,
    /// Offline mode: every agent runs on its local steps only.
    offline: std::sync::atomic::AtomicBool,
    /// What each agent is doing now, for the tray.
    activity: Activity,
    /// The ledger's mark as the snapshot last kept it (`ledger::chain::Mark`), written again with
    /// every snapshot even while the writer holds no chain (before the unlock's check).
    saved_mark: Mutex<Option<crate::ledger::chain::Mark>>,
    /// When the snapshot last took the ledger's mark.
    mark_saved_at: Mutex<std::time::Instant>,
    /// One snapshot rewrite at a time (a configuration change, the ledger's mark).
    snapshot_lock: Mutex<()>,
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
        let ledger = crate::ledger::Writer::start(&dir.db_path())?;
        // The local-day rollup is built (or rebuilt for a new time zone) in the background, so
        // the first Usage or Overview page after an update does not wait for it.
        let path = dir.db_path();
        let _ = std::thread::Builder::new().name("usage-daily".into()).spawn(move || {
            if let Ok(c) = db::open(&path) {
                if let Err(e) = crate::usage::daily::ensure(&c) {
                    tracing::warn!(error = %e, "could not build the daily usage rollup; the Usage page will try again");
                }
            }
        });
        tracing::info!(data_dir = %dir.path().display(), status = ?initial, "workspace opened");
        Ok(Workspace {
            dir,
            db: Mutex::new(conn),
            secrets: RwLock::new(None),
            changed: Mutex::new(Vec::new()),
            status: watch::Sender::new(initial),
            kdf,
            budgets: Budgets::default(),
            ledger,
            ledger_rev: watch::Sender::new(0),
            config_rev: watch::Sender::new(0),
            offline: std::sync::atomic::AtomicBool::new(offline),
            activity: Activity::default(),
            saved_mark: Mutex::new(None),
            mark_saved_at: Mutex::new(std::time::Instant::now()),
            snapshot_lock: Mutex::new(()),
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
            // Rows put back, brought back or deleted: nothing is sent until they are resolved; a
            // changed ledger: no paid step of an agent with a budget until acknowledged.
            changed_outside: self.everything_changed(),
            never_signed: self
                .secrets
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .is_some_and(|s| !s.is_adopted()),
        }
    }

    /// The database, only while unlocked: what the window shows of keys and agents stays behind
    /// the passphrase.
    pub(crate) fn conn_unlocked(&self) -> Result<std::sync::MutexGuard<'_, rusqlite::Connection>, WorkspaceError> {
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
    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Daily budgets: reservations in flight and alerts.
    pub fn budgets(&self) -> &Budgets {
        &self.budgets
    }

    /// Queues a ledger row (see `ledger::writer`).
    pub(crate) fn record(&self, row: crate::ledger::Attempt) -> crate::ledger::Pending {
        self.ledger.record(row)
    }

    /// What `agent_id`'s rows that could not be written yet cost: spent all the same.
    #[cfg(test)]
    pub(crate) fn unlanded_cost(&self, agent_id: &str) -> crate::money::Money {
        self.ledger.unlanded_cost(agent_id)
    }

    pub(crate) fn ledger_changed(&self) {
        self.ledger_rev.send_modify(|r| *r += 1);
        self.keep_ledger_mark_soon();
    }

    /// The ledger writer: its chain, its breaks, what it wrote today.
    pub(crate) fn ledger(&self) -> &crate::ledger::Writer {
        &self.ledger
    }

    pub fn offline(&self) -> bool {
        self.offline.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Switches offline mode and remembers it. Turning it on needs nothing (it only keeps data
    /// on the machine); turning it off needs the unlocked vault, and is tagged.
    pub fn set_offline(&self, on: bool) -> Result<(), WorkspaceError> {
        let saved = if on {
            db::set_setting(&self.conn(), OFFLINE, "on")
        } else {
            let guard = self.secrets.read().unwrap_or_else(|p| p.into_inner());
            let s = guard.as_ref().ok_or(WorkspaceError::OfflineOffNeedsUnlock)?;
            integrity::set_setting(&self.conn(), &Unlocked::new(&s.master, &s.token_key), OFFLINE, "off")
        };
        saved.map_err(|source| WorkspaceError::Save { what: "offline mode", source })?;
        self.note_offline();
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
    /// The Overview page's one read (see [`crate::overview`]).
    /// The Overview page. `ollama_running`: whether the user's Ollama answered when last looked
    /// at (`None` where nobody looks, as in `keyhold serve`).
    pub fn overview(&self, ollama_running: Option<bool>) -> Result<crate::overview::Overview, WorkspaceError> {
        let states: Vec<_> = self.agent_statuses().into_iter().map(|s| (s.name, s.state)).collect();
        let conn = self.conn_unlocked()?;
        crate::overview::build(&conn, &states, ollama_running, chrono::Utc::now())
            .map_err(|e| WorkspaceError::Db(DbError::Sqlite { path: self.dir.db_path(), detail: e.to_string() }))
    }

    pub fn agent_statuses(&self) -> Vec<AgentStatus> {
        self.activity.statuses(&self.conn(), self.offline())
    }

    /// Ticks whenever the ledger gets a row.
    pub fn subscribe_ledger(&self) -> watch::Receiver<u64> {
        self.ledger_rev.subscribe()
    }

    /// Says the configuration may have changed from elsewhere (a terminal's command ended).
    pub fn configuration_changed(&self) {
        self.config_rev.send_modify(|r| *r += 1);
    }

    /// Ticks whenever [`Workspace::configuration_changed`] is said.
    pub fn subscribe_configuration(&self) -> watch::Receiver<u64> {
        self.config_rev.subscribe()
    }

    /// Like [`Workspace::with_unlocked`], for reads only, in one read transaction: the records
    /// read are one consistent snapshot, and the file locks are taken once rather than once per
    /// statement (a request's checks read a dozen rows: that locking was a tenth of the proxy's
    /// time per request).
    pub(crate) fn read_unlocked<T, E>(
        &self,
        f: impl FnOnce(&rusqlite::Connection, &Unlocked) -> Result<T, E>,
    ) -> Result<T, WorkspaceError>
    where
        WorkspaceError: From<E>,
    {
        self.with_unlocked::<T, WorkspaceError>(|conn, u| {
            // BEGIN and COMMIT through the statement cache: parsed once, not per request.
            conn.prepare_cached("BEGIN")
                .and_then(|mut b| b.execute([]))
                .map_err(|e| WorkspaceError::Db(DbError::Sqlite { path: self.dir.db_path(), detail: e.to_string() }))?;
            let out = f(conn, u);
            // Nothing was written: ending the transaction cannot lose anything.
            if conn.prepare_cached("COMMIT").and_then(|mut c| c.execute([])).is_err() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            Ok(out?)
        })
    }

    /// Runs `f` on the database with what only an unlocked Keyhold holds, or says it is locked.
    /// Every change to keys, agents, tokens, prices and protected settings goes through here
    /// (their functions take an [`Unlocked`]): the one rule that a change needs the passphrase,
    /// the same for the window and the command line.
    pub(crate) fn with_unlocked<T, E>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection, &Unlocked) -> Result<T, E>,
    ) -> Result<T, WorkspaceError>
    where
        WorkspaceError: From<E>,
    {
        let guard = self.secrets.read().unwrap_or_else(|p| p.into_inner());
        let s = guard.as_ref().ok_or(WorkspaceError::Locked)?;
        let u = Unlocked::new(&s.master, &s.token_key);
        let mut conn = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let before = s.current(&conn).map_err(|e| self.db_error(e))?;
        let changes = conn.total_changes();
        let out = f(&mut conn, &u);
        if conn.total_changes() != changes {
            self.saved_change(s, &conn, &before);
        }
        Ok(out?)
    }

    /// After a change of Keyhold's own: the manifest takes exactly what the change touched, and
    /// the snapshot keeps it. A snapshot that cannot be written now (a full disk) is written with
    /// the next change; until then the running Keyhold holds the manifest in memory.
    fn saved_change(&self, s: &Secrets, conn: &rusqlite::Connection, before: &crate::manifest::Manifest) {
        let after = match crate::manifest::Manifest::read(conn) {
            Ok(m) => m,
            Err(e) => return tracing::error!(error = %e, "could not read the configuration after a change"),
        };
        if let Ok(version) = conn.pragma_query_value(None, "data_version", |r| r.get::<_, i64>(0)) {
            *s.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some((version, after.clone()));
        }
        if &after == before {
            return;
        }
        let mut saved = s.manifest.lock().unwrap_or_else(|p| p.into_inner());
        saved.apply(before, &after);
        self.write_manifest(s, &saved);
    }

    fn write_manifest(&self, s: &Secrets, manifest: &crate::manifest::Manifest) {
        let _one = self.snapshot_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mark = self.mark_to_keep();
        let contents = crate::vault::Contents {
            master: s.master.copy(),
            pending: None,
            token_key: Some(s.token_key.copy()),
            stretched: false,
            // Not adopted yet: no manifest, so the next unlock shows the database again.
            manifest: s.is_adopted().then(|| manifest.to_bytes()),
            ledger: mark.as_ref().map(crate::ledger::chain::Mark::to_bytes),
        };
        match crate::vault::rewrite(&self.dir.vault_paths(), &s.key, &contents) {
            Ok(()) => self.mark_kept(mark),
            Err(e) => {
                tracing::error!(error = %e, "could not save the configuration manifest in the vault; it is kept in memory")
            }
        }
    }

    /// Offline mode was switched by Keyhold (on needs no passphrase): the saved configuration
    /// takes its row as it is now, so an earlier signed "off" cannot be written back over it.
    /// Switched on while locked, the next unlock does this (and nothing is sent before).
    pub(crate) fn note_offline(&self) {
        let guard = self.secrets.read().unwrap_or_else(|p| p.into_inner());
        let Some(s) = guard.as_ref() else { return };
        let now = match crate::manifest::Manifest::read(&self.conn()) {
            Ok(m) => m,
            Err(e) => return tracing::error!(error = %e, "could not read the configuration"),
        };
        // Written on this connection: its data_version did not move, so the cached read is stale.
        *s.seen.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let mut saved = s.manifest.lock().unwrap_or_else(|p| p.into_inner());
        let key = crate::manifest::offline_key();
        if saved.0.get(&key) != now.0.get(&key) {
            match now.0.get(&key) {
                Some(e) => saved.0.insert(key, e.clone()),
                None => saved.0.remove(&key),
            };
            self.write_manifest(s, &saved);
        }
    }

    fn db_error(&self, e: rusqlite::Error) -> WorkspaceError {
        WorkspaceError::Db(DbError::Sqlite { path: self.dir.db_path(), detail: e.to_string() })
    }

    /// How the database's signed records differ from the configuration Keyhold last saved (a
    /// replayed, resurrected or deleted record), one line each; empty when they agree. Model
    /// calls and proxy tokens are refused while any difference stands
    /// ([`Workspace::check_configuration`]).
    pub fn configuration_differences(&self) -> Result<Vec<String>, WorkspaceError> {
        let guard = self.secrets.read().unwrap_or_else(|p| p.into_inner());
        let s = guard.as_ref().ok_or(WorkspaceError::Locked)?;
        let conn = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let now = s.current(&conn).map_err(|e| self.db_error(e))?;
        if !s.is_adopted() {
            return Ok(now.never_signed_lines());
        }
        let lines = s.manifest.lock().unwrap_or_else(|p| p.into_inner()).differences(&now);
        Ok(lines)
    }

    /// Everything found changed outside Keyhold that the user has not resolved: protected
    /// records, the saved configuration's differences, and the usage ledger's breaks.
    fn everything_changed(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.changed_outside().iter().map(ToString::to_string).collect();
        lines.extend(self.configuration_differences().unwrap_or_default());
        lines.extend(self.ledger.breaks().iter().map(ToString::to_string));
        lines
    }

    /// Refuses while the configuration differs from the one Keyhold saved.
    pub fn check_configuration(&self) -> Result<(), WorkspaceError> {
        let lines = self.configuration_differences()?;
        if lines.is_empty() {
            Ok(())
        } else {
            Err(WorkspaceError::ConfigurationChanged { lines })
        }
    }

    /// Takes the database's signed records as they are now as the saved configuration, after the
    /// user has seen the differences (`keyhold vault check --accept`).
    pub fn accept_configuration(&self) -> Result<Vec<String>, WorkspaceError> {
        let guard = self.secrets.read().unwrap_or_else(|p| p.into_inner());
        let s = guard.as_ref().ok_or(WorkspaceError::Locked)?;
        let mut conn = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let adopting = !s.is_adopted();
        if adopting {
            // What the user looked over is signed as it is: every record, under this vault.
            let u = Unlocked::new(&s.master, &s.token_key);
            crate::sealing::retag_everything(&mut conn, &u, None).map_err(WorkspaceError::from)?;
            *s.seen.lock().unwrap_or_else(|p| p.into_inner()) = None;
            self.changed.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
        let now = crate::manifest::Manifest::read(&conn).map_err(|e| self.db_error(e))?;
        let mut saved = s.manifest.lock().unwrap_or_else(|p| p.into_inner());
        let mut lines = if adopting { now.never_signed_lines() } else { saved.differences(&now) };
        *saved = now;
        s.adopted.store(true, std::sync::atomic::Ordering::SeqCst);
        drop(conn);
        // The usage ledger as it is now, too: budgets count from it again.
        let ledger = self.ledger.accept().map_err(|e| self.db_error(e))?;
        lines.extend(ledger.iter().map(ToString::to_string));
        self.write_manifest(s, &saved);
        Ok(lines)
    }

    fn set_unlocked(&self, secrets: Secrets) {
        *self.secrets.write().unwrap_or_else(|p| p.into_inner()) = Some(secrets);
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
    release_memory();
}

/// Hands freed heap pages back to the system (glibc keeps them otherwise).
pub(crate) fn release_memory() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorKind, Kinded};
    use crate::passphrase::Passphrase;
    use crate::vault;
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
        assert!(matches!(ws.with_unlocked(|_, _| Ok::<_, WorkspaceError>(())), Err(WorkspaceError::Locked)));
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
        assert!(matches!(ws.with_unlocked(|_, _| Ok::<_, WorkspaceError>(())), Err(WorkspaceError::Locked)));
        assert_eq!(ws.unlock(&p("long enough 124")).unwrap_err().kind(), ErrorKind::WrongPassphrase);
        assert_eq!(ws.status(), VaultStatus::Locked);
        ws.unlock(&p("long enough 123")).unwrap();
        assert!(ws.with_unlocked(|_, _| Ok::<_, WorkspaceError>(())).is_ok());
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
        crate::app::vault::check(&dir, &p("long enough 123")).unwrap();
        assert_eq!(Header::read(&paths.header).unwrap().slots.len(), 1, "settled: the next unlock reads one slot");
    }

    /// 0.1 wrote snapshots with Stronghold's own scrypt stretch on top of Argon2id. Such a vault
    /// still opens, and the next unlock rewrites it without the second stretch.
    #[test]
    fn a_vault_written_with_the_old_second_stretch_opens_and_is_rewritten_without_it() {
        let (tmp, ws) = workspace();
        ws.create_vault(&p("long enough 123"), None).unwrap();
        ws.lock();
        let paths = DataDir::resolve(Some(tmp.path().join("data"))).unwrap().vault_paths();
        let opened = vault::open(&paths, &p("long enough 123")).unwrap();
        assert!(!opened.contents.stretched, "a new vault is written without it");
        // The old format, at a factor small enough for a test (0.1 used age's default, ~18).
        snapshot::write_with_work_factor(&paths.snapshot, &opened.key, &opened.contents, 12).unwrap();
        assert!(vault::open(&paths, &p("long enough 123")).unwrap().contents.stretched);
        ws.unlock(&p("long enough 123")).unwrap();
        let again = vault::open(&paths, &p("long enough 123")).unwrap();
        assert!(!again.contents.stretched, "rewritten by the unlock");
        assert!(ws.with_unlocked(|_, _| Ok::<_, WorkspaceError>(())).is_ok());
    }

    #[test]
    fn changing_the_passphrase_needs_the_old_one() {
        let (_t, ws) = workspace();
        ws.create_vault(&p("first passphrase 1"), None).unwrap();
        let err = ws.change_passphrase(&p("not the first one"), &p("second passphrase 2"), None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WrongPassphrase);
        // The vault is unlocked: the error must not say it "stays locked".
        assert_eq!(ws.status(), VaultStatus::Unlocked);
        assert_eq!(err.to_string(), "That is not the vault's current passphrase. Nothing was changed.");
        let err = ws.rotate_master(&p("not the first one")).unwrap_err();
        assert_eq!(err.to_string(), "That is not the vault's current passphrase. Nothing was changed.");
        let err = ws.unlock_or_verify(&p("not the first one")).unwrap_err();
        assert_eq!(err.to_string(), "That is not the vault's current passphrase. Nothing was changed.");
        ws.change_passphrase(&p("first passphrase 1"), &p("second passphrase 2"), Some(&p("second passphrase 2")))
            .unwrap();
        // A change after it saves the configuration under the new passphrase's key.
        let spec = crate::agents::AgentSpec { name: "after".into(), model: "gpt-4o-mini".into(), ..Default::default() };
        ws.with_unlocked(|c, u| crate::agents::add(c, u, &spec)).unwrap();
        ws.lock();
        assert!(ws.unlock(&p("first passphrase 1")).is_err());
        ws.unlock(&p("second passphrase 2")).unwrap();
        assert_eq!(ws.configuration_differences().unwrap(), Vec::<String>::new());
    }
}
