//! Testing a key: one authenticated call to the provider's model-list endpoint, and an honest
//! verdict. "Valid" is only ever said after that call succeeded.

use std::time::Duration;

use reqwest::header::HeaderValue;
use serde::Serialize;
use serde_json::Value;
use specta::Type;

pub use super::failure::Unreachable;
use super::failure::{classify, provider_message, redact};
use super::{Protocol, Provider};

/// The five things a test can say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Valid { models: Vec<String> },
    Rejected { status: u16, provider_message: String },
    Unreachable { reason: Unreachable, detail: String },
    RateLimited { retry_after_secs: Option<u32>, provider_message: String },
    Unexpected { status: Option<u16>, detail: String },
}

impl Verdict {
    /// One sentence for the user. A key-less server (a local Ollama) has no key to accept:
    /// it answers, or not.
    pub fn sentence_for(&self, provider: &str, keyless: bool) -> String {
        match self {
            Verdict::Valid { models } if keyless => {
                let n = models.len();
                format!("Valid: {provider} answered ({n} model{}).", if n == 1 { "" } else { "s" })
            }
            _ => self.sentence(provider),
        }
    }

    /// One sentence for the user.
    pub fn sentence(&self, provider: &str) -> String {
        match self {
            Verdict::Valid { models } if models.len() == 1 => format!("Valid: {provider} accepted the key (1 model)."),
            Verdict::Valid { models } => format!("Valid: {provider} accepted the key ({} models).", models.len()),
            Verdict::Rejected { status, provider_message } => {
                format!("Rejected by {provider} ({status}): {provider_message}")
            }
            Verdict::Unreachable { reason, detail } => {
                let what = match reason {
                    Unreachable::Dns => "the host name does not resolve (DNS)",
                    Unreachable::Connect => "the connection was refused or failed",
                    Unreachable::Tls => "the TLS handshake failed",
                    Unreachable::Timeout => "it did not answer in time",
                };
                format!("{provider} is unreachable: {what} ({detail}).")
            }
            Verdict::RateLimited { retry_after_secs, provider_message } => match retry_after_secs {
                Some(s) => format!("Rate limited by {provider}: {provider_message} Try again in {s} s."),
                None => format!("Rate limited by {provider}: {provider_message}"),
            },
            Verdict::Unexpected { status: Some(404), detail } => format!(
                "Unexpected reply from {provider} (404 at the model list): {detail}. Check the base URL \
                 (OpenAI-style ones end in /v1; Anthropic's has no /v1)."
            ),
            Verdict::Unexpected { status: Some(s), detail } => {
                format!("Unexpected reply from {provider} ({s}): {detail}")
            }
            Verdict::Unexpected { status: None, detail } => format!("Unexpected reply from {provider}: {detail}"),
        }
    }

    /// The verdict's kind, as stored beside its sentence.
    pub fn kind(&self) -> &'static str {
        match self {
            Verdict::Valid { .. } => "valid",
            Verdict::Rejected { .. } => "rejected",
            Verdict::Unreachable { .. } => "unreachable",
            Verdict::RateLimited { .. } => "rate_limited",
            Verdict::Unexpected { .. } => "unexpected",
        }
    }

    pub fn is_valid(&self) -> bool {
        matches!(self, Verdict::Valid { .. })
    }
}

/// A transport failure as a verdict.
pub(crate) fn unreachable(e: &reqwest::Error) -> Verdict {
    let (reason, detail) = classify(e);
    Verdict::Unreachable { reason, detail }
}

fn model_ids(protocol: Protocol, v: &Value) -> Option<Vec<String>> {
    let (list, field) = match protocol {
        Protocol::Ollama => (v.get("models")?, "name"),
        _ => (v.get("data")?, "id"),
    };
    list.as_array()?.iter().map(|m| m.get(field).and_then(Value::as_str).map(str::to_string)).collect()
}

/// Calls the model list with the key. `timeout` bounds the whole call.
pub async fn test(provider: &Provider, base_url: &str, secret: Option<&str>, timeout: Duration) -> Verdict {
    if secret.is_some_and(|s| HeaderValue::from_str(s).is_err()) {
        return Verdict::Unexpected {
            status: None,
            detail: "the key contains characters that cannot be sent in an HTTP header".into(),
        };
    }
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .build()
    {
        Ok(c) => c,
        Err(e) => return Verdict::Unexpected { status: None, detail: e.to_string() },
    };
    let mut models = Vec::new();
    let mut after: Option<String> = None;
    // Anthropic pages its model list; follow at most 20 pages.
    for _ in 0..20 {
        let mut url = format!("{}{}", base_url.trim_end_matches('/'), provider.models_path);
        if let Some(a) = &after {
            url.push_str(&format!("?after_id={a}"));
        }
        let resp = match client.get(&url).headers(provider.auth.headers(secret)).send().await {
            Ok(r) => r,
            Err(e) => return unreachable(&e),
        };
        let status = resp.status().as_u16();
        if resp.status().is_redirection() {
            let detail = super::stream::redirect_detail(status, resp.headers(), secret);
            return Verdict::Unexpected { status: Some(status), detail };
        }
        let retry_after =
            resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
        let body = match resp.text().await {
            Ok(b) => b,
            Err(e) => return unreachable(&e),
        };
        match status {
            200 => {}
            401 | 403 => {
                return Verdict::Rejected { status, provider_message: redact(&provider_message(&body), secret) }
            }
            429 => {
                return Verdict::RateLimited {
                    retry_after_secs: retry_after,
                    provider_message: redact(&provider_message(&body), secret),
                }
            }
            _ => return Verdict::Unexpected { status: Some(status), detail: redact(&provider_message(&body), secret) },
        }
        let Some(page) = serde_json::from_str::<Value>(&body).ok() else {
            return Verdict::Unexpected { status: Some(200), detail: "the reply is not JSON".into() };
        };
        let Some(ids) = model_ids(provider.protocol, &page) else {
            return Verdict::Unexpected { status: Some(200), detail: "the reply is not a model list".into() };
        };
        models.extend(ids);
        match (page.get("has_more").and_then(Value::as_bool), page.get("last_id").and_then(Value::as_str)) {
            (Some(true), Some(last)) => after = Some(last.to_string()),
            _ => break,
        }
    }
    Verdict::Valid { models }
}

#[cfg(test)]
mod tests;
