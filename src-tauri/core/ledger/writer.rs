//! Group commit: whatever ledger rows are waiting are written in one transaction, and each
//! caller is told once its row is committed. The first caller to find the writer free becomes the
//! leader and commits on its own thread, its row and every row queued meanwhile, again and again
//! until the queue is empty; the others only queue and wait. Alone, a row is committed at once
//! with no hand-off to another thread (the latency of one connection stays that of a plain
//! insert); under load, many requests share one commit (one WAL append, one set of file locks).
//!
//! A caller that answers its client only after [`Pending::committed`] never answers before its
//! row is in the WAL file, so a killed process loses no answered request (WAL with
//! `synchronous=NORMAL`: a commit is written to the file, which outlives the process; it is not
//! fsynced, so a power cut may lose the last commits, as before).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::{record, Attempt};
use crate::db::{self, DbError};

/// Rows written in one transaction at most: a bound on how long the first waits for the last.
const MOST_PER_COMMIT: usize = 512;

type Ack = oneshot::Sender<Result<(), String>>;

/// The ledger's own connection and the rows waiting for it.
pub struct Writer {
    conn: Mutex<rusqlite::Connection>,
    queue: Mutex<VecDeque<(Attempt, Ack)>>,
    /// Rows whose commit failed (the database locked by another program, a full disk): kept
    /// here, counted against their agent's budget ([`Writer::unlanded_cost`]), and written
    /// first with the next commit, until they land.
    unlanded: Mutex<Vec<Attempt>>,
}

/// A row on its way to the database.
#[must_use = "a row is only known to be committed once this is awaited"]
pub struct Pending(oneshot::Receiver<Result<(), String>>);

impl Pending {
    /// Waits until the row's transaction committed. `Err` says why it could not be written.
    pub async fn committed(self) -> Result<(), String> {
        self.0.await.unwrap_or_else(|_| Err("the ledger writer stopped".into()))
    }
}

impl Writer {
    /// Opens its own connection to the database at `path`.
    pub fn start(path: &Path) -> Result<Writer, DbError> {
        let conn = db::open(path)?;
        // Checkpoints are the background thread's (`db::checkpoint_in_background`), not a
        // commit's: one here would hold every waiting row up.
        let _ = conn.pragma_update(None, "wal_autocheckpoint", 0);
        Ok(Writer { conn: Mutex::new(conn), queue: Mutex::new(VecDeque::new()), unlanded: Mutex::new(Vec::new()) })
    }

    /// What rows not yet in the database cost `agent_id`: spent, even if not written yet.
    pub fn unlanded_cost(&self, agent_id: &str) -> crate::money::Money {
        let rows = self.unlanded.lock().unwrap_or_else(|p| p.into_inner());
        rows.iter()
            .filter(|r| r.agent_id == agent_id)
            .filter_map(|r| r.cost)
            .fold(crate::money::Money::ZERO, |a, b| a + b)
    }

    /// Queues a row, and commits the queue when no one else is. Rows are committed in the
    /// order they were queued.
    pub fn record(&self, row: Attempt) -> Pending {
        let (ack, done) = oneshot::channel();
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).push_back((row, ack));
        // Whoever holds the connection checks the queue again after letting it go, so a row
        // queued while it committed is never left behind.
        loop {
            let mut conn = match self.conn.try_lock() {
                Ok(c) => c,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => break,
            };
            let batch: Vec<_> = {
                let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                let n = q.len().min(MOST_PER_COMMIT);
                q.drain(..n).collect()
            };
            if batch.is_empty() {
                break;
            }
            let earlier = std::mem::take(&mut *self.unlanded.lock().unwrap_or_else(|p| p.into_inner()));
            let written = write(&mut conn, &earlier, &batch);
            drop(conn);
            if let Err(e) = &written {
                tracing::error!(error = %e, rows = batch.len() + earlier.len(), "could not write ledger rows; kept to write with the next");
                let mut kept = self.unlanded.lock().unwrap_or_else(|p| p.into_inner());
                kept.extend(earlier);
                kept.extend(batch.iter().map(|(row, _)| row.clone()));
            }
            for (_, ack) in batch {
                let _ = ack.send(written.clone());
            }
            if self.queue.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
                break;
            }
        }
        Pending(done)
    }
}

fn write(conn: &mut rusqlite::Connection, earlier: &[Attempt], batch: &[(Attempt, Ack)]) -> Result<(), String> {
    // BEGIN and COMMIT through the statement cache: parsed once, not per commit.
    let run = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(|_| ());
    run("BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
    let rows = earlier.iter().chain(batch.iter().map(|(row, _)| row));
    let written = rows.into_iter().try_for_each(|row| record(conn, row).map(|_| ())).and_then(|_| run("COMMIT"));
    if let Err(e) = written {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(e.to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::tests::attempt;

    fn ok_rows(path: &Path) -> i64 {
        db::open(path).unwrap().query_row("SELECT count(*) FROM ledger", [], |r| r.get(0)).unwrap()
    }

    #[tokio::test]
    async fn a_row_is_in_the_database_once_its_commit_is_awaited() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyhold.db");
        let w = Writer::start(&path).unwrap();
        w.record(attempt("a", Some(5), chrono::Utc::now())).committed().await.unwrap();
        assert_eq!(ok_rows(&path), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_callers_at_once_share_commits_and_every_row_lands() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyhold.db");
        let w = std::sync::Arc::new(Writer::start(&path).unwrap());
        let tasks: Vec<_> = (0..2000)
            .map(|i| {
                let w = w.clone();
                tokio::spawn(async move {
                    w.record(attempt(&format!("agent{}", i % 7), Some(1), chrono::Utc::now())).committed().await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(ok_rows(&path), 2000);
        // The hourly rollup trigger ran inside the batched transactions too.
        let rolled: i64 =
            db::open(&path).unwrap().query_row("SELECT SUM(requests) FROM ledger_hourly", [], |r| r.get(0)).unwrap();
        assert_eq!(rolled, 2000);
    }

    #[tokio::test]
    async fn a_row_that_cannot_be_written_says_so_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyhold.db");
        let w = Writer::start(&path).unwrap();
        // Another connection holds the write lock past the busy timeout: this commit fails.
        let other = db::open(&path).unwrap();
        other.busy_timeout(std::time::Duration::from_millis(1)).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let blocked = w.record(attempt("a", Some(5), chrono::Utc::now()));
        let err = tokio::time::timeout(std::time::Duration::from_secs(20), blocked.committed()).await.unwrap();
        assert!(err.unwrap_err().contains("locked"), "the error says the database was locked");
        // Not lost: held against the agent's budget until it lands, with the next commit.
        assert_eq!(w.unlanded_cost("id-a"), attempt("a", Some(5), chrono::Utc::now()).cost.unwrap());
        other.execute_batch("ROLLBACK").unwrap();
        w.record(attempt("a", Some(5), chrono::Utc::now())).committed().await.unwrap();
        assert_eq!(ok_rows(&path), 2, "the held row landed with the next one");
        assert_eq!(w.unlanded_cost("id-a"), crate::money::Money::ZERO);
    }
}
