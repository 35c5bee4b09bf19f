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
//!
//! An attempt that goes upstream is [opened](Writer::open) first (a row `in_flight`, committed
//! before its first byte is sent) and [settled](Writer::settle) in place when it ends, so a
//! process killed meanwhile leaves a row, which the next start settles as `interrupted`.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use super::chain::{self, Break, ChainKey, Checked, Head, Mark};
use super::{at_text, insert, local_day_start, Attempt, Chained as Tags};
use crate::db::{self, DbError};
use crate::money::Money;

/// Rows written in one transaction at most: a bound on how long the first waits for the last.
const MOST_PER_COMMIT: usize = 512;

type Ack = oneshot::Sender<Result<i64, String>>;

/// What a queued write does.
#[derive(Debug, Clone)]
enum Job {
    /// A whole row: the attempt ended (or never went upstream).
    Row(Attempt),
    /// An attempt about to be sent, and what it counts if it never settles.
    Open(Attempt, Option<Money>),
    /// How the opened row `id` ended.
    Settle(i64, Attempt),
}

impl Job {
    /// What the job adds to its agent's spend.
    fn spent(&self) -> Option<(&Attempt, Money)> {
        match self {
            Job::Row(a) | Job::Settle(_, a) => a.cost.map(|c| (a, c)),
            Job::Open(..) => None,
        }
    }
}

/// The ledger's own connection and the rows waiting for it.
pub struct Writer {
    inner: Mutex<Inner>,
    queue: Mutex<VecDeque<(Job, Ack)>>,
    /// Rows whose commit failed (the database locked by another program, a full disk): kept
    /// here, counted against their agent's budget ([`Writer::unlanded_cost`]), and written
    /// first with the next commit, until they land. (An opening that fails is not kept: its
    /// attempt is not sent.)
    unlanded: Mutex<Vec<Job>>,
    /// Attempts this process opened and has not settled yet, with their link (None: opened
    /// while locked).
    live: Mutex<HashMap<i64, Option<Vec<u8>>>>,
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
    /// Attempts settled while locked (no key to seal them): sealed at the next unlock.
    own_unsealed: Vec<i64>,
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
pub struct Pending(oneshot::Receiver<Result<i64, String>>);

impl Pending {
    /// Waits until the row's transaction committed: the row's id. `Err` says why it could not
    /// be written.
    pub async fn committed(self) -> Result<i64, String> {
        self.0.await.unwrap_or_else(|_| Err("the ledger writer stopped".into()))
    }
}

impl Writer {
    /// Opens its own connection to the database at `path`.
    /// Attempts a previous process left in flight are settled as `interrupted` now (the caller
    /// holds the data dir's writer lock: no other process has attempts in flight).
    pub fn start(path: &Path) -> Result<Writer, DbError> {
        let conn = db::open(path)?;
        // Checkpoints are the background thread's (`db::checkpoint_in_background`), not a
        // commit's: one here would hold every waiting row up.
        let _ = conn.pragma_update(None, "wal_autocheckpoint", 0);
        chain::settle_left(&conn, None, &|_| false)
            .map_err(|e| DbError::Sqlite { path: path.to_path_buf(), detail: e.to_string() })?;
        Ok(Writer {
            inner: Mutex::new(Inner { conn, chain: None, own_unchained: Vec::new(), own_unsealed: Vec::new() }),
            queue: Mutex::new(VecDeque::new()),
            unlanded: Mutex::new(Vec::new()),
            live: Mutex::new(Default::default()),
            breaks: Arc::new(Mutex::new(Vec::new())),
            today: Mutex::new(Today::default()),
            mark_moved: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// What rows not yet in the database cost `agent_id`: spent, even if not written yet.
    pub fn unlanded_cost(&self, agent_id: &str) -> Money {
        let rows = self.unlanded.lock().unwrap_or_else(|p| p.into_inner());
        rows.iter().filter_map(Job::spent).filter(|(r, _)| r.agent_id == agent_id).fold(Money::ZERO, |a, (_, c)| a + c)
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
            for id in &inner.own_unsealed {
                chain::seal_as_is(conn, &key, *id)?;
            }
            let checked = chain::check(conn, &key, from, mark.as_ref(), &|id| adopt_all || own.contains(&id))?;
            // Interrupted attempts are sealed at their reservation (a lock and unlock while this
            // process has attempts in flight leaves those alone).
            let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            chain::settle_left(conn, Some(&key), &|id| live.contains_key(&id))?;
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
        inner.own_unsealed.clear();
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
        // Attempts in flight were chained again too: their settlement reads their new link.
        for link in self.live.lock().unwrap_or_else(|p| p.into_inner()).values_mut() {
            *link = None;
        }
        self.breaks.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.mark_moved.store(true, std::sync::atomic::Ordering::Release);
        tracing::warn!(acknowledged = found.len(), "changes to the usage ledger acknowledged by the user");
        Ok(found)
    }

    /// Queues a whole row (an attempt that ended, or never went upstream), and commits the
    /// queue when no one else is. Rows are committed in the order they were queued.
    pub fn record(&self, row: Attempt) -> Pending {
        self.enqueue(Job::Row(row))
    }

    /// Queues the row of an attempt about to go upstream: `in_flight`, counting `reserved` (the
    /// most it can cost) if it never settles. Its commit gives the id to [`Writer::settle`];
    /// nothing may be sent before it.
    pub fn open(&self, row: Attempt, reserved: Option<Money>) -> Pending {
        self.enqueue(Job::Open(row, reserved))
    }

    /// Queues how the opened attempt `id` ended (its opening columns stay as they were).
    pub fn settle(&self, id: i64, row: Attempt) -> Pending {
        self.enqueue(Job::Settle(id, row))
    }

    fn enqueue(&self, job: Job) -> Pending {
        let (ack, done) = oneshot::channel();
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).push_back((job, ack));
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
            match &written {
                Err(e) => {
                    tracing::error!(error = %e, rows = batch.len() + earlier.len(), "could not write ledger rows; kept to write with the next");
                    let mut kept = self.unlanded.lock().unwrap_or_else(|p| p.into_inner());
                    kept.extend(earlier);
                    kept.extend(batch.iter().map(|(job, _)| job.clone()).filter(|j| !matches!(j, Job::Open(..))));
                }
                Ok(written) => {
                    let mut t = self.today.lock().unwrap_or_else(|p| p.into_inner());
                    for (row, cost) in earlier.iter().chain(batch.iter().map(|(job, _)| job)).filter_map(Job::spent) {
                        t.add(row.at, &row.agent_id, cost);
                    }
                    let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
                    for job in earlier.iter().chain(batch.iter().map(|(job, _)| job)) {
                        if let Job::Settle(id, _) = job {
                            live.remove(id);
                        }
                    }
                    for (id, link) in &written.opened {
                        live.insert(*id, link.clone());
                    }
                }
            }
            match written {
                Ok(written) => {
                    for ((_, ack), id) in batch.into_iter().zip(written.ids) {
                        let _ = ack.send(Ok(id));
                    }
                }
                Err(e) => {
                    for (_, ack) in batch {
                        let _ = ack.send(Err(e.clone()));
                    }
                }
            }
            if self.queue.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
                break;
            }
        }
        Pending(done)
    }

    /// Writes `earlier` (kept from a failed commit) then `batch` in one transaction.
    fn write(&self, inner: &mut Inner, earlier: &[Job], batch: &[(Job, Ack)]) -> Result<Written, String> {
        let Inner { conn, chain, own_unchained, own_unsealed } = inner;
        // BEGIN and COMMIT through the statement cache: parsed once, not per commit.
        let run = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(|_| ());
        run("BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
        let jobs = earlier.iter().chain(batch.iter().map(|(job, _)| job));
        let mut found = Vec::new();
        let mut ids = Vec::with_capacity(earlier.len() + batch.len());
        let mut opened = Vec::new();
        let mut written_ids = Vec::new();
        let mut unsealed = Vec::new();
        let mut moved: Option<(Head, String, i64)> = None;
        let result = (|| -> rusqlite::Result<()> {
            // The chain goes on from the last row Keyhold wrote. Rows that appeared after it, or
            // rows of its that went, are named; the next id is past both.
            let mut next = match chain.as_ref() {
                Some(c) => {
                    let max: i64 =
                        conn.prepare_cached("SELECT COALESCE(MAX(id), 0) FROM ledger")?.query_row([], |r| r.get(0))?;
                    if max > c.head.id {
                        found.push(Break::Foreign { from: c.head.id + 1, to: max });
                    } else if max < c.head.id {
                        found.push(Break::Truncated { after: max, to: c.head.id });
                    }
                    Some((max.max(c.head.id), c.head.tag.clone(), c.day.clone(), c.day_first))
                }
                None => None,
            };
            for job in jobs {
                let id = match job {
                    Job::Row(row) | Job::Open(row, _) => {
                        let (outcome, reserved) = match job {
                            Job::Open(_, reserved) => (super::Outcome::InFlight.as_str(), reserved.map(|m| m.nanos())),
                            // A whole row counts its cost whatever is done to its settlement.
                            _ => (row.outcome.as_str(), row.cost.map(|c| c.nanos())),
                        };
                        let at = at_text(row.at);
                        match (chain.as_ref(), next.as_mut()) {
                            (Some(c), Some((id, prev, day, day_first))) => {
                                *id += 1;
                                let (link, seal) = chain::tags_of(&c.key, prev, *id, row, &at, &outcome, reserved);
                                let tags = Tags { id: *id, link: &link, seal: seal.as_deref() };
                                insert(conn, row, &at, &outcome, reserved, Some(tags))?;
                                if matches!(job, Job::Open(..)) {
                                    opened.push((*id, Some(link.clone())));
                                }
                                let date = local_date(row.at);
                                if date != *day {
                                    *day = date;
                                    *day_first = *id;
                                }
                                *prev = link;
                                *id
                            }
                            _ => {
                                let id = insert(conn, row, &at, &outcome, reserved, None)?;
                                written_ids.push(id);
                                if matches!(job, Job::Open(..)) {
                                    opened.push((id, None));
                                }
                                id
                            }
                        }
                    }
                    Job::Settle(id, row) => {
                        let link = self.live.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned().flatten();
                        settle(conn, chain.as_ref().map(|c| &c.key), *id, link, row, &mut found)?;
                        if chain.is_none() {
                            unsealed.push(*id);
                        }
                        *id
                    }
                };
                ids.push(id);
            }
            if let Some((id, prev, day, day_first)) = next {
                moved = Some((Head { id, tag: prev }, day, day_first));
            }
            run("COMMIT")
        })();
        self.note(found);
        if let Err(e) = result {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e.to_string());
        }
        own_unchained.extend(written_ids);
        own_unsealed.extend(unsealed);
        if let (Some(c), Some((head, day, day_first))) = (chain.as_mut(), moved) {
            if head.id != c.head.id {
                c.head = head;
                c.day = day;
                c.day_first = day_first;
                self.mark_moved.store(true, std::sync::atomic::Ordering::Release);
            }
        }
        Ok(Written { ids: ids.split_off(earlier.len()), opened })
    }
}

/// What one commit wrote.
struct Written {
    /// The ids of the batch's rows, in order.
    ids: Vec<i64>,
    /// Attempts opened, with their link (None: written while locked).
    opened: Vec<(i64, Option<Vec<u8>>)>,
}

/// Writes how the opened row `id` ended, sealed under `key` when the row is chained (`link`: its
/// chain as written, when this process wrote it armed). A row that is no longer there, or no
/// longer in flight (changed outside Keyhold meanwhile), is named; its spend is still counted.
fn settle(
    conn: &rusqlite::Connection,
    key: Option<&ChainKey>,
    id: i64,
    link: Option<Vec<u8>>,
    row: &Attempt,
    found: &mut Vec<Break>,
) -> rusqlite::Result<()> {
    use rusqlite::OptionalExtension;
    let link = match (key, link) {
        (_, Some(link)) => Some(link),
        // Opened while locked and chained at the unlock since: its chain is in the database.
        (Some(_), None) => conn
            .prepare_cached("SELECT chain FROM ledger WHERE id = ?1")?
            .query_row([id], |r| r.get::<_, Option<Vec<u8>>>(0))
            .optional()?
            .flatten(),
        (None, None) => None,
    };
    let outcome = row.outcome.as_str();
    let seal = match (key, &link) {
        (Some(key), Some(link)) => Some(chain::seal_of(key, link, id, row, &outcome)),
        _ => None,
    };
    let changed = conn
        .prepare_cached(
            "UPDATE ledger SET outcome = ?2, input_tokens = ?3, output_tokens = ?4, cache_read_tokens = ?5,
            cache_write_tokens = ?6, cost_nano = ?7, estimated = ?8, latency_ms = ?9, ttft_ms = ?10, redacted = ?11,
            seal = ?12, tools = ?13
         WHERE id = ?1 AND outcome = 'in_flight'",
        )?
        .execute(rusqlite::params![
            id,
            outcome,
            row.tokens.input,
            row.tokens.output,
            row.tokens.cache_read,
            row.tokens.cache_write,
            row.cost,
            row.estimated,
            row.latency_ms,
            row.ttft_ms,
            (!row.redacted.is_empty()).then_some(row.redacted.as_str()),
            seal,
            (!row.tools.is_empty()).then_some(row.tools.as_str()),
        ])?;
    if changed == 0 {
        found.push(Break::Deleted { from: id, to: id });
    }
    Ok(())
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
