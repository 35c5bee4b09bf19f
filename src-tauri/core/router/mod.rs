//! The router: THE path of every model call, agent mode and proxy mode alike
//! (DESIGN.md, "One model call"). For each step of the agent's chain, in order: skip it if it
//! cannot run (offline, tools across protocols, no key, no price, over budget), else open its
//! key, send, stream the answer to the caller as it arrives while metering it, and write the
//! ledger row. A failure before the first byte reached the caller moves to the next step;
//! after it, there is no silent switch.
//!
//! `call` is the chain; `attempt` is one step.

mod attempt;
mod count;
mod embed;

pub use count::{count_tokens, Counted};
pub use embed::embed;

use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use specta::Type;

use crate::agents::{self, Agent};
use crate::budget::{self, WouldExceed};
use crate::error::{ErrorKind, Kinded};
use crate::keys::{self, KeySummary};
use crate::ledger::{Mode, Outcome};
use crate::money::Money;
use crate::prices::{self, Tokens};
use crate::privacy::Counts;
use crate::providers::canonical::{self, ChatRequest};
use crate::workspace::{Workspace, WorkspaceError};
use attempt::{Attempted, Call};

/// Whether the caller wants more of the answer: what every piece handed to an [`AnswerSink`]
/// answers, as ripgrep's `Sink` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a sink's Stop ends the call"]
pub enum Flow {
    Continue,
    /// The caller is gone (a proxy client hung up, `keyhold chat`'s reader closed) or does not
    /// want the rest: the upstream request ends now, what arrived is metered (`cut`, estimated),
    /// and no other step is tried.
    Stop,
}

/// Where the router delivers an answer as it arrives: the contract between the router and its
/// three fronts (the window's chat events, `keyhold chat`'s standard output, the proxy's HTTP
/// stream). Once a piece has been handed on, the answer has started and no other step is
/// tried.
///
/// The contract runs both ways: each piece returns whether to go on, [`AnswerSink::ready`] holds
/// the router back while the caller is slow (so no buffer between them grows without bound),
/// and [`AnswerSink::stop_signal`] ends the call while the provider is silent.
///
/// A closure over `&str` is a sink of text that always wants more (agent mode, tests).
pub trait AnswerSink: Send {
    /// A piece of the answer's text: every protocol in agent mode, and a translated answer in
    /// proxy mode.
    fn text(&mut self, text: &str) -> Flow;

    /// An upstream event (or a non-streamed body) exactly as the provider sent it, when the
    /// caller's own body went to a step of its own protocol: for byte-faithful forwarding.
    /// Only the proxy passes bodies through; others never get these.
    fn raw(&mut self, _event: &Bytes) -> Flow {
        Flow::Continue
    }

    /// A tool call (its start, more of its arguments) or why the model stopped, for a caller
    /// whose answer is translated into its protocol. Agent mode offers no tools, so its sinks
    /// never get calls.
    fn part(&mut self, _part: &canonical::AnswerPart) -> Flow {
        Flow::Continue
    }

    /// Waits until the caller has taken what it was handed (a bounded channel has room again),
    /// or says it is gone. The router asks before it reads the provider's next piece, so a slow
    /// reader slows the provider's stream down instead of filling memory.
    fn ready(&mut self) -> futures_util::future::BoxFuture<'_, Flow> {
        Box::pin(std::future::ready(Flow::Continue))
    }

    /// Turns true when the answer is to end while nothing arrives: the window's Stop button, or
    /// a proxy client that hung up. The stream ends there, what arrived is kept and metered
    /// (marked estimated), and no other step is tried.
    fn stop_signal(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        None
    }
}

impl<F: FnMut(&str) + Send> AnswerSink for F {
    fn text(&mut self, text: &str) -> Flow {
        self(text);
        Flow::Continue
    }
}

/// Why one step did not answer, for the note under a fallback reply.
#[derive(Debug, Clone, Serialize, Type)]
pub struct StepFailure {
    pub step: u32,
    pub provider: String,
    pub model: String,
    pub outcome: Outcome,
    pub detail: String,
    /// The step would have stayed on this machine.
    pub local: bool,
}

/// The answer's bill of lading: who answered, what it cost, what failed before.
#[derive(Debug, Clone, Serialize, Type)]
pub struct Reply {
    pub step: u32,
    pub provider: String,
    pub model: String,
    pub key_label: Option<String>,
    pub tokens: Tokens,
    /// None when the model's price is unknown.
    pub cost_usd: Option<Money>,
    pub estimated: bool,
    pub local: bool,
    pub latency_ms: u32,
    pub ttft_ms: Option<u32>,
    pub earlier: Vec<StepFailure>,
    /// A local step answered after cloud steps could not be reached: worth offering offline mode.
    pub cloud_unreachable: bool,
    /// What was replaced before the request left this machine (empty: nothing, or local).
    pub redacted: Counts,
    /// Placeholders in the answer that Keyhold did not make (invented or mangled by the model):
    /// left as they were.
    pub unknown_placeholders: u32,
    /// The user stopped the answer before it ended: the text is what arrived until then.
    pub stopped: bool,
    /// The fallback in plain words ("Anthropic claude-haiku-4-5 was overloaded, so OpenAI
    /// gpt-4o-mini answered."); None when the first step answered.
    pub fallback_note: Option<String>,
}

/// "Anthropic claude-haiku-4-5 was overloaded; offline mode skipped the cloud step, so Ollama
/// llama3.2:1b (on this machine) answered."
fn fallback_note(reply: &Reply) -> Option<String> {
    if reply.earlier.is_empty() {
        return None;
    }
    // The catalog's "Local Ollama" is "Ollama" here: the note says where each step ran.
    let name = |id: &str| {
        crate::providers::find(id).map_or_else(|| id.to_string(), |p| p.name.trim_start_matches("Local ").to_string())
    };
    let (skipped, failed): (Vec<_>, Vec<_>) = reply.earlier.iter().partition(|f| f.outcome == Outcome::Offline);
    let mut parts: Vec<String> =
        failed.iter().map(|f| format!("{} {} {}", name(&f.provider), f.model, f.outcome.why_not())).collect();
    match skipped.len() {
        0 => {}
        1 => parts.push("offline mode skipped the cloud step".into()),
        n => parts.push(format!("offline mode skipped {n} cloud steps")),
    }
    let here = if reply.local { " (on this machine)" } else { "" };
    Some(format!("{}, so {} {}{here} answered.", parts.join("; "), name(&reply.provider), reply.model))
}

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error("The prompt is empty. Type a message first.")]
    EmptyPrompt,
    #[error("Daily budget of agent {agent} reached: {spent} of {budget} spent today{held}.")]
    BudgetReached { agent: String, spent: String, budget: String, held: String, failures: Vec<StepFailure> },
    #[error("Every step of {agent}'s chain failed: {summary}")]
    AllFailed { agent: String, summary: String, failures: Vec<StepFailure> },
    #[error(
        "{provider} refused the request ({detail}); another step would refuse it too, so Keyhold did not fall back."
    )]
    Refused {
        provider: String,
        detail: String,
        failures: Vec<StepFailure>,
        /// The provider's own error, and the protocol it spoke: a caller of that protocol gets it
        /// as written.
        upstream: Option<(crate::providers::Protocol, crate::providers::stream::UpstreamError)>,
    },
    #[error("The answer from {provider} broke off after it had started ({detail}). Keyhold never switches provider mid-answer; the attempt is in the ledger.")]
    Broken { provider: String, detail: String },
    #[error("Keyhold could not write this call to its ledger ({detail}), so the answer is not reported as complete. Its cost is counted against the budget all the same and is written with the next call; if this goes on, check the disk and that no other program holds Keyhold's database.")]
    NotRecorded { detail: String },
    #[error("Nothing was sent: Keyhold could not write this call to its ledger before sending it ({detail}), and a call it cannot count is not made. Check the disk and that no other program holds Keyhold's database.")]
    NotOpened { detail: String },
    #[error("Offline mode is on and agent {agent} has no local step. Add one (local:MODEL) to its chain, or switch offline mode off.")]
    OfflineNoLocal { agent: String },
    #[error("Nothing was sent: agent {agent}'s privacy policy is block, and {detail}. Remove those values, or choose the pii policy to send them replaced by placeholders.")]
    Blocked { agent: String, detail: String, failures: Vec<StepFailure> },
    #[error("The request uses {what}, which only {protocol} has, and no step of agent {agent}'s chain speaks it, so nothing was sent. Give the agent a step of that protocol, or send the request without {what}.")]
    ToolsNowhere { agent: String, protocol: &'static str, what: String, failures: Vec<StepFailure> },
    #[error("Nothing was sent: the request has the provider fetch input Keyhold cannot see (a document or image by URL, a file by id, or a provider-side search), and agent {agent} refuses such requests on its paid steps while it has a daily budget, since what they would bill is unknown. Send the content itself, or have the budget count the model's whole context window for them (`keyhold agents edit {agent} --fetched reserve`, or \"Input the provider fetches\" in the agent form).")]
    FetchRefused { agent: String, failures: Vec<StepFailure> },
    #[error("Agent {agent}'s paid steps are held back: {detail}. Its local steps still run. If you made the change yourself, acknowledge it in the window (the notice at the top) or with `keyhold vault check --accept`.")]
    LedgerChanged { agent: String, detail: String, failures: Vec<StepFailure> },
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
}

impl RouterError {
    /// The budget refusal, saying what is spent and what calls still running hold of the rest.
    fn budget_reached(agent: &Agent, budget: Money, over: WouldExceed, failures: Vec<StepFailure>) -> Self {
        let held = match over.reserved {
            Money::ZERO => String::new(),
            r => format!(", and {} more held by calls still running", r.shown()),
        };
        RouterError::BudgetReached {
            agent: agent.name.clone(),
            spent: over.spent.shown(),
            budget: budget.shown(),
            held,
            failures,
        }
    }
}

impl Kinded for RouterError {
    fn kind(&self) -> ErrorKind {
        match self {
            RouterError::EmptyPrompt => ErrorKind::EmptyPrompt,
            RouterError::BudgetReached { .. } => ErrorKind::BudgetReached,
            RouterError::AllFailed { .. } => ErrorKind::AllStepsFailed,
            RouterError::Refused { .. } => ErrorKind::Refused,
            RouterError::Broken { .. } => ErrorKind::StreamBroken,
            RouterError::NotRecorded { .. } | RouterError::NotOpened { .. } => ErrorKind::Database,
            RouterError::OfflineNoLocal { .. } => ErrorKind::OfflineNoLocal,
            RouterError::Blocked { .. } => ErrorKind::PrivacyBlocked,
            RouterError::ToolsNowhere { .. } | RouterError::FetchRefused { .. } => ErrorKind::Refused,
            RouterError::LedgerChanged { .. } => ErrorKind::ChangedOutsideKeyhold,
            RouterError::Workspace(w) => w.kind(),
        }
    }
}

/// How long to wait for a provider to accept the connection before moving on.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest one call may take, every step and the whole answer included. A chat in the
/// window or the terminal gets 5 minutes; a tool on the proxy (long agentic answers) 10.
pub const AGENT_CALL_LIMIT: Duration = Duration::from_secs(300);
pub const PROXY_CALL_LIMIT: Duration = Duration::from_secs(600);

#[cfg(not(test))]
fn call_limit(mode: Mode) -> Duration {
    match mode {
        Mode::Agent => AGENT_CALL_LIMIT,
        Mode::Proxy => PROXY_CALL_LIMIT,
    }
}

/// Tests shorten the limit to see it act.
#[cfg(test)]
fn call_limit(mode: Mode) -> Duration {
    match TEST_CALL_LIMIT.with(|l| l.get()) {
        Some(l) => l,
        None => match mode {
            Mode::Agent => AGENT_CALL_LIMIT,
            Mode::Proxy => PROXY_CALL_LIMIT,
        },
    }
}

#[cfg(test)]
thread_local! {
    static TEST_CALL_LIMIT: std::cell::Cell<Option<Duration>> = const { std::cell::Cell::new(None) };
}

/// One step of the chain as planned: its place, its key (if any), provider and model.
struct Planned {
    index: u32,
    key: Option<KeySummary>,
    provider: String,
    model: String,
    /// The step stays on this machine: its key's address is loopback, or the user marked it
    /// local. Never decided by the provider's name.
    local: bool,
}

/// [`plan`], for an agent and keys whose signatures hold: nothing is sent for an agent, or on a
/// key, that was changed outside Keyhold.
fn checked_plan(
    c: &rusqlite::Connection,
    u: &crate::integrity::Unlocked,
    agent: &Agent,
) -> Result<Vec<Planned>, WorkspaceError> {
    agents::verify(c, u, agent)?;
    let steps = plan(c, agent)?;
    for k in steps.iter().filter_map(|s| s.key.as_ref()) {
        keys::verify(c, u, k)?;
    }
    Ok(steps)
}

/// A model an agent's token may reach, for `GET /v1/models`: a step of its chain, with what
/// Keyhold knows of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reachable {
    pub model: String,
    pub provider: String,
    /// The step stays on this machine.
    pub local: bool,
    /// The price the budget counts it at (overrides applied), USD per million tokens.
    pub price: Option<prices::Price>,
    pub context_window: Option<u64>,
}

/// Every model the agent's chain may answer with, in chain order, each once.
pub fn reachable(ws: &Workspace, agent: &Agent) -> Result<Vec<Reachable>, WorkspaceError> {
    ws.check_configuration()?;
    let (steps, overrides) =
        ws.read_unlocked(|c, u| Ok::<_, WorkspaceError>((checked_plan(c, u, agent)?, prices::Overrides::load(c, u)?)))?;
    let mut out: Vec<Reachable> = Vec::new();
    for s in steps {
        if out.iter().any(|r| r.model == s.model) {
            continue;
        }
        out.push(Reachable {
            price: overrides.price(&s.provider, &s.model, s.local),
            context_window: prices::context_window(&s.model),
            model: s.model,
            provider: s.provider,
            local: s.local,
        });
    }
    Ok(out)
}

/// The chain: the agent's own step (its key, or the default key of its model's provider),
/// then its fallback steps in order.
fn plan(conn: &rusqlite::Connection, agent: &Agent) -> Result<Vec<Planned>, WorkspaceError> {
    let first_key = match &agent.key_id {
        Some(id) => keys::find(conn, id).ok(),
        None => {
            let provider = agents::provider_for_model(conn, &agent.model)?;
            keys::list(conn)?.into_iter().find(|k| Some(&k.provider) == provider.as_ref() && k.is_default)
        }
    };
    let provider_of = |k: &Option<KeySummary>, model: &str| {
        k.as_ref()
            .map(|k| k.provider.clone())
            .or_else(|| prices::provider_of(model).map(str::to_string))
            .unwrap_or_else(|| "unknown".into())
    };
    // A model Ollama forwards to ollama.com (`gpt-oss:120b-cloud`) leaves the machine: it is a
    // cloud step (offline mode skips it, the privacy policy applies), whatever the address.
    let local = |k: &Option<KeySummary>, model: &str| {
        k.as_ref().is_some_and(|k| k.local && !(k.provider == "ollama" && crate::ollama::served_remotely(model)))
    };
    let mut steps = vec![Planned {
        index: 0,
        provider: provider_of(&first_key, &agent.model),
        local: local(&first_key, &agent.model),
        key: first_key,
        model: agent.model.clone(),
    }];
    for (i, s) in agent.fallback.iter().enumerate() {
        let key = keys::find(conn, &s.key_id).ok();
        steps.push(Planned {
            index: i as u32 + 1,
            provider: provider_of(&key, &s.model),
            local: local(&key, &s.model),
            key,
            model: s.model.clone(),
        });
    }
    Ok(steps)
}

/// An upper estimate of the tokens sent, for the budget's worst case: half a token per byte
/// (real text runs about a quarter) plus the role framing. Cheap on purpose: it runs on every
/// call, and the reservation is settled to the provider's own count afterwards.
/// A caller's own body counts whole: tools, tool results and images are input too.
fn estimate_input(req: &ChatRequest) -> i64 {
    let text = req.system.as_deref().map_or(0, str::len) + req.turns.iter().map(|t| t.text.len()).sum::<usize>();
    let body = req.raw.as_ref().map_or(0, |r| r.size);
    text.max(body).div_ceil(2) as i64 + 4 * (req.turns.len() as i64 + 1)
}

/// Agent mode's request: the agent's system prompt and settings around the conversation.
pub fn agent_request(agent: &Agent, turns: Vec<canonical::Turn>) -> ChatRequest {
    ChatRequest {
        system: agent.system_prompt.clone(),
        turns,
        max_tokens: agent.max_tokens,
        temperature: agent.temperature,
        stop: Vec::new(),
        choices: 1,
        ..Default::default()
    }
}

/// Runs one call for `agent` down its chain; the answer goes to `sink` as it arrives.
pub async fn call(
    ws: &Workspace,
    agent: &Agent,
    req: ChatRequest,
    mode: Mode,
    sink: &mut dyn AnswerSink,
) -> Result<Reply, RouterError> {
    let mut working = ws.activity().working(&agent.id);
    let result = run_chain(ws, agent, req, mode, sink).await;
    working.answered_on_fallback(result.as_ref().map_or(true, |r| r.step > 0));
    drop(working);
    if agent.budget.is_some() {
        ws.budgets().check_alerts(&ws.conn(), agent);
    }
    result
}

async fn run_chain(
    ws: &Workspace,
    agent: &Agent,
    req: ChatRequest,
    mode: Mode,
    sink: &mut dyn AnswerSink,
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
    // Nothing is sent for an agent, or on a key, that was changed outside Keyhold: checked for
    // the whole chain before the first step, so the user gets one clear refusal. Nor while any
    // signed record differs from the configuration Keyhold saved (a row replayed, brought
    // back or deleted outside it).
    ws.check_configuration()?;
    let (steps, overrides) = ws.read_unlocked(|c, u| -> Result<_, WorkspaceError> {
        Ok((checked_plan(c, u, agent)?, prices::Overrides::load(c, u)?))
    })?;
    let offline = ws.offline();
    if offline && !steps.iter().any(|s| s.local) {
        return Err(RouterError::OfflineNoLocal { agent: agent.name.clone() });
    }
    let call = Call::new(ws, agent, &req, mode, offline, overrides);
    let mut failures: Vec<StepFailure> = Vec::new();
    for step in steps {
        match attempt::attempt(&call, step, sink).await {
            Attempted::Answered(mut reply) => {
                reply.cloud_unreachable =
                    reply.local && failures.iter().any(|f| !f.local && f.outcome.is_unreachable());
                reply.earlier = failures;
                reply.fallback_note = fallback_note(&reply);
                return Ok(reply);
            }
            Attempted::Next(failure) => failures.push(failure),
            Attempted::Stop(stop) => {
                let _ = call.committed().await;
                ws.ledger_changed();
                return Err(stop.into_error(agent, failures));
            }
        }
    }
    // The failed steps' rows: kept by the writer until they land if this commit fails.
    let _ = call.committed().await;
    ws.ledger_changed();
    let over_budget = |f: &StepFailure| matches!(f.outcome, Outcome::Budget | Outcome::PriceUnknown);
    // Held back because the ledger was changed, not because the budget is spent: said as such.
    let changed = ws.ledger().breaks();
    if !changed.is_empty() && failures.iter().any(|f| f.outcome == Outcome::Budget) && failures.iter().all(over_budget)
    {
        let detail = format!(
            "the usage ledger was changed outside Keyhold ({}), so its daily budget cannot be held",
            changed.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        );
        return Err(RouterError::LedgerChanged { agent: agent.name.clone(), detail, failures });
    }
    // Refused by the agent's own rule for fetched input, not by what is spent.
    if !failures.is_empty()
        && agent.fetched == crate::agents::Fetched::Refuse
        && agent.budget.is_some()
        && attempt::fetches_unseen(&req)
        && failures.iter().all(|f| f.local || over_budget(f))
        && failures.iter().any(|f| !f.local && f.outcome == Outcome::Budget)
    {
        return Err(RouterError::FetchRefused { agent: agent.name.clone(), failures });
    }
    if failures.iter().any(|f| f.outcome == Outcome::Budget) && failures.iter().all(over_budget) {
        let over = WouldExceed {
            spent: budget::spent_today(&ws.conn(), agent).unwrap_or_default(),
            reserved: ws.budgets().reserved(agent),
        };
        return Err(RouterError::budget_reached(agent, agent.budget.unwrap_or_default(), over, failures));
    }
    if !failures.is_empty() && failures.iter().all(|f| matches!(f.outcome, Outcome::Blocked | Outcome::Offline)) {
        let detail = failures
            .iter()
            .find(|f| f.outcome == Outcome::Blocked)
            .map(|f| f.detail.trim_start_matches("not sent: the agent's privacy policy is block, and ").to_string())
            .unwrap_or_default();
        return Err(RouterError::Blocked { agent: agent.name.clone(), detail, failures });
    }
    // Every step skipped for the caller's tools: the request, not a provider, is what failed (a
    // client that retries a 502 would only repeat it).
    if let Some(caller) = req.raw.as_ref().filter(|_| {
        !failures.is_empty()
            && failures.iter().all(|f| matches!(f.outcome, Outcome::ToolsUnsupported | Outcome::Offline))
    }) {
        if failures.iter().any(|f| f.outcome == Outcome::ToolsUnsupported) {
            return Err(RouterError::ToolsNowhere {
                agent: agent.name.clone(),
                protocol: caller.protocol.label(),
                what: {
                    let mut lost = req.untranslatable.clone();
                    lost.extend(req.web_search.as_ref().map(|_| "web search".to_string()));
                    lost.join(", ")
                },
                failures,
            });
        }
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
