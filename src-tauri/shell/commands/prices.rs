//! Prices: the list, and the user's own per-model prices.

use keyhold_core::error::ErrorKind;
use keyhold_core::prices::{self, Price, PriceEntry};

use crate::shell::error::{CommandError, Ws};

#[tauri::command]
#[specta::specta]
pub fn prices_list(ws: Ws<'_>) -> Result<Vec<PriceEntry>, CommandError> {
    Ok(prices::list(&ws.conn())?)
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
    if model.trim().is_empty() {
        return Err(CommandError::new(ErrorKind::BadPrice, "Give the model's id."));
    }
    let price = Price::from_text(&input, &output, cache_read.as_deref(), cache_write.as_deref())?;
    Ok(ws.with_unlocked(|c, u| prices::set(c, u, model.trim(), price))?)
}

/// Removes the user's price for a model: the price file's applies again.
#[tauri::command]
#[specta::specta]
pub fn prices_remove(ws: Ws<'_>, model: String) -> Result<bool, CommandError> {
    Ok(ws.with_unlocked(|c, u| prices::remove(c, u, model.trim()))?)
}
