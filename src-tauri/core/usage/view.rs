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
    pub series: Vec<Point>,
    pub breakdown: Vec<Slice>,
    pub budgets: Vec<BudgetLine>,
    pub recent: Vec<ExportRow>,
    pub anomalies: Vec<Anomaly>,
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
    let budgets = agents::list(conn)
        .map_err(|e| UsageError::Db(e.to_string()))?
        .into_iter()
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
        anomalies: anomalies(conn, &range, &daily)?,
        series: chart,
        breakdown: breakdown(conn, &range, agent)?,
        budgets,
        recent: recent(conn, &range, &filter, RECENT_ROWS)?,
    })
}
