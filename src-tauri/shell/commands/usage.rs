//! The Usage page and its exports.

use serde::{Deserialize, Serialize};
use specta::Type;

use keyhold_core::error::ErrorKind;
use keyhold_core::ledger;
use keyhold_core::usage::{self, UsageQuery, UsageView};

use crate::shell::error::{CommandError, Ws};
use crate::shell::state::SaveDialog;

/// Everything the Usage page shows, from the ledger, in one call.
#[tauri::command]
#[specta::specta]
pub fn usage_view(ws: Ws<'_>, query: UsageQuery) -> Result<UsageView, CommandError> {
    let conn = ws.conn_unlocked()?;
    Ok(usage::view(&conn, &query, chrono::Utc::now())?)
}

#[derive(Debug, Clone, Copy, Deserialize, Type)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Json,
}

impl ExportFormat {
    fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
        }
    }
}

/// A finished export: where it went (the place the user chose), and how many rows.
#[derive(Debug, Clone, Serialize, Type)]
pub struct Exported {
    pub path: String,
    pub rows: u32,
}

/// Exports the filtered ledger (every column, never a key) as csv or json, to the place the user
/// picks in the save dialog this command opens. The window never names a path: a page that
/// could would be able to write anywhere the user can. `None`: the user cancelled.
#[tauri::command]
#[specta::specta]
pub async fn usage_export(
    ws: Ws<'_>,
    dialog: tauri::State<'_, SaveDialog>,
    query: UsageQuery,
    format: ExportFormat,
) -> Result<Option<Exported>, CommandError> {
    let ask = dialog.inner().clone();
    let ext = format.extension();
    let chosen = tauri::async_runtime::spawn_blocking(move || (ask.0)(ext))
        .await
        .map_err(|e| CommandError::new(ErrorKind::Internal, format!("The save dialog failed: {e}")))?;
    let Some(path) = chosen else { return Ok(None) };
    let rows = {
        let conn = ws.conn_unlocked()?;
        ledger::export(&conn, &query.export_filter(chrono::Utc::now())?)
            .map_err(|e| CommandError::new(ErrorKind::Database, e.to_string()))?
    };
    let text = match format {
        ExportFormat::Json => serde_json::to_string_pretty(&rows).expect("rows serialize"),
        ExportFormat::Csv => ledger::to_csv(&rows),
    };
    usage::write_export(&path, &text)?;
    Ok(Some(Exported { path: path.display().to_string(), rows: rows.len() as u32 }))
}
