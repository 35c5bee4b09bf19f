//! The Usage page and its exports.

use keyhold_core::app::usage::{self, ExportFormat, Exported};
use keyhold_core::error::ErrorKind;
use keyhold_core::usage::{UsageQuery, UsageView};

use crate::shell::error::{CommandError, Ws};
use crate::shell::state::SaveDialog;

/// Everything the Usage page shows, from the ledger, in one call.
#[tauri::command]
#[specta::specta]
pub fn usage_view(ws: Ws<'_>, query: UsageQuery) -> Result<UsageView, CommandError> {
    Ok(usage::view(&ws, &query)?)
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
    Ok(Some(usage::export(&ws, &query, format, &path)?))
}
