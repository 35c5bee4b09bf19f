//! The Usage page's numbers: token and cost series per agent, breakdowns, budgets, recent
//! requests and anomalies, all from the local ledger and its two rollups: UTC hours, and the
//! user's local days (SQLite's `localtime`, so a daylight-saving day has 23 or 25 hours, and a
//! zone half an hour off UTC gets its days exactly). Ranges of whole local days (7 and 30 days,
//! custom dates) read the daily rollup; the last 24 hours read the hourly one.

pub mod daily;
mod view;

pub use view::{view, BudgetLine, UsageQuery, UsageView};

/// How many recent requests the Usage page lists.
pub const RECENT_ROWS: u32 = 200;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use specta::Type;

use crate::money::Money;
use crate::prices::Tokens;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    Hour,
    Day,
}

#[derive(Debug, Clone)]
pub struct Range {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// The local days the range is made of (first, last inclusive), when it is whole days.
    pub days: Option<(NaiveDate, NaiveDate)>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UsageError {
    #[error("The end of the range ({until}) is before its start ({since}): choose an end after the start.")]
    EndBeforeStart { since: String, until: String },
    #[error("Database error: {0}")]
    Db(String),
}

impl crate::error::Kinded for UsageError {
    fn kind(&self) -> crate::error::ErrorKind {
        match self {
            UsageError::EndBeforeStart { .. } => crate::error::ErrorKind::BadRange,
            UsageError::Db(_) => crate::error::ErrorKind::Database,
        }
    }
}

impl From<rusqlite::Error> for UsageError {
    fn from(e: rusqlite::Error) -> Self {
        UsageError::Db(e.to_string())
    }
}

impl Range {
    pub fn new(since: DateTime<Utc>, until: DateTime<Utc>) -> Result<Range, UsageError> {
        if until < since {
            return Err(UsageError::EndBeforeStart { since: since.to_rfc3339(), until: until.to_rfc3339() });
        }
        Ok(Range { since, until, days: None })
    }

    /// Whole local days, `first` to `last` inclusive.
    pub fn local_days(first: NaiveDate, last: NaiveDate) -> Result<Range, UsageError> {
        let after = last.succ_opt().unwrap_or(last);
        let mut r = Range::new(crate::ledger::local_midnight_utc(first), crate::ledger::local_midnight_utc(after))?;
        r.days = Some((first, last));
        Ok(r)
    }

    /// The days as the daily rollup writes them (first, and the day after the last).
    fn day_bounds(&self) -> Option<(String, String)> {
        self.days.map(|(f, l)| (f.to_string(), l.succ_opt().unwrap_or(l).to_string()))
    }

    fn bounds(&self) -> (String, String) {
        (self.since.format("%Y-%m-%dT%H:00:00Z").to_string(), self.until.format("%Y-%m-%dT%H:%M:%SZ").to_string())
    }
}

/// The page's ranges: the last 24 hours, 7 or 30 days, or custom local dates (inclusive).
pub fn range_for(
    kind: &str,
    since: Option<&str>,
    until: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Range, UsageError> {
    let day = |s: &str| {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| UsageError::Db(format!("\"{s}\" is not a date: use YYYY-MM-DD.")))
    };
    let today = now.with_timezone(&chrono::Local).date_naive();
    let last_days = |n: u64| Range::local_days(today - chrono::Days::new(n - 1), today);
    match kind {
        "24h" => Range::new(now - chrono::Duration::hours(24), now),
        // Today and the 6 (29) local days before it: the chart's buckets are whole days.
        "7d" => last_days(7),
        "30d" => last_days(30),
        _ => {
            let first = since.map(day).transpose()?.unwrap_or(today - chrono::Days::new(29));
            let last = until.map(day).transpose()?.unwrap_or(today);
            if last < first {
                return Err(UsageError::EndBeforeStart { since: first.to_string(), until: last.to_string() });
            }
            Range::local_days(first, last)
        }
    }
}

/// Writes an export through a temporary file in the same folder and a rename: a failure leaves
/// nothing half-written, and the message says why.
pub fn write_export(path: &std::path::Path, contents: &str) -> Result<(), ExportError> {
    use std::io::Write;
    let fail = |source| ExportError { path: path.into(), source };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("export");
    // A temp name nobody can guess, created exclusively (O_EXCL, and O_NOFOLLOW): a file or a
    // symlink planted in its place makes the export fail rather than write through it.
    let mut random = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join(format!(".{name}.{suffix}.keyhold-tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let mut file = options.open(&tmp).map_err(fail)?;
    let written = file.write_all(contents.as_bytes()).and_then(|()| file.sync_all());
    drop(file);
    // The rename replaces the destination name itself: a symlink there is replaced, never followed.
    if let Err(source) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(source));
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
#[error("Could not write {}: {source}. Nothing was written; choose a folder you can write to.", path.display())]
pub struct ExportError {
    pub path: std::path::PathBuf,
    pub source: std::io::Error,
}

impl crate::error::Kinded for ExportError {
    fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::Export
    }
}

/// One bucket of one agent's usage.
#[derive(Debug, Clone, PartialEq, Serialize, Type)]
pub struct Point {
    /// Local time: `YYYY-MM-DD` for days, `YYYY-MM-DDTHH:00` for hours.
    pub bucket: String,
    pub agent: String,
    pub tokens: Tokens,
    pub cost_usd: Money,
    pub requests: u32,
    pub failures: u32,
    /// Attempts whose price was unknown (their cost is not in `cost_usd`).
    pub unknown_cost: u32,
}

pub fn series(
    conn: &Connection,
    range: &Range,
    resolution: Resolution,
    agent: Option<&str>,
) -> Result<Vec<Point>, UsageError> {
    if let (Resolution::Day, Some((first, after))) = (resolution, range.day_bounds()) {
        return daily::series(conn, &first, &after, agent);
    }
    // Minutes too: in a zone half an hour off UTC, an hour starts at :30.
    let fmt = match resolution {
        Resolution::Hour => "%Y-%m-%dT%H:%M",
        Resolution::Day => "%Y-%m-%d",
    };
    let (since, until) = range.bounds();
    let mut stmt = conn.prepare(
        "SELECT strftime(?1, hour, 'localtime') AS bucket, agent, SUM(input_tokens), SUM(output_tokens),
                SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(cost_nano), SUM(requests), SUM(failures), SUM(unknown_cost)
         FROM ledger_hourly
         WHERE hour >= ?2 AND hour < ?3 AND (?4 IS NULL OR agent = ?4 COLLATE NOCASE)
         GROUP BY bucket, agent ORDER BY bucket, agent",
    )?;
    let rows = stmt.query_map(params![fmt, since, until, agent], point)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A series point from a rollup row: bucket, agent, then the sums in the `Point`'s order (both
/// rollups' series queries select them so).
fn point(r: &rusqlite::Row<'_>) -> rusqlite::Result<Point> {
    Ok(Point {
        bucket: r.get(0)?,
        agent: r.get(1)?,
        tokens: Tokens { input: r.get(2)?, output: r.get(3)?, cache_read: r.get(4)?, cache_write: r.get(5)? },
        cost_usd: r.get(6)?,
        requests: r.get(7)?,
        failures: r.get(8)?,
        unknown_cost: r.get(9)?,
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Type)]
pub struct Slice {
    pub provider: String,
    pub model: String,
    pub local: bool,
    pub tokens: Tokens,
    pub cost_usd: Money,
    pub requests: u32,
}

/// Where the money and tokens went in the range: by provider and model, local and cloud apart.
pub fn breakdown(conn: &Connection, range: &Range, agent: Option<&str>) -> Result<Vec<Slice>, UsageError> {
    let (table, key, since, until) = match range.day_bounds() {
        Some((first, after)) => {
            daily::ensure(conn)?;
            ("ledger_daily", "day", first, after)
        }
        None => {
            let (s, u) = range.bounds();
            ("ledger_hourly", "hour", s, u)
        }
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT provider, model, local, SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens),
                SUM(cost_nano), SUM(requests)
         FROM {table} WHERE {key} >= ?1 AND {key} < ?2 AND (?3 IS NULL OR agent = ?3 COLLATE NOCASE)
         GROUP BY provider, model, local ORDER BY SUM(cost_nano) DESC, SUM(requests) DESC"
    ))?;
    let rows = stmt.query_map(params![since, until, agent], |r| {
        Ok(Slice {
            provider: r.get(0)?,
            model: r.get(1)?,
            local: r.get(2)?,
            tokens: Tokens { input: r.get(3)?, output: r.get(4)?, cache_read: r.get(5)?, cache_write: r.get(6)? },
            cost_usd: r.get(7)?,
            requests: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[derive(Debug, Clone, PartialEq, Serialize, Type)]
pub struct Anomaly {
    pub agent: String,
    /// spend_spike | unexpected_model | failure_burst
    pub kind: String,
    /// Local day or hour it concerns.
    pub when: String,
    pub message: String,
}

/// A local date ("2026-11-22") as people write it: "Nov 22, 2026" (the window is in English).
fn day_words(day: &str) -> String {
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map_or_else(|_| day.to_string(), |d| d.format("%b %-d, %Y").to_string())
}

/// Flags worth a look: a day whose spend is over 3× the agent's median day (and over a cent),
/// a model the agent's chain does not name, an hour with 5+ failures making half the calls.
/// `days` is the range's daily series for all agents (the page has it already).
pub fn anomalies(conn: &Connection, range: &Range, days: &[Point]) -> Result<Vec<Anomaly>, UsageError> {
    let mut out = Vec::new();
    let mut by_agent: std::collections::BTreeMap<&str, Vec<(&str, Money)>> = Default::default();
    for p in days {
        by_agent.entry(&p.agent).or_default().push((&p.bucket, p.cost_usd));
    }
    // A spike: over 3× the median day, and over a cent.
    let cent = Money::from_nanos(10_000_000);
    for (agent, list) in &by_agent {
        let mut costs: Vec<Money> = list.iter().map(|(_, c)| *c).filter(|c| *c > Money::ZERO).collect();
        if costs.len() < 3 {
            continue;
        }
        costs.sort_unstable();
        let median = costs[costs.len() / 2];
        for (day, cost) in list {
            if *cost > median + median + median && *cost > cent {
                out.push(Anomaly {
                    agent: agent.to_string(),
                    kind: "spend_spike".into(),
                    when: day.to_string(),
                    message: format!(
                        "{agent} spent {} on {}, over 3× its median day ({}).",
                        cost.shown(),
                        day_words(day),
                        median.shown()
                    ),
                });
            }
        }
    }
    let agents = crate::agents::list(conn).map_err(|e| UsageError::Db(e.to_string()))?;
    let (since, until) = range.bounds();
    let used: Vec<(String, String)> = match range.day_bounds() {
        Some((first, after)) => {
            daily::ensure(conn)?;
            let mut stmt =
                conn.prepare_cached("SELECT DISTINCT agent, model FROM ledger_daily WHERE day >= ?1 AND day < ?2")?;
            let rows = stmt.query_map(params![first, after], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        }
        None => {
            let mut stmt =
                conn.prepare_cached("SELECT DISTINCT agent, model FROM ledger_hourly WHERE hour >= ?1 AND hour < ?2")?;
            let rows = stmt.query_map(params![since, until], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        }
    };
    for (agent, model) in used {
        if let Some(a) = agents.iter().find(|a| a.name.eq_ignore_ascii_case(&agent)) {
            if a.model != model && !a.fallback.iter().any(|s| s.model == model) {
                out.push(Anomaly {
                    agent: agent.clone(),
                    kind: "unexpected_model".into(),
                    when: String::new(),
                    message: format!("{agent} called {model}, which is not in its chain."),
                });
            }
        }
    }
    let mut stmt = conn.prepare(
        "SELECT strftime('%Y-%m-%dT%H:00', hour, 'localtime'), agent, SUM(failures), SUM(requests) FROM ledger_hourly
         WHERE hour >= ?1 AND hour < ?2 GROUP BY hour, agent HAVING SUM(failures) >= 5 AND SUM(failures) * 2 >= SUM(requests)",
    )?;
    let bursts = stmt.query_map(params![since, until], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, u32>(2)?, r.get::<_, u32>(3)?))
    })?;
    for b in bursts {
        let (when, agent, failures, requests) = b?;
        out.push(Anomaly {
            agent: agent.clone(),
            kind: "failure_burst".into(),
            message: format!(
                "{agent}: {failures} of {requests} attempts failed in the hour from {} on {}.",
                when.get(11..16).unwrap_or(&when),
                day_words(when.get(..10).unwrap_or(&when))
            ),
            when,
        });
    }
    Ok(out)
}

/// Recent attempts, newest first, filtered.
#[derive(Debug, Clone, Default, Deserialize, Type)]
pub struct RecentFilter {
    pub agent: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// An outcome, or "failed" for all but ok.
    pub outcome: Option<String>,
    pub mode: Option<String>,
}

pub fn recent(
    conn: &Connection,
    range: &Range,
    f: &RecentFilter,
    limit: u32,
) -> Result<Vec<crate::ledger::ExportRow>, UsageError> {
    let filter = crate::ledger::Filter {
        agent: f.agent.clone(),
        since: Some(range.since),
        until: Some(range.until),
        provider: f.provider.clone(),
        model: f.model.clone(),
        outcome: f.outcome.clone(),
        mode: f.mode.clone(),
        newest: Some(limit),
    };
    Ok(crate::ledger::export(conn, &filter)?)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod export_tests {
    #[test]
    fn an_export_to_an_unwritable_place_says_why_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/folder/usage.csv");
        let err = super::write_export(&missing, "x").unwrap_err();
        assert!(err.to_string().contains("Nothing was written"), "{err}");
        let ok = dir.path().join("usage.csv");
        super::write_export(&ok, "a,b\n").unwrap();
        assert_eq!(std::fs::read_to_string(&ok).unwrap(), "a,b\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "only the export: no temporary file left behind");
    }

    /// Another local user (or process) plants symlinks where the export will go: the export
    /// writes only its own file, never through a link.
    #[cfg(unix)]
    #[test]
    fn an_export_never_writes_through_a_planted_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        // The 0.1 temp name was predictable: a link there redirected the write.
        std::os::unix::fs::symlink(&victim, dir.path().join(".usage.csv.keyhold-tmp")).unwrap();
        // A link at the destination itself is replaced, not followed.
        let out = dir.path().join("usage.csv");
        std::os::unix::fs::symlink(&victim, &out).unwrap();
        super::write_export(&out, "a,b\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!std::fs::symlink_metadata(&out).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "a,b\n");
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
