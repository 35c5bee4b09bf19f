//! Model prices: the price file's, and the user's own (signed).

use crate::prices::{self, Override, PriceEntry};
use crate::workspace::{Workspace, WorkspaceError};

/// Every known price: the user's overrides, then the price file.
pub fn list(ws: &Workspace) -> Result<Vec<PriceEntry>, WorkspaceError> {
    Ok(prices::list(&ws.conn())?)
}

pub fn set(ws: &Workspace, model: &str, price: Override) -> Result<(), WorkspaceError> {
    if model.trim().is_empty() {
        return Err(prices::PriceError::NoModel.into());
    }
    ws.with_unlocked(|c, u| prices::set(c, u, model.trim(), price))
}

/// Removes the user's own price; false when there was none.
pub fn remove(ws: &Workspace, model: &str) -> Result<bool, WorkspaceError> {
    ws.with_unlocked(|c, u| prices::remove(c, u, model.trim()))
}
