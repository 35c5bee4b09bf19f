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
use crate::money::Money;
use crate::prices::{Price, Tokens};

/// An agent crossed 80 % or 100 % of its daily budget.
#[derive(Debug, Clone, Serialize, Type)]
pub struct BudgetAlert {
    pub agent: String,
    pub percent: u32,
    pub spent_usd: Money,
    pub budget_usd: Money,
}

/// One more call would not fit: what is already spent today, and what calls in flight hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WouldExceed {
    pub spent: Money,
    pub reserved: Money,
}

/// Why a budget step was not reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Over(WouldExceed),
    /// The usage ledger was changed outside Keyhold and the user has not acknowledged it: what
    /// was found, one line each.
    LedgerChanged(Vec<String>),
}

impl Refused {
    /// The sentence a refused step's failure carries.
    pub fn detail(&self, budget: Money) -> String {
        match self {
            Refused::Over(over) => {
                format!("the daily budget would be exceeded ({} of {} spent)", over.spent.shown(), budget.shown())
            }
            Refused::LedgerChanged(lines) => format!(
                "the usage ledger was changed outside Keyhold ({}), so the daily budget cannot be held: paid steps are \
                 refused until you acknowledge it in the window or with `keyhold vault check --accept`",
                lines.first().map(String::as_str).unwrap_or("a row does not verify")
            ),
        }
    }
}

/// Reservations in flight and the alert channel, one per workspace.
pub struct Budgets {
    /// What calls in flight have reserved, per agent id.
    reserved: Mutex<HashMap<String, Money>>,
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
    amount: Money,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.budgets.release(&self.agent_id, self.amount);
    }
}

impl Budgets {
    /// Reserves `worst` of `agent`'s daily budget (`budget`). Checked and taken
    /// under one lock, so concurrent calls can never together spend past it. While the usage
    /// ledger stands changed outside Keyhold (`ledger::chain`), nothing is reserved: the spend
    /// cannot be trusted, so the budget fails closed.
    pub fn reserve<'a>(
        &'a self,
        conn: &Connection,
        agent: &Agent,
        budget: Money,
        worst: Money,
        ledger: &ledger::Writer,
    ) -> Result<Reservation<'a>, Refused> {
        let mut held = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        let now = Utc::now();
        // A spend that cannot be read is taken as the whole budget: refuse rather than overspend.
        let in_database = ledger::spent_today(conn, &agent.id, now).unwrap_or(budget);
        // A database that says less than this Keyhold wrote today was changed.
        let written = ledger.written_today(&agent.id, now);
        if in_database < written {
            ledger.note([ledger::chain::Break::Shrunk { agent: agent.name.clone(), in_database, written }]);
        }
        let breaks = ledger.breaks();
        if !breaks.is_empty() {
            return Err(Refused::LedgerChanged(breaks.iter().map(ToString::to_string).collect()));
        }
        // Rows whose commit failed are spent too, until they land.
        let spent = in_database.max(written) + ledger.unlanded_cost(&agent.id);
        let reserved = held.get(&agent.id).copied().unwrap_or_default();
        if spent + reserved + worst > budget {
            return Err(Refused::Over(WouldExceed { spent, reserved }));
        }
        let entry = held.entry(agent.id.clone()).or_default();
        *entry = *entry + worst;
        Ok(Reservation { budgets: self, agent_id: agent.id.clone(), amount: worst })
    }

    fn release(&self, agent_id: &str, amount: Money) {
        let mut held = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = held.get_mut(agent_id) {
            *r = r.saturating_sub(amount);
            if *r <= Money::ZERO {
                held.remove(agent_id);
            }
        }
    }

    /// What calls in flight hold of `agent`'s budget now.
    pub fn reserved(&self, agent: &Agent) -> Money {
        self.reserved.lock().unwrap_or_else(|p| p.into_inner()).get(&agent.id).copied().unwrap_or_default()
    }

    /// After a ledger row: tells subscribers the first time today an agent passes 80 % and 100 %
    /// of its daily budget (remembered in the database, so once per day across restarts too).
    pub fn check_alerts(&self, conn: &Connection, agent: &Agent) {
        let Some(budget) = agent.budget else { return };
        let spent = spent_today(conn, agent).unwrap_or_default();
        let day = Utc::now().with_timezone(&chrono::Local).format("%Y-%m-%d").to_string();
        for level in [NEAR_PERCENT, 100] {
            if spent.percent_of(budget) < level {
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
                spent_usd: spent,
                budget_usd: budget,
            });
        }
    }

    pub fn subscribe_alerts(&self) -> broadcast::Receiver<BudgetAlert> {
        self.alerts.subscribe()
    }
}

/// The share of a daily budget from which an agent is "near" it (and alerted, once a day).
pub const NEAR_PERCENT: u32 = 80;

/// Where an agent's day stands against its budget: one rule for the window, the CLI and the
/// alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum BudgetState {
    NoBudget,
    Within,
    /// At or past [`NEAR_PERCENT`].
    Near,
    /// At or past 100 %.
    Over,
}

impl BudgetState {
    pub fn of(percent: Option<u32>) -> BudgetState {
        match percent {
            None => BudgetState::NoBudget,
            Some(p) if p >= 100 => BudgetState::Over,
            Some(p) if p >= NEAR_PERCENT => BudgetState::Near,
            Some(_) => BudgetState::Within,
        }
    }
}

/// An agent's day against its budget, as the window, the CLI and the tray show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Type)]
pub struct Today {
    pub spent_usd: Money,
    pub budget_usd: Option<Money>,
    /// Spent as a whole percentage of the budget (past 100 when over).
    pub percent: Option<u32>,
    pub state: BudgetState,
}

/// `agent`'s day so far.
pub fn today(conn: &Connection, agent: &Agent) -> Today {
    let spent = spent_today(conn, agent).unwrap_or_default();
    let percent = agent.budget.map(|b| spent.percent_of(b));
    Today { spent_usd: spent, budget_usd: agent.budget, percent, state: BudgetState::of(percent) }
}

/// What `agent` has spent since the start of the user's local day (known costs only).
pub fn spent_today(conn: &Connection, agent: &Agent) -> rusqlite::Result<Money> {
    ledger::spent_today(conn, &agent.id, Utc::now())
}

/// A call's worst case: every input token at the dearest input-side rate, and the full output
/// cap.
pub fn worst_case(price: &Price, input_estimate: i64, max_tokens: u32) -> Money {
    let dearest_input = price.input.max(price.cache_write).max(price.cache_read);
    Price { input: dearest_input, ..*price }.cost(Tokens {
        input: input_estimate,
        output: max_tokens as i64,
        ..Default::default()
    })
}
