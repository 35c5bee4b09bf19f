//! Prices: the list, and the user's own per-model prices.

use keyhold_core::app;
use keyhold_core::prices::{Override, PriceEntry};

use crate::shell::error::{CommandError, Ws};

#[tauri::command]
#[specta::specta]
pub fn prices_list(ws: Ws<'_>) -> Result<Vec<PriceEntry>, CommandError> {
    Ok(app::prices::list(&ws)?)
}

/// Overrides a model's prices (USD per million tokens, as typed). Cache rates default to input.
#[tauri::command]
#[specta::specta]
pub fn prices_set(
    ws: Ws<'_>,
    model: String,
    input: String,
    output: String,
    cache_read: Option<String>,
    cache_write: Option<String>,
) -> Result<(), CommandError> {
    let price = Override::from_text(&input, &output, cache_read.as_deref(), cache_write.as_deref())?;
    Ok(app::prices::set(&ws, &model, price)?)
}

/// Removes the user's price for a model: the price file's applies again.
#[tauri::command]
#[specta::specta]
pub fn prices_remove(ws: Ws<'_>, model: String) -> Result<bool, CommandError> {
    Ok(app::prices::remove(&ws, &model)?)
}
