//! What each agent is doing now, for the tray: calls in flight, whether the last answer came
//! from a fallback, and a tick whenever that (or offline mode) changes. Keyed by agent id.

use std::collections::HashMap;
use std::sync::Mutex;

use rusqlite::Connection;
use serde::Serialize;
use specta::Type;
use tokio::sync::watch;

use crate::agents;
use crate::budget;
use crate::money::Money;

/// What the tray shows for an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    Idle,
    Working,
    OnFallback,
    OverBudget,
    Offline,
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct AgentStatus {
    pub name: String,
    pub state: AgentState,
    pub spent_today_usd: Money,
}

#[derive(Debug, Clone, Copy, Default)]
struct Calls {
    in_flight: u32,
    last_on_fallback: bool,
}

pub struct Activity {
    calls: Mutex<HashMap<String, Calls>>,
    rev: watch::Sender<u64>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity { calls: Mutex::new(HashMap::new()), rev: watch::Sender::new(0) }
    }
}

impl Activity {
    /// The agent is working until the guard is dropped: a call that ends any way at all (an
    /// answer, an error, a caller that went away, a task dropped mid-stream) leaves it idle.
    pub fn working<'a>(&'a self, agent_id: &str) -> Working<'a> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).entry(agent_id.into()).or_default().in_flight += 1;
        self.changed();
        Working { activity: self, agent_id: agent_id.to_string(), on_fallback: false }
    }

    fn call_finished(&self, agent_id: &str, on_fallback: bool) {
        if let Some(c) = self.calls.lock().unwrap_or_else(|p| p.into_inner()).get_mut(agent_id) {
            c.in_flight = c.in_flight.saturating_sub(1);
            c.last_on_fallback = on_fallback;
        }
        self.changed();
    }

    /// Something the tray shows changed (an agent's calls, offline mode).
    pub fn changed(&self) {
        self.rev.send_modify(|r| *r += 1);
    }

    /// Ticks when an agent's state may have changed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.rev.subscribe()
    }

    /// Every agent's state and today's spend.
    pub fn statuses(&self, conn: &Connection, offline: bool) -> Vec<AgentStatus> {
        let Ok(list) = agents::list(conn) else { return Vec::new() };
        let calls = self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone();
        list.into_iter()
            .map(|a| {
                let spent = budget::spent_today(conn, &a).unwrap_or_default();
                let c = calls.get(&a.id).copied().unwrap_or_default();
                let state = if offline {
                    AgentState::Offline
                } else if c.in_flight > 0 {
                    AgentState::Working
                } else if a.budget.is_some_and(|b| spent >= b) {
                    AgentState::OverBudget
                } else if c.last_on_fallback {
                    AgentState::OnFallback
                } else {
                    AgentState::Idle
                };
                AgentStatus { name: a.name, state, spent_today_usd: spent }
            })
            .collect()
    }
}

/// One call in flight for an agent (see [`Activity::working`]).
pub struct Working<'a> {
    activity: &'a Activity,
    agent_id: String,
    on_fallback: bool,
}

impl Working<'_> {
    /// The answer came from a fallback step: the tray says so until the next call.
    pub fn answered_on_fallback(&mut self, yes: bool) {
        self.on_fallback = yes;
    }
}

impl Drop for Working<'_> {
    fn drop(&mut self) {
        self.activity.call_finished(&self.agent_id, self.on_fallback);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::{AgentSpec, WhenOver};

    #[test]
    fn an_agent_is_working_while_a_call_runs_then_on_fallback_and_offline_wins() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::open(&dir.path().join("k.db")).unwrap();
        let spec = AgentSpec {
            name: "Writer".into(),
            model: "gpt-4o-mini".into(),
            when_over: Some(WhenOver::Local),
            ..Default::default()
        };
        let a = agents::add(&mut conn, &crate::integrity::for_tests(), &spec).unwrap().agent;
        let activity = Activity::default();
        let ticks = activity.subscribe();
        let state = |offline| activity.statuses(&conn, offline)[0].state;
        assert_eq!(state(false), AgentState::Idle);
        let mut working = activity.working(&a.id);
        assert!(ticks.has_changed().unwrap());
        assert_eq!(state(false), AgentState::Working);
        working.answered_on_fallback(true);
        drop(working);
        assert_eq!(state(false), AgentState::OnFallback);
        // A call whose future is dropped half-way (a task cancelled mid-stream) leaves no
        // "working" behind.
        let dropped = activity.working(&a.id);
        assert_eq!(state(false), AgentState::Working);
        drop(dropped);
        assert_eq!(state(false), AgentState::Idle);
        assert_eq!(state(true), AgentState::Offline);
    }
}
