//! Talking to one upstream: send the request, then turn its stream (SSE for OpenAI and
//! Anthropic, Ollama's NDJSON through ollama-rs) into text pieces and usage, with each
//! provider's usage semantics.

use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use serde_json::Value;

use super::canonical::{ChatRequest, Role};
use crate::prices::Tokens;
use crate::providers::framing::{LineSplitter, SseEvent, SseSplitter};
use crate::providers::probe::{auth_headers, Unreachable};
use crate::providers::{Protocol, Provider};

/// What an upstream stream yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// One upstream event exactly as received (or the whole body of a non-streamed reply),
    /// when the caller speaks the step's protocol: forwarded byte for byte.
    Raw(bytes::Bytes),
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
    let v = crate::providers::probe::classify(e);
    let (kind, detail) = match v {
        crate::providers::probe::Verdict::Unreachable { reason, detail } => (
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
    let message = crate::providers::probe::provider_message(body);
    Failure {
        kind: format!("http_{status}"),
        detail: crate::providers::probe::redact(&message, secret),
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
        Protocol::Ollama => return ollama(base_url, model, req, connect_timeout).await,
        Protocol::OpenAiChat | Protocol::AnthropicMessages => {}
    }
    let client = shared_client(connect_timeout).map_err(|e| Failure {
        kind: "internal".into(),
        detail: e,
        request_fault: true,
    })?;
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
        let body = resp.bytes().await.map_err(|e| unreachable(&e))?;
        let v: Value = serde_json::from_slice(&body).map_err(|_| Failure {
            kind: "bad_reply".into(),
            detail: format!("{} sent a reply that is not JSON", provider.name),
            request_fault: false,
        })?;
        let usage = match protocol {
            Protocol::AnthropicMessages => v.get("usage").map(|u| Tokens {
                input: int(u, "input_tokens"),
                output: int(u, "output_tokens"),
                cache_read: int(u, "cache_read_input_tokens"),
                cache_write: int(u, "cache_creation_input_tokens"),
            }),
            _ => v.get("usage").map(openai_usage),
        };
        let mut pieces = vec![Ok(Piece::Raw(body))];
        pieces.extend(usage.map(|u| Ok(Piece::Usage(u))));
        pieces.push(Ok(Piece::End));
        return Ok(Box::pin(futures_util::stream::iter(pieces)));
    }
    let bytes = resp.bytes_stream();
    Ok(Box::pin(sse_pieces(bytes, protocol, passthrough)))
}

/// Cuts an SSE byte stream into whole events (in bytes, so a character split across network
/// chunks arrives whole) and maps each to pieces.
fn sse_pieces(
    bytes: impl Stream<Item = reqwest::Result<bytes::Bytes>> + Send + 'static,
    protocol: Protocol,
    passthrough: bool,
) -> impl Stream<Item = Result<Piece, String>> + Send {
    struct State<S> {
        bytes: Pin<Box<S>>,
        splitter: SseSplitter,
        queue: std::collections::VecDeque<Piece>,
        ended: bool,
        eof: bool,
        au: AnthropicUsage,
    }
    let state = State {
        bytes: Box::pin(bytes),
        splitter: SseSplitter::default(),
        queue: Default::default(),
        ended: false,
        eof: false,
        au: AnthropicUsage::default(),
    };
    futures_util::stream::unfold(state, move |mut st| async move {
        loop {
            if let Some(p) = st.queue.pop_front() {
                return Some((Ok(p), st));
            }
            if st.ended {
                return None;
            }
            match st.splitter.next_event(st.eof) {
                Ok(Some(event)) => {
                    match parse_event(&event, protocol, &mut st.au) {
                        Ok(pieces) => {
                            if pieces.contains(&Piece::End) {
                                st.ended = true;
                            }
                            if passthrough {
                                st.queue.push_back(Piece::Raw(event.raw));
                            }
                            st.queue.extend(pieces);
                        }
                        Err(e) => {
                            st.ended = true;
                            return Some((Err(e), st));
                        }
                    }
                    continue;
                }
                Ok(None) if st.eof => {
                    // The connection closed without the provider's closing event: a cut stream.
                    st.ended = true;
                    return Some((Err("the stream ended before the provider finished".into()), st));
                }
                Ok(None) => {}
                Err(e) => {
                    st.ended = true;
                    return Some((Err(e.to_string()), st));
                }
            }
            match st.bytes.next().await {
                Some(Ok(chunk)) => st.splitter.push(&chunk),
                Some(Err(e)) => {
                    st.ended = true;
                    return Some((Err(format!("the stream broke: {e}")), st));
                }
                None => st.eof = true,
            }
        }
    })
}

/// Anthropic spreads usage over message_start (input, cache) and message_delta (output, a
/// running total that replaces, never adds to, the previous one).
#[derive(Debug, Default, Clone, Copy)]
struct AnthropicUsage(Tokens);

fn parse_event(event: &SseEvent, protocol: Protocol, au: &mut AnthropicUsage) -> Result<Vec<Piece>, String> {
    let data = event.data.as_deref().unwrap_or("").trim();
    if data.is_empty() {
        return Ok(Vec::new());
    }
    if data == "[DONE]" {
        return Ok(vec![Piece::End]);
    }
    let v: Value = serde_json::from_str(data).map_err(|_| {
        format!("the provider sent something that is not JSON: {}", data.chars().take(80).collect::<String>())
    })?;
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
                return Err(format!(
                    "the provider reported an error mid-stream: {}",
                    crate::providers::probe::provider_message(data)
                ));
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
                    for (field, slot) in
                        [("input_tokens", 0), ("cache_read_input_tokens", 1), ("cache_creation_input_tokens", 2)]
                    {
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
                return Err(format!(
                    "the provider reported an error mid-stream: {}",
                    crate::providers::probe::provider_message(data)
                ))
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

/// A chat on a local Ollama. The request and reply types are ollama-rs's; the stream is read
/// here, line by line in bytes, because ollama-rs 0.3 decodes each network chunk on its own and
/// silently drops one that ends inside a multi-byte character.
async fn ollama(base_url: &str, model: &str, req: &ChatRequest, connect_timeout: Duration) -> Result<Pieces, Failure> {
    use ollama_rs::generation::chat::{request::ChatMessageRequest, ChatMessage, ChatMessageResponse};
    use ollama_rs::models::ModelOptions;
    let url = reqwest::Url::parse(&format!("{}/api/chat", base_url.trim_end_matches('/'))).map_err(|e| Failure {
        kind: "bad_url".into(),
        detail: format!("the Ollama address is not a URL: {e}"),
        request_fault: false,
    })?;
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
    let mut body = serde_json::to_value(ChatMessageRequest::new(model.to_string(), messages).options(options))
        .map_err(|e| Failure { kind: "internal".into(), detail: e.to_string(), request_fault: true })?;
    body["stream"] = Value::Bool(true);
    let client = shared_client(connect_timeout).map_err(|e| Failure {
        kind: "internal".into(),
        detail: e,
        request_fault: true,
    })?;
    let resp = client.post(url).json(&body).send().await.map_err(|e| unreachable(&e))?;
    let status = resp.status().as_u16();
    if status != 200 {
        let text = resp.text().await.unwrap_or_default();
        let detail = crate::providers::probe::provider_message(&text);
        let kind = if status == 404 || detail.contains("not found") {
            "model_missing".to_string()
        } else {
            format!("http_{status}")
        };
        return Err(Failure { kind, detail, request_fault: status == 400 });
    }
    let lines = futures_util::stream::unfold(
        (Box::pin(resp.bytes_stream()), LineSplitter::default(), false, false),
        |(mut bytes, mut splitter, mut eof, done)| async move {
            if done {
                return None;
            }
            loop {
                match splitter.next_line(eof) {
                    Ok(Some(line)) => return Some((Ok(line), (bytes, splitter, eof, false))),
                    Ok(None) if eof => return None,
                    Ok(None) => {}
                    Err(e) => return Some((Err(e.to_string()), (bytes, splitter, eof, true))),
                }
                match bytes.next().await {
                    Some(Ok(chunk)) => splitter.push(&chunk),
                    Some(Err(e)) => return Some((Err(format!("the stream broke: {e}")), (bytes, splitter, eof, true))),
                    None => eof = true,
                }
            }
        },
    );
    let pieces = lines
        .map(|line| -> Vec<Result<Piece, String>> {
            let line = match line {
                Ok(l) if l.iter().all(u8::is_ascii_whitespace) => return Vec::new(),
                Ok(l) => l,
                Err(e) => return vec![Err(e)],
            };
            let r: ChatMessageResponse = match serde_json::from_slice(&line) {
                Ok(r) => r,
                Err(_) => {
                    return vec![Err(format!(
                        "Ollama sent something unreadable: {}",
                        crate::providers::probe::provider_message(&String::from_utf8_lossy(&line))
                    ))]
                }
            };
            let mut v = Vec::new();
            if !r.message.content.is_empty() {
                v.push(Ok(Piece::Text(r.message.content)));
            }
            if let Some(f) = r.final_data {
                v.push(Ok(Piece::Usage(Tokens {
                    input: f.prompt_eval_count as i64,
                    output: f.eval_count as i64,
                    ..Default::default()
                })));
            }
            if r.done {
                v.push(Ok(Piece::End));
            }
            v
        })
        .flat_map(futures_util::stream::iter);
    // A stream that closes without `done` was cut.
    let checked = pieces.chain(futures_util::stream::once(async {
        Err::<Piece, String>("the stream ended before Ollama finished".into())
    }));
    let mut finished = false;
    let checked = checked.take_while(move |p| {
        let go = !finished;
        if matches!(p, Ok(Piece::End)) {
            finished = true;
        }
        async move { go }
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

    fn sse(text: &str) -> SseEvent {
        let mut s = SseSplitter::default();
        s.push(text.as_bytes());
        s.next_event(true).unwrap().unwrap()
    }

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
        parse_event(&sse(start), Protocol::AnthropicMessages, &mut au).unwrap();
        for n in [5, 12, 30] {
            let d = format!("event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{}},\"usage\":{{\"output_tokens\":{n}}}}}\n\n");
            parse_event(&sse(&d), Protocol::AnthropicMessages, &mut au).unwrap();
        }
        assert_eq!(au.0, Tokens { input: 10, output: 30, cache_read: 500, cache_write: 40 });
    }
}
