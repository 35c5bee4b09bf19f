//! Testing a key: one authenticated call to the provider's model-list endpoint, and an honest
//! verdict. "Valid" is only ever said after that call succeeded.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde::Serialize;
use serde_json::Value;
use specta::Type;

use super::{AuthStyle, Protocol, Provider};

/// Anthropic's API version header: the stable version their SDKs send.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum Unreachable {
    Dns,
    Connect,
    Tls,
    Timeout,
}

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

    pub fn is_valid(&self) -> bool {
        matches!(self, Verdict::Valid { .. })
    }
}

/// Removes any 8-character run of the key from a provider's message: some providers echo part
/// of a rejected key back, and Keyhold never shows a key.
pub fn redact(message: &str, secret: Option<&str>) -> String {
    let Some(secret) = secret.filter(|s| s.len() >= 8) else { return message.to_string() };
    let chars: Vec<char> = secret.chars().collect();
    let mut out = message.to_string();
    for w in chars.windows(8) {
        let needle: String = w.iter().collect();
        if out.contains(&needle) {
            out = out.replace(&needle, "[redacted]");
        }
    }
    out
}

pub(crate) fn classify(e: &reqwest::Error) -> Verdict {
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        chain.push_str(&s.to_string().to_lowercase());
        chain.push(' ');
        source = s.source();
    }
    let reason = if e.is_timeout() || chain.contains("timed out") {
        Unreachable::Timeout
    } else if chain.contains("dns") || chain.contains("lookup") || chain.contains("resolve") {
        Unreachable::Dns
    } else if ["tls", "certificate", "handshake", "ssl", "received corrupt message", "invalidcontenttype", "alert"]
        .iter()
        .any(|m| chain.contains(m))
    {
        // rustls names a non-TLS peer "received corrupt message of type InvalidContentType".
        Unreachable::Tls
    } else {
        Unreachable::Connect
    };
    // The innermost cause is the most specific; URLs hold no secrets (keys travel in headers).
    let mut inner: &dyn std::error::Error = e;
    while let Some(s) = inner.source() {
        inner = s;
    }
    Verdict::Unreachable { reason, detail: inner.to_string() }
}

pub(crate) fn provider_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let found = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("error").filter(|e| e.is_string()))
            .or_else(|| v.get("message"))
            .or_else(|| v.get("detail"))
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    found.unwrap_or_else(|| {
        let t: String = body.trim().chars().take(200).collect();
        if t.is_empty() {
            "no message".into()
        } else {
            t
        }
    })
}

fn model_ids(protocol: Protocol, v: &Value) -> Option<Vec<String>> {
    let (list, field) = match protocol {
        Protocol::Ollama => (v.get("models")?, "name"),
        _ => (v.get("data")?, "id"),
    };
    list.as_array()?.iter().map(|m| m.get(field).and_then(Value::as_str).map(str::to_string)).collect()
}

/// The request headers for a key, marked sensitive so no debug output ever prints them.
pub fn auth_headers(auth: AuthStyle, secret: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    let Some(secret) = secret else { return h };
    match auth {
        AuthStyle::Bearer => {
            if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {secret}")) {
                v.set_sensitive(true);
                h.insert(AUTHORIZATION, v);
            }
        }
        AuthStyle::XApiKey => {
            if let Ok(mut v) = HeaderValue::from_str(secret) {
                v.set_sensitive(true);
                h.insert("x-api-key", v);
            }
            h.insert("anthropic-version", HeaderValue::from_static(ANTHROPIC_VERSION));
        }
        AuthStyle::None => {}
    }
    h
}

/// Calls the model list with the key. `timeout` bounds the whole call.
pub async fn test(provider: &Provider, base_url: &str, secret: Option<&str>, timeout: Duration) -> Verdict {
    if secret.is_some_and(|s| HeaderValue::from_str(s).is_err()) {
        return Verdict::Unexpected {
            status: None,
            detail: "the key contains characters that cannot be sent in an HTTP header".into(),
        };
    }
    let client =
        match reqwest::Client::builder().timeout(timeout).connect_timeout(timeout.min(Duration::from_secs(10))).build()
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
        let resp = match client.get(&url).headers(auth_headers(provider.auth, secret)).send().await {
            Ok(r) => r,
            Err(e) => return classify(&e),
        };
        let status = resp.status().as_u16();
        let retry_after =
            resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
        let body = match resp.text().await {
            Ok(b) => b,
            Err(e) => return classify(&e),
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
