//! Embeddings (`POST /v1/embeddings`, OpenAI's shape) for the agent the token runs as: sent
//! with the key of the first step of its chain that can embed (an OpenAI-compatible provider,
//! or Ollama through `/api/embed`), with the model the caller names. Like a call: the agent's
//! privacy policy applies to every input text before a cloud step (its placeholders are then
//! what is embedded), the budget holds the worst case (input tokens at the model's input
//! price), and the attempt is one ledger row.

use serde_json::{json, Value};

use super::{checked_plan, RouterError, StepFailure};
use crate::agents::Agent;
use crate::keys;
use crate::ledger::{Attempt, Mode, Outcome};
use crate::prices::{self, Tokens};
use crate::privacy::{dictionary, Policy, Redactor, Rules};
use crate::providers::stream::{http_failure, shared_client};
use crate::providers::{upstream, Protocol};
use crate::workspace::{Workspace, WorkspaceError};

/// The texts of an `input`: a string or a list of strings (token-id lists carry no text).
fn texts_mut(input: &mut Value) -> Vec<&mut String> {
    match input {
        Value::String(s) => vec![s],
        Value::Array(a) => a
            .iter_mut()
            .filter_map(|v| match v {
                Value::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

pub async fn embed(ws: &Workspace, agent: &Agent, mut body: Value) -> Result<Value, RouterError> {
    let started = std::time::Instant::now();
    let model = body.get("model").and_then(Value::as_str).unwrap_or("").to_string();
    ws.check_configuration()?;
    let (steps, overrides) = ws.read_unlocked(|c, u| -> Result<_, WorkspaceError> {
        Ok((checked_plan(c, u, agent)?, prices::Overrides::load(c, u)?))
    })?;
    let offline = ws.offline();
    let step = steps
        .into_iter()
        .find(|s| {
            s.key.as_ref().is_some_and(|k| k.active)
                && (!offline || s.local)
                && crate::providers::find(&s.provider)
                    .is_some_and(|p| matches!(p.protocol, Protocol::OpenAiChat | Protocol::Ollama))
        })
        .ok_or_else(|| RouterError::AllFailed {
            agent: agent.name.clone(),
            summary: "no step of its chain can embed (an OpenAI-compatible provider or Ollama, active, and local when offline mode is on)".into(),
            failures: Vec::new(),
        })?;
    let key = step.key.clone().expect("found with a key");
    let endpoint = ws.read_unlocked(|c, u| keys::endpoint(c, u, &key.id))?;
    let provider = endpoint.provider;
    // What leaves the machine: the input with the agent's policy applied.
    let mut counts = crate::privacy::Counts::default();
    if !step.local && agent.privacy != Policy::Off {
        let (dict, region) =
            ws.with_unlocked(|c, u| dictionary::for_policy(c, u, agent.privacy)).map_err(RouterError::from)?;
        let mut r = Redactor::new(Rules::builtin(), agent.privacy, &dict).in_region(region);
        for (i, s) in body.get_mut("input").map(texts_mut).unwrap_or_default().into_iter().enumerate() {
            *s = r.redact(s, &format!("input {}", i + 1));
        }
        if agent.privacy == Policy::Block && !r.counts().is_empty() {
            return Err(RouterError::Blocked {
                agent: agent.name.clone(),
                detail: format!("the input holds {}", r.counts().sentence()),
                failures: Vec::new(),
            });
        }
        counts = r.counts().clone();
    }
    let text: String = body.get_mut("input").map(texts_mut).unwrap_or_default().iter().map(|s| s.as_str()).collect();
    let estimate = upstream::estimate_tokens(Protocol::OpenAiChat, &text).max(1);
    let price = overrides.price(&provider.id, &model, step.local);
    // The budget holds the worst case before anything is sent.
    let _reservation = match agent.budget {
        None => None,
        Some(budget) => {
            let Some(p) = price else {
                return Err(RouterError::AllFailed {
                    agent: agent.name.clone(),
                    summary: format!("no price is known for {model}, so its daily budget cannot be held: set one with `keyhold prices set`"),
                    failures: Vec::new(),
                });
            };
            let worst = p.cost(Tokens { input: estimate * 2, ..Default::default() });
            match ws.budgets().reserve(&ws.conn(), agent, budget, worst, ws.ledger()) {
                Ok(r) => Some(r),
                Err(crate::budget::Refused::Over(over)) => {
                    return Err(RouterError::budget_reached(agent, budget, over, Vec::<StepFailure>::new()))
                }
                Err(refused) => {
                    return Err(RouterError::LedgerChanged {
                        agent: agent.name.clone(),
                        detail: refused.detail(budget),
                        failures: Vec::new(),
                    })
                }
            }
        }
    };
    let secret = endpoint.secret.as_deref().map(String::as_str);
    let client = shared_client(super::CONNECT_TIMEOUT).map_err(|f| RouterError::AllFailed {
        agent: agent.name.clone(),
        summary: f.detail,
        failures: Vec::new(),
    })?;
    let base = endpoint.base_url.trim_end_matches('/');
    let (url, sent) = match provider.protocol {
        Protocol::Ollama => (
            format!("{base}/api/embed"),
            json!({ "model": model, "input": body.get("input").cloned().unwrap_or(Value::Null) }),
        ),
        _ => (format!("{base}/embeddings"), body.clone()),
    };
    let row = |outcome: Outcome, tokens: Tokens, estimated: bool| Attempt {
        at: chrono::Utc::now(),
        agent_id: agent.id.clone(),
        agent: agent.name.clone(),
        key_id: Some(key.id.clone()),
        key_label: Some(key.label.clone()),
        provider: provider.id.clone(),
        model: model.clone(),
        mode: Mode::Proxy,
        step: step.index,
        outcome,
        tokens,
        cost: if outcome == Outcome::Ok { price.map(|p| p.cost(tokens)) } else { Some(crate::money::Money::ZERO) },
        estimated,
        latency_ms: started.elapsed().as_millis() as i64,
        ttft_ms: None,
        local: step.local,
        redacted: counts.to_ledger(),
        tools: Default::default(),
    };
    // The attempt's row before anything is sent (a stop meanwhile leaves it, settled at the
    // worst case at the next start), settled when the answer is in; a row that cannot be
    // written is never answered with a 200.
    let worst = if step.local {
        Some(crate::money::Money::ZERO)
    } else {
        price.map(|p| p.cost(Tokens { input: estimate * 2, ..Default::default() }))
    };
    let opened = ws
        .ledger()
        .open(
            Attempt {
                cost: None,
                estimated: true,
                ..row(Outcome::InFlight, Tokens { input: estimate, ..Default::default() }, true)
            },
            worst,
        )
        .committed()
        .await
        .map_err(|detail| RouterError::NotOpened { detail })?;
    let answer = client.post(url).headers(provider.auth.headers(secret)).json(&sent).send().await;
    let record = |a: Attempt| async move {
        let written = ws.ledger().settle(opened, a).committed().await;
        ws.ledger_changed();
        written.map(|_| ()).map_err(|detail| {
            tracing::error!(error = %detail, "could not write a ledger row");
            RouterError::NotRecorded { detail }
        })
    };
    let resp = match answer {
        Ok(r) => r,
        Err(e) => {
            let f = upstream::unreachable(&e);
            record(row(f.kind, Tokens::default(), false)).await?;
            return Err(RouterError::AllFailed { agent: agent.name.clone(), summary: f.detail, failures: Vec::new() });
        }
    };
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    if status != 200 {
        record(row(Outcome::Http(status), Tokens::default(), false)).await?;
        let f = http_failure(status, &text, secret);
        return Err(RouterError::Refused {
            provider: provider.id.clone(),
            detail: f.detail,
            failures: Vec::new(),
            upstream: f.upstream.map(|u| (Protocol::OpenAiChat, u)),
        });
    }
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let (reply, tokens, estimated) = match provider.protocol {
        Protocol::Ollama => {
            let vectors = v.get("embeddings").and_then(Value::as_array).cloned().unwrap_or_default();
            let counted = v.get("prompt_eval_count").and_then(Value::as_i64);
            let n = counted.unwrap_or(estimate);
            let data: Vec<Value> = vectors
                .into_iter()
                .enumerate()
                .map(|(i, e)| json!({ "object": "embedding", "index": i, "embedding": e }))
                .collect();
            let reply = json!({ "object": "list", "data": data, "model": model,
                                "usage": { "prompt_tokens": n, "total_tokens": n } });
            (reply, Tokens { input: n, ..Default::default() }, counted.is_none())
        }
        _ => {
            let counted = v.pointer("/usage/prompt_tokens").and_then(Value::as_i64);
            let n = counted.unwrap_or(estimate).clamp(0, 1_000_000_000);
            (v, Tokens { input: n, ..Default::default() }, counted.is_none())
        }
    };
    record(row(Outcome::Ok, tokens, estimated)).await?;
    Ok(reply)
}
