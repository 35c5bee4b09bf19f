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

/// The longest run of the key a message may keep: the mask shows the last four characters.
const KEPT: usize = 4;

/// Removes every run of the key longer than the mask shows (and of its base64 form, as in an
/// echoed `Authorization: Basic` header) from a provider's message, each run replaced whole by
/// `[redacted]`: some providers echo part or all of a rejected key, and Keyhold never shows
/// more of a key than its mask.
pub fn redact(message: &str, secret: Option<&str>) -> String {
    let Some(secret) = secret.filter(|s| s.chars().count() > KEPT) else { return message.to_string() };
    use base64::Engine;
    // As written, and as a provider or a proxy in between might echo it: base64, hex (either
    // case), upper or lower case, or spaced out one character at a time.
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    let spaced: String = secret.chars().map(String::from).collect::<Vec<_>>().join(" ");
    let forms = [
        secret.to_string(),
        base64::engine::general_purpose::STANDARD.encode(secret),
        hex.to_uppercase(),
        hex,
        secret.to_uppercase(),
        secret.to_lowercase(),
        spaced,
    ];
    let mut out = message.to_string();
    for form in &forms {
        out = redact_runs(&out, form);
    }
    out
}

/// Replaces each maximal run of `text` that is also a run of `secret`, longer than `KEPT`.
fn redact_runs(text: &str, secret: &str) -> String {
    let t: Vec<char> = text.chars().collect();
    let k: Vec<char> = secret.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < t.len() {
        // The longest run of the key that starts here.
        let longest =
            (0..k.len()).map(|j| t[i..].iter().zip(&k[j..]).take_while(|(a, b)| a == b).count()).max().unwrap_or(0);
        if longest > KEPT {
            out.push_str("[redacted]");
            i += longest;
        } else {
            out.push(t[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-proj-Q7vRk2LmZx9wPa4TnB8yHc3JdF6sGe1U";

    #[test]
    fn no_run_of_the_key_longer_than_the_mask_shows_survives() {
        for echoed in [
            format!("Incorrect API key provided: {KEY}."),
            format!("Bearer {}", &KEY[3..]),
            format!("key ending in {} is invalid", &KEY[KEY.len() - 13..]),
            format!("two halves: {} and {}", &KEY[..20], &KEY[20..]),
        ] {
            let out = redact(&echoed, Some(KEY));
            for n in KEPT + 1..=KEY.len() {
                for w in KEY.as_bytes().windows(n) {
                    let w = std::str::from_utf8(w).unwrap();
                    assert!(!out.contains(w), "{out:?} still shows {w:?}");
                }
            }
            assert!(out.contains("[redacted]"), "{out}");
        }
        assert_eq!(redact("nothing to hide", Some(KEY)), "nothing to hide");
        assert_eq!(redact("ends in …e1U, as the mask says", Some(KEY)), "ends in …e1U, as the mask says");
    }

    #[test]
    fn the_base64_form_of_the_key_is_redacted_too() {
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode(KEY);
        let out = redact(&format!("Authorization: Basic {basic} was refused"), Some(KEY));
        assert!(!out.contains(&basic[..12]), "{out}");
        assert_eq!(out, "Authorization: Basic [redacted] was refused");
    }
}

#[cfg(test)]
mod echo_tests {
    use super::redact;

    #[test]
    fn a_key_echoed_in_hex_upper_case_or_spaced_out_is_redacted_too() {
        let key = "sk-Canary-Echo-0123456789";
        let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
        for echoed in [
            format!("invalid key {hex}"),
            format!("invalid key {}", hex.to_uppercase()),
            format!("INVALID KEY {}", key.to_uppercase()),
            format!("key: {}", key.chars().map(String::from).collect::<Vec<_>>().join(" ")),
        ] {
            let out = redact(&echoed, Some(key));
            assert!(out.contains("[redacted]"), "{out}");
            assert!(!out.contains("0123456789") && !out.to_lowercase().contains("canary-echo"), "{out}");
        }
    }
}
