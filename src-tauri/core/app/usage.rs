//! The ledger as the Usage page and `keyhold usage` show it, and its exports.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use specta::Type;

use crate::datadir::DataDir;
use crate::ledger::{self, ExportRow, Filter};
use crate::usage::{self, UsageError, UsageQuery, UsageView};
use crate::workspace::{Workspace, WorkspaceError};

/// The Usage page for a query (range, resolution, filters).
pub fn view(ws: &Workspace, query: &UsageQuery) -> Result<UsageView, WorkspaceError> {
    let conn = ws.conn_unlocked()?;
    Ok(usage::view(&conn, query, chrono::Utc::now())?)
}

/// An export's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Json,
}

impl ExportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
        }
    }

    /// The rows, written out: CSV with its header, or JSON (`pretty` for a file a person opens).
    pub fn render(self, rows: &[ExportRow], pretty: bool) -> String {
        match (self, pretty) {
            (ExportFormat::Csv, _) => ledger::to_csv(rows),
            (ExportFormat::Json, true) => serde_json::to_string_pretty(rows).expect("rows serialize"),
            (ExportFormat::Json, false) => serde_json::to_string(rows).expect("rows serialize"),
        }
    }
}

/// A finished export: where it went (the place the user chose), and how many rows.
#[derive(Debug, Clone, Serialize, Type)]
pub struct Exported {
    pub path: String,
    pub rows: u32,
}

/// Writes the rows the Usage page's query selects to `path` (through a temporary file and a
/// rename: a failure leaves nothing half-written).
pub fn export(
    ws: &Workspace,
    query: &UsageQuery,
    format: ExportFormat,
    path: &std::path::Path,
) -> Result<Exported, WorkspaceError> {
    let rows = {
        let conn = ws.conn_unlocked()?;
        ledger::export(&conn, &query.export_filter(chrono::Utc::now())?).map_err(|e| UsageError::Db(e.to_string()))?
    };
    usage::write_export(path, &format.render(&rows, true))?;
    Ok(Exported { path: path.display().to_string(), rows: rows.len() as u32 })
}

/// What `keyhold usage` selects: an agent and local days, both ends included.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub agent: Option<String>,
    pub since: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
}

/// The ledger rows of a selection, read from the data dir's database directly: reading takes no
/// writer lock, so this works beside any Keyhold that holds it.
pub fn rows_in(dir: &DataDir, s: &Selection) -> Result<Vec<ExportRow>, WorkspaceError> {
    if let (Some(since), Some(until)) = (s.since, s.until) {
        if until < since {
            return Err(UsageError::EndBeforeStart { since: since.to_string(), until: until.to_string() }.into());
        }
    }
    let conn = crate::db::open(&dir.db_path())?;
    let filter = Filter {
        agent: s.agent.clone(),
        since: s.since.map(ledger::local_midnight_utc),
        // Inclusive: up to the end of that local day.
        until: s.until.and_then(|u| u.succ_opt()).map(ledger::local_midnight_utc),
        ..Default::default()
    };
    Ok(ledger::export(&conn, &filter).map_err(|e| UsageError::Db(e.to_string()))?)
}
