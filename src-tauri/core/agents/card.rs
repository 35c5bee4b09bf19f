//! An agent as the window's card and the CLI's listing show it: key names instead of ids, and
//! today's spend against the budget.

use rusqlite::Connection;
use serde::Serialize;
use specta::Type;

use super::{list, Agent, AgentError};
use crate::budget;
use crate::keys;
use crate::money::Money;

#[derive(Debug, Clone, Serialize, Type)]
pub struct AgentCard {
    pub agent: Agent,
    pub key_label: Option<String>,
    /// "label: model" per fallback step.
    pub fallback_labels: Vec<String>,
    pub spent_today_usd: Money,
    pub budget_usd: Option<Money>,
    /// Spend as a share of the budget, 0–100+; None without a budget.
    pub budget_percent: Option<u32>,
    pub budget_state: budget::BudgetState,
}

/// One card per agent, in the agents' order.
pub fn cards(conn: &Connection) -> Result<Vec<AgentCard>, AgentError> {
    let label = |id: &str| keys::find(conn, id).map(|k| k.label).unwrap_or_else(|_| "missing key".into());
    Ok(list(conn)?
        .into_iter()
        .map(|a| {
            let today = budget::today(conn, &a);
            AgentCard {
                key_label: a.key_id.as_deref().map(label),
                fallback_labels: a.fallback.iter().map(|s| format!("{}: {}", label(&s.key_id), s.model)).collect(),
                spent_today_usd: today.spent_usd,
                budget_usd: today.budget_usd,
                budget_percent: today.percent,
                budget_state: today.state,
                agent: a,
            }
        })
        .collect())
}
