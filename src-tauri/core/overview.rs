//! The Overview page in one read: today's and this month's spend, each agent's state and day
//! against its budget, each key with how its last real call went, and the agents that depend
//! on a key that is failing. All from the local ledger; nothing is asked of a provider.

use chrono::{DateTime, Datelike, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use specta::Type;

use crate::activity::AgentState;
use crate::agents;
use crate::budget::{self, Today};
use crate::keys;
use crate::money::Money;

/// How many of the newest ledger rows are looked at for a key's last call: bounded, so a key
/// not used for months costs nothing to look up in a big ledger.
const RECENT_CALLS: i64 = 5_000;

#[derive(Debug, Clone, Serialize, Type)]
pub struct Overview {
    pub today_usd: Money,
    pub month_usd: Money,
    pub month_requests: u32,
    pub month_failures: u32,
    /// The sum of the agents' daily budgets (agents without one are not in it).
    pub daily_budgets_usd: Option<Money>,
    pub agents: Vec<AgentLine>,
    pub keys: Vec<KeyLine>,
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct AgentLine {
    pub id: String,
    pub name: String,
    pub state: AgentState,
    pub today: Today,
    /// Labels of the keys in its chain whose last call was refused (401/403) or that are
    /// deactivated.
    pub failing_keys: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct KeyLine {
    pub id: String,
    pub label: String,
    pub provider: String,
    /// The outcome of the newest call on this key among the recent ones (`ok`, `http_401`, …).
    pub last_call: Option<String>,
    pub last_call_at: Option<String>,
    /// The provider refused the key on its last call (401 or 403).
    pub refused_in_use: bool,
    /// Agents whose chain uses this key.
    pub used_by: Vec<String>,
}

fn refused(outcome: &str) -> bool {
    matches!(outcome, "http_401" | "http_403")
}

pub fn build(
    conn: &Connection,
    states: &[(String, AgentState)],
    now: DateTime<Utc>,
) -> Result<Overview, rusqlite::Error> {
    let all_agents = agents::list(conn).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
    let all_keys = keys::list(conn).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
    let newest: i64 = conn.query_row("SELECT COALESCE(MAX(id), 0) FROM ledger", [], |r| r.get(0))?;
    let mut last = conn.prepare_cached(
        "SELECT outcome, at FROM ledger WHERE key_id = ?1 AND id > ?2 AND outcome NOT IN ('budget', 'price_unknown',
            'tools_unsupported', 'blocked', 'key_missing') ORDER BY id DESC LIMIT 1",
    )?;
    // Each agent's keys, its own step's included when it runs on its provider's default key.
    let chains: Vec<Vec<String>> = all_agents
        .iter()
        .map(|a| {
            let own = match &a.key_id {
                Some(id) => Some(id.clone()),
                None => agents::provider_for_model(conn, &a.model)
                    .ok()
                    .flatten()
                    .and_then(|p| all_keys.iter().find(|k| k.provider == p && k.is_default).map(|k| k.id.clone())),
            };
            own.into_iter().chain(a.fallback.iter().map(|s| s.key_id.clone())).collect()
        })
        .collect();
    let mut key_lines = Vec::new();
    for k in &all_keys {
        let found: Option<(String, String)> =
            last.query_row(params![k.id, newest - RECENT_CALLS], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
        let used_by = all_agents
            .iter()
            .zip(&chains)
            .filter(|(_, chain)| chain.contains(&k.id))
            .map(|(a, _)| a.name.clone())
            .collect();
        key_lines.push(KeyLine {
            id: k.id.clone(),
            label: k.label.clone(),
            provider: k.provider.clone(),
            refused_in_use: found.as_ref().is_some_and(|(o, _)| refused(o)),
            last_call: found.as_ref().map(|(o, _)| o.clone()),
            last_call_at: found.map(|(_, at)| at),
            used_by,
        });
    }
    let mut agent_lines = Vec::new();
    let mut today_usd = Money::ZERO;
    let mut budgets: Option<Money> = None;
    for (a, chain) in all_agents.iter().zip(&chains) {
        let today = budget::today(conn, a);
        today_usd = today_usd + today.spent_usd;
        if let Some(b) = a.budget {
            budgets = Some(budgets.unwrap_or_default() + b);
        }
        let failing_keys = all_keys
            .iter()
            .filter(|k| chain.contains(&k.id))
            .filter(|k| !k.active || key_lines.iter().any(|l| l.id == k.id && l.refused_in_use))
            .map(|k| k.label.clone())
            .collect();
        let state = states.iter().find(|(n, _)| *n == a.name).map_or(AgentState::Idle, |(_, s)| *s);
        agent_lines.push(AgentLine { id: a.id.clone(), name: a.name.clone(), state, today, failing_keys });
    }
    crate::usage::daily::ensure(conn).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.to_string().into()))?;
    let local = now.with_timezone(&chrono::Local).date_naive();
    let first = local.with_day(1).unwrap_or(local).to_string();
    let (month_usd, month_requests, month_failures) = conn.query_row(
        "SELECT COALESCE(SUM(cost_nano), 0), COALESCE(SUM(requests), 0), COALESCE(SUM(failures), 0)
         FROM ledger_daily WHERE day >= ?1",
        [first],
        |r| Ok((r.get::<_, Money>(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok(Overview {
        today_usd,
        month_usd,
        month_requests,
        month_failures,
        daily_budgets_usd: budgets,
        agents: agent_lines,
        keys: key_lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Reach;
    use crate::ledger::{self, Attempt, Mode, Outcome};

    #[test]
    fn a_key_refused_on_its_last_call_is_flagged_on_the_agents_that_use_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::open(&dir.path().join("k.db")).unwrap();
        let u = crate::integrity::for_tests();
        let secret = zeroize::Zeroizing::new("sk-test-000000000000000000000001".to_string());
        keys::add(&conn, &u, "openai", "Work", None, Some(secret), Reach::default()).unwrap();
        let k = keys::find(&conn, "Work").unwrap();
        let spec = agents::AgentSpec {
            name: "writer".into(),
            model: "gpt-4o-mini".into(),
            key: Some("Work".into()),
            ..Default::default()
        };
        let a = agents::add(&mut conn, &u, &spec).unwrap().agent;
        // An agent on its provider's default key depends on that key too.
        let on_default = agents::AgentSpec { name: "reader".into(), model: "gpt-4o-mini".into(), ..Default::default() };
        agents::add(&mut conn, &u, &on_default).unwrap();
        let row = |outcome, cost| Attempt {
            at: Utc::now(),
            agent_id: a.id.clone(),
            agent: a.name.clone(),
            key_id: Some(k.id.clone()),
            key_label: Some(k.label.clone()),
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            mode: Mode::Agent,
            step: 0,
            outcome,
            tokens: Default::default(),
            cost: Some(Money::from_nanos(cost)),
            estimated: false,
            latency_ms: 1,
            ttft_ms: None,
            local: false,
            redacted: String::new(),
        };
        ledger::record(&conn, &row(Outcome::Ok, 1_500_000)).unwrap();
        let o = build(&conn, &[], Utc::now()).unwrap();
        assert!(!o.keys[0].refused_in_use && o.agents[1].failing_keys.is_empty());
        assert_eq!(o.keys[0].used_by, vec!["reader".to_string(), "writer".to_string()]);
        assert_eq!(o.month_usd, Money::from_nanos(1_500_000));
        ledger::record(&conn, &row(Outcome::Http(401), 0)).unwrap();
        let o = build(&conn, &[("writer".into(), AgentState::Working)], Utc::now()).unwrap();
        assert!(o.keys[0].refused_in_use);
        assert_eq!(o.keys[0].last_call.as_deref(), Some("http_401"));
        assert_eq!(o.agents[1].failing_keys, vec!["Work".to_string()]);
        assert_eq!(o.agents[0].failing_keys, vec!["Work".to_string()], "the default key's agent too");
        assert_eq!(o.agents[1].state, AgentState::Working);
        assert_eq!((o.month_requests, o.month_failures), (2, 1));
    }
}
