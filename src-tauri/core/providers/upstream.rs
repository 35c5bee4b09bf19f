//! Talking to one upstream: one shared HTTP client; send a step's request, then turn its stream
//! (SSE for OpenAI and Anthropic, NDJSON for Ollama) into pieces the router can forward and
//! meter. What each protocol's events mean is its own module's business.

use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use serde_json::Value;

use super::anthropic_messages::{self, StreamUsage};
use super::canonical::ChatRequest;
use super::failure::{classify, provider_message, redact};
use super::framing::{FramingError, SseEvent, SseSplitter};
use super::{ollama, openai_chat, Protocol, Provider};
use crate::ledger::Outcome;
use crate::prices::Tokens;

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
    /// How the step ended, for the ledger.
    pub kind: Outcome,
    pub detail: String,
    /// 400/422: the request itself is at fault, another step would fail the same way.
    pub request_fault: bool,
}

/// Why a stream stopped before the provider finished its answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StreamError {
    #[error("the stream broke: {0}")]
    Broke(String),
    #[error("the stream ended before the provider finished")]
    EndedEarly,
    #[error("the provider sent something that is not JSON: {0}")]
    NotJson(String),
    #[error("the provider reported an error mid-stream: {0}")]
    Provider(String),
    #[error(transparent)]
    Framing(#[from] FramingError),
    #[error("no complete answer within {0} s, Keyhold's limit for one call")]
    TimedOut(u64),
    #[error("stopped by the user")]
    Stopped,
}

pub type Pieces = Pin<Box<dyn Stream<Item = Result<Piece, StreamError>> + Send>>;

/// A transport failure (DNS, connect, TLS, timeout): the next step may answer.
pub(crate) fn unreachable(e: &reqwest::Error) -> Failure {
    let (reason, detail) = classify(e);
    Failure { kind: Outcome::Unreachable(reason), detail, request_fault: false }
}

fn http_failure(status: u16, body: &str, secret: Option<&str>) -> Failure {
    Failure {
        kind: Outcome::Http(status),
        detail: redact(&provider_message(body), secret),
        request_fault: matches!(status, 400 | 413 | 422),
    }
}

/// A redirect, refused: it names where the provider pointed, and nothing is sent there.
pub(crate) fn redirected(status: u16, headers: &reqwest::header::HeaderMap, secret: Option<&str>) -> Failure {
    Failure { kind: Outcome::Http(status), detail: redirect_detail(status, headers, secret), request_fault: false }
}

/// Why a redirect was not followed, with its target (any echo of the key removed).
pub(crate) fn redirect_detail(status: u16, headers: &reqwest::header::HeaderMap, secret: Option<&str>) -> String {
    let target = headers.get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("(no Location)");
    redact(
        &format!(
            "the provider answered {status} and redirected to {target}; Keyhold never follows a redirect with your key. \
             If the provider moved, change the key's base URL"
        ),
        secret,
    )
}

/// One HTTP client for every upstream call: its connection pool and TLS setup are reused, which
/// is most of what a proxy hop costs (building a client per call cost ~0.5 ms and memory).
pub(crate) fn shared_client(connect_timeout: Duration) -> Result<reqwest::Client, Failure> {
    static CLIENT: std::sync::OnceLock<Option<reqwest::Client>> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            // A redirect is never followed with a key: reqwest drops Authorization on a host
            // change but not x-api-key, and a base URL that moved is the user's to change.
            let built = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(connect_timeout)
                .read_timeout(Duration::from_secs(120))
                .pool_idle_timeout(Duration::from_secs(60))
                .build();
            built.map_err(|e| tracing::error!(error = %e, "could not start the HTTP client")).ok()
        })
        .clone()
        .ok_or_else(|| Failure {
            kind: Outcome::Internal,
            detail: "Keyhold could not start its HTTP client (TLS setup failed; see the log)".into(),
            request_fault: true,
        })
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
        Protocol::Ollama => return ollama::start(base_url, model, req, connect_timeout).await,
        Protocol::OpenAiChat | Protocol::AnthropicMessages => {}
    }
    let client = shared_client(connect_timeout)?;
    let url = match provider.protocol {
        Protocol::AnthropicMessages => anthropic_messages::messages_url(base_url),
        _ => openai_chat::chat_url(base_url),
    };
    let body = req.body_for(provider.protocol, model, provider.id == "openai");
    let passthrough = req.raw.as_ref().is_some_and(|r| r.protocol == provider.protocol);
    let streamed = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let resp = client
        .post(url)
        .headers(provider.auth.headers(secret))
        .json(&body)
        .send()
        .await
        .map_err(|e| unreachable(&e))?;
    let status = resp.status().as_u16();
    if resp.status().is_redirection() {
        return Err(redirected(status, resp.headers(), secret));
    }
    if status != 200 {
        let body = resp.text().await.unwrap_or_default();
        return Err(http_failure(status, &body, secret));
    }
    let protocol = provider.protocol;
    if !streamed {
        // A non-streamed passthrough: the whole body goes back as it is; usage is read from it.
        let body = resp.bytes().await.map_err(|e| unreachable(&e))?;
        let v: Value = serde_json::from_slice(&body).map_err(|_| Failure {
            kind: Outcome::BadReply,
            detail: format!("{} sent a reply that is not JSON", provider.name),
            request_fault: false,
        })?;
        let (usage, text) = match protocol {
            Protocol::AnthropicMessages => {
                (anthropic_messages::read_whole_usage(&v), anthropic_messages::read_whole_text(&v))
            }
            _ => (openai_chat::read_whole_usage(&v), openai_chat::read_whole_text(&v)),
        };
        // The text too: a passthrough caller ignores it, and it is what a reply without usage
        // is counted from.
        let mut pieces = vec![Ok(Piece::Raw(body))];
        if !text.is_empty() {
            pieces.push(Ok(Piece::Text(text)));
        }
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
        Protocol::AnthropicMessages => anthropic_messages::read_event(&v, data, usage),
        Protocol::Ollama => Ok(Vec::new()),
    }
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
}
