//! Why a provider did not answer, in words a user can act on: transport failures classified
//! (DNS, connect, TLS, timeout), the provider's own message read out of its error body, and any
//! echo of the key removed before the message goes anywhere.

use serde::Serialize;
use serde_json::Value;
use specta::Type;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum Unreachable {
    Dns,
    Connect,
    Tls,
    Timeout,
}

impl Unreachable {
    /// The ledger outcome for a step that failed this way.
    pub fn outcome(self) -> &'static str {
        match self {
            Unreachable::Dns => "dns",
            Unreachable::Connect => "connect",
            Unreachable::Tls => "tls",
            Unreachable::Timeout => "timeout",
        }
    }
}

/// Which transport failure a reqwest error is, and its most specific cause.
pub fn classify(e: &reqwest::Error) -> (Unreachable, String) {
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
    (reason, inner.to_string())
}

/// The provider's own message from an error body (every protocol's shape), or the start of the
/// body when it has none.
pub fn provider_message(body: &str) -> String {
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
