//! A tamper-evident ledger. Budgets are sums of ledger rows, so a row deleted, edited (a lower
//! cost, another day, another agent) or put there by something other than Keyhold would reopen a
//! spent budget. Each row therefore carries two tags under
//! `K_ledger = HKDF-SHA256(token_key, "keyhold/ledger-chain/v1")` (the vault's token key, not the
//! master secret: it survives a master rotation, so the chain needs no rewrite then); only an
//! unlocked Keyhold holds the key:
//!
//! - `chain = HMAC(K_ledger, previous row's chain ‖ opening)`: the link. The opening is what is
//!   known before the attempt's first byte goes upstream (id, time, agent, key, provider, model,
//!   step, and `reserved_nano`, what the row counts if it never settles: the worst case reserved
//!   for an attempt opened in flight, the cost itself for a row written whole).
//! - `seal = HMAC(K_ledger, chain ‖ settlement)`: how it ended (outcome, tokens, cost, times,
//!   what was redacted). An attempt is written `in_flight` with no seal before it is sent, and
//!   settled in place when it ends, so a crash leaves a row; the next start settles what is left
//!   as `interrupted` at its reservation ([`settle_left`]). Settling never moves the link, so the
//!   rows after it still chain.
//!
//! A row is checked against the row before it, so checking is incremental: at unlock Keyhold
//! checks from the start of the day (what budgets read) and the rest of the ledger in the
//! background; `keyhold vault check` checks all of it. The last row Keyhold chained is kept in
//! the vault snapshot ([`Mark`]), so rows deleted from the end are seen too. What is found is a
//! [`Break`], named in the user's words; while any stands, paid steps of agents with a budget are
//! refused (budgets fail closed) until the user acknowledges it.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::Attempt;
use crate::integrity::Record;
use crate::seal::MasterSecret;

const INFO: &[u8] = b"keyhold/ledger-chain/v1";

/// What the first row chains from.
pub const GENESIS: [u8; 32] = [0; 32];

/// The key rows are chained under.
pub struct ChainKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainKey([redacted])")
    }
}

impl ChainKey {
    pub fn new(token_key: &MasterSecret) -> ChainKey {
        let mut k = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(None, token_key.expose()).expand(INFO, k.as_mut()).expect("32-byte HKDF output");
        ChainKey(k)
    }

    pub fn copy(&self) -> ChainKey {
        ChainKey(Zeroizing::new(*self.0))
    }

    fn tag(&self, prev: &[u8], row: &Record) -> Vec<u8> {
        let mut m = Hmac::<Sha256>::new_from_slice(self.0.as_ref()).expect("any key length");
        m.update(prev);
        m.update(row.bytes());
        m.finalize().into_bytes().to_vec()
    }
}

/// One row's columns as stored, borrowed: what its chain tag covers.
pub(crate) struct Columns<'a> {
    pub id: i64,
    pub at: &'a str,
    pub agent: &'a str,
    pub key_id: Option<&'a str>,
    pub key_label: Option<&'a str>,
    pub provider: &'a str,
    pub model: &'a str,
    pub mode: &'a str,
    pub step: i64,
    pub outcome: &'a str,
    pub tokens: [i64; 4],
    pub cost: Option<i64>,
    pub estimated: bool,
    pub latency_ms: i64,
    pub ttft_ms: Option<i64>,
    pub local: bool,
    pub agent_id: Option<&'a str>,
    pub redacted: Option<&'a str>,
    pub reserved: Option<i64>,
    /// Provider-side tools used (`web_search:2`), in the ledger's form; None when none were.
    pub tools: Option<&'a str>,
}

/// The outcome of an attempt written before it is sent, until it is settled.
pub const IN_FLIGHT: &str = "in_flight";
/// The outcome of an attempt that was in flight when Keyhold stopped.
pub const INTERRUPTED: &str = "interrupted";

impl Columns<'_> {
    /// What the link covers: known before the attempt is sent, never changed after.
    fn opening(&self) -> Record {
        Record::new("ledger-open", &self.id.to_string())
            .text(self.at)
            .text(self.agent)
            .opt_text(self.agent_id)
            .opt_text(self.key_id)
            .opt_text(self.key_label)
            .text(self.provider)
            .text(self.model)
            .text(self.mode)
            .int(self.step)
            .flag(self.local)
            .opt_int(self.reserved)
    }

    /// What the seal covers: how the attempt ended.
    fn settlement(&self) -> Record {
        let mut r = Record::new("ledger-settle", &self.id.to_string()).text(self.outcome);
        for t in self.tokens {
            r = r.int(t);
        }
        let r = r
            .opt_int(self.cost)
            .flag(self.estimated)
            .int(self.latency_ms)
            .opt_int(self.ttft_ms)
            .opt_text(self.redacted);
        // Only when some were used, so rows from before the column seal as they did.
        match self.tools {
            Some(tools) => r.text("tools").text(tools),
            None => r,
        }
    }

    fn link(&self, key: &ChainKey, prev: &[u8]) -> Vec<u8> {
        key.tag(prev, &self.opening())
    }

    fn seal(&self, key: &ChainKey, link: &[u8]) -> Vec<u8> {
        key.tag(link, &self.settlement())
    }

    /// Not settled yet: no seal is expected.
    fn unsettled(&self) -> bool {
        self.outcome == IN_FLIGHT || self.outcome == INTERRUPTED
    }
}

/// The link and seal of `row`, about to be written with `id` after a row whose chain is `prev`
/// (no seal for a row opened in flight). The columns are taken exactly as `ledger::insert`
/// writes them.
pub(crate) fn tags_of(
    key: &ChainKey,
    prev: &[u8],
    id: i64,
    row: &Attempt,
    at: &str,
    outcome: &str,
    reserved: Option<i64>,
) -> (Vec<u8>, Option<Vec<u8>>) {
    let cols = columns_of(id, row, at, outcome, reserved);
    let link = cols.link(key, prev);
    let seal = (!cols.unsettled()).then(|| cols.seal(key, &link));
    (link, seal)
}

/// The seal of `row` settled into the row `id` whose link is `link`.
pub(crate) fn seal_of(key: &ChainKey, link: &[u8], id: i64, row: &Attempt, outcome: &str) -> Vec<u8> {
    // The opening columns are not in the seal: the row keeps those it was opened with.
    columns_of(id, row, "", outcome, None).seal(key, link)
}

fn columns_of<'a>(id: i64, row: &'a Attempt, at: &'a str, outcome: &'a str, reserved: Option<i64>) -> Columns<'a> {
    Columns {
        id,
        at,
        agent: &row.agent,
        key_id: row.key_id.as_deref(),
        key_label: row.key_label.as_deref(),
        provider: &row.provider,
        model: &row.model,
        mode: row.mode.as_str(),
        step: row.step as i64,
        outcome,
        tokens: [row.tokens.input, row.tokens.output, row.tokens.cache_read, row.tokens.cache_write],
        cost: row.cost.map(|c| c.nanos()),
        estimated: row.estimated,
        latency_ms: row.latency_ms,
        ttft_ms: row.ttft_ms,
        local: row.local,
        agent_id: Some(&row.agent_id),
        redacted: (!row.redacted.is_empty()).then_some(row.redacted.as_str()),
        reserved,
        tools: (!row.tools.is_empty()).then_some(row.tools.as_str()),
    }
}

/// Where the chain ends: the last row's id, and the tag the next row chains from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub id: i64,
    pub tag: Vec<u8>,
}

impl Head {
    pub fn genesis() -> Head {
        Head { id: 0, tag: GENESIS.to_vec() }
    }
}

/// What the vault snapshot keeps of the ledger: the last row Keyhold chained, and the first row
/// of that local day (where the check at unlock starts when it is still that day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub id: i64,
    pub tag: String,
    pub day: String,
    pub day_first: i64,
}

impl Mark {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a mark serializes")
    }

    pub fn from_bytes(b: &[u8]) -> Option<Mark> {
        serde_json::from_slice(b).ok()
    }

    fn tag_bytes(&self) -> Option<Vec<u8>> {
        (0..self.tag.len())
            .step_by(2)
            .map(|i| self.tag.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect()
    }
}

pub(crate) use crate::manifest::hex;

/// Something found changed in the ledger, as the user is told it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// Rows `from..=to` are missing between rows that are there.
    Deleted { from: i64, to: i64 },
    /// Row `id` does not verify: changed, or put there with a tag of its own.
    Edited { id: i64 },
    /// Row `id` has no tag: put there by something other than Keyhold.
    Unchained { id: i64 },
    /// The last rows Keyhold wrote (after row `after`, up to row `to`) are gone.
    Truncated { after: i64, to: i64 },
    /// Rows `from..=to` appeared while Keyhold was writing, written by something else.
    Foreign { from: i64, to: i64 },
    /// The ledger could not be read to be checked.
    Unchecked { detail: String },
    /// More breaks than are named one by one.
    More { count: usize },
    /// Today's spend of an agent in the database fell below what Keyhold wrote.
    Shrunk { agent: String, in_database: crate::money::Money, written: crate::money::Money },
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Break::Deleted { from, to } if from == to => {
                write!(f, "usage ledger row {from} was deleted outside Keyhold")
            }
            Break::Deleted { from, to } => write!(f, "usage ledger rows {from} to {to} were deleted outside Keyhold"),
            Break::Edited { id } => write!(f, "usage ledger row {id} was changed outside Keyhold"),
            Break::Unchained { id } => {
                write!(f, "usage ledger row {id} was put there by something other than Keyhold")
            }
            Break::Truncated { after, to } => write!(
                f,
                "the last usage ledger rows Keyhold wrote (rows {} to {to}) were deleted outside Keyhold",
                after + 1
            ),
            Break::Foreign { from, to } => {
                write!(f, "usage ledger rows {from} to {to} were put there by something other than Keyhold")
            }
            Break::More { count } => write!(f, "and {count} more changes to the usage ledger"),
            Break::Unchecked { detail } => write!(f, "the usage ledger could not be checked ({detail})"),
            Break::Shrunk { agent, in_database, written } => write!(
                f,
                "agent \"{agent}\"'s spend today in the usage ledger ({in_database} USD) is less than Keyhold recorded \
                 ({written} USD): rows were deleted or changed outside Keyhold"
            ),
        }
    }
}

/// What a check found.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Where the next row chains from.
    pub head: Head,
    pub breaks: Vec<Break>,
    /// Rows checked.
    pub rows: u64,
    /// Rows that had no tag and were chained now (rows from before this version, or written
    /// while Keyhold was locked).
    pub adopted: u64,
}

impl Head {
    /// The check at unlock: from the first row of the mark's day when it is still that day,
    /// else from the mark itself (every row of today came after it). Without a mark, from the
    /// first row.
    pub fn at_unlock(conn: &Connection, mark: Option<&Mark>, today: &str) -> rusqlite::Result<Head> {
        let Some(mark) = mark else { return Ok(Head::genesis()) };
        let Some(tag) = mark.tag_bytes() else { return Ok(Head::genesis()) };
        if mark.day != today || mark.day_first <= 0 || mark.day_first > mark.id {
            return Ok(Head { id: mark.id, tag });
        }
        // The row before the day's first: its stored chain is what the day's first chains from
        // (checked by that row's own tag).
        let before: Option<(i64, Option<Vec<u8>>)> = conn
            .query_row("SELECT id, chain FROM ledger WHERE id < ?1 ORDER BY id DESC LIMIT 1", [mark.day_first], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        Ok(match before {
            Some((id, Some(chain))) => Head { id, tag: chain },
            _ => Head { id: mark.day_first - 1, tag: GENESIS.to_vec() },
        })
    }
}

/// A row's columns as [`read_columns`] reads them, then its chain and seal.
macro_rules! select_row {
    () => {
        "SELECT id, at, agent, key_id, key_label, provider, model, mode, step, outcome, input_tokens,
            output_tokens, cache_read_tokens, cache_write_tokens, cost_nano, estimated, latency_ms, ttft_ms, local,
            agent_id, redacted, reserved_nano, chain, seal, tools
         FROM ledger"
    };
}

/// The rows after an id, in order, a chunk at a time.
const ROWS_AFTER: &str = concat!(select_row!(), " WHERE id > ?1 ORDER BY id LIMIT ?2");

/// One row.
const ROW: &str = concat!(select_row!(), " WHERE id = ?1");

/// Rows read at a time: a check or a re-chaining of millions of rows holds a bounded amount.
const CHUNK: i64 = 10_000;

/// Breaks named one by one at most; the rest are counted ([`Break::More`]).
const MOST_NAMED: usize = 20;

/// Checks the rows after `from.id`, in order, the first chaining from `from.tag`. `mark`: the last row Keyhold chained, as the
/// snapshot keeps it (rows deleted from the end are found against it). `adopt`: rows without a
/// tag that are Keyhold's own to chain now (rows from before this version at the first unlock,
/// rows written while locked); the others are breaks. `adopt` needs a writable connection.
pub fn check(
    conn: &Connection,
    key: &ChainKey,
    from: Head,
    mark: Option<&Mark>,
    adopt: &dyn Fn(i64) -> bool,
) -> rusqlite::Result<Checked> {
    let mut breaks = Vec::new();
    // A row verifies against the chain stored in the row before it (so an edited row is named
    // alone), or against the last row that verified (so a row put in between is named alone).
    let mut stored_prev = from.tag.clone();
    let mut good_prev = from.tag;
    let mut expected = from.id + 1;
    let mut last_id = from.id;
    let (mut checked, mut adopted) = (0u64, 0u64);
    let mark_tag = mark.and_then(Mark::tag_bytes);
    loop {
        let mut to_adopt: Vec<(i64, Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        let mut read = 0;
        {
            let mut stmt = conn.prepare_cached(ROWS_AFTER)?;
            let mut rows = stmt.query(params![last_id, CHUNK])?;
            while let Some(r) = rows.next()? {
                read += 1;
                let id: i64 = r.get(0)?;
                let gap = (id > expected).then_some(Break::Deleted { from: expected, to: id - 1 });
                let chain: Option<Vec<u8>> = r.get(22)?;
                let seal: Option<Vec<u8>> = r.get(23)?;
                let cols = read_columns(r);
                let link = |prev: &[u8]| cols.as_ref().map(|c| c.with(id).link(key, prev)).ok();
                match chain {
                    None if adopt(id) => {
                        let tag = link(&good_prev).unwrap_or_else(|| GENESIS.to_vec());
                        let sealed = cols
                            .as_ref()
                            .ok()
                            .map(|c| c.with(id))
                            .filter(|c| !c.unsettled())
                            .map(|c| c.seal(key, &tag));
                        to_adopt.push((id, tag.clone(), sealed));
                        adopted += 1;
                        good_prev = tag.clone();
                        stored_prev = tag;
                    }
                    None => {
                        breaks.extend(gap);
                        breaks.push(Break::Unchained { id });
                        stored_prev = good_prev.clone();
                    }
                    Some(chain) => {
                        let ok =
                            [&stored_prev, &good_prev].iter().any(|p| link(p).as_deref() == Some(chain.as_slice()));
                        if ok {
                            // Ids missing before a row that follows the last good one were never
                            // Keyhold's rows (or their deletion was acknowledged, and re-chained).
                            good_prev = chain.clone();
                            // How it ended: sealed, or not settled yet (in flight now, or left by
                            // a stop and settled at its reservation at the next unlock).
                            let settled = cols.as_ref().ok().map(|c| c.with(id));
                            let sealed_ok = match (&settled, &seal) {
                                (Some(c), Some(s)) => c.seal(key, &chain) == *s,
                                (Some(c), None) => c.unsettled(),
                                (None, _) => false,
                            };
                            if !sealed_ok {
                                breaks.push(Break::Edited { id });
                            }
                        } else {
                            breaks.push(gap.unwrap_or(Break::Edited { id }));
                        }
                        if let (Some(m), Some(t)) = (mark, &mark_tag) {
                            if id == m.id && &chain != t && ok {
                                breaks.push(Break::Edited { id });
                            }
                        }
                        stored_prev = chain;
                    }
                }
                last_id = id;
                expected = id + 1;
            }
        }
        checked += read;
        if !to_adopt.is_empty() {
            let mut up =
                conn.prepare_cached("UPDATE ledger SET chain = ?2, seal = ?3 WHERE id = ?1 AND chain IS NULL")?;
            for (id, tag, seal) in &to_adopt {
                up.execute(params![id, tag, seal])?;
            }
        }
        if (read as i64) < CHUNK {
            break;
        }
    }
    if let Some(m) = mark {
        if m.id > last_id && mark_tag.is_some() {
            breaks.push(Break::Truncated { after: last_id, to: m.id });
        }
    }
    breaks.dedup();
    if breaks.len() > MOST_NAMED {
        let more = breaks.len() - MOST_NAMED;
        breaks.truncate(MOST_NAMED);
        breaks.push(Break::More { count: more });
    }
    Ok(Checked { head: Head { id: last_id, tag: good_prev }, breaks, rows: checked, adopted })
}

struct Owned {
    at: String,
    agent: String,
    key_id: Option<String>,
    key_label: Option<String>,
    provider: String,
    model: String,
    mode: String,
    step: i64,
    outcome: String,
    tokens: [i64; 4],
    cost: Option<i64>,
    estimated: bool,
    latency_ms: i64,
    ttft_ms: Option<i64>,
    local: bool,
    agent_id: Option<String>,
    redacted: Option<String>,
    reserved: Option<i64>,
    tools: Option<String>,
}

impl Owned {
    fn with(&self, id: i64) -> Columns<'_> {
        Columns {
            id,
            at: &self.at,
            agent: &self.agent,
            key_id: self.key_id.as_deref(),
            key_label: self.key_label.as_deref(),
            provider: &self.provider,
            model: &self.model,
            mode: &self.mode,
            step: self.step,
            outcome: &self.outcome,
            tokens: self.tokens,
            cost: self.cost,
            estimated: self.estimated,
            latency_ms: self.latency_ms,
            ttft_ms: self.ttft_ms,
            local: self.local,
            agent_id: self.agent_id.as_deref(),
            redacted: self.redacted.as_deref(),
            reserved: self.reserved,
            tools: self.tools.as_deref(),
        }
    }
}

/// A row's columns; a row whose columns do not read (a type changed by hand) never verifies.
fn read_columns(r: &rusqlite::Row) -> rusqlite::Result<Owned> {
    Ok(Owned {
        at: r.get(1)?,
        agent: r.get(2)?,
        key_id: r.get(3)?,
        key_label: r.get(4)?,
        provider: r.get(5)?,
        model: r.get(6)?,
        mode: r.get(7)?,
        step: r.get(8)?,
        outcome: r.get(9)?,
        tokens: [r.get(10)?, r.get(11)?, r.get(12)?, r.get(13)?],
        cost: r.get(14)?,
        estimated: r.get(15)?,
        latency_ms: r.get(16)?,
        ttft_ms: r.get(17)?,
        local: r.get(18)?,
        agent_id: r.get(19)?,
        redacted: r.get(20)?,
        reserved: r.get(21)?,
        tools: r.get(24)?,
    })
}

/// Re-chains every row after `after` as it is now: what the user's acknowledgment does, after
/// seeing what was changed. Returns the new head.
pub fn rechain(conn: &Connection, key: &ChainKey, after: i64) -> rusqlite::Result<Head> {
    let prev: Vec<u8> = if after <= 0 {
        GENESIS.to_vec()
    } else {
        conn.query_row("SELECT chain FROM ledger WHERE id <= ?1 ORDER BY id DESC LIMIT 1", [after], |r| {
            r.get::<_, Option<Vec<u8>>>(0)
        })
        .optional()?
        .flatten()
        .unwrap_or_else(|| GENESIS.to_vec())
    };
    let after = if prev == GENESIS { 0 } else { after };
    let mut head = Head { id: after, tag: prev };
    loop {
        let mut updates = Vec::new();
        let mut read = 0;
        {
            let mut stmt = conn.prepare_cached(ROWS_AFTER)?;
            let mut rows = stmt.query(params![head.id, CHUNK])?;
            while let Some(r) = rows.next()? {
                read += 1;
                let id: i64 = r.get(0)?;
                // A row whose columns no longer read as a ledger row's keeps no tag, and is
                // named again by the next check.
                let Ok(cols) = read_columns(r) else {
                    head.id = id;
                    continue;
                };
                let c = cols.with(id);
                let tag = c.link(key, &head.tag);
                // A row not settled yet keeps no seal (`settle_left` settles it).
                updates.push((id, tag.clone(), (!c.unsettled()).then(|| c.seal(key, &tag))));
                head = Head { id, tag };
            }
        }
        let mut up = conn.prepare_cached("UPDATE ledger SET chain = ?2, seal = ?3 WHERE id = ?1")?;
        for (id, tag, seal) in &updates {
            up.execute(params![id, tag, seal])?;
        }
        if read < CHUNK {
            break;
        }
    }
    Ok(head)
}

/// Seals the row `id` as it is now, when it is settled, chained and not sealed: an attempt
/// opened while unlocked and settled while Keyhold was locked (no key to seal it then), sealed
/// at the next unlock like the rows written while locked are chained then.
pub fn seal_as_is(conn: &Connection, key: &ChainKey, id: i64) -> rusqlite::Result<()> {
    seal_stored(conn, key, id, |c| !c.unsettled())
}

/// Seals the row `id` as stored, when it has a link, no seal, and its columns pass `wanted`.
fn seal_stored(conn: &Connection, key: &ChainKey, id: i64, wanted: impl Fn(&Columns) -> bool) -> rusqlite::Result<()> {
    let found = conn
        .prepare_cached(ROW)?
        .query_row([id], |r| Ok((read_columns(r)?, r.get::<_, Option<Vec<u8>>>(22)?, r.get::<_, Option<Vec<u8>>>(23)?)))
        .optional()?;
    let Some((cols, Some(link), None)) = found else { return Ok(()) };
    let c = cols.with(id);
    if !wanted(&c) {
        return Ok(());
    }
    let seal = c.seal(key, &link);
    conn.prepare_cached("UPDATE ledger SET seal = ?2 WHERE id = ?1 AND seal IS NULL")?.execute(params![id, seal])?;
    Ok(())
}

/// Attempts left in flight when Keyhold stopped (none of `live`, this process's own in flight):
/// each becomes `interrupted`, counting what it reserved (the most it could have cost; a crash
/// never lowers what a budget counts), its tokens marked estimated. With the chain key, the
/// interrupted rows not sealed yet are sealed (their link, checked by the chain, covers the
/// reservation). Returns how many attempts were settled now.
pub fn settle_left(conn: &Connection, key: Option<&ChainKey>, live: &dyn Fn(i64) -> bool) -> rusqlite::Result<usize> {
    let mut left = Vec::new();
    {
        // The partial index `ledger_unsettled` holds exactly these rows.
        let mut stmt = conn
            .prepare_cached("SELECT id, seal IS NOT NULL FROM ledger WHERE outcome IN ('in_flight', 'interrupted')")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (id, sealed): (i64, bool) = (r.get(0)?, r.get(1)?);
            if !sealed && !live(id) {
                left.push(id);
            }
        }
    }
    let mut settled = 0;
    for id in left {
        settled += conn
            .prepare_cached(
                "UPDATE ledger SET outcome = 'interrupted', cost_nano = reserved_nano, estimated = 1
                 WHERE id = ?1 AND outcome IN ('in_flight', 'interrupted') AND seal IS NULL",
            )?
            .execute([id])?;
        if let Some(key) = key {
            // Interrupted now: sealed as it stands.
            seal_stored(conn, key, id, |_| true)?;
        }
    }
    if settled > 0 {
        tracing::warn!(attempts = settled, "attempts in flight when Keyhold stopped were settled as interrupted");
    }
    Ok(settled)
}

#[cfg(test)]
mod tests;
