//! Provider simulators: real HTTP servers on 127.0.0.1 that speak the published API shapes of
//! OpenAI (chat completions), Anthropic (messages) and Ollama, each on its own port with the
//! same paths as the real service, so base URLs work exactly as they do with the real providers.
//!
//! Used by the tests and the end-to-end suite, and runnable on its own (`keyhold-sim`) for manual
//! tries and benchmarks. Behaviour is steered through `POST /_sim/behavior` (answer 401, 429 with
//! retry-after, 500, 529, slowly, or cut a stream midway) and every request is listed at
//! `GET /_sim/requests`, so a test can assert what reached a "provider".
//!
//! This is test equipment, not a mock of Keyhold: it knows nothing of Keyhold's code.

mod anthropic;
mod ollama;
mod openai;
mod responses;
pub mod tools;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// What the next requests should meet. `times: None` means until changed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Behavior {
    /// Answer with this HTTP status (401, 429, 500, 529, …) in the provider's error format.
    pub status: Option<u16>,
    /// Seconds for `retry-after` on a 429.
    pub retry_after: Option<u64>,
    /// Wait this long before answering (and between stream chunks).
    pub delay_ms: Option<u64>,
    /// End a streamed answer after this many content chunks, without its final events.
    pub cut_after_chunks: Option<usize>,
    /// Reply body that is not JSON at all.
    pub garbage: Option<bool>,
    /// Answer `307 Temporary Redirect` to this URL (a base URL that moved, or a hostile one).
    pub redirect_to: Option<String>,
    /// Report usage that cannot be: negative output tokens (a broken or malicious upstream).
    pub negative_usage: Option<bool>,
    /// With `status`: put the presented credential in the error message, as some providers do.
    pub echo_key: Option<bool>,
    /// Leave usage out of a whole (non-streamed) reply, as some OpenAI-compatible servers do.
    pub no_usage: Option<bool>,
    /// Answer with the last user message, streamed three characters at a time (so a
    /// placeholder in it is split across events).
    pub echo: Option<bool>,
    /// Answer with this text instead of [`ANSWER`] (streamed word by word).
    pub answer: Option<String>,
    /// Write every streamed event in two writes, cut inside its first multi-byte character (or
    /// in its middle when it has none), as a real provider's TCP/TLS chunks may fall.
    pub split_writes: Option<bool>,
    /// End SSE lines with `\r\n`; with `split_writes`, an event is cut between its last `\r`
    /// and `\n`.
    pub crlf: Option<bool>,
    /// When the request offers the provider's web search: the model searches this many times
    /// (Anthropic's `usage.server_tool_use.web_search_requests`, Responses `web_search_call`
    /// items), each billed per use by the real providers.
    pub web_searches: Option<u32>,
    /// How many requests this applies to; then back to normal.
    pub times: Option<u32>,
}

/// One request as the simulator saw it. The credential is never recorded, only whether it was
/// accepted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorized: bool,
    pub model: Option<String>,
    pub stream: bool,
    /// Top-level fields of a JSON body, to check what reached the provider.
    #[serde(default)]
    pub fields: Vec<String>,
    /// The JSON body as it arrived (it never holds the credential, which travels in headers).
    #[serde(default)]
    pub body: Option<serde_json::Value>,
    /// The protocol's own request headers as they arrived (`anthropic-*`, `openai-*`): what a
    /// gateway must forward. Never the credential.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    OpenAi,
    Anthropic,
    Ollama,
}

pub struct SimState {
    pub flavor: Flavor,
    valid_keys: Vec<String>,
    behaviors: Mutex<VecDeque<Behavior>>,
    seen: Mutex<Vec<Seen>>,
    pub models: Vec<String>,
    /// Ollama: the models installed now (pull adds, delete removes).
    pub installed: Mutex<Vec<String>>,
    /// Ollama: installed models it forwards to ollama.com under a name of their own.
    pub remote: Mutex<Vec<String>>,
    /// Every streamed answer that ended, in the order they ended.
    streams: Mutex<Vec<StreamEnd>>,
}

/// How a streamed answer ended: `written < total` when the client closed the connection before
/// the end (the server dropped the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamEnd {
    /// Writes handed to the connection (an event is one write, or two with `split_writes`).
    pub written: usize,
    pub total: usize,
    /// From the response's start to its end.
    pub after: Duration,
}

pub type Shared = Arc<SimState>;

impl SimState {
    /// The behavior for this request: the head of the queue, consumed if it counts down.
    fn take_behavior(&self) -> Behavior {
        let mut q = self.behaviors.lock().unwrap_or_else(|p| p.into_inner());
        let Some(front) = q.front_mut() else { return Behavior::default() };
        let b = front.clone();
        if let Some(t) = front.times.as_mut() {
            *t = t.saturating_sub(1);
            if *t == 0 {
                q.pop_front();
            }
        }
        b
    }

    /// Notes the body (and its top-level fields) of the last request.
    pub(crate) fn note_fields(&self, body: &serde_json::Value) {
        if let (Some(last), Some(obj)) =
            (self.seen.lock().unwrap_or_else(|p| p.into_inner()).last_mut(), body.as_object())
        {
            last.fields = obj.keys().cloned().collect();
            last.body = Some(body.clone());
        }
    }

    fn record(&self, seen: Seen) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).push(seen);
    }

    fn key_ok(&self, key: Option<&str>) -> bool {
        match (self.flavor, key) {
            (Flavor::Ollama, _) => true,
            (_, Some(k)) => self.valid_keys.iter().any(|v| v == k),
            (_, None) => false,
        }
    }
}

/// Reads the credential the way the provider does: Bearer for OpenAI; `x-api-key` (or Bearer,
/// as recent Anthropic SDKs send) for Anthropic.
fn credential(flavor: Flavor, headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    match flavor {
        Flavor::Anthropic => headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::to_string).or(bearer),
        _ => bearer,
    }
}

/// What every endpoint does first: record, authenticate, apply the steered behavior.
/// `Err` is the complete response to send instead.
pub(crate) async fn gate(
    state: &SimState,
    method: &str,
    path: &str,
    headers: &HeaderMap,
    model: Option<String>,
    stream: bool,
) -> Result<Behavior, Response> {
    let authorized = state.key_ok(credential(state.flavor, headers).as_deref());
    state.record(Seen {
        method: method.into(),
        path: path.into(),
        authorized,
        model,
        stream,
        fields: Vec::new(),
        body: None,
        headers: headers
            .iter()
            .filter(|(k, _)| k.as_str().starts_with("anthropic-") || k.as_str().starts_with("openai-"))
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
    });
    let b = state.take_behavior();
    if let Some(ms) = b.delay_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(to) = &b.redirect_to {
        let mut resp = StatusCode::TEMPORARY_REDIRECT.into_response();
        if let Ok(v) = to.parse() {
            resp.headers_mut().insert("location", v);
        }
        return Err(resp);
    }
    if b.garbage == Some(true) {
        return Err((StatusCode::OK, "<html>this is not the API you are looking for</html>").into_response());
    }
    if !authorized {
        return Err(error(state.flavor, 401, None));
    }
    if let Some(status) = b.status {
        let mut resp = error(state.flavor, status, b.retry_after);
        if let (Some(true), Some(key)) = (b.echo_key, credential(state.flavor, headers)) {
            let message = format!("Incorrect API key provided: {key}. Bearer {key} was refused.");
            let body = match state.flavor {
                Flavor::Anthropic => {
                    serde_json::json!({ "type": "error", "error": { "type": "authentication_error", "message": message } })
                }
                _ => {
                    serde_json::json!({ "error": { "message": message, "type": "invalid_request_error", "code": "invalid_api_key" } })
                }
            };
            let status = resp.status();
            resp = (status, Json(body)).into_response();
        }
        return Err(resp);
    }
    Ok(b)
}

/// An error in the provider's own format.
pub(crate) fn error(flavor: Flavor, status: u16, retry_after: Option<u64>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (kind, message) = match status {
        401 => ("authentication_error", "invalid x-api-key"),
        403 => ("permission_error", "Your API key does not have permission to use the specified resource."),
        404 => ("not_found_error", "model not found"),
        429 => ("rate_limit_error", "Rate limit reached for requests"),
        529 => ("overloaded_error", "Overloaded"),
        _ => ("api_error", "Internal server error"),
    };
    let body = match flavor {
        Flavor::Anthropic => serde_json::json!({ "type": "error", "error": { "type": kind, "message": message } }),
        Flavor::OpenAi => {
            let message = if status == 401 {
                "Incorrect API key provided. You can find your API key at your provider's console."
            } else {
                message
            };
            serde_json::json!({ "error": { "message": message, "type": kind, "param": null, "code": if status == 401 { "invalid_api_key" } else { kind } } })
        }
        Flavor::Ollama => serde_json::json!({ "error": message }),
    };
    let mut resp = (code, Json(body)).into_response();
    if let Some(secs) = retry_after {
        resp.headers_mut().insert("retry-after", secs.into());
    }
    resp
}

async fn set_behavior(State(s): State<Shared>, Json(list): Json<Vec<Behavior>>) -> StatusCode {
    *s.behaviors.lock().unwrap_or_else(|p| p.into_inner()) = list.into();
    StatusCode::NO_CONTENT
}

async fn requests(State(s): State<Shared>) -> Json<Vec<Seen>> {
    Json(s.seen.lock().unwrap_or_else(|p| p.into_inner()).clone())
}

/// Text the simulated models answer with, word by word when streaming.
pub const ANSWER: &str = "Hello from the simulator. Your request arrived intact.";

impl Behavior {
    /// The text the simulated model answers with.
    pub fn answer(&self) -> String {
        self.answer.clone().unwrap_or_else(|| ANSWER.to_string())
    }

    /// The answer to a request whose messages are `messages` (echo mode repeats the last user
    /// message).
    pub fn answer_to(&self, messages: Option<&serde_json::Value>) -> String {
        if self.echo == Some(true) {
            return last_user_text(messages);
        }
        self.answer()
    }

    /// How the answer is cut into stream events: word by word, or three characters at a time
    /// in echo mode.
    pub fn pieces(&self, answer: &str) -> Vec<String> {
        if self.echo == Some(true) {
            let chars: Vec<char> = answer.chars().collect();
            return chars.chunks(3).map(|c| c.iter().collect()).collect();
        }
        answer.split(' ').enumerate().map(|(i, w)| if i == 0 { w.to_string() } else { format!(" {w}") }).collect()
    }
}

/// The text of the last user message: a string, or its text parts joined.
/// The searches a request makes under `behavior`: none unless it offers a web search tool.
pub(crate) fn searches(behavior: &Behavior, req: &serde_json::Value) -> u32 {
    let offered = req
        .get("tools")
        .and_then(|t| t.as_array())
        .into_iter()
        .flatten()
        .any(|t| t.get("type").and_then(|k| k.as_str()).is_some_and(|k| k.starts_with("web_search")));
    if offered {
        behavior.web_searches.unwrap_or(0)
    } else {
        0
    }
}

pub(crate) fn last_user_text(messages: Option<&serde_json::Value>) -> String {
    use serde_json::Value;
    let Some(last) = messages
        .and_then(Value::as_array)
        .and_then(|ms| ms.iter().rev().find(|m| m.get("role").and_then(Value::as_str) == Some("user")))
    else {
        return String::new();
    };
    match last.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// A rough token count: words, at least one. The simulator only has to be consistent.
pub(crate) fn tokens(text: &str) -> u64 {
    text.split_whitespace().count().max(1) as u64
}

/// A running simulator of one provider.
pub struct Running {
    pub addr: SocketAddr,
    pub state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// The base URL in the form the provider's official SDK takes.
    pub fn base_url(&self) -> String {
        match self.state.flavor {
            Flavor::OpenAi => format!("http://{}/v1", self.addr),
            Flavor::Anthropic | Flavor::Ollama => format!("http://{}", self.addr),
        }
    }

    pub fn set_behavior(&self, list: Vec<Behavior>) {
        *self.state.behaviors.lock().unwrap_or_else(|p| p.into_inner()) = list.into();
    }

    /// Ollama: installs `model` as a copy of a cloud model (`ollama cp gpt-oss:120b-cloud
    /// big`): served from ollama.com, whatever its name says.
    pub fn serve_remotely(&self, model: &str) {
        self.state.installed.lock().unwrap_or_else(|p| p.into_inner()).push(model.to_string());
        self.state.remote.lock().unwrap_or_else(|p| p.into_inner()).push(model.to_string());
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Every streamed answer that has ended so far.
    pub fn streams(&self) -> Vec<StreamEnd> {
        self.state.streams.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

/// Starts one simulator on `addr` (port 0 for a random free port).
pub async fn start(flavor: Flavor, addr: SocketAddr, valid_keys: Vec<String>) -> std::io::Result<Running> {
    let models = match flavor {
        Flavor::OpenAi => vec!["gpt-4o-mini".into(), "gpt-4o".into(), "o3-mini".into()],
        Flavor::Anthropic => vec!["claude-sonnet-4-5".into(), "claude-haiku-4-5".into()],
        Flavor::Ollama => vec!["llama3.2:1b".into(), "qwen2.5:0.5b".into()],
    };
    let state = Arc::new(SimState {
        flavor,
        valid_keys,
        behaviors: Mutex::new(VecDeque::new()),
        seen: Mutex::new(Vec::new()),
        installed: Mutex::new(models.clone()),
        remote: Mutex::new(Vec::new()),
        streams: Mutex::new(Vec::new()),
        models,
    });
    let api = match flavor {
        Flavor::OpenAi => openai::routes(),
        Flavor::Anthropic => anthropic::routes(),
        Flavor::Ollama => ollama::routes(),
    };
    let app: Router = api
        .route("/_sim/behavior", post(set_behavior))
        .route("/_sim/requests", get(requests))
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let _ = axum::serve(listener, app).await;
    });
    Ok(Running { addr, state, task })
}

#[cfg(test)]
mod tests;
