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
    // As written, and as a provider or a proxy in between might echo it.
    let mut out = message.to_string();
    for form in forms(secret).map(zeroize::Zeroizing::new) {
        out = redact_runs(&out, &form, KEPT + 1);
    }
    out
}

/// The forms of the key a provider might echo: as written, base64, hex (either case), upper or
/// lower case, spaced out one character at a time.
fn forms(secret: &str) -> [String; 7] {
    use base64::Engine;
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    let spaced: String = secret.chars().map(String::from).collect::<Vec<_>>().join(" ");
    [
        secret.to_string(),
        base64::engine::general_purpose::STANDARD.encode(secret),
        hex.to_uppercase(),
        hex,
        secret.to_uppercase(),
        secret.to_lowercase(),
        spaced,
    ]
}

/// The shortest run of the key, in its characters, that an answer may not keep. An error
/// message loses every run past the mask's four; an answer is the user's text, and a run of a few
/// characters is as often a word ("-proj" in "my-project"), so there the run must be long
/// enough to be key material and not chance: twelve characters, under a third of a real key.
pub const ANSWER_RUN: usize = 12;

/// Takes the key out of a successful answer (a whole body, each streamed event, text split
/// across events) in all its forms, each run of [`ANSWER_RUN`] characters or more replaced by
/// `[redacted]`. A provider, or a debugging proxy in front of it, that puts the presented key
/// into a 200 hands it to a caller who was never to see it. Built per attempt; the key's forms
/// are zeroized with it.
pub struct KeyScrubber {
    /// Each form and the run, in that form's characters, that counts.
    forms: Vec<(zeroize::Zeroizing<String>, usize)>,
    /// A bit per hash of every 8-byte window of every form: most answers hold none of them, and
    /// are let through after one pass over their bytes.
    grams: Vec<u64>,
}

const GRAM: usize = 8;
const GRAM_BITS: u32 = 16;

fn gram_bit(window: &[u8]) -> usize {
    let w = u64::from_le_bytes(window.try_into().expect("eight bytes"));
    (w.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - GRAM_BITS)) as usize
}

impl KeyScrubber {
    /// None for a key too short to be told from ordinary words (a local server's placeholder
    /// key): nothing is scrubbed from its answers.
    pub fn new(secret: &str) -> Option<KeyScrubber> {
        if secret.chars().count() < ANSWER_RUN {
            return None;
        }
        let [plain, base64, hex_upper, hex, upper, lower, spaced] = forms(secret);
        // The same number of the key's characters, as each form writes them.
        let n = ANSWER_RUN;
        let forms: Vec<(zeroize::Zeroizing<String>, usize)> = [
            (plain, n),
            (base64, n * 4 / 3),
            (hex_upper, 2 * n),
            (hex, 2 * n),
            (upper, n),
            (lower, n),
            (spaced, 2 * n - 1),
        ]
        .into_iter()
        .map(|(f, run)| (zeroize::Zeroizing::new(f), run))
        .collect();
        let mut grams = vec![0u64; (1 << GRAM_BITS) / 64];
        for (f, _) in &forms {
            for w in f.as_bytes().windows(GRAM) {
                let bit = gram_bit(w);
                grams[bit / 64] |= 1 << (bit % 64);
            }
        }
        Some(KeyScrubber { forms, grams })
    }

    /// Whether `text` may hold a run of the key (never false when it does; rarely true when
    /// not). Linear, one multiply and one bit test per byte.
    pub fn suspect(&self, text: &[u8]) -> bool {
        text.windows(GRAM).any(|w| {
            let bit = gram_bit(w);
            self.grams[bit / 64] & (1 << (bit % 64)) != 0
        })
    }

    /// `text` without any run of the key that counts.
    pub fn scrub<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        if !self.suspect(text.as_bytes()) {
            return std::borrow::Cow::Borrowed(text);
        }
        let mut out = text.to_string();
        for (form, run) in &self.forms {
            out = redact_runs(&out, form, *run);
        }
        if out == text {
            std::borrow::Cow::Borrowed(text)
        } else {
            std::borrow::Cow::Owned(out)
        }
    }

    /// Text streamed in pieces, scrubbed across them (see [`Held::push`]).
    pub fn holder(&self) -> Held {
        Held(String::new())
    }

    /// The length in bytes of the longest end of `text` that is part of a form of the key: what
    /// may be the start of a run the next piece completes.
    fn open_end(&self, text: &str) -> usize {
        let longest = self.forms.iter().map(|(f, _)| f.len()).max().unwrap_or(0);
        let mut best = 0;
        for (at, _) in text.char_indices().rev() {
            let end = &text[at..];
            if end.len() > longest || !self.forms.iter().any(|(f, _)| f.contains(end)) {
                break;
            }
            best = end.len();
        }
        best
    }
}

/// What a streamed text holds back: its end, while it may be the start of the key.
pub struct Held(String);

impl Held {
    /// The next piece: what can go now, scrubbed. An end that may be the start of a run of the
    /// key (usually a character or two, the whole run while one streams) waits for the next.
    pub fn push(&mut self, key: &KeyScrubber, piece: &str) -> String {
        self.0.push_str(piece);
        let cut = self.0.len() - key.open_end(&self.0);
        let ready: String = self.0.drain(..cut).collect();
        key.scrub(&ready).into_owned()
    }

    /// The end of the text: everything held, scrubbed.
    pub fn finish(&mut self, key: &KeyScrubber) -> String {
        let rest = std::mem::take(&mut self.0);
        key.scrub(&rest).into_owned()
    }
}

/// Replaces each maximal run of `text` that is also a run of `secret`, longer than `KEPT`.
fn redact_runs(text: &str, secret: &str, min: usize) -> String {
    let t: Vec<char> = text.chars().collect();
    let k: Vec<char> = secret.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < t.len() {
        // The longest run of the key that starts here.
        let longest =
            (0..k.len()).map(|j| t[i..].iter().zip(&k[j..]).take_while(|(a, b)| a == b).count()).max().unwrap_or(0);
        if longest >= min {
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

#[cfg(test)]
mod answer_tests {
    use super::KeyScrubber;

    const KEY: &str = "sk-proj-Q7vRk2LmZx9wPa4TnB8yHc3JdF6sGe1U";

    fn no_run_of(out: &str, key: &str, run: usize) {
        for w in key.as_bytes().windows(run) {
            let w = std::str::from_utf8(w).unwrap();
            assert!(!out.contains(w), "{out:?} still shows {w:?}");
        }
    }

    #[test]
    fn an_answer_that_echoes_the_key_keeps_no_run_of_twelve_and_the_rest_as_it_was() {
        let k = KeyScrubber::new(KEY).unwrap();
        let hex: String = KEY.bytes().map(|b| format!("{b:02x}")).collect();
        let echoed = format!("key {KEY}, hex {hex}, tail {}", &KEY[20..]);
        let out = k.scrub(&echoed);
        assert!(out.contains("[redacted]"), "{out}");
        no_run_of(&out, KEY, 12);
        no_run_of(&out, &hex, 24);
        // An answer that talks about keys is not mangled: `sk-proj-` and short runs stay.
        let about = "OpenAI keys start with sk-proj- and end like …e1U; my-project uses one.";
        assert_eq!(k.scrub(about), about);
        assert!(!k.suspect(b"The answer is forty-two, as it was yesterday."));
    }

    #[test]
    fn a_key_streamed_a_few_characters_at_a_time_is_redacted_across_the_pieces() {
        for size in [1, 3, 7, 16] {
            let k = KeyScrubber::new(KEY).unwrap();
            let mut held = k.holder();
            let text = format!("Here it is: {KEY} — done.");
            let chars: Vec<char> = text.chars().collect();
            let mut out = String::new();
            for piece in chars.chunks(size) {
                out.push_str(&held.push(&k, &piece.iter().collect::<String>()));
            }
            out.push_str(&held.finish(&k));
            assert!(out.contains("[redacted]"), "{size}: {out}");
            no_run_of(&out, KEY, 12);
            assert!(out.starts_with("Here it is: ") && out.ends_with(" — done."), "{size}: {out}");
        }
    }

    #[test]
    fn text_without_the_key_streams_through_holding_back_almost_nothing() {
        let k = KeyScrubber::new(KEY).unwrap();
        let mut held = k.holder();
        let (mut out, mut sent) = (String::new(), String::new());
        for word in ["The ", "answer ", "is ", "forty-two."] {
            sent.push_str(word);
            out.push_str(&held.push(&k, word));
            assert!(sent.len() - out.len() <= 2, "{sent:?} held back more than two: {out:?}");
        }
        out.push_str(&held.finish(&k));
        assert_eq!(out, "The answer is forty-two.");
    }

    #[test]
    fn a_short_key_is_not_scrubbed_from_answers() {
        // Twelve characters are the shortest run that counts; a shorter key (a local server's
        // "ollama") would redact ordinary words.
        assert!(KeyScrubber::new("ollama").is_none());
    }
}
