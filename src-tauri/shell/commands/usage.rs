//! The Usage page and its exports.

use keyhold_core::error::ErrorKind;
use keyhold_core::ledger;
use keyhold_core::usage::{self, UsageQuery, UsageView};

use crate::shell::error::{CommandError, Ws};

/// Everything the Usage page shows, from the ledger, in one call.
#[tauri::command]
#[specta::specta]
pub fn usage_view(ws: Ws<'_>, query: UsageQuery) -> Result<UsageView, CommandError> {
    let conn = ws.conn_unlocked()?;
    Ok(usage::view(&conn, &query, chrono::Utc::now())?)
}

/// Exports the filtered ledger (every column, never a key) to `path` as csv or json; returns
/// how many rows were written.
#[tauri::command]
#[specta::specta]
pub fn usage_export(ws: Ws<'_>, query: UsageQuery, path: String, format: String) -> Result<u32, CommandError> {
    let conn = ws.conn_unlocked()?;
    let rows = ledger::export(&conn, &query.export_filter(chrono::Utc::now())?)
        .map_err(|e| CommandError::new(ErrorKind::Database, e.to_string()))?;
    let text = match format.as_str() {
        "json" => serde_json::to_string_pretty(&rows).expect("rows serialize"),
        _ => ledger::to_csv(&rows),
    };
    usage::write_export(std::path::Path::new(&path), &text)?;
    Ok(rows.len() as u32)
}
