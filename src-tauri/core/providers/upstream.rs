//! Talking to one upstream: one shared HTTP client; send a step's request, then turn its stream
//! (SSE for OpenAI and Anthropic, NDJSON for Ollama) into pieces the router can forward and
//! meter. What each protocol's events mean is its own module's business.

use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use serde_json::Value;

use super::anthropic_messages::{self, StreamUsage};
use super::canonical::ChatRequest;
use super::framing::{SseEvent, SseSplitter};
use super::stream::http_failure;
pub(crate) use super::stream::{redirected, shared_client, unreachable};
pub use super::stream::{Failure, Piece, Pieces, StreamError};
use super::{ollama, openai_chat, openai_responses, Protocol, Provider};
use crate::ledger::Outcome;

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
    let protocol = provider.step_protocol(req.raw.as_ref().map(|r| r.protocol));
    if protocol == Protocol::Ollama {
        return ollama::start(base_url, model, req, connect_timeout).await;
    }
    let client = shared_client(connect_timeout)?;
    let url = match protocol {
        Protocol::AnthropicMessages => anthropic_messages::messages_url(base_url),
        Protocol::OpenAiResponses => openai_responses::responses_url(base_url),
        _ => openai_chat::chat_url(base_url),
    };
    let body = protocol.body_for(req, model, provider.id == "openai");
    let passthrough = req.raw.as_ref().is_some_and(|r| r.protocol == protocol);
    let streamed = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let mut headers = provider.auth.headers(secret);
    if let Some(raw) = req.raw.as_ref().filter(|_| passthrough) {
        add_caller_headers(&mut headers, raw);
    }
    let resp = client.post(url).headers(headers).json(&body).send().await.map_err(|e| unreachable(&e))?;
    let status = resp.status().as_u16();
    if resp.status().is_redirection() {
        return Err(redirected(status, resp.headers(), secret));
    }
    if status != 200 {
        let body = resp.text().await.unwrap_or_default();
        return Err(http_failure(status, &body, secret));
    }
    if !streamed {
        // A non-streamed passthrough: the whole body goes back as it is; usage is read from it.
        let body = resp.bytes().await.map_err(|e| unreachable(&e))?;
        let v: Value = serde_json::from_slice(&body).map_err(|_| Failure {
            kind: Outcome::BadReply,
            detail: format!("{} sent a reply that is not JSON", provider.name),
            request_fault: false,
            upstream: None,
        })?;
        let (usage, text, tools) = match protocol {
            Protocol::AnthropicMessages => (
                anthropic_messages::read_whole_usage(&v),
                anthropic_messages::read_whole_text(&v),
                anthropic_messages::read_whole_tools(&v),
            ),
            Protocol::OpenAiResponses => (
                openai_responses::read_whole_usage(&v),
                openai_responses::read_whole_text(&v),
                openai_responses::read_whole_tools(&v),
            ),
            _ => (openai_chat::read_whole_usage(&v), openai_chat::read_whole_text(&v), Default::default()),
        };
        // The text too: a passthrough caller ignores it, and it is what a reply without usage
        // is counted from.
        let mut pieces = vec![Ok(Piece::Raw(body))];
        if !text.is_empty() {
            pieces.push(Ok(Piece::Text(text)));
        }
        pieces.extend(usage.map(|u| Ok(Piece::Usage(u))));
        if !tools.is_empty() {
            pieces.push(Ok(Piece::ToolsUsed(tools)));
        }
        pieces.push(Ok(Piece::End));
        return Ok(Box::pin(futures_util::stream::iter(pieces)));
    }
    let bytes = resp.bytes_stream();
    Ok(Box::pin(sse_pieces(bytes, protocol, passthrough)))
}

/// The caller's own protocol headers ([`super::Protocol::forwarded_headers`]), for a step of
/// its protocol: they replace Keyhold's of the same name (its `anthropic-version`).
pub(crate) fn add_caller_headers(headers: &mut reqwest::header::HeaderMap, raw: &super::canonical::RawBody) {
    for (k, v) in &raw.headers {
        if let (Ok(k), Ok(v)) =
            (reqwest::header::HeaderName::from_bytes(k.as_bytes()), reqwest::header::HeaderValue::from_str(v))
        {
            headers.insert(k, v);
        }
    }
}

/// Cuts an SSE byte stream into whole events (in bytes, so a character split across network
/// chunks arrives whole) and maps each to pieces.
fn sse_pieces(
    bytes: impl Stream<Item = reqwest::Result<bytes::Bytes>> + Send + 'static,
    protocol: Protocol,
    passthrough: bool,
) -> impl Stream<Item = Result<Piece, StreamError>> + Send {
    struct State<S> {
        bytes: Pin<Box<S>>,
        splitter: SseSplitter,
        queue: std::collections::VecDeque<Piece>,
        ended: bool,
        eof: bool,
        usage: StreamUsage,
    }
    let state = State {
        bytes: Box::pin(bytes),
        splitter: SseSplitter::default(),
        queue: Default::default(),
        ended: false,
        eof: false,
        usage: StreamUsage::default(),
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
                    match parse_event(&event, protocol, &mut st.usage) {
                        Ok(pieces) => {
                            let last = pieces.contains(&Piece::End);
                            if last {
                                st.ended = true;
                            }
                            if passthrough {
                                st.queue.push_back(if last { Piece::Final(event.raw) } else { Piece::Raw(event.raw) });
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
                    return Some((Err(StreamError::EndedEarly), st));
                }
                Ok(None) => {}
                Err(e) => {
                    st.ended = true;
                    return Some((Err(e.into()), st));
                }
            }
            match st.bytes.next().await {
                Some(Ok(chunk)) => st.splitter.push(&chunk),
                Some(Err(e)) => {
                    st.ended = true;
                    return Some((Err(StreamError::Broke(e.to_string())), st));
                }
                None => st.eof = true,
            }
        }
    })
}

/// The pieces of one SSE event, by the step's protocol.
fn parse_event(event: &SseEvent, protocol: Protocol, usage: &mut StreamUsage) -> Result<Vec<Piece>, StreamError> {
    let data = event.data.as_deref().unwrap_or("").trim();
    if data.is_empty() {
        return Ok(Vec::new());
    }
    if data == "[DONE]" {
        return Ok(vec![Piece::End]);
    }
    let v: Value =
        serde_json::from_str(data).map_err(|_| StreamError::NotJson(data.chars().take(80).collect::<String>()))?;
    match protocol {
        Protocol::OpenAiChat => openai_chat::read_event(&v, data),
        Protocol::OpenAiResponses => openai_responses::read_event(&v, data),
        Protocol::AnthropicMessages => anthropic_messages::read_event(&v, data, usage),
        Protocol::Ollama => Ok(Vec::new()),
    }
}

fn o200k() -> Option<&'static tiktoken_rs::CoreBPE> {
    static O200K: std::sync::OnceLock<Option<tiktoken_rs::CoreBPE>> = std::sync::OnceLock::new();
    O200K.get_or_init(|| tiktoken_rs::o200k_base().ok()).as_ref()
}

/// Loads the tokenizer on a background thread, so the first answer the user stops is not held
/// while it loads (0.7 s in a debug build: the Stop button's first press took that long).
/// Called where answers get stopped: the window and `keyhold serve`; a one-shot command that
/// never estimates does not pay for it.
pub fn warm_tokenizer() {
    std::thread::Builder::new()
        .name("tokenizer".into())
        .spawn(|| {
            o200k();
        })
        .ok();
}

/// Counts tokens Keyhold has to estimate (a stream cut before its usage arrived). OpenAI-style
/// models get a real tokenizer (o200k); for others no public tokenizer fits, so four bytes a
/// token. The row is marked estimated either way.
pub fn estimate_tokens(protocol: Protocol, text: &str) -> i64 {
    match (protocol, o200k()) {
        (Protocol::OpenAiChat | Protocol::OpenAiResponses, Some(bpe)) => bpe.encode_ordinary(text).len() as i64,
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
}
