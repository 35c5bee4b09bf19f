//! One step of a call: whether it may run, the upstream request, the answer streamed to the
//! caller and metered as it passes, and the step's ledger row.

use std::time::Instant;

use chrono::Utc;
use futures_util::StreamExt;

use super::{estimate_input, AnswerSink, Flow, Planned, Reply, RouterError, StepFailure, CONNECT_TIMEOUT};
use crate::agents::{Agent, Fetched, WhenOver};
use crate::budget::{worst_case, Refused, Reservation, WouldExceed};
use crate::keys::{self, KeySummary};
use crate::ledger::{self, Attempt, Mode, Outcome};
use crate::money::Money;
use crate::prices::{self, Price, Tokens, ToolUses};
use crate::privacy::restore::RawRestorer;
use crate::privacy::{self, dictionary, outbound, Counts, Policy, Redactor, Restorer, Rules};
use crate::providers::canonical::{AnswerPart, ChatRequest};
use crate::providers::failure::{redact, Held, KeyScrubber, Unreachable};
use crate::providers::stream::UpstreamError;
use crate::providers::upstream::{self, Piece, Pieces, StreamError};
use crate::providers::{self, Protocol};
use crate::workspace::Workspace;

/// What every step of one call shares.
pub(super) struct Call<'a> {
    ws: &'a Workspace,
    agent: &'a Agent,
    req: &'a ChatRequest,
    mode: Mode,
    offline: bool,

    input_estimate: i64,
    /// When the whole call must have ended, every step and stream included.
    deadline: tokio::time::Instant,
    /// The request as cloud steps receive it, made at the first cloud step (see `privacy`).
    redacted: std::sync::OnceLock<Result<Option<Redacted>, String>>,
    /// Days the outbound payload log keeps (0: off), read at the first cloud step.
    log_days: std::sync::OnceLock<u32>,
    /// The user's prices, checked once for the whole call.
    overrides: prices::Overrides,
    /// The last ledger row queued: rows commit in order, so once it has, all of the call's have.
    last_row: std::sync::Mutex<Option<ledger::Pending>>,
    /// The row of the step in flight, opened before it was sent: its end settles it.
    opened: std::sync::Mutex<Option<i64>>,
}

/// The request with the agent's privacy policy applied, and how to restore the answer.
struct Redacted {
    req: ChatRequest,
    counts: Counts,
    restorer: Restorer,
    /// `block` found something: where, for the refusal.
    blocked: Option<String>,
}

/// How a step ended, for the chain.
pub(super) enum Attempted {
    Answered(Reply),
    /// Nothing reached the caller: the next step may answer.
    Next(StepFailure),
    /// The chain stops here.
    Stop(Stop),
}

/// Why the chain stops without an answer.
pub(super) enum Stop {
    /// The call would exceed the budget and the agent refuses rather than go on locally.
    Budget { budget: Money, over: WouldExceed, failure: StepFailure },
    /// The provider refused the request itself (400, 413, 422): another step would too.
    Refused { provider: String, detail: String, failure: StepFailure, upstream: Option<(Protocol, UpstreamError)> },
    /// The answer broke off after it had started: never a silent switch.
    Broken { provider: String, detail: String },
    /// The answer arrived but its ledger row could not be written: it is not reported complete.
    Unrecorded { detail: String },
    /// The step's row could not be written before it was sent: it was not sent.
    Unopened { detail: String },
}

impl Stop {
    pub(super) fn into_error(self, agent: &Agent, mut failures: Vec<StepFailure>) -> RouterError {
        match self {
            Stop::Budget { budget, over, failure } => {
                failures.push(failure);
                RouterError::budget_reached(agent, budget, over, failures)
            }
            Stop::Refused { provider, detail, failure, upstream } => {
                failures.push(failure);
                RouterError::Refused { provider, detail, failures, upstream }
            }
            Stop::Broken { provider, detail } => RouterError::Broken { provider, detail },
            Stop::Unrecorded { detail } => RouterError::NotRecorded { detail },
            Stop::Unopened { detail } => RouterError::NotOpened { detail },
        }
    }
}

/// A step that may run: its key, its price, and the budget it holds until its row is written.
struct Ready<'a> {
    key: KeySummary,
    price: Option<Price>,
    /// The most the step can cost (None: its price is unknown); what its row counts if Keyhold
    /// stops before it ends.
    worst: Option<Money>,
    _reservation: Option<Reservation<'a>>,
}

/// What came back from a step that started.
#[derive(Default)]
struct Streamed {
    /// Some of the answer reached the caller.
    delivered: bool,
    usage: Option<Tokens>,
    /// Provider-side tools the reply used so far (each billed per use).
    tools: ToolUses,
    /// The answer's text as it arrived, for an estimate when usage never came.
    received: String,
    /// Why the stream ended before the provider finished.
    broken: Option<StreamError>,
    ttft_ms: Option<i64>,
    /// The passthrough's closing event (already restored), sent once the row is written.
    held: Vec<bytes::Bytes>,
}

impl<'a> Call<'a> {
    pub(super) fn new(
        ws: &'a Workspace,
        agent: &'a Agent,
        req: &'a ChatRequest,
        mode: Mode,
        offline: bool,
        overrides: prices::Overrides,
    ) -> Self {
        Call {
            ws,
            agent,
            req,
            mode,
            offline,
            input_estimate: estimate_input(req),
            deadline: tokio::time::Instant::now() + super::call_limit(mode),
            redacted: std::sync::OnceLock::new(),
            log_days: std::sync::OnceLock::new(),
            overrides,
            last_row: std::sync::Mutex::new(None),
            opened: std::sync::Mutex::new(None),
        }
    }

    /// The request for a cloud step: the agent's privacy policy applied once per call (the same
    /// placeholders for every cloud step). `None`: the policy is off.
    fn redacted(&self) -> Result<Option<&Redacted>, String> {
        let made = self.redacted.get_or_init(|| {
            let policy = self.agent.privacy;
            if policy == Policy::Off {
                return Ok(None);
            }
            let (dictionary, region) =
                self.ws.with_unlocked(|c, u| dictionary::for_policy(c, u, policy)).map_err(|e| e.to_string())?;
            let mut r = Redactor::new(Rules::builtin(), policy, &dictionary).in_region(region);
            let req = privacy::request::redact(self.req, &mut r);
            let blocked = (policy == Policy::Block && !r.counts().is_empty()).then(|| r.where_found());
            Ok(Some(Redacted {
                req,
                counts: r.counts().clone(),
                restorer: r.restorer().with_tool_values(self.agent.tool_values),
                blocked,
            }))
        });
        match made {
            Ok(r) => Ok(r.as_ref()),
            Err(e) => Err(e.clone()),
        }
    }

    /// Keeps the body a cloud step is sent, when the user turned the outbound payload log on.
    fn log_outbound(&self, step: &Planned, provider: &providers::Provider, req: &ChatRequest) {
        let days = *self.log_days.get_or_init(|| {
            self.ws.with_unlocked(|c, u| outbound::retention(c, u)).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "the outbound payload log setting is unusable; not logging");
                0
            })
        });
        if days == 0 {
            return;
        }
        let protocol = provider.step_protocol(req.raw.as_ref().map(|r| r.protocol));
        let body = protocol.body_for(req, &step.model, provider.id == "openai").to_string();
        let kept = self
            .ws
            .with_unlocked(|c, u| outbound::record(c, u, days, &self.agent.name, &step.provider, &step.model, &body));
        if let Err(e) = kept {
            tracing::warn!(error = %e, "could not keep an outbound payload");
        }
    }

    /// The ledger row of an attempt.
    #[allow(clippy::too_many_arguments)] // one row, every column named at the call site
    fn row(
        &self,
        step: &Planned,
        key: Option<&KeySummary>,
        outcome: Outcome,
        tokens: Tokens,
        cost: Option<Money>,
        estimated: bool,
        started: Instant,
        ttft_ms: Option<i64>,
    ) -> Attempt {
        Attempt {
            at: Utc::now(),
            agent_id: self.agent.id.clone(),
            agent: self.agent.name.clone(),
            key_id: key.map(|k| k.id.clone()),
            key_label: key.map(|k| k.label.clone()),
            provider: step.provider.clone(),
            model: step.model.clone(),
            mode: self.mode,
            step: step.index,
            outcome,
            tokens,
            cost,
            estimated,
            latency_ms: started.elapsed().as_millis() as i64,
            ttft_ms,
            local: step.is_local(),
            redacted: String::new(),
            tools: Default::default(),
        }
    }

    /// Queues the step's ledger row (settling the row opened for it, when it was sent);
    /// [`Call::committed`] waits for it.
    fn record(&self, row: &Attempt) {
        let opened = self.opened.lock().unwrap_or_else(|p| p.into_inner()).take();
        let pending = match opened {
            Some(id) => self.ws.ledger().settle(id, row.clone()),
            None => self.ws.record(row.clone()),
        };
        *self.last_row.lock().unwrap_or_else(|p| p.into_inner()) = Some(pending);
    }

    /// Writes the step's row as in flight, before its first byte goes upstream: a process
    /// killed while it runs leaves the row, settled at `reserved` at the next start. `Err`: it
    /// could not be written, and the step must not be sent.
    async fn open(
        &self,
        step: &Planned,
        key: &KeySummary,
        reserved: Option<Money>,
        started: Instant,
    ) -> Result<(), String> {
        let mut row = self.row(step, Some(key), Outcome::InFlight, Tokens::default(), None, true, started, None);
        row.tokens.input = self.input_estimate;
        let id = self.ws.ledger().open(row, reserved).committed().await?;
        *self.opened.lock().unwrap_or_else(|p| p.into_inner()) = Some(id);
        Ok(())
    }

    /// Waits until every row this call queued is committed: nothing is answered before. A row
    /// that could not be written is kept by the ledger writer (and counted against the budget)
    /// until it lands; `Err` says why it is not in the database yet.
    pub(super) async fn committed(&self) -> Result<(), String> {
        let last = self.last_row.lock().unwrap_or_else(|p| p.into_inner()).take();
        match last {
            Some(p) => p
                .committed()
                .await
                .map(|_| ())
                .inspect_err(|e| tracing::error!(error = %e, "could not write a ledger row")),
            None => Ok(()),
        }
    }

    /// A step that failed before its answer: a ledger row at exactly zero cost (no tokens were
    /// consumed), and the note for the reply.
    fn fail(&self, step: &Planned, started: Instant, outcome: Outcome, detail: String) -> StepFailure {
        let row =
            self.row(step, step.key.as_ref(), outcome, Tokens::default(), Some(Money::ZERO), false, started, None);
        self.record(&row);
        tracing::debug!(agent = %self.agent.name, step = step.index, provider = %step.provider, model = %step.model,
            outcome = %outcome, "step failed");
        step.failure(outcome, detail)
    }
}

impl Planned {
    fn is_local(&self) -> bool {
        self.local
    }

    fn failure(&self, outcome: Outcome, detail: String) -> StepFailure {
        StepFailure {
            step: self.index,
            provider: self.provider.clone(),
            model: self.model.clone(),
            outcome,
            detail,
            local: self.local,
        }
    }
}

/// Whether the step may run (the verdict boxed when not: it is large), in the order a user would
/// reason about it: offline mode, tools,
/// the key, the price, the budget.
fn prepare<'a>(
    call: &Call<'a>,
    step: &Planned,
    protocol: Protocol,
    started: Instant,
) -> Result<Ready<'a>, Box<Attempted>> {
    // Offline: nothing leaves the machine, so cloud steps are not even tried (nor recorded).
    if call.offline && !step.is_local() {
        return Err(Box::new(Attempted::Next(step.failure(Outcome::Offline, "offline mode is on: skipped".into()))));
    }
    let lost = call.req.lost_on(protocol);
    if let Some(caller) = call.req.raw.as_ref().map(|r| r.protocol).filter(|_| !lost.is_empty()) {
        let detail = format!(
            "the request uses {} of {}, which {} has no equivalent of; skipped rather than sent without it",
            lost.join(", "),
            caller.label(),
            protocol.label(),
        );
        return Err(Box::new(Attempted::Next(call.fail(step, started, Outcome::ToolsUnsupported, detail))));
    }
    let Some(key) = step.key.clone() else {
        let detail = "no key for this step (none given, and no default key for its provider)".to_string();
        return Err(Box::new(Attempted::Next(call.fail(step, started, Outcome::KeyMissing, detail))));
    };
    if !key.active {
        let detail = format!("the key {} is deactivated", key.label);
        return Err(Box::new(Attempted::Next(call.fail(step, started, Outcome::KeyInactive, detail))));
    }
    let price = call.overrides.price(&step.provider, &step.model, step.is_local());
    // The worst case: every output token the request allows, and its input. Input the provider
    // fetches (a document by URL, a file id) is billed at its size, which Keyhold cannot see:
    // the model's whole context window counts for it (unknown when the window is).
    // Provider-side tools (a web search) add their fee per use, as many uses as the request
    // allows, and bring in input Keyhold does not see (the results), like a fetched document.
    let cap = call.req.max_tokens.saturating_mul(call.req.outputs());
    let tool_bound = call.req.raw.as_ref().map(|r| r.tool_bound()).unwrap_or_default();
    let fetches = fetches_unseen(call.req);
    let window = prices::context_window(&step.model);
    let fees = prices::tool_fee(&step.provider, &step.model, tool_bound, step.is_local()).cost;
    let worst = match (&price, fetches, window) {
        _ if step.is_local() => Some(Money::ZERO),
        (Some(price), false, _) => Some(worst_case(price, call.input_estimate, cap)),
        (Some(price), true, Some(window)) => Some(worst_case(price, call.input_estimate.max(window as i64), cap)),
        _ => None,
    }
    .map(|w| w.saturating_add(fees));
    // The budget: the worst case is reserved atomically with every other call of this agent.
    let reservation = match (call.agent.budget, step.is_local()) {
        (Some(_), false) if fetches && call.agent.fetched == Fetched::Refuse => {
            let detail = format!(
                "the request has the provider fetch input Keyhold cannot see (a document or image by URL, a \
                 file by id, or a provider-side search), and agent {} refuses such requests under its daily budget \
                 (Agents → edit → \"Input the provider fetches\"); nothing was sent",
                call.agent.name
            );
            return Err(Box::new(Attempted::Next(call.fail(step, started, Outcome::Budget, detail))));
        }
        (Some(budget), false) => {
            if price.is_none() {
                let detail = format!(
                    "no price is known for {}, so the daily budget cannot be held: set one with `keyhold prices set`",
                    step.model
                );
                return Err(Box::new(Attempted::Next(call.fail(step, started, Outcome::PriceUnknown, detail))));
            }
            let Some(worst) = worst else {
                let detail = format!(
                    "the request has the provider fetch a document or file by URL or id, whose size Keyhold cannot see, \
                     and {}'s context window is not known, so the daily budget cannot be held",
                    step.model
                );
                return Err(Box::new(Attempted::Next(call.fail(step, started, Outcome::PriceUnknown, detail))));
            };
            let reserved = call.ws.budgets().reserve(&call.ws.conn(), call.agent, budget, worst, call.ws.ledger());
            match reserved {
                Ok(r) => Some(r),
                Err(Refused::Over(over)) if call.agent.when_over == WhenOver::Refuse => {
                    let failure =
                        call.fail(step, started, Outcome::Budget, "the daily budget would be exceeded".into());
                    return Err(Box::new(Attempted::Stop(Stop::Budget { budget, over, failure })));
                }
                // A changed ledger holds every paid step back, and the chain goes on to its local
                // steps: work goes on, on this machine.
                Err(refused) => {
                    let detail = refused.detail(budget);
                    return Err(Box::new(Attempted::Next(call.fail(step, started, Outcome::Budget, detail))));
                }
            }
        }
        _ => None,
    };
    Ok(Ready { key, price, worst, _reservation: reservation })
}

/// Whether the request has the provider bring in input Keyhold never sees: a document, image or
/// file by URL or id, or a provider-side tool's results.
pub(super) fn fetches_unseen(req: &ChatRequest) -> bool {
    req.raw.as_ref().is_some_and(|r| r.fetches_input() || !r.tool_bound().is_empty())
}

/// Runs one step of the chain.
pub(super) async fn attempt(call: &Call<'_>, mut step: Planned, sink: &mut dyn AnswerSink) -> Attempted {
    let started = Instant::now();
    // Ollama may serve a model from ollama.com under any name: asked before it counts as local
    // (a cloud step: offline mode skips it, the privacy policy applies, its price is not 0).
    if step.local && step.provider == "ollama" {
        let url = crate::ollama::address_of(step.key.as_ref());
        if let Some(host) = crate::ollama::remote_host(&url, &step.model).await {
            tracing::info!(model = %step.model, host = %host, "Ollama serves this model from elsewhere: a cloud step");
            step.local = false;
        }
    }
    let caller = call.req.raw.as_ref().map(|r| r.protocol);
    let protocol = providers::find(&step.provider).map_or(Protocol::OpenAiChat, |p| p.step_protocol(caller));
    let ready = match prepare(call, &step, protocol, started) {
        Ok(r) => r,
        Err(end) => return *end,
    };
    // The key, opened for this request only.
    let endpoint = match call.ws.read_unlocked(|c, u| keys::endpoint(c, u, &ready.key.id)) {
        Ok(e) => e,
        Err(e) => return Attempted::Next(call.fail(&step, started, Outcome::KeyUnusable, e.to_string())),
    };
    // A cloud step gets the request with the agent's privacy policy applied; a local one the
    // original (nothing leaves the machine there).
    let redacted = if step.is_local() {
        None
    } else {
        match call.redacted() {
            Ok(r) => r,
            Err(e) => return Attempted::Next(call.fail(&step, started, Outcome::Internal, e)),
        }
    };
    if let Some(where_found) = redacted.and_then(|r| r.blocked.as_ref()) {
        let detail = format!(
            "not sent: the agent's privacy policy is block, and the request holds {} ({where_found})",
            redacted.map(|r| r.counts.sentence()).unwrap_or_default()
        );
        return Attempted::Next(call.fail(&step, started, Outcome::Blocked, detail));
    }
    let req = redacted.map_or(call.req, |r| &r.req);
    if !step.is_local() {
        call.log_outbound(&step, endpoint.provider, req);
    }
    // The attempt's row, before anything is sent: a stop from here on leaves it in the ledger.
    if let Err(e) = call.open(&step, &ready.key, ready.worst, started).await {
        tracing::error!(error = %e, "could not write a ledger row; the step is not sent");
        return Attempted::Stop(Stop::Unopened { detail: e });
    }
    let secret = endpoint.secret.as_deref().map(String::as_str);
    let start = tokio::time::timeout_at(
        call.deadline,
        upstream::start(endpoint.provider, &endpoint.base_url, secret, &step.model, req, CONNECT_TIMEOUT),
    );
    // A caller that goes away while the provider has not answered yet ends the call there: the
    // request is dropped, and with it the connection. (A stop signal whose sender is gone is no
    // stop: that branch is then disabled.)
    let upstream = match sink.stop_signal() {
        Some(mut stop) => tokio::select! {
            r = start => Some(r),
            Ok(_) = stop.wait_for(|stopped| *stopped) => None,
        },
        None => Some(start.await),
    };
    let limit = super::call_limit(call.mode).as_secs();
    let pieces = match upstream {
        None => None,
        Some(Err(_)) => {
            let detail = format!("no answer within {limit} s, Keyhold's limit for one call");
            return Attempted::Next(call.fail(&step, started, Outcome::Unreachable(Unreachable::Timeout), detail));
        }
        Some(Ok(Ok(p))) => Some(p),
        Some(Ok(Err(f))) if f.request_fault => {
            let failure = call.fail(&step, started, f.kind, f.detail.clone());
            let upstream = f.upstream.map(|u| (protocol, u));
            return Attempted::Stop(Stop::Refused {
                provider: step.provider.clone(),
                detail: f.detail,
                failure,
                upstream,
            });
        }
        Some(Ok(Err(f))) => return Attempted::Next(call.fail(&step, started, f.kind, f.detail)),
    };

    // The answer goes back with the user's values restored, a placeholder split across events
    // included.
    let restore_with = redacted.filter(|r| !r.counts.is_empty()).map(|r| r.restorer.clone());
    // And without the key, should the provider put it into its answer: first, so the user's own
    // values restored after it are theirs as they wrote them.
    let scrubber = endpoint.secret.as_deref().and_then(|s| KeyScrubber::new(s));
    let (mut streamed, unknown_placeholders) = match (pieces, restore_with) {
        (None, _) => (Streamed { broken: Some(StreamError::Stopped), ..Default::default() }, 0),
        (Some(pieces), Some(restorer)) => {
            let mut restoring = Restoring {
                raw: RawRestorer::new(restorer.clone(), protocol),
                args: Default::default(),
                text: restorer,
                inner: sink,
            };
            let mut s = scrubbed(pieces, scrubber.as_ref(), &mut restoring, started, call.deadline, limit).await;
            restoring.finish();
            // The closing event goes through the same restorer, after everything before it.
            s.held = std::mem::take(&mut s.held).iter().flat_map(|b| restoring.raw.piece(b)).collect();
            (s, restoring.unknown())
        }
        (Some(pieces), None) => (scrubbed(pieces, scrubber.as_ref(), sink, started, call.deadline, limit).await, 0),
    };
    // Kept (zeroizing) until the answer ended, so a provider's mid-stream error that echoes it
    // is redacted like any other message.
    let stopped = matches!(streamed.broken, Some(StreamError::Stopped));
    let broke = streamed
        .broken
        .as_ref()
        .filter(|_| !stopped)
        .map(|b| redact(&b.to_string(), endpoint.secret.as_deref().map(String::as_str)));
    drop(endpoint.secret);
    if let Some(key) = &scrubber {
        for b in &mut streamed.held {
            *b = scrub_event(key, b);
        }
    }
    drop(scrubber);
    let (tokens, mut estimated) = meter(call.req, protocol, &streamed);
    let tools = tools_used(call.req, protocol, &streamed);
    let fee = prices::tool_fee(&step.provider, &step.model, tools, step.is_local());
    // A fee not in the price file is taken at the highest listed: an estimate, never low.
    estimated |= !fee.known;
    let cost = ready.price.map(|p| p.cost(tokens).saturating_add(fee.cost));
    let outcome = match (&streamed.broken, streamed.delivered) {
        (None, _) => Outcome::Ok,
        // The caller stopped it (or went away): not a provider failure, whether or not any of
        // the answer had arrived.
        (Some(StreamError::Stopped), _) => Outcome::Cut,
        (Some(_), true) => Outcome::Cut,
        (Some(_), false) => Outcome::BrokenBeforeAnswer,
    };
    // The ledger row, then the reservation settles (when `ready` is dropped below).
    let mut row = call.row(&step, Some(&ready.key), outcome, tokens, cost, estimated, started, streamed.ttft_ms);
    row.redacted = redacted.map(|r| r.counts.to_ledger()).unwrap_or_default();
    row.tools = tools.to_ledger();
    call.record(&row);
    let recorded = call.committed().await;
    call.ws.ledger_changed();
    if let Err(e) = recorded {
        return Attempted::Stop(Stop::Unrecorded { detail: e });
    }
    for b in &streamed.held {
        // The last words: the row is written whatever the caller does with them.
        let _ = sink.raw(b);
    }
    match broke {
        None => {
            tracing::debug!(agent = %call.agent.name, step = step.index, provider = %step.provider,
                model = %step.model, "answered");
            Attempted::Answered(Reply {
                step: step.index,
                local: step.is_local(),
                provider: step.provider,
                model: step.model,
                key_label: Some(ready.key.label.clone()),
                tokens,
                cost_usd: cost,
                estimated,
                latency_ms: row.latency_ms as u32,
                ttft_ms: streamed.ttft_ms.map(|t| t as u32),
                earlier: Vec::new(),
                cloud_unreachable: false,
                redacted: redacted.map(|r| r.counts.clone()).unwrap_or_default(),
                unknown_placeholders,
                stopped,
                fallback_note: None,
            })
        }
        Some(detail) if streamed.delivered => Attempted::Stop(Stop::Broken { provider: step.provider, detail }),
        Some(detail) => Attempted::Next(step.failure(outcome, detail)),
    }
}

/// [`stream`], through a [`Scrubbing`] sink when the step's key is one to take out of answers.
async fn scrubbed(
    pieces: Pieces,
    key: Option<&KeyScrubber>,
    sink: &mut dyn AnswerSink,
    started: Instant,
    deadline: tokio::time::Instant,
    limit_secs: u64,
) -> Streamed {
    let Some(key) = key else { return stream(pieces, sink, started, deadline, limit_secs).await };
    let mut scrubbing = Scrubbing { text: key.holder(), args: Default::default(), key, inner: sink };
    let s = stream(pieces, &mut scrubbing, started, deadline, limit_secs).await;
    scrubbing.finish();
    s
}

/// An event without the key: as it came when it holds none (nearly always), else rewritten.
fn scrub_event(key: &KeyScrubber, event: &bytes::Bytes) -> bytes::Bytes {
    if !key.suspect(event) {
        return event.clone();
    }
    match std::str::from_utf8(event) {
        Ok(text) => match key.scrub(text) {
            std::borrow::Cow::Borrowed(_) => event.clone(),
            std::borrow::Cow::Owned(clean) => bytes::Bytes::from(clean),
        },
        // Events are UTF-8 (JSON, SSE); anything else is not this protocol's and is redacted
        // through its lossy text rather than let through.
        Err(_) => bytes::Bytes::from(key.scrub(&String::from_utf8_lossy(event)).into_owned()),
    }
}

/// A sink that takes the step's key out of the answer before anything else sees it: whole
/// bodies and events as they come, text and each call's arguments across their pieces.
struct Scrubbing<'s> {
    key: &'s KeyScrubber,
    text: Held,
    args: std::collections::BTreeMap<u32, Held>,
    inner: &'s mut dyn AnswerSink,
}

impl Scrubbing<'_> {
    fn flush_text(&mut self) -> Flow {
        let tail = self.text.finish(self.key);
        if tail.is_empty() {
            return Flow::Continue;
        }
        self.inner.text(&tail)
    }

    fn flush_args(&mut self) -> Flow {
        for (index, mut held) in std::mem::take(&mut self.args) {
            let json = held.finish(self.key);
            if !json.is_empty() && self.inner.part(&AnswerPart::CallArgs { index, json }) == Flow::Stop {
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    /// The end of the answer: whatever was held back.
    fn finish(&mut self) {
        // The last words: the stream is over whatever the caller answers.
        let _ = self.flush_text();
        let _ = self.flush_args();
    }
}

impl AnswerSink for Scrubbing<'_> {
    fn text(&mut self, text: &str) -> Flow {
        let out = self.text.push(self.key, text);
        if out.is_empty() {
            return Flow::Continue;
        }
        self.inner.text(&out)
    }

    fn part(&mut self, part: &AnswerPart) -> Flow {
        match part {
            AnswerPart::CallArgs { index, json } => {
                let out = self.args.entry(*index).or_insert_with(|| self.key.holder()).push(self.key, json);
                if out.is_empty() {
                    return Flow::Continue;
                }
                self.inner.part(&AnswerPart::CallArgs { index: *index, json: out })
            }
            AnswerPart::CallStart { .. } => {
                if self.flush_text() == Flow::Stop {
                    return Flow::Stop;
                }
                self.inner.part(part)
            }
            AnswerPart::Stop(_) => {
                if self.flush_text() == Flow::Stop || self.flush_args() == Flow::Stop {
                    return Flow::Stop;
                }
                self.inner.part(part)
            }
        }
    }

    fn raw(&mut self, event: &bytes::Bytes) -> Flow {
        self.inner.raw(&scrub_event(self.key, event))
    }

    fn stop_signal(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        self.inner.stop_signal()
    }

    fn ready(&mut self) -> futures_util::future::BoxFuture<'_, Flow> {
        self.inner.ready()
    }
}

/// A sink that restores the user's values before they reach the caller.
struct Restoring<'s> {
    text: Restorer,
    raw: RawRestorer,
    /// Each tool call's arguments (JSON text) by the call's index, restored JSON-escaped.
    args: std::collections::BTreeMap<u32, Restorer>,
    inner: &'s mut dyn AnswerSink,
}

impl Restoring<'_> {
    /// The end of the answer: text held back in case it was the start of a placeholder.
    fn finish(&mut self) {
        let tail = self.text.finish();
        if !tail.is_empty() {
            // The last words: the stream is over whatever the caller answers.
            let _ = self.inner.text(&tail);
        }
        // As for the text: the stream is over whatever the caller answers.
        let _ = self.flush_args();
    }

    /// Each call's held-back arguments, before the answer ends.
    fn flush_args(&mut self) -> Flow {
        for (index, r) in std::mem::take(&mut self.args) {
            let tail = { r }.finish();
            if !tail.is_empty() && self.inner.part(&AnswerPart::CallArgs { index, json: tail }) == Flow::Stop {
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    fn unknown(&self) -> u32 {
        self.text.unknown() + self.raw.unknown() + self.args.values().map(Restorer::unknown).sum::<u32>()
    }
}

impl AnswerSink for Restoring<'_> {
    fn text(&mut self, text: &str) -> Flow {
        let out = self.text.push(text);
        if out.is_empty() {
            return Flow::Continue;
        }
        self.inner.text(&out)
    }

    fn part(&mut self, part: &AnswerPart) -> Flow {
        match part {
            AnswerPart::CallArgs { index, json } => {
                let base = &self.text;
                let out = self.args.entry(*index).or_insert_with(|| base.for_json()).push(json);
                if out.is_empty() {
                    return Flow::Continue;
                }
                self.inner.part(&AnswerPart::CallArgs { index: *index, json: out })
            }
            AnswerPart::CallStart { .. } => {
                // The text before a call ends where the call begins.
                let tail = self.text.finish();
                if !tail.is_empty() && self.inner.text(&tail) == Flow::Stop {
                    return Flow::Stop;
                }
                self.inner.part(part)
            }
            AnswerPart::Stop(_) => {
                if self.flush_args() == Flow::Stop {
                    return Flow::Stop;
                }
                self.inner.part(part)
            }
        }
    }

    fn stop_signal(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        self.inner.stop_signal()
    }

    fn ready(&mut self) -> futures_util::future::BoxFuture<'_, Flow> {
        self.inner.ready()
    }

    fn raw(&mut self, event: &bytes::Bytes) -> Flow {
        for b in self.raw.piece(event) {
            if self.inner.raw(&b) == Flow::Stop {
                return Flow::Stop;
            }
        }
        Flow::Continue
    }
}

/// Forwards the answer to the caller as it arrives, noting usage as it passes.
async fn stream(
    mut pieces: Pieces,
    sink: &mut dyn AnswerSink,
    started: Instant,
    deadline: tokio::time::Instant,
    limit_secs: u64,
) -> Streamed {
    let mut s = Streamed::default();
    let mut stop = sink.stop_signal();
    loop {
        let waited = match stop.as_mut() {
            Some(rx) => tokio::select! {
                n = tokio::time::timeout_at(deadline, pieces.next()) => n,
                _ = rx.wait_for(|stopped| *stopped) => {
                    s.broken = Some(StreamError::Stopped);
                    break;
                }
            },
            None => tokio::time::timeout_at(deadline, pieces.next()).await,
        };
        let Ok(next) = waited else {
            // Past the call's limit: what arrived is kept and metered, the rest is not waited for.
            s.broken = Some(StreamError::TimedOut(limit_secs));
            break;
        };
        let Some(piece) = next else { break };
        let flow = match piece {
            Ok(Piece::Raw(r)) => {
                s.delivered = true;
                sink.raw(&r)
            }
            Ok(Piece::Final(r)) => {
                s.delivered = true;
                s.held.push(r);
                Flow::Continue
            }
            Ok(Piece::Text(t)) => {
                s.ttft_ms.get_or_insert_with(|| started.elapsed().as_millis() as i64);
                s.delivered = true;
                s.received.push_str(&t);
                sink.text(&t)
            }
            Ok(Piece::Part(p)) => {
                if let AnswerPart::CallStart { name: t, .. } | AnswerPart::CallArgs { json: t, .. } = &p {
                    s.ttft_ms.get_or_insert_with(|| started.elapsed().as_millis() as i64);
                    s.delivered = true;
                    s.received.push_str(t);
                }
                sink.part(&p)
            }
            Ok(Piece::Usage(u)) => {
                s.usage = Some(u);
                Flow::Continue
            }
            Ok(Piece::ToolsUsed(t)) => {
                s.tools = s.tools.plus(t);
                Flow::Continue
            }
            Ok(Piece::End) => break,
            Err(e) => {
                s.broken = Some(e);
                break;
            }
        };
        // The caller said stop, or cannot take more before the call's deadline: `pieces` is
        // dropped on return, which closes the upstream connection, so the provider stops
        // generating (and billing) now rather than at the end of the answer.
        let flow = match flow {
            Flow::Stop => Flow::Stop,
            Flow::Continue => tokio::time::timeout_at(deadline, sink.ready()).await.unwrap_or(Flow::Stop),
        };
        if flow == Flow::Stop {
            s.broken = Some(StreamError::Stopped);
            break;
        }
    }
    s
}

/// The provider-side tools an attempt used: what the reply reported, and for OpenAI's search
/// models (`web_search_options` on Chat Completions, which report nothing) one search per answer.
fn tools_used(req: &ChatRequest, protocol: Protocol, s: &Streamed) -> ToolUses {
    let searched_once = protocol == Protocol::OpenAiChat
        && s.delivered
        && req.raw.as_ref().is_some_and(|r| r.protocol == protocol && r.body.get("web_search_options").is_some());
    let mut t = s.tools;
    if searched_once {
        t.web_search = t.web_search.max(1);
    }
    t
}

/// The tokens of an attempt: the provider's own count, or Keyhold's estimate (marked so) when
/// the provider never gave one or the stream broke before it did.
fn meter(req: &ChatRequest, protocol: Protocol, s: &Streamed) -> (Tokens, bool) {
    let counted_output = || upstream::estimate_tokens(protocol, &s.received);
    match (s.usage, &s.broken) {
        (Some(u), None) => {
            let (u, impossible) = u.clamped();
            if impossible {
                // Counts that cannot be (negative, or past a billion): held to the possible
                // range and marked estimated, never recorded as the provider said.
                tracing::warn!(?u, "the provider reported impossible token counts; recorded clamped and estimated");
            }
            (u, impossible)
        }
        // A cut stream's usage is never final (Anthropic's message_start says 1 output token):
        // its input stands, its output is what arrived, at least what was reported.
        (Some(u), Some(_)) => (Tokens { output: u.output.max(counted_output()), ..u }.clamped().0, true),
        (None, _) => {
            // A caller's own body counts whole (tools and tool results are input too).
            let sent = match &req.raw {
                Some(raw) => raw.body.to_string(),
                None => {
                    req.system.iter().chain(req.turns.iter().map(|t| &t.text)).cloned().collect::<Vec<_>>().join("\n")
                }
            };
            let tokens = Tokens {
                input: upstream::estimate_tokens(protocol, &sent) + 4 * (req.turns.len() as i64 + 1),
                output: counted_output(),
                ..Default::default()
            };
            (tokens, true)
        }
    }
}
