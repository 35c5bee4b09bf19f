//! The Overview page in one read: today's and this month's spend, each agent's state and day
//! against its budget, each key with how its last real call went, and the agents that depend
//! on a key that is failing. All from the local ledger; nothing is asked of a provider.

use chrono::{DateTime, Datelike, Timelike, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use specta::Type;

use crate::activity::AgentState;
use crate::agents;
use crate::budget::{self, Today};
use crate::keys::{self, KeyHealth, KeySummary};
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
    /// What needs the user, in words, most urgent first.
    pub attention: Vec<String>,
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
    /// The provider refused the key on its last call (401 or 403), and it was neither replaced
    /// nor tested valid since.
    pub refused_in_use: bool,
    /// The key's health with its last call counted: what its card, its agents and the Overview
    /// show.
    pub health: KeyHealth,
    /// Agents whose chain uses this key.
    pub used_by: Vec<String>,
}

fn refused(outcome: &str) -> bool {
    matches!(outcome, "http_401" | "http_403")
}

/// A refusal on a call counts until the key is replaced or passes a test after it.
fn refusal_stands(k: &KeySummary, call_at: &str) -> bool {
    let time = |t: &str| DateTime::parse_from_rfc3339(t).ok().map(|t| t.with_timezone(&Utc));
    let Some(call) = time(call_at) else { return true };
    let replaced = k.rotated_at.as_deref().and_then(time);
    let passed = if k.health == KeyHealth::Working { k.last_tested_at.as_deref().and_then(time) } else { None };
    // Stored to the second: a call in the same second as the fix is taken as before it.
    let newer = |t: Option<DateTime<Utc>>| t.is_some_and(|t| t >= call.with_nanosecond(0).unwrap_or(call));
    !newer(replaced) && !newer(passed)
}

/// `ollama_running`: whether the user's Ollama answered when last looked at (`None`: not known).
pub fn build(
    conn: &Connection,
    states: &[(String, AgentState)],
    ollama_running: Option<bool>,
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
        let refused_in_use = k.active && found.as_ref().is_some_and(|(o, at)| refused(o) && refusal_stands(k, at));
        key_lines.push(KeyLine {
            id: k.id.clone(),
            label: k.label.clone(),
            provider: k.provider.clone(),
            refused_in_use,
            health: if refused_in_use { KeyHealth::RefusedInUse } else { k.health },
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
    let attention = attention(&key_lines, &agent_lines, ollama_running);
    Ok(Overview {
        today_usd,
        month_usd,
        month_requests,
        month_failures,
        daily_budgets_usd: budgets,
        agents: agent_lines,
        keys: key_lines,
        attention,
    })
}

/// What needs the user, most urgent first: keys refused in use, keys that failed their test,
/// agents near or over budget, and no local model to fall back on.
fn attention(keys: &[KeyLine], agents: &[AgentLine], ollama_running: Option<bool>) -> Vec<String> {
    let mut out = Vec::new();
    for k in keys.iter().filter(|k| k.health == KeyHealth::RefusedInUse) {
        let who = match k.used_by.len() {
            0 => String::new(),
            1 => format!(": {} depends on it", k.used_by[0]),
            _ => format!(": {} depend on it", k.used_by.join(", ")),
        };
        out.push(format!(
            "The provider refused the key {} on its last call{who}. Replace it on the Keys page.",
            k.label
        ));
    }
    for k in keys {
        match k.health {
            KeyHealth::Rejected => out.push(format!("The key {} was rejected when tested.", k.label)),
            KeyHealth::Unreachable => {
                out.push(format!("The provider of {} was unreachable when last tested.", k.label))
            }
            _ => {}
        }
    }
    for a in agents {
        let (Some(budget), Some(p)) = (a.today.budget_usd, a.today.percent) else { continue };
        let state = match a.today.state {
            budget::BudgetState::Over => format!("over budget ({p} %)"),
            budget::BudgetState::Near => format!("near the budget ({p} %)"),
            budget::BudgetState::Within | budget::BudgetState::NoBudget => continue,
        };
        out.push(format!("{} is {state}: {} of {} today.", a.name, a.today.spent_usd.shown(), budget.shown()));
    }
    if ollama_running == Some(false) && !agents.is_empty() {
        out.push("No local Ollama answers: agents cannot fall back to a local model.".into());
    }
    out
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
            tools: Default::default(),
        };
        ledger::record(&conn, &row(Outcome::Ok, 1_500_000)).unwrap();
        let o = build(&conn, &[], None, Utc::now()).unwrap();
        assert!(!o.keys[0].refused_in_use && o.agents[1].failing_keys.is_empty());
        assert_eq!(o.keys[0].used_by, vec!["reader".to_string(), "writer".to_string()]);
        assert_eq!(o.month_usd, Money::from_nanos(1_500_000));
        ledger::record(&conn, &row(Outcome::Http(401), 0)).unwrap();
        let o = build(&conn, &[("writer".into(), AgentState::Working)], Some(false), Utc::now()).unwrap();
        assert!(o.keys[0].refused_in_use);
        assert_eq!(o.keys[0].health, KeyHealth::RefusedInUse);
        assert_eq!(
            o.attention,
            vec![
                "The provider refused the key Work on its last call: reader, writer depend on it. Replace it on the Keys page."
                    .to_string(),
                "No local Ollama answers: agents cannot fall back to a local model.".to_string(),
            ]
        );
        assert_eq!(o.keys[0].last_call.as_deref(), Some("http_401"));
        assert_eq!(o.agents[1].failing_keys, vec!["Work".to_string()]);
        assert_eq!(o.agents[0].failing_keys, vec!["Work".to_string()], "the default key's agent too");
        assert_eq!(o.agents[1].state, AgentState::Working);
        assert_eq!((o.month_requests, o.month_failures), (2, 1));

        // The user replaces the key: the refusal was the old key's, and is history.
        let fresh = zeroize::Zeroizing::new("sk-test-000000000000000000000002".to_string());
        keys::rotate(&conn, &u, "Work", fresh).unwrap();
        let o = build(&conn, &[], Some(true), Utc::now()).unwrap();
        assert!(!o.keys[0].refused_in_use, "a replaced key is not refused on the old key's call");
        assert_eq!(o.keys[0].health, KeyHealth::NotTested);
        assert!(o.agents.iter().all(|a| a.failing_keys.is_empty()));
        assert!(o.attention.is_empty(), "{:?}", o.attention);
        let valid = crate::providers::probe::Verdict::Valid { models: vec!["gpt-4o-mini".into()] };
        keys::record_test(&conn, Some(&u), &k.id, &valid, "Valid").unwrap();
        assert_eq!(build(&conn, &[], None, Utc::now()).unwrap().keys[0].health, KeyHealth::Working);
    }

    #[test]
    fn a_key_that_passes_its_test_after_a_refusal_is_healthy_again_and_a_new_refusal_counts() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::open(&dir.path().join("k.db")).unwrap();
        let u = crate::integrity::for_tests();
        let secret = zeroize::Zeroizing::new("sk-test-000000000000000000000001".to_string());
        keys::add(&conn, &u, "openai", "Work", None, Some(secret), Reach::default()).unwrap();
        let k = keys::find(&conn, "Work").unwrap();
        let spec = agents::AgentSpec {
            name: "w".into(),
            model: "gpt-4o-mini".into(),
            key: Some("Work".into()),
            ..Default::default()
        };
        let a = agents::add(&mut conn, &u, &spec).unwrap().agent;
        let refused_at = |at: DateTime<Utc>| Attempt {
            at,
            agent_id: a.id.clone(),
            agent: a.name.clone(),
            key_id: Some(k.id.clone()),
            key_label: Some(k.label.clone()),
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            mode: Mode::Agent,
            step: 0,
            outcome: Outcome::Http(401),
            tokens: Default::default(),
            cost: None,
            estimated: false,
            latency_ms: 1,
            ttft_ms: None,
            local: false,
            redacted: String::new(),
            tools: Default::default(),
        };
        ledger::record(&conn, &refused_at(Utc::now() - chrono::Duration::seconds(30))).unwrap();
        let valid = crate::providers::probe::Verdict::Valid { models: vec![] };
        keys::record_test(&conn, Some(&u), &k.id, &valid, "Valid").unwrap();
        let o = build(&conn, &[], None, Utc::now()).unwrap();
        assert_eq!(o.keys[0].health, KeyHealth::Working, "tested valid after the refusal");
        ledger::record(&conn, &refused_at(Utc::now() + chrono::Duration::seconds(5))).unwrap();
        let o = build(&conn, &[], None, Utc::now()).unwrap();
        assert_eq!(o.keys[0].health, KeyHealth::RefusedInUse, "refused again after the test");
    }

    #[test]
    fn an_agent_near_or_over_its_budget_is_named_with_what_it_spent() {
        let line = |name: &str, spent: i64, percent| AgentLine {
            id: name.into(),
            name: name.into(),
            state: AgentState::Idle,
            today: Today {
                spent_usd: Money::from_nanos(spent),
                budget_usd: Some(Money::from_nanos(5_000_000_000)),
                percent: Some(percent),
                state: budget::BudgetState::of(Some(percent)),
            },
            failing_keys: vec![],
        };
        let said = attention(
            &[],
            &[line("a", 1_000_000_000, 20), line("b", 4_100_000_000, 82), line("c", 14_100_000_000, 282)],
            None,
        );
        assert_eq!(
            said,
            vec![
                "b is near the budget (82 %): $4.10 of $5.00 today.",
                "c is over budget (282 %): $14.10 of $5.00 today."
            ]
        );
    }
}
