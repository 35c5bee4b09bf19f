//! Talking to one upstream: send the request, then turn its stream (SSE for OpenAI and
//! Anthropic, Ollama's NDJSON through ollama-rs) into text pieces and usage, with each
//! provider's usage semantics.

use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use serde_json::Value;

use super::canonical::{ChatRequest, Role};
use crate::core::prices::Tokens;
use crate::core::providers::probe::{auth_headers, Unreachable};
use crate::core::providers::{Protocol, Provider};

/// What an upstream stream yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// One upstream event exactly as received (or the whole body of a non-streamed reply),
    /// when the caller speaks the step's protocol: forwarded byte for byte.
    Raw(String),
    Text(String),
    /// Usage as the provider reported it so far, already in Keyhold's classes.
    Usage(Tokens),
    End,
}

/// Why a step failed before its answer started.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Ledger outcome: connect, dns, tls, timeout, http_NNN, bad_reply, …
    pub kind: String,
    pub detail: String,
    /// 400/422: the request itself is at fault, another step would fail the same way.
    pub request_fault: bool,
}

pub type Pieces = Pin<Box<dyn Stream<Item = Result<Piece, String>> + Send>>;

fn unreachable(e: &reqwest::Error) -> Failure {
    let v = crate::core::providers::probe::classify(e);
    let (kind, detail) = match v {
        crate::core::providers::probe::Verdict::Unreachable { reason, detail } => (
            match reason {
                Unreachable::Dns => "dns",
                Unreachable::Connect => "connect",
                Unreachable::Tls => "tls",
                Unreachable::Timeout => "timeout",
            },
            detail,
        ),
        _ => ("connect", e.to_string()),
    };
    Failure { kind: kind.into(), detail, request_fault: false }
}

fn http_failure(status: u16, body: &str, secret: Option<&str>) -> Failure {
    let message = crate::core::providers::probe::provider_message(body);
    Failure {
        kind: format!("http_{status}"),
        detail: crate::core::providers::probe::redact(&message, secret),
        request_fault: matches!(status, 400 | 413 | 422),
    }
}

/// One HTTP client for every upstream call: its connection pool and TLS setup are reused, which
/// is most of what a proxy hop costs (building a client per call cost ~0.5 ms and memory).
fn shared_client(connect_timeout: Duration) -> Result<reqwest::Client, String> {
    static CLIENT: std::sync::OnceLock<Result<reqwest::Client, String>> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(connect_timeout)
                .read_timeout(Duration::from_secs(120))
                .pool_idle_timeout(Duration::from_secs(60))
                .build()
                .map_err(|e| e.to_string())
        })
        .clone()
}

/// Starts one upstream call. Returns the stream of pieces once the provider has accepted the
/// request (status 200), or why it did not.
pub async fn start(
    provider: &Provider,
    base_url: &str,
    secret: Option<&str>,
    model: &str,
    req: &ChatRequest,
    connect_timeout: Duration,
) -> Result<Pieces, Failure> {
    match provider.protocol {
        Protocol::Ollama => return ollama(base_url, model, req).await,
        Protocol::OpenAiChat | Protocol::AnthropicMessages => {}
    }
    let client = shared_client(connect_timeout).map_err(|e| Failure { kind: "internal".into(), detail: e, request_fault: true })?;
    let base = base_url.trim_end_matches('/');
    let url = match provider.protocol {
        Protocol::AnthropicMessages => format!("{base}/v1/messages"),
        _ => format!("{base}/chat/completions"),
    };
    let body = req.body_for(provider.protocol, model, provider.id == "openai");
    let passthrough = req.raw.as_ref().is_some_and(|r| r.protocol == provider.protocol);
    let streamed = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let resp = client
        .post(url)
        .headers(auth_headers(provider.auth, secret))
        .json(&body)
        .send()
        .await
        .map_err(|e| unreachable(&e))?;
    let status = resp.status().as_u16();
    if status != 200 {
        let body = resp.text().await.unwrap_or_default();
        return Err(http_failure(status, &body, secret));
    }
    let protocol = provider.protocol;
    if !streamed {
        // A non-streamed passthrough: the whole body goes back as it is; usage is read from it.
        let text = resp.text().await.map_err(|e| unreachable(&e))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|_| Failure { kind: "bad_reply".into(), detail: format!("{} sent a reply that is not JSON", provider.name), request_fault: false })?;
        let usage = match protocol {
            Protocol::AnthropicMessages => v.get("usage").map(|u| Tokens {
                input: int(u, "input_tokens"),
                output: int(u, "output_tokens"),
                cache_read: int(u, "cache_read_input_tokens"),
                cache_write: int(u, "cache_creation_input_tokens"),
            }),
            _ => v.get("usage").map(openai_usage),
        };
        let mut pieces = vec![Ok(Piece::Raw(text))];
        pieces.extend(usage.map(|u| Ok(Piece::Usage(u))));
        pieces.push(Ok(Piece::End));
        return Ok(Box::pin(futures_util::stream::iter(pieces)));
    }
    let bytes = resp.bytes_stream();
    Ok(Box::pin(sse_pieces(bytes, protocol, passthrough)))
}

/// Splits an SSE byte stream into events and maps each to pieces.
fn sse_pieces(
    bytes: impl Stream<Item = reqwest::Result<bytes::Bytes>> + Send + 'static,
    protocol: Protocol,
    passthrough: bool,
) -> impl Stream<Item = Result<Piece, String>> + Send {
    let state = (Box::pin(bytes), String::new(), std::collections::VecDeque::<Piece>::new(), false, AnthropicUsage::default());
    futures_util::stream::unfold(state, move |(mut bytes, mut buf, mut queue, mut ended, mut au)| async move {
        loop {
            if let Some(p) = queue.pop_front() {
                return Some((Ok(p), (bytes, buf, queue, ended, au)));
            }
            if ended {
                return None;
            }
            // A complete event in the buffer?
            if let Some(pos) = buf.find("\n\n") {
                let event: String = buf.drain(..pos + 2).collect();
                match parse_event(&event, protocol, &mut au) {
                    Ok(pieces) => {
                        if pieces.contains(&Piece::End) {
                            ended = true;
                        }
                        if passthrough {
                            queue.push_back(Piece::Raw(event));
                        }
                        queue.extend(pieces);
                    }
                    Err(e) => return Some((Err(e), (bytes, buf, queue, true, au))),
                }
                continue;
            }
            match bytes.next().await {
                Some(Ok(chunk)) => buf.push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n")),
                Some(Err(e)) => return Some((Err(format!("the stream broke: {e}")), (bytes, buf, queue, true, au))),
                None => {
                    // The connection closed without the provider's closing event: a cut stream.
                    return Some((Err("the stream ended before the provider finished".into()), (bytes, buf, queue, true, au)));
                }
            }
        }
    })
}

/// Anthropic spreads usage over message_start (input, cache) and message_delta (output, a
/// running total that replaces, never adds to, the previous one).
#[derive(Debug, Default, Clone, Copy)]
struct AnthropicUsage(Tokens);

fn parse_event(event: &str, protocol: Protocol, au: &mut AnthropicUsage) -> Result<Vec<Piece>, String> {
    let data: String = event.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim).collect::<Vec<_>>().join("");
    if data.is_empty() {
        return Ok(Vec::new());
    }
    if data == "[DONE]" {
        return Ok(vec![Piece::End]);
    }
    let v: Value = serde_json::from_str(&data).map_err(|_| format!("the provider sent something that is not JSON: {}", data.chars().take(80).collect::<String>()))?;
    let mut out = Vec::new();
    match protocol {
        Protocol::OpenAiChat => {
            if let Some(t) = v.pointer("/choices/0/delta/content").and_then(Value::as_str) {
                if !t.is_empty() {
                    out.push(Piece::Text(t.to_string()));
                }
            }
            if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
                out.push(Piece::Usage(openai_usage(u)));
            }
            if v.get("error").is_some() {
                return Err(format!("the provider reported an error mid-stream: {}", crate::core::providers::probe::provider_message(&data)));
            }
        }
        Protocol::AnthropicMessages => match v.get("type").and_then(Value::as_str) {
            Some("message_start") => {
                if let Some(u) = v.pointer("/message/usage") {
                    au.0 = Tokens {
                        input: int(u, "input_tokens"),
                        output: int(u, "output_tokens"),
                        cache_read: int(u, "cache_read_input_tokens"),
                        cache_write: int(u, "cache_creation_input_tokens"),
                    };
                    out.push(Piece::Usage(au.0));
                }
            }
            Some("content_block_delta") => {
                if let Some(t) = v.pointer("/delta/text").and_then(Value::as_str) {
                    out.push(Piece::Text(t.to_string()));
                }
            }
            Some("message_delta") => {
                if let Some(u) = v.get("usage") {
                    au.0.output = int(u, "output_tokens");
                    // Newer API versions may repeat input/cache counts here: also running totals.
                    for (field, slot) in [("input_tokens", 0), ("cache_read_input_tokens", 1), ("cache_creation_input_tokens", 2)] {
                        if let Some(n) = u.get(field).and_then(Value::as_i64) {
                            match slot {
                                0 => au.0.input = n,
                                1 => au.0.cache_read = n,
                                _ => au.0.cache_write = n,
                            }
                        }
                    }
                    out.push(Piece::Usage(au.0));
                }
            }
            Some("message_stop") => out.push(Piece::End),
            Some("error") => {
                return Err(format!("the provider reported an error mid-stream: {}", crate::core::providers::probe::provider_message(&data)))
            }
            _ => {}
        },
        Protocol::Ollama => {}
    }
    Ok(out)
}

fn int(v: &Value, field: &str) -> i64 {
    v.get(field).and_then(Value::as_i64).unwrap_or(0)
}

/// OpenAI's prompt_tokens includes the cached ones: split them out.
pub fn openai_usage(u: &Value) -> Tokens {
    let prompt = int(u, "prompt_tokens");
    let cached = u.pointer("/prompt_tokens_details/cached_tokens").and_then(Value::as_i64).unwrap_or(0);
    Tokens { input: (prompt - cached).max(0), output: int(u, "completion_tokens"), cache_read: cached, cache_write: 0 }
}

async fn ollama(base_url: &str, model: &str, req: &ChatRequest) -> Result<Pieces, Failure> {
    use ollama_rs::generation::chat::{request::ChatMessageRequest, ChatMessage};
    use ollama_rs::models::ModelOptions;
    let url = reqwest::Url::parse(&format!("{}/", base_url.trim_end_matches('/')))
        .map_err(|e| Failure { kind: "bad_url".into(), detail: format!("the Ollama address is not a URL: {e}"), request_fault: false })?;
    let client = ollama_rs::Ollama::from_url(url);
    let mut messages = Vec::new();
    if let Some(s) = &req.system {
        messages.push(ChatMessage::system(s.clone()));
    }
    for t in &req.turns {
        messages.push(match t.role {
            Role::User => ChatMessage::user(t.text.clone()),
            Role::Assistant => ChatMessage::assistant(t.text.clone()),
        });
    }
    let mut options = ModelOptions::default().num_predict(req.max_tokens.min(i32::MAX as u32) as i32);
    if let Some(t) = req.temperature {
        options = options.temperature(t);
    }
    if !req.stop.is_empty() {
        options = options.stop(req.stop.clone());
    }
    let stream = client
        .send_chat_messages_stream(ChatMessageRequest::new(model.to_string(), messages).options(options))
        .await
        .map_err(|e| match e {
            ollama_rs::error::OllamaError::ReqwestError(r) => unreachable(&r),
            other => {
                let text = other.to_string();
                let kind = if text.contains("not found") { "model_missing" } else { "ollama_error" };
                Failure { kind: kind.into(), detail: crate::core::providers::probe::provider_message(&text), request_fault: false }
            }
        })?;
    let pieces = stream.flat_map(|item| {
        let out: Vec<Result<Piece, String>> = match item {
            Err(()) => vec![Err("Ollama's stream broke or sent something unreadable".into())],
            Ok(r) => {
                let mut v = Vec::new();
                if !r.message.content.is_empty() {
                    v.push(Ok(Piece::Text(r.message.content)));
                }
                if let Some(f) = r.final_data {
                    v.push(Ok(Piece::Usage(Tokens { input: f.prompt_eval_count as i64, output: f.eval_count as i64, ..Default::default() })));
                }
                if r.done {
                    v.push(Ok(Piece::End));
                }
                v
            }
        };
        futures_util::stream::iter(out)
    });
    // ollama-rs ends its stream when the connection closes; a stream without `done` was cut.
    let mut saw_end = false;
    let checked = pieces.chain(futures_util::stream::once(async { Ok(Piece::End) })).filter_map(move |p| {
        let out = match &p {
            Ok(Piece::End) if saw_end => None,
            Ok(Piece::End) => {
                saw_end = true;
                Some(p)
            }
            _ => Some(p),
        };
        async move { out }
    });
    Ok(Box::pin(checked))
}

/// Counts tokens Keyhold has to estimate (a stream cut before its usage arrived). OpenAI-style
/// models get a real tokenizer (o200k); for others no public tokenizer fits, so four bytes a
/// token. The row is marked estimated either way.
pub fn estimate_tokens(protocol: Protocol, text: &str) -> i64 {
    static O200K: std::sync::OnceLock<Option<tiktoken_rs::CoreBPE>> = std::sync::OnceLock::new();
    match (protocol, O200K.get_or_init(|| tiktoken_rs::o200k_base().ok())) {
        (Protocol::OpenAiChat, Some(bpe)) => bpe.encode_ordinary(text).len() as i64,
        _ => text.len().div_ceil(4) as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_use_a_real_tokenizer_for_openai_style_models() {
        assert_eq!(estimate_tokens(Protocol::OpenAiChat, "Hello world"), 2);
        assert_eq!(estimate_tokens(Protocol::AnthropicMessages, "Hello world"), 3);
    }

    #[test]
    fn openai_cached_tokens_are_taken_out_of_input() {
        let u: Value = serde_json::json!({ "prompt_tokens": 1000, "completion_tokens": 20, "prompt_tokens_details": { "cached_tokens": 800 } });
        assert_eq!(openai_usage(&u), Tokens { input: 200, output: 20, cache_read: 800, cache_write: 0 });
    }

    #[test]
    fn anthropic_output_usage_is_a_running_total_not_an_increment() {
        let mut au = AnthropicUsage::default();
        let start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":10,\"output_tokens\":1,\"cache_read_input_tokens\":500,\"cache_creation_input_tokens\":40}}}\n\n";
        parse_event(start, Protocol::AnthropicMessages, &mut au).unwrap();
        for n in [5, 12, 30] {
            let d = format!("event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{}},\"usage\":{{\"output_tokens\":{n}}}}}\n\n");
            parse_event(&d, Protocol::AnthropicMessages, &mut au).unwrap();
        }
        assert_eq!(au.0, Tokens { input: 10, output: 30, cache_read: 500, cache_write: 40 });
    }
}
