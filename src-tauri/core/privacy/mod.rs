//! Local anonymization: what a cloud model receives. Before any cloud step, in agent and proxy
//! mode alike, sensitive values in the text of a request are replaced by typed, numbered
//! placeholders (`[EMAIL_1]`); the same value gets the same placeholder everywhere in the
//! request. The answer is restored as it streams back, a placeholder split across events
//! included, so the user reads their own values again. Local steps get the original text:
//! nothing leaves the machine there.
//!
//! - [`detect`]: the recognizers (`rules.json`) and the user's dictionary.
//! - [`request`]: which parts of a request are text to redact, in both protocols.
//! - [`restore`]: putting values back, in text, in JSON strings, and in raw stream events.

pub mod detect;
pub mod dictionary;
pub mod national;
pub mod outbound;
pub mod region;
pub mod request;
pub mod restore;

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use specta::Type;

pub use detect::{Dictionary, Region, Rules};
pub use restore::Restorer;

/// What an agent hides from cloud providers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, Type)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Nothing is replaced.
    Off,
    /// API keys, tokens, passwords, private keys, connection strings.
    #[default]
    Secrets,
    /// Secrets, plus e-mail addresses, phone numbers, payment cards, IBANs, IP addresses,
    /// postal addresses and the user's dictionary.
    Pii,
    /// Like `pii`, but a cloud step is refused when anything is found.
    Block,
}

impl Policy {
    pub fn parse(text: &str) -> Option<Policy> {
        match text {
            "off" => Some(Policy::Off),
            "secrets" => Some(Policy::Secrets),
            "pii" => Some(Policy::Pii),
            "block" => Some(Policy::Block),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Off => "off",
            Policy::Secrets => "secrets",
            Policy::Pii => "pii",
            Policy::Block => "block",
        }
    }

    /// Whether the dictionary applies (it is only opened for these).
    pub fn uses_dictionary(self) -> bool {
        matches!(self, Policy::Pii | Policy::Block)
    }
}

/// What a tool call's arguments get back when the model writes a placeholder into them. A
/// secret never goes back into a tool call, whatever this says: a prompt-injected model that hands
/// `[SECRET_1]` to a tool that posts it somewhere hands over the placeholder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, Type)]
#[serde(rename_all = "lowercase")]
pub enum ToolValues {
    /// The user's other values (an e-mail address a mail tool needs) come back in tool calls.
    #[default]
    Restore,
    /// Every value stays a placeholder in tool calls; only the answer's text gets them back.
    Placeholders,
}

impl ToolValues {
    pub fn parse(text: &str) -> Option<ToolValues> {
        match text {
            "restore" => Some(ToolValues::Restore),
            "placeholders" => Some(ToolValues::Placeholders),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ToolValues::Restore => "restore",
            ToolValues::Placeholders => "placeholders",
        }
    }
}

/// The kinds of value Keyhold replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Secret,
    Email,
    Phone,
    PaymentCard,
    Iban,
    Ip,
    Address,
    /// A national identifier (US SSN, UK NINO, German Steuer-ID, French NIR, Spanish DNI/NIE,
    /// Italian codice fiscale, Dutch BSN), each checked by its own rule (`national`).
    NationalId,
    /// A term of the user's dictionary.
    Custom,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Secret,
        Kind::Email,
        Kind::Phone,
        Kind::PaymentCard,
        Kind::Iban,
        Kind::Ip,
        Kind::Address,
        Kind::NationalId,
        Kind::Custom,
    ];

    /// The placeholder's tag: `[EMAIL_1]`.
    pub fn tag(self) -> &'static str {
        match self {
            Kind::Secret => "SECRET",
            Kind::Email => "EMAIL",
            Kind::Phone => "PHONE",
            Kind::PaymentCard => "CARD",
            Kind::Iban => "IBAN",
            Kind::Ip => "IP",
            Kind::Address => "ADDRESS",
            Kind::NationalId => "ID",
            Kind::Custom => "TERM",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Secret => "secret",
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::PaymentCard => "payment_card",
            Kind::Iban => "iban",
            Kind::Ip => "ip",
            Kind::Address => "address",
            Kind::NationalId => "national_id",
            Kind::Custom => "custom",
        }
    }

    /// For sentences: "2 e-mail addresses".
    pub fn noun(self, n: u32) -> String {
        let (one, many) = match self {
            Kind::Secret => ("secret", "secrets"),
            Kind::Email => ("e-mail address", "e-mail addresses"),
            Kind::Phone => ("phone number", "phone numbers"),
            Kind::PaymentCard => ("payment card number", "payment card numbers"),
            Kind::Iban => ("IBAN", "IBANs"),
            Kind::Ip => ("IP address", "IP addresses"),
            Kind::Address => ("postal address", "postal addresses"),
            Kind::NationalId => ("national ID number", "national ID numbers"),
            Kind::Custom => ("dictionary term", "dictionary terms"),
        };
        format!("{n} {}", if n == 1 { one } else { many })
    }
}

/// How many values of each kind were replaced in one request (occurrences).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Counts(pub BTreeMap<Kind, u32>);

impl Counts {
    pub fn is_empty(&self) -> bool {
        self.0.values().all(|n| *n == 0)
    }

    pub fn total(&self) -> u32 {
        self.0.values().sum()
    }

    /// The ledger's form: `email:2 secret:1` (empty when nothing was replaced).
    pub fn to_ledger(&self) -> String {
        self.0.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{}:{n}", k.as_str())).collect::<Vec<_>>().join(" ")
    }

    /// For people: "2 e-mail addresses and 1 secret".
    pub fn sentence(&self) -> String {
        let parts: Vec<String> = self.0.iter().filter(|(_, n)| **n > 0).map(|(k, n)| k.noun(*n)).collect();
        match parts.len() {
            0 => "nothing".into(),
            1 => parts[0].clone(),
            _ => format!("{} and {}", parts[..parts.len() - 1].join(", "), parts[parts.len() - 1]),
        }
    }
}

/// One value found and what replaced it (the CLI's `redact --json`; never sent over IPC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: Kind,
    pub value: String,
    pub placeholder: String,
}

/// Where a replacement sits in a redacted text (the window's preview: placeholders only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct Span {
    pub kind: Kind,
    pub placeholder: String,
    /// Character offsets (not bytes) in the redacted text.
    pub start: u32,
    pub end: u32,
}

/// One request's replacements. The same value always gets the same placeholder; placeholders
/// are numbered per kind in order of first appearance.
pub struct Redactor<'a> {
    rules: &'a Rules,
    policy: Policy,
    dictionary: &'a Dictionary,
    /// The user's region: its national phone numbers need no context word.
    region: Option<Region>,
    /// What is left of this request's budget of phone-number lookups.
    lookups: detect::Lookups,
    /// Each distinct value once, in order of first appearance (its value and placeholder).
    order: Vec<Finding>,
    /// Indices into `order` by value, and by placeholder: the texts live in `order` alone.
    by_value: hashbrown::HashTable<u32>,
    by_placeholder: hashbrown::HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
    numbers: BTreeMap<Kind, u32>,
    counts: Counts,
    /// Where each finding was, for `block`'s refusal: "message 2", "the system prompt".
    places: Vec<(Kind, String)>,
    /// Text of the user's own that reads like a placeholder (`[EMAIL_1]`): Keyhold's
    /// placeholders skip these, and the answer gives them back as they were.
    literals: std::collections::BTreeSet<String>,
    /// The values of `order` long enough to be looked for again, by their first 8 bytes: the
    /// seen-before pass looks up each position of a text once, whatever the number of values.
    /// The newest value with a prefix is in `seen`; `seen_next[i]` is the one before value i.
    seen: hashbrown::HashMap<[u8; SEEN_PREFIX], u32>,
    seen_next: Vec<u32>,
}

/// No further value in a chain of `seen_next`.
const NONE: u32 = u32::MAX;

/// Values shorter than this are left to their own rule: as substrings they would hit inside
/// other words (a three-letter name).
const SEEN_PREFIX: usize = 8;

impl<'a> Redactor<'a> {
    pub fn new(rules: &'a Rules, policy: Policy, dictionary: &'a Dictionary) -> Self {
        Redactor {
            rules,
            policy,
            dictionary,
            region: None,
            lookups: Default::default(),
            order: Vec::new(),
            by_value: Default::default(),
            by_placeholder: Default::default(),
            hasher: Default::default(),
            numbers: BTreeMap::new(),
            counts: Counts::default(),
            places: Vec::new(),
            literals: Default::default(),
            seen: Default::default(),
            seen_next: Vec::new(),
        }
    }

    /// Finds the national phone numbers of `region` without a context word.
    pub fn in_region(mut self, region: Option<Region>) -> Self {
        self.region = region;
        self
    }

    /// Notes the placeholder-like text in `text` before anything is numbered (a request's every
    /// text, so a literal in its last message is known when its first is redacted).
    pub fn reserve_literals(&mut self, text: &str) {
        for p in restore::placeholders_in(text) {
            if self.index_of_placeholder(p).is_none() {
                self.literals.insert(p.to_string());
            }
        }
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// `text` with every finding replaced. `place` names where it is, for `block`'s message.
    pub fn redact(&mut self, text: &str, place: &str) -> String {
        self.redact_keeping(text, place, false).0
    }

    /// The redacted text and where each placeholder sits in it.
    pub fn redact_with_spans(&mut self, text: &str, place: &str) -> (String, Vec<Span>) {
        self.redact_keeping(text, place, true)
    }

    /// `spans`: whether to say where each placeholder sits (the window's preview; the request
    /// path does not need them, and a body with 800,000 findings should not pay for them).
    fn redact_keeping(&mut self, text: &str, place: &str, spans_wanted: bool) -> (String, Vec<Span>) {
        self.reserve_literals(text);
        let mut found = self.rules.find_counted(text, self.policy, self.dictionary, self.region, &mut self.lookups);
        // A value found earlier in the conversation is replaced wherever it appears again, even
        // where no rule would see it (a key first written next to its name, then alone). Linear
        // in the text: each position's first 8 bytes are looked up once.
        if !self.seen.is_empty() && text.len() >= SEEN_PREFIX {
            let bytes = text.as_bytes();
            let mut candidates: Vec<(usize, usize, usize)> = Vec::new();
            // Positions inside a finding are skipped: a value starting there would overlap it.
            let mut next = found.iter().peekable();
            let mut at = 0;
            while at + SEEN_PREFIX <= bytes.len() {
                if let Some(f) = next.next_if(|f| f.start <= at) {
                    at = at.max(f.end);
                    continue;
                }
                let here = at;
                at += 1;
                if !text.is_char_boundary(here) {
                    continue;
                }
                let at = here;
                let window: [u8; SEEN_PREFIX] = bytes[at..at + SEEN_PREFIX].try_into().expect("8 bytes");
                let mut i = self.seen.get(&window).copied().unwrap_or(NONE);
                while i != NONE {
                    let value = self.order[i as usize].value.as_bytes();
                    if bytes[at..].starts_with(value) {
                        candidates.push((i as usize, at, at + value.len()));
                    }
                    i = self.seen_next[i as usize];
                }
            }
            if !candidates.is_empty() {
                // As before: value by value in the order they were first seen, each left to right.
                candidates.sort_unstable();
                // No candidate starts inside a finding; one that runs into the next finding
                // is dropped, and of the rest that overlap each other the first stays.
                let mut taken = detect::Taken::default();
                let rules_found = found.len();
                for (i, at, end) in candidates {
                    let by_rules = &found[..rules_found];
                    let runs_into =
                        by_rules.get(by_rules.partition_point(|f| f.start < at)).is_some_and(|f| f.start < end);
                    if !runs_into && taken.take(at, end) {
                        found.push(detect::Found { kind: self.order[i].kind, rule: "seen before", start: at, end });
                    }
                }
                found.sort_by_key(|f| f.start);
            }
        }
        if found.is_empty() {
            return (text.to_string(), Vec::new());
        }
        let mut out = String::with_capacity(text.len());
        let mut spans = Vec::with_capacity(if spans_wanted { found.len() } else { 0 });
        let mut last = 0;
        // Character offsets, counted as we go (not from the start each time), and only while
        // something needs them (spans, or the first places `block` names).
        let (mut out_chars, mut in_chars) = (0u32, 0usize);
        let mut per_kind = [0u32; Kind::ALL.len()];
        for f in found {
            let counting = spans_wanted || self.places.len() < 100;
            let between = &text[last..f.start];
            out.push_str(between);
            if counting {
                let n = between.chars().count();
                out_chars += n as u32;
                in_chars += n;
            }
            let value = &text[f.start..f.end];
            let at = out.len();
            self.placeholder_into(f.kind, value, &mut out);
            let start = out_chars;
            // Placeholders are ASCII: bytes are characters.
            out_chars += (out.len() - at) as u32;
            if spans_wanted {
                spans.push(Span { kind: f.kind, placeholder: out[at..].to_string(), start, end: out_chars });
            }
            per_kind[f.kind as usize] += 1;
            if self.places.len() < 100 {
                self.places.push((f.kind, format!("{place}, character {}", in_chars + 1)));
            }
            if counting {
                in_chars += value.chars().count();
            }
            last = f.end;
        }
        for (kind, n) in Kind::ALL.into_iter().zip(per_kind).filter(|(_, n)| *n > 0) {
            *self.counts.0.entry(kind).or_insert(0) += n;
        }
        out.push_str(&text[last..]);
        (out, spans)
    }

    /// Writes `value`'s placeholder to `out` (a new one the first time the value is seen).
    fn placeholder_into(&mut self, kind: Kind, value: &str, out: &mut String) {
        let h = self.hasher.hash_one(value);
        let order = &self.order;
        if let Some(&i) = self.by_value.find(h, |&i| order[i as usize].value == value) {
            out.push_str(&self.order[i as usize].placeholder);
            return;
        }
        let n = self.numbers.entry(kind).or_insert(0);
        let mut p;
        loop {
            *n += 1;
            // Written by hand, in one allocation: `format!` showed in profiles of bodies of new
            // values.
            let mut digits = [0u8; 10];
            let (mut at, mut v) = (digits.len(), *n);
            loop {
                at -= 1;
                digits[at] = b'0' + (v % 10) as u8;
                v /= 10;
                if v == 0 {
                    break;
                }
            }
            p = String::with_capacity(kind.tag().len() + 3 + digits.len() - at);
            p.push('[');
            p.push_str(kind.tag());
            p.push('_');
            p.push_str(std::str::from_utf8(&digits[at..]).expect("ASCII digits"));
            p.push(']');
            if !self.literals.contains(&p) {
                break;
            }
        }
        let i = self.order.len() as u32;
        let (hasher, order) = (&self.hasher, &self.order);
        self.by_value.insert_unique(h, i, |&j| hasher.hash_one(order[j as usize].value.as_str()));
        let hp = self.hasher.hash_one(p.as_str());
        self.by_placeholder.insert_unique(hp, i, |&j| hasher.hash_one(order[j as usize].placeholder.as_str()));
        let older = match value.as_bytes().get(..SEEN_PREFIX) {
            Some(prefix) => {
                let prefix: [u8; SEEN_PREFIX] = prefix.try_into().expect("8 bytes");
                self.seen.insert(prefix, i).unwrap_or(NONE)
            }
            None => NONE,
        };
        self.seen_next.push(older);
        out.push_str(&p);
        self.order.push(Finding { kind, value: value.to_string(), placeholder: p });
    }

    /// The value a placeholder of this request stands for, by its index in `order`.
    fn index_of_placeholder(&self, placeholder: &str) -> Option<usize> {
        let h = self.hasher.hash_one(placeholder);
        self.by_placeholder.find(h, |&i| self.order[i as usize].placeholder == placeholder).map(|&i| i as usize)
    }

    /// Forgets what was counted so far (not the placeholders): for a second form of the same text.
    pub fn reset_tally(&mut self) {
        self.counts = Counts::default();
        self.places.clear();
    }

    /// Occurrences replaced, per kind.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Each distinct value once, in order of first appearance.
    pub fn findings(&self) -> &[Finding] {
        &self.order
    }

    /// What `block` says: the kinds found and where.
    pub fn where_found(&self) -> String {
        let places: Vec<String> = self
            .places
            .iter()
            .take(10)
            .map(|(k, at)| format!("{} in {at}", k.noun(1).trim_start_matches("1 ")))
            .collect();
        let more = self.places.len().saturating_sub(10);
        format!("{}{}", places.join("; "), if more > 0 { format!("; and {more} more") } else { String::new() })
    }

    /// A restorer for the answer to this request (tool calls get the values back as
    /// [`ToolValues::Restore`] says; see [`Restorer::with_tool_values`]).
    pub fn restorer(&self) -> Restorer {
        // The user's own placeholder-like text comes back as it was (and is not counted as a
        // placeholder the model made up).
        let mut map: HashMap<String, String> =
            self.order.iter().map(|f| (f.placeholder.clone(), f.value.clone())).collect();
        for l in &self.literals {
            map.entry(l.clone()).or_insert_with(|| l.clone());
        }
        Restorer::new(Arc::new(map))
    }
}

#[cfg(test)]
mod corpus;
#[cfg(test)]
mod tests;
