//! What every protocol's stream is made of, and how a call fails: the pieces the router
//! forwards and meters, the failures it records, and the one HTTP client. The protocols
//! (`openai_chat`, `anthropic_messages`, `ollama`) build on this; `upstream` runs them.

use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;

use super::canonical::AnswerPart;
use super::failure::{classify, provider_message, redact};
use super::framing::FramingError;
use crate::ledger::Outcome;
use crate::prices::Tokens;

/// What an upstream stream yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// One upstream event exactly as received (or the whole body of a non-streamed reply),
    /// when the caller speaks the step's protocol: forwarded byte for byte.
    Raw(bytes::Bytes),
    /// The closing event of a passed-through stream (`[DONE]`, `message_stop`,
    /// `response.completed`): held back until the call's ledger row is written, so a caller
    /// never sees a finished answer whose spend was not recorded.
    Final(bytes::Bytes),
    Text(String),
    /// A tool call, or why the model stopped, for an answer translated into another protocol.
    Part(AnswerPart),
    /// Usage as the provider reported it so far, already in Keyhold's classes.
    Usage(Tokens),
    /// Provider-side tools used since the last such piece (a web search, a file search): billed
    /// per use on top of the tokens.
    ToolsUsed(crate::prices::ToolUses),
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
    /// The provider's own error, when it answered with one: handed to a caller as the provider
    /// wrote it (its recovery may match on the wording).
    pub upstream: Option<UpstreamError>,
}

/// An error as the provider wrote it (any run of the key already removed).
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamError {
    pub status: u16,
    /// Its `error.type` (`invalid_request_error`, …), when it gave one.
    pub kind: Option<String>,
    pub message: String,
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
    Failure { kind: Outcome::Unreachable(reason), detail, request_fault: false, upstream: None }
}

pub(crate) fn http_failure(status: u16, body: &str, secret: Option<&str>) -> Failure {
    let detail = redact(&provider_message(body), secret);
    let kind = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.pointer("/error/type").and_then(|t| t.as_str()).map(str::to_string));
    Failure {
        kind: Outcome::Http(status),
        upstream: Some(UpstreamError { status, kind, message: detail.clone() }),
        detail,
        request_fault: matches!(status, 400 | 413 | 422),
    }
}

/// A redirect, refused: it names where the provider pointed, and nothing is sent there.
pub(crate) fn redirected(status: u16, headers: &reqwest::header::HeaderMap, secret: Option<&str>) -> Failure {
    Failure {
        kind: Outcome::Http(status),
        detail: redirect_detail(status, headers, secret),
        request_fault: false,
        upstream: None,
    }
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
            upstream: None,
        })
}
