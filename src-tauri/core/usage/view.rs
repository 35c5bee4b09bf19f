//! The Usage page in one call: what it asks for, and everything it shows, from the ledger.

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use specta::Type;

use super::{anomalies, breakdown, range_for, recent, series, Anomaly, Point, Range, RecentFilter, Resolution, Slice};
use super::{UsageError, RECENT_ROWS};
use crate::agents;
use crate::budget;
use crate::ledger::{self, ExportRow};
use crate::money::Money;

#[derive(Debug, Clone, Deserialize, Type)]
pub struct UsageQuery {
    /// "24h", "7d", "30d" or "custom" (then `since`/`until`, local dates, inclusive).
    pub range: String,
    pub since: Option<String>,
    pub until: Option<String>,
    pub resolution: Resolution,
    pub agent: Option<String>,
    pub filter: RecentFilter,
}

/// One agent's day against its budget, by name.
#[derive(Debug, Clone, Serialize, Type)]
pub struct BudgetLine {
    pub agent: String,
    #[serde(flatten)]
    pub today: budget::Today,
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct UsageView {
    /// Every bucket of the range in order, empty ones included, so the chart's x axis is time:
    /// local dates (`2026-11-30`) or local hour starts (`2026-11-30T14:00`, `…T14:30` in a zone
    /// half an hour off UTC), as `series` names them.
    pub buckets: Vec<String>,
    pub series: Vec<Point>,
    pub breakdown: Vec<Slice>,
    pub budgets: Vec<BudgetLine>,
    pub recent: Vec<ExportRow>,
    /// What each outcome code in `recent` means, in words (the table shows these, the code on
    /// hover): the window never spells a code out itself.
    pub outcomes: Vec<OutcomeWords>,
    pub anomalies: Vec<Anomaly>,
    /// The period's totals, from the same points the charts draw.
    pub totals: Totals,
}

/// An outcome code as the requests table shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct OutcomeWords {
    pub code: String,
    pub words: String,
    pub failed: bool,
}

impl OutcomeWords {
    fn of(code: &str) -> OutcomeWords {
        match code.parse::<ledger::Outcome>() {
            Ok(o) => OutcomeWords { code: code.into(), words: o.words(), failed: o != ledger::Outcome::Ok },
            // A code this build does not know (written by a newer one): shown as it is.
            Err(_) => OutcomeWords { code: code.into(), words: code.replace('_', " "), failed: code != "ok" },
        }
    }
}

/// A period's totals (money exact).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Type)]
pub struct Totals {
    pub cost_usd: Money,
    pub requests: u32,
    pub failures: u32,
    /// Every token class together.
    #[specta(type = specta_typescript::Number)]
    pub tokens: i64,
    /// Attempts whose price was unknown (their cost is not in `cost_usd`).
    pub unknown_cost: u32,
}

impl Totals {
    pub fn of(points: &[Point]) -> Totals {
        points.iter().fold(Totals::default(), |t, p| Totals {
            cost_usd: t.cost_usd + p.cost_usd,
            requests: t.requests + p.requests,
            failures: t.failures + p.failures,
            tokens: t.tokens + p.tokens.input + p.tokens.output + p.tokens.cache_read + p.tokens.cache_write,
            unknown_cost: t.unknown_cost + p.unknown_cost,
        })
    }
}

impl UsageQuery {
    fn range(&self, now: DateTime<Utc>) -> Result<Range, UsageError> {
        range_for(&self.range, self.since.as_deref(), self.until.as_deref(), now)
    }

    fn agent(&self) -> Option<&str> {
        self.agent.as_deref().filter(|a| !a.is_empty())
    }

    /// The ledger rows an export of this view holds: the same range and filters, every row.
    pub fn export_filter(&self, now: DateTime<Utc>) -> Result<ledger::Filter, UsageError> {
        let range = self.range(now)?;
        let f = &self.filter;
        Ok(ledger::Filter {
            agent: self.agent().map(str::to_string),
            since: Some(range.since),
            until: Some(range.until),
            provider: f.provider.clone(),
            model: f.model.clone(),
            outcome: f.outcome.clone(),
            mode: f.mode.clone(),
            newest: None,
        })
    }
}

/// Everything the Usage page shows.
pub fn view(conn: &Connection, query: &UsageQuery, now: DateTime<Utc>) -> Result<UsageView, UsageError> {
    let range = query.range(now)?;
    let agent = query.agent();
    // The agent filter applies to everything on the page: budgets and flags too.
    let wanted = |name: &str| agent.is_none_or(|a| a.eq_ignore_ascii_case(name));
    let budgets = agents::list(conn)
        .map_err(|e| UsageError::Db(e.to_string()))?
        .into_iter()
        .filter(|a| wanted(&a.name))
        .map(|a| BudgetLine { today: budget::today(conn, &a), agent: a.name })
        .collect();
    // The daily series of all agents feeds the anomaly flags; the chart reuses it when it can.
    let daily = series(conn, &range, Resolution::Day, None)?;
    let chart = match (query.resolution, agent) {
        (Resolution::Day, None) => daily.clone(),
        _ => series(conn, &range, query.resolution, agent)?,
    };
    let filter = RecentFilter { agent: agent.map(str::to_string), ..query.filter.clone() };
    Ok(UsageView {
        totals: Totals::of(&chart),
        buckets: buckets(&range, query.resolution),
        anomalies: anomalies(conn, &range, &daily)?.into_iter().filter(|a| wanted(&a.agent)).collect(),
        series: chart,
        breakdown: breakdown(conn, &range, agent)?,
        budgets,
        outcomes: Vec::new(),
        recent: recent(conn, &range, &filter, RECENT_ROWS)?,
    })
    .map(|mut v| {
        let mut codes: Vec<&str> = v.recent.iter().map(|r| r.outcome.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        v.outcomes = codes.into_iter().map(OutcomeWords::of).collect();
        v
    })
}

/// The range's buckets in the user's zone, as the series names them.
fn buckets(range: &Range, resolution: Resolution) -> Vec<String> {
    use chrono::{Duration, Local, Timelike};
    match resolution {
        Resolution::Day => {
            let (first, last) = range.days.unwrap_or_else(|| {
                (range.since.with_timezone(&Local).date_naive(), range.until.with_timezone(&Local).date_naive())
            });
            first.iter_days().take_while(|d| *d <= last).map(|d| d.to_string()).collect()
        }
        Resolution::Hour => {
            // UTC hours, as the hourly rollup keeps them, named by their local start.
            let mut t = range.since.with_minute(0).and_then(|t| t.with_second(0)).and_then(|t| t.with_nanosecond(0));
            let mut out = Vec::new();
            while let Some(h) = t.filter(|h| *h < range.until && out.len() < 24 * 92) {
                out.push(h.with_timezone(&Local).format("%Y-%m-%dT%H:%M").to_string());
                t = Some(h + Duration::hours(1));
            }
            out
        }
    }
}
