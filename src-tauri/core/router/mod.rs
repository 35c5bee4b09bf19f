//! The router: THE path of every model call, agent mode and proxy mode alike.
//! budget → key → adapter → stream → meter → fall back (DESIGN.md, "One model call").

use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::StreamExt;
use serde::Serialize;
use specta::Type;

use crate::agents::{self, Agent, WhenOver};
use crate::keys::{self, KeySummary};
use crate::ledger::{self, Attempt, Mode};
use crate::prices::{self, format_usd, Price, Tokens};
use crate::providers::canonical::{self, ChatRequest};
use crate::providers::upstream::{self, Piece};
use crate::providers::{self, Protocol};
use crate::workspace::{Workspace, WorkspaceError};

/// Why one step did not answer, for the note under a fallback reply.
#[derive(Debug, Clone, Serialize, Type)]
pub struct StepFailure {
    pub step: u32,
    pub provider: String,
    pub model: String,
    pub outcome: String,
    pub detail: String,
}

/// The answer's bill of lading: who answered, what it cost, what failed before.
#[derive(Debug, Clone, Serialize, Type)]
pub struct Reply {
    pub step: u32,
    pub provider: String,
    pub model: String,
    pub key_label: Option<String>,
    pub tokens: Tokens,
    /// Exact decimal USD; None when the model's price is unknown.
    pub cost_usd: Option<String>,
    pub estimated: bool,
    pub local: bool,
    pub latency_ms: u32,
    pub ttft_ms: Option<u32>,
    pub earlier: Vec<StepFailure>,
    /// A local step answered after cloud steps could not be reached: worth offering offline mode.
    pub cloud_unreachable: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error("The prompt is empty. Type a message first.")]
    EmptyPrompt,
    #[error("Daily budget of agent {agent} reached ({spent} of {budget} USD spent today).")]
    BudgetReached { agent: String, spent: String, budget: String, failures: Vec<StepFailure> },
    #[error("Every step of {agent}'s chain failed: {summary}")]
    AllFailed { agent: String, summary: String, failures: Vec<StepFailure> },
    #[error(
        "{provider} refused the request ({detail}); another step would refuse it too, so Keyhold did not fall back."
    )]
    Refused { provider: String, detail: String, failures: Vec<StepFailure> },
    #[error("The answer from {provider} broke off after it had started ({detail}). Keyhold never switches provider mid-answer; the attempt is in the ledger.")]
    Broken { provider: String, detail: String },
    #[error("Offline mode is on and agent {agent} has no local step. Add one (local:MODEL) to its chain, or switch offline mode off.")]
    OfflineNoLocal { agent: String },
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
}

impl RouterError {
    pub fn kind(&self) -> &'static str {
        match self {
            RouterError::EmptyPrompt => "empty_prompt",
            RouterError::BudgetReached { .. } => "budget_reached",
            RouterError::AllFailed { .. } => "all_steps_failed",
            RouterError::Refused { .. } => "refused",
            RouterError::Broken { .. } => "stream_broken",
            RouterError::OfflineNoLocal { .. } => "offline_no_local",
            RouterError::Workspace(w) => w.kind(),
        }
    }
}

/// How long to wait for a provider to accept the connection before moving on.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

struct Planned {
    index: u32,
    key: Option<KeySummary>,
    provider: String,
    model: String,
}

/// The chain: the agent's own step (its key, or the default key of its model's provider),
/// then its fallback steps in order.
fn plan(conn: &rusqlite::Connection, agent: &Agent) -> Result<Vec<Planned>, WorkspaceError> {
    let first_key = match &agent.key_id {
        Some(id) => keys::find(conn, id).ok(),
        None => {
            let provider =
                agents::provider_for_model(conn, &agent.model).map_err(|e| WorkspaceError::Other(e.to_string()))?;
            keys::list(conn)?.into_iter().find(|k| Some(&k.provider) == provider.as_ref() && k.is_default)
        }
    };
    let provider_of = |k: &Option<KeySummary>, model: &str| {
        k.as_ref()
            .map(|k| k.provider.clone())
            .or_else(|| prices::provider_of(model).map(str::to_string))
            .unwrap_or_else(|| "unknown".into())
    };
    let mut steps = vec![Planned {
        index: 0,
        provider: provider_of(&first_key, &agent.model),
        key: first_key,
        model: agent.model.clone(),
    }];
    for (i, s) in agent.fallback.iter().enumerate() {
        let key = keys::find(conn, &s.key_id).ok();
        steps.push(Planned { index: i as u32 + 1, provider: provider_of(&key, &s.model), key, model: s.model.clone() });
    }
    Ok(steps)
}

/// Worst case for the budget: every input token at the dearest input-side rate, and the full
/// max_tokens of output.
fn worst_case(price: &Price, input_estimate: i64, max_tokens: u32) -> i64 {
    let dearest_input = price.input.max(price.cache_write).max(price.cache_read);
    Price { input: dearest_input, ..*price }.cost(Tokens {
        input: input_estimate,
        output: max_tokens as i64,
        ..Default::default()
    })
}

/// An upper estimate of the tokens sent, for the budget's worst case: half a token per byte
/// (real text runs about a quarter) plus the role framing. Cheap on purpose: it runs on every
/// call, and the reservation is settled to the provider's own count afterwards.
fn estimate_input(req: &ChatRequest) -> i64 {
    let bytes = req.system.as_deref().map_or(0, str::len) + req.turns.iter().map(|t| t.text.len()).sum::<usize>();
    bytes.div_ceil(2) as i64 + 4 * (req.turns.len() as i64 + 1)
}

/// A budget reservation, released when dropped (after the attempt's ledger row is written).
struct Reservation<'a> {
    ws: &'a Workspace,
    agent: String,
    amount: i64,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.ws.release(&self.agent, self.amount);
    }
}

/// Agent mode's request: the agent's system prompt and settings around the conversation.
pub fn agent_request(agent: &Agent, turns: Vec<canonical::Turn>) -> ChatRequest {
    ChatRequest {
        system: agent.system_prompt.clone(),
        turns,
        max_tokens: agent.max_tokens,
        temperature: agent.temperature,
        stop: Vec::new(),
        raw: None,
    }
}

/// What the router hands its caller as the answer arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out<'a> {
    /// A piece of the answer's text (every protocol, for agent mode and for translation).
    Text(&'a str),
    /// An upstream event (or non-streamed body) exactly as received, when the caller's raw body
    /// went to a step of its own protocol: for byte-faithful forwarding.
    Raw(&'a bytes::Bytes),
}

/// Runs one call for `agent` down its chain. `on_out` gets the answer as it arrives; once it has
/// been called, no other step will be tried.
pub async fn call(
    ws: &Workspace,
    agent: &Agent,
    req: ChatRequest,
    mode: Mode,
    on_out: &mut (dyn FnMut(Out<'_>) + Send),
) -> Result<Reply, RouterError> {
    ws.call_started(&agent.name);
    let result = run_chain(ws, agent, req, mode, on_out).await;
    ws.call_finished(&agent.name, result.as_ref().map_or(true, |r| r.step > 0));
    ws.check_budget(agent);
    result
}

async fn run_chain(
    ws: &Workspace,
    agent: &Agent,
    req: ChatRequest,
    mode: Mode,
    on_out: &mut (dyn FnMut(Out<'_>) + Send),
) -> Result<Reply, RouterError> {
    // A caller's own body (proxy mode) is the provider's to judge: its last turn may hold only a
    // tool result. Agent mode's typed prompt must have text.
    let empty = match &req.raw {
        Some(raw) => !raw.has_messages(),
        None => req.turns.last().is_none_or(|t| t.text.trim().is_empty()),
    };
    if empty {
        return Err(RouterError::EmptyPrompt);
    }
    let carries_tools = req.raw.as_ref().filter(|r| r.carries_tools()).map(|r| r.protocol);
    let steps = { plan(&ws.conn(), agent)? };
    let offline = ws.offline();
    if offline && !steps.iter().any(|s| s.provider == "ollama") {
        return Err(RouterError::OfflineNoLocal { agent: agent.name.clone() });
    }
    let mut failures: Vec<StepFailure> = Vec::new();
    let mut budget_blocked = false;

    for step in steps {
        let started = Instant::now();
        let local = step.provider == "ollama";
        let protocol = providers::find(&step.provider).map_or(Protocol::OpenAiChat, |p| p.protocol);
        let input_estimate = estimate_input(&req);
        // A step that failed before its answer consumed no tokens: it costs exactly zero.
        let mut fail = |outcome: &str, detail: String| {
            let row = Attempt {
                at: Utc::now(),
                agent: agent.name.clone(),
                key_id: step.key.as_ref().map(|k| k.id.clone()),
                key_label: step.key.as_ref().map(|k| k.label.clone()),
                provider: step.provider.clone(),
                model: step.model.clone(),
                mode,
                step: step.index,
                outcome: outcome.into(),
                tokens: Tokens::default(),
                cost_nano: Some(0),
                estimated: false,
                latency_ms: started.elapsed().as_millis() as i64,
                ttft_ms: None,
                local,
            };
            if let Err(e) = ledger::record(&ws.conn(), &row) {
                tracing::error!(error = %e, "could not write a ledger row");
            }
            tracing::info!(agent = %agent.name, step = step.index, provider = %step.provider, model = %step.model, outcome, "step failed");
            failures.push(StepFailure {
                step: step.index,
                provider: step.provider.clone(),
                model: step.model.clone(),
                outcome: outcome.into(),
                detail,
            });
        };

        // Offline: nothing leaves the machine, so cloud steps are not even tried (nor recorded).
        if offline && !local {
            failures.push(StepFailure {
                step: step.index,
                provider: step.provider.clone(),
                model: step.model.clone(),
                outcome: "offline".into(),
                detail: "offline mode is on: skipped".into(),
            });
            continue;
        }
        // Tools travel only to a step of the caller's own protocol: a translated request would
        // arrive without them, and the answer would be wrong without saying so.
        if let Some(caller) = carries_tools.filter(|c| *c != protocol) {
            fail(
                "tools_unsupported",
                format!(
                    "the request uses tools and this step speaks {}, not the caller's {}; Keyhold does not translate tools between protocols, so it skipped the step rather than send it without them",
                    protocol.label(),
                    caller.label()
                ),
            );
            continue;
        }
        let Some(key) = step.key.clone() else {
            fail("key_missing", "no key for this step (none given, and no default key for its provider)".into());
            continue;
        };
        if !key.active {
            fail("key_inactive", format!("the key {} is deactivated", key.label));
            continue;
        }
        let price = match prices::lookup(&ws.conn(), &step.provider, &step.model) {
            Ok(p) => p,
            Err(e) => {
                fail("internal", e.to_string());
                continue;
            }
        };

        // 1. Budget: reserve the worst case, atomically with every other call of this agent.
        let _reservation = match (agent.budget_nano, local) {
            (Some(budget), false) => {
                let Some(price) = price else {
                    fail("price_unknown", format!("no price is known for {}, so the daily budget cannot be held: set one with `keyhold prices set`", step.model));
                    continue;
                };
                let worst = worst_case(&price, input_estimate, req.max_tokens);
                match ws.reserve(&agent.name, budget, worst) {
                    Ok(()) => Some(Reservation { ws, agent: agent.name.clone(), amount: worst }),
                    Err(spent) => {
                        budget_blocked = true;
                        if agent.when_over == WhenOver::Refuse {
                            fail("budget", "the daily budget would be exceeded".into());
                            return Err(RouterError::BudgetReached {
                                agent: agent.name.clone(),
                                spent: format_usd(spent),
                                budget: format_usd(budget),
                                failures,
                            });
                        }
                        fail(
                            "budget",
                            format!(
                                "the daily budget would be exceeded ({} of {} USD spent)",
                                format_usd(spent),
                                format_usd(budget)
                            ),
                        );
                        continue;
                    }
                }
            }
            _ => None,
        };

        // 2. The key, opened for this request only.
        let endpoint = match ws.with_db_and_master(|c, m| keys::endpoint(c, m, &key.id)) {
            Ok(e) => e,
            Err(e) => {
                fail("key_unusable", e.to_string());
                continue;
            }
        };
        let upstream = upstream::start(
            endpoint.provider,
            &endpoint.base_url,
            endpoint.secret.as_deref().map(String::as_str),
            &step.model,
            &req,
            CONNECT_TIMEOUT,
        )
        .await;
        drop(endpoint.secret);
        let mut pieces = match upstream {
            Ok(p) => p,
            Err(f) if f.request_fault => {
                let provider = step.provider.clone();
                let detail = f.detail.clone();
                fail(&f.kind, f.detail);
                return Err(RouterError::Refused { provider, detail, failures });
            }
            Err(f) => {
                fail(&f.kind, f.detail);
                continue;
            }
        };

        // 3. Stream to the caller as it arrives, metering as it passes.
        let mut ttft = None;
        let mut delivered = false;
        let mut usage: Option<Tokens> = None;
        let mut received = String::new();
        let mut broken: Option<String> = None;
        while let Some(piece) = pieces.next().await {
            match piece {
                Ok(Piece::Raw(r)) => {
                    delivered = true;
                    on_out(Out::Raw(&r));
                }
                Ok(Piece::Text(t)) => {
                    ttft.get_or_insert_with(|| started.elapsed().as_millis() as i64);
                    delivered = true;
                    received.push_str(&t);
                    on_out(Out::Text(&t));
                }
                Ok(Piece::Usage(u)) => usage = Some(u),
                Ok(Piece::End) => break,
                Err(e) => {
                    broken = Some(e);
                    break;
                }
            }
        }
        let estimated = usage.is_none() || broken.is_some() && usage.is_none_or(|u| u.output == 0);
        let tokens = match usage {
            Some(u) if !estimated => u,
            // Keyhold counts what the provider did not: the tokenizer where one fits.
            _ => {
                let sent =
                    req.system.iter().chain(req.turns.iter().map(|t| &t.text)).cloned().collect::<Vec<_>>().join("\n");
                Tokens {
                    input: upstream::estimate_tokens(protocol, &sent) + 4 * (req.turns.len() as i64 + 1),
                    output: upstream::estimate_tokens(protocol, &received),
                    ..Default::default()
                }
            }
        };
        let cost_nano = price.map(|p| p.cost(tokens));
        let outcome = match (&broken, delivered) {
            (None, _) => "ok",
            (Some(_), true) => "cut",
            (Some(_), false) => "broken_before_answer",
        };
        // 4. The ledger row, then the reservation settles (dropped at the end of this step).
        let row = Attempt {
            at: Utc::now(),
            agent: agent.name.clone(),
            key_id: Some(key.id.clone()),
            key_label: Some(key.label.clone()),
            provider: step.provider.clone(),
            model: step.model.clone(),
            mode,
            step: step.index,
            outcome: outcome.into(),
            tokens,
            cost_nano,
            estimated,
            latency_ms: started.elapsed().as_millis() as i64,
            ttft_ms: ttft,
            local,
        };
        if let Err(e) = ledger::record(&ws.conn(), &row) {
            tracing::error!(error = %e, "could not write a ledger row");
        }
        ws.ledger_changed();
        match (broken, delivered) {
            (None, _) => {
                tracing::info!(agent = %agent.name, step = step.index, provider = %step.provider, model = %step.model, "answered");
                return Ok(Reply {
                    step: step.index,
                    provider: step.provider,
                    model: step.model,
                    key_label: Some(key.label),
                    tokens,
                    cost_usd: cost_nano.map(format_usd),
                    estimated,
                    local,
                    latency_ms: row.latency_ms as u32,
                    ttft_ms: ttft.map(|t| t as u32),
                    cloud_unreachable: local
                        && failures.iter().any(|f| {
                            f.provider != "ollama"
                                && matches!(f.outcome.as_str(), "connect" | "dns" | "timeout" | "tls")
                        }),
                    earlier: failures,
                });
            }
            // After the first byte: no silent switch.
            (Some(detail), true) => return Err(RouterError::Broken { provider: step.provider, detail }),
            // Nothing reached the caller: the next step may still answer.
            (Some(detail), false) => {
                failures.push(StepFailure {
                    step: step.index,
                    provider: step.provider,
                    model: step.model,
                    outcome: outcome.into(),
                    detail,
                });
            }
        }
    }
    ws.ledger_changed();
    if budget_blocked && failures.iter().all(|f| matches!(f.outcome.as_str(), "budget" | "price_unknown")) {
        let spent = ledger::spent_today(&ws.conn(), &agent.name, Utc::now()).unwrap_or(0);
        return Err(RouterError::BudgetReached {
            agent: agent.name.clone(),
            spent: format_usd(spent),
            budget: format_usd(agent.budget_nano.unwrap_or(0)),
            failures,
        });
    }
    let summary = failures
        .iter()
        .map(|f| format!("step {} ({} {}): {} – {}", f.step, f.provider, f.model, f.outcome, f.detail))
        .collect::<Vec<_>>()
        .join("; ");
    Err(RouterError::AllFailed { agent: agent.name.clone(), summary, failures })
}

#[cfg(test)]
mod tests;
