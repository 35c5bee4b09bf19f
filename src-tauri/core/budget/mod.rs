//! Daily budgets: what an agent spent today, what calls in flight have reserved, whether one
//! more call fits, and the 80 % / 100 % alerts. Everything is keyed by the agent's id, so a
//! renamed agent keeps its spend. The router, the window's views, the CLI and the tray all ask
//! here; nobody else adds up spend.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::Utc;
use rusqlite::Connection;
use serde::Serialize;
use specta::Type;
use tokio::sync::broadcast;

use crate::agents::Agent;
use crate::db;
use crate::ledger;
use crate::prices::{format_usd, Price, Tokens};

/// An agent crossed 80 % or 100 % of its daily budget.
#[derive(Debug, Clone, Serialize, Type)]
pub struct BudgetAlert {
    pub agent: String,
    pub percent: u32,
    pub spent_usd: String,
    pub budget_usd: String,
}

/// One more call would not fit: what is already spent today, and what calls in flight hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WouldExceed {
    pub spent: i64,
    pub reserved: i64,
}

/// Reservations in flight and the alert channel, one per workspace.
pub struct Budgets {
    /// Nano-dollars reserved by calls in flight, per agent id.
    reserved: Mutex<HashMap<String, i64>>,
    alerts: broadcast::Sender<BudgetAlert>,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets { reserved: Mutex::new(HashMap::new()), alerts: broadcast::channel(32).0 }
    }
}

/// A reservation of a call's worst case, released when dropped (after the attempt's ledger row
/// is written, so the spend is counted by then).
#[must_use = "the reservation is released when dropped"]
pub struct Reservation<'a> {
    budgets: &'a Budgets,
    agent_id: String,
    amount: i64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.budgets.release(&self.agent_id, self.amount);
    }
}

impl Budgets {
    /// Reserves `worst` nano-dollars of `agent`'s daily budget (`budget`). Checked and taken
    /// under one lock, so concurrent calls can never together spend past it.
    pub fn reserve<'a>(
        &'a self,
        conn: &Connection,
        agent: &Agent,
        budget: i64,
        worst: i64,
    ) -> Result<Reservation<'a>, WouldExceed> {
        let mut held = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        // A spend that cannot be read is taken as the whole budget: refuse rather than overspend.
        let spent = spent_today(conn, agent).unwrap_or(budget);
        let reserved = held.get(&agent.id).copied().unwrap_or(0);
        if spent.saturating_add(reserved).saturating_add(worst) > budget {
            return Err(WouldExceed { spent, reserved });
        }
        *held.entry(agent.id.clone()).or_insert(0) += worst;
        Ok(Reservation { budgets: self, agent_id: agent.id.clone(), amount: worst })
    }

    fn release(&self, agent_id: &str, amount: i64) {
        let mut held = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = held.get_mut(agent_id) {
            *r -= amount;
            if *r <= 0 {
                held.remove(agent_id);
            }
        }
    }

    /// What calls in flight hold of `agent`'s budget now.
    pub fn reserved(&self, agent: &Agent) -> i64 {
        self.reserved.lock().unwrap_or_else(|p| p.into_inner()).get(&agent.id).copied().unwrap_or(0)
    }

    /// After a ledger row: tells subscribers the first time today an agent passes 80 % and 100 %
    /// of its daily budget (remembered in the database, so once per day across restarts too).
    pub fn check_alerts(&self, conn: &Connection, agent: &Agent) {
        let Some(budget) = agent.budget_nano else { return };
        let spent = spent_today(conn, agent).unwrap_or(0);
        let day = Utc::now().with_timezone(&chrono::Local).format("%Y-%m-%d").to_string();
        for level in [80u32, 100] {
            if percent(spent, budget) < level {
                continue;
            }
            let key = format!("alert.{}.{day}.{level}", agent.id);
            if db::get_setting(conn, &key).ok().flatten().is_some() {
                continue;
            }
            let _ = db::set_setting(conn, &key, "sent");
            let _ = self.alerts.send(BudgetAlert {
                agent: agent.name.clone(),
                percent: level,
                spent_usd: format_usd(spent),
                budget_usd: format_usd(budget),
            });
        }
    }

    pub fn subscribe_alerts(&self) -> broadcast::Receiver<BudgetAlert> {
        self.alerts.subscribe()
    }
}

/// What `agent` has spent since the start of the user's local day (known costs only).
pub fn spent_today(conn: &Connection, agent: &Agent) -> rusqlite::Result<i64> {
    ledger::spent_today(conn, &agent.id, Utc::now())
}

/// Spent as a whole percentage of the budget, rounded down (0 for no budget).
pub fn percent(spent: i64, budget: i64) -> u32 {
    if budget <= 0 {
        return 0;
    }
    ((spent.max(0) as i128 * 100) / budget as i128).min(u32::MAX as i128) as u32
}

/// A call's worst case: every input token at the dearest input-side rate, and the full output
/// cap.
pub fn worst_case(price: &Price, input_estimate: i64, max_tokens: u32) -> i64 {
    let dearest_input = price.input.max(price.cache_write).max(price.cache_read);
    Price { input: dearest_input, ..*price }.cost(Tokens {
        input: input_estimate,
        output: max_tokens as i64,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_rounds_down_and_survives_odd_budgets() {
        assert_eq!(percent(799, 1000), 79);
        assert_eq!(percent(2820, 1000), 282);
        assert_eq!(percent(5, 0), 0);
        assert_eq!(percent(i64::MAX, 1), u32::MAX);
    }
}
