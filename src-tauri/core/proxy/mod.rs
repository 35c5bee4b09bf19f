//! The local proxy: OpenAI- and Anthropic-compatible endpoints on 127.0.0.1 that run each
//! request as the agent whose local token it carries, through the same router as agent mode.
//!
//! Hardening: loopback only; `Host` must be localhost / 127.0.0.1 / [::1] with our port (DNS
//! rebinding); a browser `Origin` is refused unless allowed; bodies over 8 MiB are refused;
//! a body must arrive within 30 s; a locked vault answers 503. Connections are capped, and
//! headers (and idle keep-alive connections) timed out, by [`serve`].

/// The proxy's saved settings (in the database's settings table). The allowed origins decide
/// which web pages may spend an agent's budget, so they are a protected setting (see
/// [`crate::integrity`]): written only unlocked, and checked again whenever a browser origin
/// is let in. The port and whether the proxy runs decide nothing about keys or money.
pub mod config {
    use rusqlite::Connection;

    use super::{Settings, DEFAULT_PORT};
    use crate::db::{get_setting, set_setting};
    use crate::integrity::{self, Unlocked};

    pub const ORIGINS: &str = "proxy.allowed_origins";

    pub fn load(conn: &Connection) -> Settings {
        let port = get_setting(conn, "proxy.port").ok().flatten().and_then(|p| p.parse().ok()).unwrap_or(DEFAULT_PORT);
        let origins = get_setting(conn, ORIGINS).ok().flatten().and_then(|o| parse(&o)).unwrap_or_default();
        Settings { allowed_origins: origins, saved_origins: true, ..Settings::on_port(port) }
    }

    fn parse(text: &str) -> Option<Vec<String>> {
        serde_json::from_str(text).ok()
    }

    /// The allowed origins, only if their tag holds (`Err` names the setting).
    pub fn verified_origins(conn: &Connection, u: &Unlocked) -> Result<Vec<String>, crate::integrity::Tampered> {
        match integrity::get_setting(conn, u, ORIGINS) {
            Ok(Ok(v)) => Ok(v.and_then(|v| parse(&v)).unwrap_or_default()),
            _ => Err(crate::integrity::Tampered::new(
                "The proxy's list of allowed browser origins",
                "Set the allowed origins again on Keyhold's Proxy page; until then no web page is let in.",
            )),
        }
    }

    pub fn enabled(conn: &Connection) -> bool {
        get_setting(conn, "proxy.enabled").ok().flatten().as_deref() == Some("true")
    }

    /// Remembers the port and whether the proxy runs.
    pub fn save(conn: &Connection, port: u16, enabled: bool) -> rusqlite::Result<()> {
        set_setting(conn, "proxy.port", &port.to_string())?;
        set_setting(conn, "proxy.enabled", if enabled { "true" } else { "false" })
    }

    /// Saves the allowed origins, tagged: only an unlocked Keyhold can.
    pub fn save_origins(conn: &Connection, u: &Unlocked, origins: &[String]) -> rusqlite::Result<()> {
        integrity::set_setting(conn, u, ORIGINS, &serde_json::to_string(origins).expect("strings serialize"))
    }
}

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, watch};

use crate::agents::{tokens, Agent};
use crate::error::{ErrorKind, Kinded};
use crate::ledger::Mode;
use crate::providers::canonical::{Answer, AnswerPart, ToolSpec};
use crate::providers::{openai_chat, Protocol};
use crate::router::{self, AnswerSink, Flow, Reply, RouterError};
use crate::workspace::{VaultStatus, Workspace};

pub mod serve;

/// Largest request body accepted: long prompts with images fit; a runaway upload does not.
pub const BODY_LIMIT: usize = 8 * 1024 * 1024;
/// How long a client may take to send its request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_PORT: u16 = 11500;

/// What a proxy is started with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub port: u16,
    /// Browser origins allowed to call the proxy (exact match, e.g. `http://localhost:5173`).
    pub allowed_origins: Vec<String>,
    /// The origins came from the saved settings: each browser request also checks the saved
    /// list's tag, so one edited in the database after the proxy started lets nobody in.
    pub saved_origins: bool,
    pub body_timeout: Duration,
    /// Connection cap and header/idle timeout.
    pub limits: serve::Limits,
}

impl Settings {
    pub fn on_port(port: u16) -> Self {
        Settings {
            port,
            allowed_origins: Vec::new(),
            saved_origins: false,
            body_timeout: BODY_TIMEOUT,
            limits: serve::Limits::default(),
        }
    }
}

#[derive(Clone)]
struct Ctx {
    ws: Arc<Workspace>,
    port: u16,
    allowed_origins: Arc<Vec<String>>,
    saved_origins: bool,
    body_timeout: Duration,
}

pub struct Running {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
        self.task.abort();
    }
}

/// Starts the proxy on 127.0.0.1 (port 0 picks a free port).
pub async fn start(ws: Arc<Workspace>, settings: Settings) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", settings.port)).await?;
    let addr = listener.local_addr()?;
    let ctx = Ctx {
        ws,
        port: addr.port(),
        allowed_origins: Arc::new(settings.allowed_origins),
        saved_origins: settings.saved_origins,
        body_timeout: settings.body_timeout,
    };
    let app = Router::new()
        .route("/health", get(health))
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(openai_chat))
        .route("/v1/responses", post(openai_responses))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/messages", post(anthropic_messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
        // The Anthropic SDK appends /v1/messages to its base URL: accept a base that ends in /v1.
        .route("/v1/v1/messages", post(anthropic_messages))
        .route("/v1/v1/messages/count_tokens", post(count_tokens))
        .layer(middleware::from_fn_with_state(ctx.clone(), guard))
        .with_state(ctx);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve::serve(listener, app, settings.limits, rx));
    tracing::info!(%addr, "proxy listening");
    Ok(Running { addr, stop: Some(tx), task })
}

fn protocol_of(path: &str) -> Protocol {
    if path.ends_with("/messages") {
        Protocol::AnthropicMessages
    } else {
        Protocol::OpenAiChat
    }
}

fn error(protocol: Protocol, status: StatusCode, message: &str) -> Response {
    (status, Json(protocol.error_body(status.as_u16(), message))).into_response()
}

fn host_allowed(host: &str, port: u16) -> bool {
    let (name, p) = match host.rsplit_once(':') {
        Some((n, p)) if !n.ends_with(':') && (n.starts_with('[') == n.ends_with(']')) => (n, Some(p)),
        _ => (host, None),
    };
    matches!(name.to_ascii_lowercase().as_str(), "localhost" | "127.0.0.1" | "[::1]")
        && p.is_none_or(|p| p == port.to_string())
}

/// Host and Origin checks, before anything else.
async fn guard(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let protocol = protocol_of(req.uri().path());
    // Two Host headers: which one a later layer reads is not ours to guess.
    if req.headers().get_all(header::HOST).iter().count() > 1 {
        return error(
            protocol,
            StatusCode::BAD_REQUEST,
            "The request has more than one Host header; send exactly one.",
        );
    }
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !host_allowed(host, ctx.port) {
        let shown = if host.is_empty() { "(none)" } else { host };
        return error(protocol, StatusCode::FORBIDDEN, &format!(
            "Host {shown} is not allowed: Keyhold's proxy answers only to localhost, 127.0.0.1 or [::1] on port {} (protection against DNS rebinding).", ctx.port));
    }
    let origin = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()).map(str::to_string);
    if let Some(origin) = &origin {
        if !ctx.allowed_origins.iter().any(|o| o == origin) {
            return error(protocol, StatusCode::FORBIDDEN, &format!(
                "Requests from web pages are refused (Origin {origin}). Allow this origin in Keyhold's Proxy settings if you trust it."));
        }
        if ctx.saved_origins {
            match ctx.ws.with_unlocked(|c, u| config::verified_origins(c, u)) {
                Ok(saved) if saved.iter().any(|o| o == origin) => {}
                Ok(_) => {
                    return error(protocol, StatusCode::FORBIDDEN, &format!(
                        "Requests from web pages are refused (Origin {origin}). Allow this origin in Keyhold's Proxy settings if you trust it."));
                }
                Err(e) if e.kind() == ErrorKind::Locked => {
                    return error(
                        protocol,
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Keyhold is locked: unlock it in the app and try again.",
                    );
                }
                Err(e) => return error(protocol, StatusCode::FORBIDDEN, &e.to_string()),
            }
        }
    }
    if req.method() == Method::OPTIONS {
        let mut r = StatusCode::NO_CONTENT.into_response();
        add_cors(r.headers_mut(), origin.as_deref());
        return r;
    }
    let mut resp = next.run(req).await;
    add_cors(resp.headers_mut(), origin.as_deref());
    resp
}

fn add_cors(h: &mut HeaderMap, origin: Option<&str>) {
    if let Some(o) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, x-api-key, content-type, anthropic-version, anthropic-beta"),
        );
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
    }
}

async fn health(State(ctx): State<Ctx>) -> Json<Value> {
    Json(json!({ "status": "ok", "locked": ctx.ws.status() != VaultStatus::Unlocked }))
}

/// The agent a request runs as: its token from `Authorization: Bearer` or `x-api-key`.
/// A refusal is boxed: a Response is large, and the accepted path should not carry its size.
fn authenticate(ctx: &Ctx, headers: &HeaderMap, protocol: Protocol) -> Result<Agent, Box<Response>> {
    if ctx.ws.status() != VaultStatus::Unlocked {
        return Err(Box::new(error(
            protocol,
            StatusCode::SERVICE_UNAVAILABLE,
            "Keyhold is locked: unlock it in the app (or start `keyhold serve`) and try again.",
        )));
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()));
    let Some(presented) = presented.filter(|p| !p.trim().is_empty()) else {
        return Err(Box::new(error(
            protocol,
            StatusCode::UNAUTHORIZED,
            "No Keyhold token: send an agent's local token as the API key (Authorization: Bearer or x-api-key).",
        )));
    };
    // A token row written back after its revocation verifies on its own; the saved
    // configuration says it is not the current one.
    if let Err(e) = ctx.ws.check_configuration() {
        if e.kind() == ErrorKind::ChangedOutsideKeyhold {
            return Err(Box::new(error(protocol, StatusCode::FORBIDDEN, &e.to_string())));
        }
    }
    match ctx.ws.read_unlocked(|c, u| tokens::authenticate(c, u, presented)) {
        Ok(Some(agent)) => Ok(agent),
        Ok(None) => Err(Box::new(error(protocol, StatusCode::UNAUTHORIZED, "This Keyhold token is not valid (unknown or revoked). Issue a token for the agent in Keyhold's Proxy page."))),
        Err(e) if e.kind() == ErrorKind::ChangedOutsideKeyhold => {
            Err(Box::new(error(protocol, StatusCode::FORBIDDEN, &e.to_string())))
        }
        Err(e) if e.kind() == ErrorKind::Locked => Err(Box::new(error(
            protocol,
            StatusCode::SERVICE_UNAVAILABLE,
            "Keyhold is locked: unlock it in the app (or start `keyhold serve`) and try again.",
        ))),
        Err(e) => Err(Box::new(error(protocol, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))),
    }
}

/// `GET /v1/models`: every model the token's agent may reach (its model, then its chain's), in
/// OpenAI's list shape, or Anthropic's when the caller sends `anthropic-version`. Each entry
/// also says, where Keyhold knows it, its context window and the price the budget counts it at
/// (USD per million tokens); clients ignore fields they do not know.
async fn models(State(ctx): State<Ctx>, headers: HeaderMap) -> Response {
    let anthropic = headers.contains_key("anthropic-version");
    let protocol = if anthropic { Protocol::AnthropicMessages } else { Protocol::OpenAiChat };
    let agent = match authenticate(&ctx, &headers, protocol) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let reachable = match router::reachable(&ctx.ws, &agent) {
        Ok(r) => r,
        Err(e) => return error(protocol, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let about = |r: &router::Reachable| {
        let price = r.price.map(|p| {
            json!({ "input": p.input.to_string(), "output": p.output.to_string(),
                    "cache_read": p.cache_read.to_string(), "cache_write": p.cache_write.to_string() })
        });
        json!({ "provider": r.provider, "local": r.local, "usd_per_million_tokens": price })
    };
    if anthropic {
        let data: Vec<Value> = reachable
            .iter()
            .map(|r| {
                json!({ "type": "model", "id": r.model, "display_name": r.model, "created_at": "1970-01-01T00:00:00Z",
                        "max_input_tokens": r.context_window, "keyhold": about(r) })
            })
            .collect();
        let (first, last) = (reachable.first().map(|r| &r.model), reachable.last().map(|r| &r.model));
        Json(json!({ "data": data, "has_more": false, "first_id": first, "last_id": last })).into_response()
    } else {
        let data: Vec<Value> = reachable
            .iter()
            .map(|r| {
                json!({ "id": r.model, "object": "model", "created": 0, "owned_by": format!("keyhold:{}", agent.name),
                        "context_window": r.context_window, "keyhold": about(r) })
            })
            .collect();
        Json(json!({ "object": "list", "data": data })).into_response()
    }
}

/// `POST /v1/messages/count_tokens`: the agent's Anthropic step counts (the request redacted as
/// a call would be); otherwise Keyhold estimates, and says so in `x-keyhold-estimate`. Not a
/// model call: no budget, no ledger row.
async fn count_tokens(State(ctx): State<Ctx>, headers: HeaderMap, body: Body) -> Response {
    let protocol = Protocol::AnthropicMessages;
    let (agent, size, mut value) = match authenticated_json(&ctx, protocol, &headers, body).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    if value.get("max_tokens").is_none() {
        // count_tokens takes no max_tokens; the Messages reader wants one.
        value["max_tokens"] = json!(1);
    }
    let mut req = match protocol.parse_request(value, size, agent.max_tokens) {
        Ok(r) => r,
        Err(why) => {
            return error(
                protocol,
                StatusCode::BAD_REQUEST,
                &format!("The request is not a valid Messages request: {why}."),
            )
        }
    };
    if let Some(raw) = req.raw.as_mut() {
        raw.headers = protocol.forwarded_headers(&headers);
    }
    match router::count_tokens(&ctx.ws, &agent, &req).await {
        Ok(router::Counted::Provider(v)) => Json(v).into_response(),
        Ok(router::Counted::Refused(u)) => {
            let status = StatusCode::from_u16(u.status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, Json(protocol.error_body_typed(u.status, u.kind.as_deref(), &u.message))).into_response()
        }
        Ok(router::Counted::Estimate { input_tokens, why }) => {
            let mut r = Json(json!({ "input_tokens": input_tokens })).into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("true; {why}")) {
                r.headers_mut().insert("x-keyhold-estimate", v);
            }
            r
        }
        Err(e) if e.kind() == ErrorKind::Locked => error(
            protocol,
            StatusCode::SERVICE_UNAVAILABLE,
            "Keyhold is locked: unlock it in the app (or start `keyhold serve`) and try again.",
        ),
        Err(e) => error(protocol, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

async fn openai_chat(State(ctx): State<Ctx>, headers: HeaderMap, body: Body) -> Response {
    chat(ctx, Protocol::OpenAiChat, headers, body).await
}

/// `POST /v1/embeddings`, OpenAI's shape: through the router's `embed` (the agent's key, policy,
/// budget and ledger).
async fn embeddings(State(ctx): State<Ctx>, headers: HeaderMap, body: Body) -> Response {
    let protocol = Protocol::OpenAiChat;
    let (agent, _, value) = match authenticated_json(&ctx, protocol, &headers, body).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    if value.get("model").and_then(Value::as_str).is_none_or(str::is_empty) || value.get("input").is_none() {
        return error(protocol, StatusCode::BAD_REQUEST, "An embeddings request needs \"model\" and \"input\".");
    }
    match router::embed(&ctx.ws, &agent, value).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => router_error(protocol, &e),
    }
}

async fn openai_responses(State(ctx): State<Ctx>, headers: HeaderMap, body: Body) -> Response {
    chat(ctx, Protocol::OpenAiResponses, headers, body).await
}

async fn anthropic_messages(State(ctx): State<Ctx>, headers: HeaderMap, body: Body) -> Response {
    chat(ctx, Protocol::AnthropicMessages, headers, body).await
}

/// How many pieces of an answer may wait between the router and the response body. Past it the
/// router waits for the client ([`AnswerSink::ready`]), so a slow reader slows the provider
/// down instead of filling Keyhold's memory.
const IN_FLIGHT: usize = 64;

/// The router's answer on its way to the response body, through a bounded channel. When the
/// client hangs up, the body (and with it the channel's receiver) is dropped: every piece then
/// answers [`Flow::Stop`], and the stop signal ends a provider that is silent at that moment.
struct ChannelSink {
    tx: mpsc::Sender<Msg>,
    /// What one upstream piece produced past the channel's room (a restored event can become
    /// two): sent before the router reads the provider's next piece.
    waiting: VecDeque<Msg>,
    gone: watch::Receiver<bool>,
}

impl ChannelSink {
    fn push(&mut self, msg: Msg) -> Flow {
        if !self.waiting.is_empty() {
            self.waiting.push_back(msg);
            return Flow::Continue;
        }
        match self.tx.try_send(msg) {
            Ok(()) => Flow::Continue,
            Err(mpsc::error::TrySendError::Full(msg)) => {
                self.waiting.push_back(msg);
                Flow::Continue
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Flow::Stop,
        }
    }

    /// Waits until everything handed on is in the channel; false when the client is gone.
    async fn flush(&mut self) -> bool {
        while let Some(msg) = self.waiting.pop_front() {
            if self.tx.send(msg).await.is_err() {
                self.waiting.clear();
                return false;
            }
        }
        true
    }
}

impl AnswerSink for ChannelSink {
    fn text(&mut self, text: &str) -> Flow {
        self.push(Msg::Text(text.to_string()))
    }

    fn raw(&mut self, event: &Bytes) -> Flow {
        self.push(Msg::Raw(event.clone()))
    }

    fn part(&mut self, part: &AnswerPart) -> Flow {
        self.push(Msg::Part(part.clone()))
    }

    fn ready(&mut self) -> futures_util::future::BoxFuture<'_, Flow> {
        Box::pin(async move {
            if self.flush().await {
                Flow::Continue
            } else {
                Flow::Stop
            }
        })
    }

    fn stop_signal(&self) -> Option<watch::Receiver<bool>> {
        Some(self.gone.clone())
    }
}

enum Msg {
    Raw(Bytes),
    Text(String),
    Part(AnswerPart),
    Done(Result<Reply, RouterError>),
}

fn status_for(e: &RouterError) -> StatusCode {
    match e {
        RouterError::EmptyPrompt | RouterError::Refused { .. } | RouterError::ToolsNowhere { .. } => {
            StatusCode::BAD_REQUEST
        }
        RouterError::BudgetReached { .. } => StatusCode::TOO_MANY_REQUESTS,
        RouterError::LedgerChanged { .. } | RouterError::FetchRefused { .. } => StatusCode::FORBIDDEN,
        RouterError::NotRecorded { .. } | RouterError::NotOpened { .. } => StatusCode::SERVICE_UNAVAILABLE,
        RouterError::Workspace(w) if w.kind() == ErrorKind::Locked => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// A call that ended in an error, in the caller's protocol. A request the provider refused goes
/// back as the provider wrote it (its status, its message; its error type too when the caller
/// speaks the provider's protocol): a client's recovery may match on the wording.
fn router_error(protocol: Protocol, e: &RouterError) -> Response {
    if let RouterError::Refused { upstream: Some((spoken, u)), .. } = e {
        let status = StatusCode::from_u16(u.status).unwrap_or(StatusCode::BAD_REQUEST);
        let kind = u.kind.as_deref().filter(|_| *spoken == protocol);
        return (status, Json(protocol.error_body_typed(u.status, kind, &u.message))).into_response();
    }
    error(protocol, status_for(e), &e.to_string())
}

fn too_large(protocol: Protocol) -> Response {
    let message = format!("The request body is larger than Keyhold's limit of {} MiB.", BODY_LIMIT / 1024 / 1024);
    error(protocol, StatusCode::PAYLOAD_TOO_LARGE, &message)
}

/// Whether reading a body failed because it passed the size limit (http-body's
/// `LengthLimitError`, somewhere in the error's chain).
fn over_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.to_string().contains("length limit exceeded") {
            return true;
        }
        source = s.source();
    }
    false
}

async fn read_body(body: Body, protocol: Protocol, limit: Duration) -> Result<Bytes, Response> {
    match tokio::time::timeout(limit, axum::body::to_bytes(body, BODY_LIMIT)).await {
        Err(_) => Err(error(
            protocol,
            StatusCode::REQUEST_TIMEOUT,
            &format!("The request body did not arrive within {} s.", limit.as_secs_f32()),
        )),
        Ok(Err(e)) if over_limit(&e) => Err(too_large(protocol)),
        // A body that breaks off or is badly framed (a malformed chunk) is the request's fault,
        // and not a size.
        Ok(Err(_)) => Err(error(
            protocol,
            StatusCode::BAD_REQUEST,
            "The request body could not be read: it broke off or its chunked framing is malformed.",
        )),
        Ok(Ok(b)) => Ok(b),
    }
}

/// What every POST endpoint does first: the token's agent, then the body (a declared length past
/// the limit refused before a byte is waited for), as JSON; with the body's size as received.
async fn authenticated_json(
    ctx: &Ctx,
    protocol: Protocol,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Agent, usize, Value), Response> {
    let agent = authenticate(ctx, headers, protocol).map_err(|r| *r)?;
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return Err(too_large(protocol));
    }
    let bytes = read_body(body, protocol, ctx.body_timeout).await?;
    let value = serde_json::from_slice(&bytes)
        .map_err(|e| error(protocol, StatusCode::BAD_REQUEST, &format!("The request body is not valid JSON: {e}.")))?;
    Ok((agent, bytes.len(), value))
}

async fn chat(ctx: Ctx, protocol: Protocol, headers: HeaderMap, body: Body) -> Response {
    let (agent, size, value) = match authenticated_json(&ctx, protocol, &headers, body).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let stream = value.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = value.pointer("/stream_options/include_usage").and_then(Value::as_bool).unwrap_or(false);
    let mut req = match protocol.parse_request(value, size, agent.max_tokens) {
        Ok(r) => r,
        Err(why) => {
            return error(
                protocol,
                StatusCode::BAD_REQUEST,
                &format!("The request is not a valid {} request: {why}.", protocol.label()),
            )
        }
    };
    if let Some(raw) = req.raw.as_mut() {
        raw.headers = protocol.forwarded_headers(&headers);
    }
    let tools = req.tools.clone();

    // The router runs in its own task; its output comes back through a channel so the response
    // can start with the first byte and not before. The router owns the call's one deadline.
    let (tx, mut rx) = mpsc::channel::<Msg>(IN_FLIGHT);
    let (gone_tx, gone) = watch::channel(false);
    let (finished, call_over) = oneshot::channel::<()>();
    let watcher = tx.clone();
    tokio::spawn(async move {
        // The client hung up (its response body, holding the receiver, was dropped): tell the
        // router now, even while the provider sends nothing. Ends with the call either way, so
        // this sender never outlives it.
        tokio::select! {
            _ = watcher.closed() => { let _ = gone_tx.send(true); }
            _ = call_over => {}
        }
    });
    let ws = Arc::clone(&ctx.ws);
    let run_agent = agent.clone();
    tokio::spawn(async move {
        let mut sink = ChannelSink { tx, waiting: VecDeque::new(), gone };
        let result = router::call(&ws, &run_agent, req, Mode::Proxy, &mut sink).await;
        if sink.flush().await {
            let _ = sink.tx.send(Msg::Done(result)).await;
        }
        drop(finished);
    });

    let first = rx.recv().await;
    let passthrough = matches!(first, Some(Msg::Raw(_)));
    match first {
        None => error(protocol, StatusCode::INTERNAL_SERVER_ERROR, "Keyhold's router stopped without an answer."),
        Some(Msg::Done(Err(e))) => router_error(protocol, &e),
        Some(first) if stream => stream_response(protocol, agent, first, rx, passthrough, include_usage, &tools),
        Some(first) => whole_response(protocol, &tools, first, rx, passthrough).await,
    }
}

/// Forwards the answer as it arrives: upstream events byte for byte when the step spoke the
/// caller's protocol, else the translation.
fn stream_response(
    protocol: Protocol,
    agent: Agent,
    first: Msg,
    rx: mpsc::Receiver<Msg>,
    passthrough: bool,
    include_usage: bool,
    tools: &[ToolSpec],
) -> Response {
    let renderer = protocol.writer(&agent.model, include_usage, tools);
    let state = (Some(first), rx, renderer, false);
    let body = futures_util::stream::unfold(state, move |(mut pending, mut rx, mut r, done)| async move {
        if done {
            return None;
        }
        loop {
            let msg = match pending.take() {
                Some(m) => m,
                None => rx.recv().await?,
            };
            let out = match msg {
                Msg::Raw(e) if passthrough => {
                    // Usage was asked for on the client's behalf: keep it out of its stream.
                    if protocol == Protocol::OpenAiChat && !include_usage && openai_chat::is_usage_only_chunk(&e) {
                        continue;
                    }
                    e
                }
                Msg::Raw(_) => continue,
                Msg::Text(_) | Msg::Part(_) if passthrough => continue,
                Msg::Text(t) => Bytes::from(r.text(&t)),
                Msg::Part(p) => {
                    let s = r.part(&p);
                    if s.is_empty() {
                        continue;
                    }
                    Bytes::from(s)
                }
                Msg::Done(Ok(reply)) => {
                    if passthrough {
                        return None;
                    }
                    let s = r.finish(reply.tokens);
                    return Some((Ok::<_, std::convert::Infallible>(Bytes::from(s)), (None, rx, r, true)));
                }
                Msg::Done(Err(e)) => {
                    let s = r.error(&e.to_string());
                    return Some((Ok(Bytes::from(s)), (None, rx, r, true)));
                }
            };
            return Some((Ok(out), (None, rx, r, false)));
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .header("x-keyhold-agent", HeaderValue::from_str(&agent.name).unwrap_or(HeaderValue::from_static("agent")))
        .body(Body::from_stream(body))
        .expect("static headers are valid")
}

/// Collects a non-streamed answer: the upstream body as it was, or the translation.
async fn whole_response(
    protocol: Protocol,
    tools: &[ToolSpec],
    first: Msg,
    mut rx: mpsc::Receiver<Msg>,
    passthrough: bool,
) -> Response {
    let mut raw = Vec::new();
    let mut answer = Answer::default();
    let mut next = Some(first);
    loop {
        let msg = match next.take() {
            Some(m) => m,
            None => match rx.recv().await {
                Some(m) => m,
                None => {
                    return error(
                        protocol,
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Keyhold's router stopped without an answer.",
                    )
                }
            },
        };
        match msg {
            Msg::Raw(r) => raw.extend_from_slice(&r),
            Msg::Text(t) => answer.push_text(&t),
            Msg::Part(p) => answer.push_part(&p),
            Msg::Done(Err(e)) => return router_error(protocol, &e),
            Msg::Done(Ok(reply)) => {
                return if passthrough {
                    ([(header::CONTENT_TYPE, "application/json")], raw).into_response()
                } else {
                    Json(protocol.writer(&reply.model, false, tools).whole(&answer, reply.tokens)).into_response()
                };
            }
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tool_tests;
