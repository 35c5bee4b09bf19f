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

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use super::chain::{self, Break, ChainKey, Checked, Head, Mark};
use super::{at_text, insert, local_day_start, Attempt};
use crate::db::{self, DbError};
use crate::money::Money;

/// Rows written in one transaction at most: a bound on how long the first waits for the last.
const MOST_PER_COMMIT: usize = 512;

type Ack = oneshot::Sender<Result<(), String>>;

/// The ledger's own connection and the rows waiting for it.
pub struct Writer {
    inner: Mutex<Inner>,
    queue: Mutex<VecDeque<(Attempt, Ack)>>,
    /// Rows whose commit failed (the database locked by another program, a full disk): kept
    /// here, counted against their agent's budget ([`Writer::unlanded_cost`]), and written
    /// first with the next commit, until they land.
    unlanded: Mutex<Vec<Attempt>>,
    /// What was found changed in the ledger and not yet acknowledged (shared with the
    /// background check started at unlock).
    breaks: Arc<Mutex<Vec<Break>>>,
    /// What this Keyhold wrote today, per agent id: a database that says less was changed.
    today: Mutex<Today>,
    /// The mark moved since the snapshot last kept it.
    mark_moved: std::sync::atomic::AtomicBool,
}

struct Inner {
    conn: rusqlite::Connection,
    /// While unlocked: the chain key and where the chain ends.
    chain: Option<Chained>,
    /// Rows written while locked (no key): chained at the next unlock.
    own_unchained: Vec<i64>,
}

struct Chained {
    key: ChainKey,
    head: Head,
    /// The local day of the last row written, and the id of that day's first row.
    day: String,
    day_first: i64,
}

#[derive(Default)]
struct Today {
    start: Option<DateTime<Utc>>,
    by_agent: HashMap<String, Money>,
}

impl Today {
    fn add(&mut self, at: DateTime<Utc>, agent_id: &str, cost: Money) {
        let start = local_day_start(at);
        match self.start {
            Some(s) if s > start => return,
            Some(s) if s == start => {}
            _ => {
                self.start = Some(start);
                self.by_agent.clear();
            }
        }
        let e = self.by_agent.entry(agent_id.to_string()).or_default();
        *e = e.saturating_add(cost);
    }
}

fn local_date(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono::Local).format("%Y-%m-%d").to_string()
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
        Ok(Writer {
            inner: Mutex::new(Inner { conn, chain: None, own_unchained: Vec::new() }),
            queue: Mutex::new(VecDeque::new()),
            unlanded: Mutex::new(Vec::new()),
            breaks: Arc::new(Mutex::new(Vec::new())),
            today: Mutex::new(Today::default()),
            mark_moved: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// What rows not yet in the database cost `agent_id`: spent, even if not written yet.
    pub fn unlanded_cost(&self, agent_id: &str) -> Money {
        let rows = self.unlanded.lock().unwrap_or_else(|p| p.into_inner());
        rows.iter().filter(|r| r.agent_id == agent_id).filter_map(|r| r.cost).fold(Money::ZERO, |a, b| a + b)
    }

    /// What this Keyhold wrote to `agent_id`'s spend today (with what the ledger held at unlock).
    pub fn written_today(&self, agent_id: &str, now: DateTime<Utc>) -> Money {
        let t = self.today.lock().unwrap_or_else(|p| p.into_inner());
        match t.start {
            Some(s) if s == local_day_start(now) => t.by_agent.get(agent_id).copied().unwrap_or_default(),
            _ => Money::ZERO,
        }
    }

    /// What was found changed in the ledger, not yet acknowledged.
    pub fn breaks(&self) -> Vec<Break> {
        self.breaks.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Notes something found changed (once).
    pub fn note(&self, found: impl IntoIterator<Item = Break>) {
        note(&self.breaks, found);
    }

    /// Where the background check started at unlock reports.
    pub(crate) fn breaks_handle(&self) -> Arc<Mutex<Vec<Break>>> {
        self.breaks.clone()
    }

    /// The mark the vault snapshot should keep (None while locked, or before any row).
    pub fn mark(&self) -> Option<Mark> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let c = inner.chain.as_ref()?;
        Some(Mark { id: c.head.id, tag: chain::hex(&c.head.tag), day: c.day.clone(), day_first: c.day_first })
    }

    /// Whether the mark moved since the last call (the snapshot should keep it again).
    pub fn take_mark_moved(&self) -> bool {
        self.mark_moved.swap(false, std::sync::atomic::Ordering::AcqRel)
    }

    /// At unlock: takes the chain key, checks the ledger from the start of the day against the
    /// snapshot's `mark` (without one, the whole ledger, and rows from before chaining are
    /// chained now), chains the rows written while locked, and counts today's spend. What it
    /// found is kept in [`Writer::breaks`].
    pub fn arm(&self, key: ChainKey, mark: Option<Mark>) -> rusqlite::Result<Checked> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let now = Utc::now();
        let today = local_date(now);
        let since = at_text(local_day_start(now));
        let conn = &inner.conn;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let run = || -> rusqlite::Result<(Checked, i64, i64)> {
            let from = Head::at_unlock(conn, mark.as_ref(), &today)?;
            let after = from.id;
            let adopt_all = mark.is_none();
            let own = &inner.own_unchained;
            let checked = chain::check(conn, &key, from, mark.as_ref(), &|id| adopt_all || own.contains(&id))?;
            let first_today: Option<i64> = conn.query_row(
                "SELECT MIN(id) FROM ledger WHERE id > ?1 AND at >= ?2",
                rusqlite::params![after, since],
                |r| r.get(0),
            )?;
            let day_first = match &mark {
                Some(m) if m.day == today && m.day_first > 0 => m.day_first,
                _ => first_today.unwrap_or(checked.head.id + 1),
            };
            Ok((checked, day_first, after))
        };
        let (checked, day_first, _) = match run() {
            Ok(r) => {
                conn.execute_batch("COMMIT")?;
                r
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        };
        // Today's spend as the ledger holds it now, checked: what this Keyhold counts from.
        let counted = spent_since_by_agent(conn, &since)?;
        {
            let mut t = self.today.lock().unwrap_or_else(|p| p.into_inner());
            t.start = Some(local_day_start(now));
            for (agent, spent) in counted {
                let e = t.by_agent.entry(agent).or_default();
                *e = (*e).max(spent);
            }
        }
        inner.own_unchained.clear();
        inner.chain = Some(Chained { key, head: checked.head.clone(), day: today, day_first });
        self.mark_moved.store(true, std::sync::atomic::Ordering::Release);
        self.note(checked.breaks.clone());
        Ok(checked)
    }

    /// At lock: the key is dropped; rows written until the next unlock are chained then.
    pub fn disarm(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).chain = None;
    }

    /// The user has seen what was changed and takes the ledger as it is now: every row from the
    /// first one concerned is chained again, and budgets count from the database again. Returns
    /// what was acknowledged.
    pub fn accept(&self) -> rusqlite::Result<Vec<Break>> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let found = self.breaks();
        if found.is_empty() {
            return Ok(found);
        }
        let Some(c) = inner.chain.as_ref() else { return Ok(Vec::new()) };
        let key = c.key.copy();
        let after = found
            .iter()
            .map(|b| match b {
                Break::Deleted { from, .. } | Break::Foreign { from, .. } => from - 1,
                Break::Edited { id } | Break::Unchained { id } => id - 1,
                Break::Truncated { after, .. } => *after,
                Break::Shrunk { .. } | Break::Unchecked { .. } | Break::More { .. } => 0,
            })
            .min()
            .unwrap_or(0)
            .max(0);
        let conn = &inner.conn;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let head = match chain::rechain(conn, &key, after).and_then(|h| conn.execute_batch("COMMIT").map(|_| h)) {
            Ok(h) => h,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        };
        let now = Utc::now();
        let since = at_text(local_day_start(now));
        let counts = spent_since_by_agent(conn, &since)?;
        *self.today.lock().unwrap_or_else(|p| p.into_inner()) =
            Today { start: Some(local_day_start(now)), by_agent: counts };
        if let Some(c) = inner.chain.as_mut() {
            c.head = head;
        }
        self.breaks.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.mark_moved.store(true, std::sync::atomic::Ordering::Release);
        tracing::warn!(acknowledged = found.len(), "changes to the usage ledger acknowledged by the user");
        Ok(found)
    }

    /// Queues a row, and commits the queue when no one else is. Rows are committed in the
    /// order they were queued.
    pub fn record(&self, row: Attempt) -> Pending {
        let (ack, done) = oneshot::channel();
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).push_back((row, ack));
        // Whoever holds the connection checks the queue again after letting it go, so a row
        // queued while it committed is never left behind.
        loop {
            let mut inner = match self.inner.try_lock() {
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
            let written = self.write(&mut inner, &earlier, &batch);
            drop(inner);
            if let Err(e) = &written {
                tracing::error!(error = %e, rows = batch.len() + earlier.len(), "could not write ledger rows; kept to write with the next");
                let mut kept = self.unlanded.lock().unwrap_or_else(|p| p.into_inner());
                kept.extend(earlier);
                kept.extend(batch.iter().map(|(row, _)| row.clone()));
            } else {
                let mut t = self.today.lock().unwrap_or_else(|p| p.into_inner());
                for row in earlier.iter().chain(batch.iter().map(|(row, _)| row)) {
                    if let Some(cost) = row.cost {
                        t.add(row.at, &row.agent_id, cost);
                    }
                }
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

    fn write(&self, inner: &mut Inner, earlier: &[Attempt], batch: &[(Attempt, Ack)]) -> Result<(), String> {
        let Inner { conn, chain, own_unchained } = inner;
        // BEGIN and COMMIT through the statement cache: parsed once, not per commit.
        let run = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(|_| ());
        run("BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
        let rows = earlier.iter().chain(batch.iter().map(|(row, _)| row));
        let mut found = Vec::new();
        let mut written_ids = Vec::new();
        let mut moved: Option<(Head, String, i64)> = None;
        let result = (|| -> rusqlite::Result<()> {
            match chain.as_ref() {
                Some(c) => {
                    // The chain goes on from the last row Keyhold wrote. Rows that appeared after
                    // it, or rows of its that went, are named; the next id is past both.
                    let max: i64 =
                        conn.prepare_cached("SELECT COALESCE(MAX(id), 0) FROM ledger")?.query_row([], |r| r.get(0))?;
                    if max > c.head.id {
                        found.push(Break::Foreign { from: c.head.id + 1, to: max });
                    } else if max < c.head.id {
                        found.push(Break::Truncated { after: max, to: c.head.id });
                    }
                    let mut id = max.max(c.head.id);
                    let mut prev = c.head.tag.clone();
                    let (mut day, mut day_first) = (c.day.clone(), c.day_first);
                    for row in rows {
                        id += 1;
                        let at = at_text(row.at);
                        let outcome = row.outcome.as_str();
                        let tag = chain::tag_of(&c.key, &prev, id, row, &at, &outcome);
                        insert(conn, row, &at, &outcome, Some((id, &tag)))?;
                        let date = local_date(row.at);
                        if date != day {
                            day = date;
                            day_first = id;
                        }
                        prev = tag;
                    }
                    moved = Some((Head { id, tag: prev }, day, day_first));
                }
                None => {
                    for row in rows {
                        written_ids.push(insert(conn, row, &at_text(row.at), &row.outcome.as_str(), None)?);
                    }
                }
            }
            run("COMMIT")
        })();
        self.note(found);
        if let Err(e) = result {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e.to_string());
        }
        own_unchained.extend(written_ids);
        if let (Some(c), Some((head, day, day_first))) = (chain.as_mut(), moved) {
            c.head = head;
            c.day = day;
            c.day_first = day_first;
            self.mark_moved.store(true, std::sync::atomic::Ordering::Release);
        }
        Ok(())
    }
}

/// What each agent spent since `since` (a stored time), as the database says.
fn spent_since_by_agent(conn: &rusqlite::Connection, since: &str) -> rusqlite::Result<HashMap<String, Money>> {
    let mut stmt = conn.prepare_cached(
        "SELECT agent_id, COALESCE(SUM(cost_nano), 0) FROM ledger WHERE at >= ?1 AND agent_id IS NOT NULL
         GROUP BY agent_id",
    )?;
    let rows = stmt.query_map([since], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Money>(1)?)))?;
    rows.collect()
}

pub(crate) fn note(breaks: &Mutex<Vec<Break>>, found: impl IntoIterator<Item = Break>) {
    let mut held = breaks.lock().unwrap_or_else(|p| p.into_inner());
    for b in found {
        // A ledger edited wholesale is named by its first changes, not a line per row.
        if held.len() >= 40 {
            break;
        }
        if !held.contains(&b) {
            tracing::warn!(problem = %b, "the usage ledger was changed outside Keyhold");
            held.push(b);
        }
    }
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
