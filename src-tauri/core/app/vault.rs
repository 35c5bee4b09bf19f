//! `keyhold vault check`: the vault and every stored key opened, every protected record checked.

use serde::Serialize;

use crate::datadir::DataDir;
use crate::db;
use crate::integrity::Unlocked;
use crate::keys;
use crate::passphrase::Passphrase;
use crate::vault;
use crate::workspace::WorkspaceError;

/// What `keyhold vault check` reports.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub unlock_ms: u64,
    pub keys_total: usize,
    /// Labels of stored keys that did not open.
    pub keys_failed: Vec<String>,
    /// Every protected record changed outside Keyhold, as the sentence naming it.
    pub changed_outside: Vec<String>,
    /// False for a database from before tags, until the next unlock by the app or a command
    /// that changes something (which tags it).
    pub configuration_tagged: bool,
    /// The database was never signed by this vault: `changed_outside` lists what it holds, and
    /// nothing in it is used until the user adopts it (`vault check --adopt`, or the window).
    pub never_signed: bool,
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
    let db_err =
        |e: rusqlite::Error| WorkspaceError::Db(db::DbError::Sqlite { path: dir.db_path(), detail: e.to_string() });
    let vault::Contents { master, pending, token_key, .. } = &opened.contents;
    // Mid-rotation, the records are under whichever master the database says.
    let current = match (pending, token_key) {
        (Some(next), Some(t)) if crate::sealing::is_current(&conn, &Unlocked::new(next, t)) => next,
        _ => master,
    };
    let Some(token_key) = token_key else {
        let keys_total = keys::list(&conn)?.len();
        let failed = keys::list(&conn)?
            .into_iter()
            .filter(|k| keys::open_row_for_check(&conn, current, k).is_err())
            .map(|k| k.label)
            .collect();
        let now = crate::manifest::Manifest::read(&conn).map_err(db_err)?;
        let never_signed = crate::manifest::database_holds_anything(&conn).map_err(db_err)?;
        return Ok(CheckReport {
            unlock_ms,
            keys_total,
            keys_failed: failed,
            changed_outside: if never_signed { now.never_signed_lines() } else { Vec::new() },
            configuration_tagged: false,
            never_signed,
        });
    };
    let u = Unlocked::new(current, token_key);
    let (keys_total, keys_failed) = keys::check_all(&conn, &u)?;
    let mut changed_outside: Vec<String> =
        crate::sealing::check_everything(&conn, &u)?.iter().map(ToString::to_string).collect();
    // Rows that verify on their own but are not the ones Keyhold saved last: replayed, brought
    // back, deleted (the saved configuration is the snapshot's manifest).
    let now = crate::manifest::Manifest::read(&conn).map_err(db_err)?;
    let saved = opened.contents.manifest.as_deref().and_then(crate::manifest::Manifest::from_bytes);
    let never_signed = saved.is_none() && crate::manifest::database_holds_anything(&conn).map_err(db_err)?;
    match saved {
        Some(saved) => changed_outside.extend(saved.differences(&now)),
        // Never signed by this vault: what it holds, to look over before adopting it.
        None if never_signed => changed_outside.extend(now.never_signed_lines()),
        None => {}
    }
    // The whole usage ledger against its chain and the snapshot's mark (a vault that never had a
    // mark has an unchained ledger until the next unlock chains it).
    if let Some(mark) = opened.contents.ledger.as_deref().and_then(crate::ledger::chain::Mark::from_bytes) {
        use crate::ledger::chain;
        let key = chain::ChainKey::new(token_key);
        let checked = chain::check(&conn, &key, chain::Head::genesis(), Some(&mark), &|_| false).map_err(db_err)?;
        changed_outside.extend(checked.breaks.iter().map(ToString::to_string));
    }
    Ok(CheckReport { unlock_ms, keys_total, keys_failed, changed_outside, configuration_tagged: true, never_signed })
}
