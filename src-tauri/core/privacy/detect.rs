//! Finding sensitive values in text: the recognizers of `rules.json` (patterns, validators,
//! context words) and the user's dictionary. Everything runs here, on this machine.

use std::sync::OnceLock;

use regex::Regex;
use serde::Deserialize;

use super::{Kind, Policy};

/// A sensitive value found in a text: its kind, which rule found it, and where (byte offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub kind: Kind,
    pub rule: &'static str,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Validator {
    Luhn,
    Mod97,
    Phone,
    Ip,
    Entropy,
    NotPlaceholder,
    UsSsn,
    UkNino,
    DeSteuerId,
    FrNir,
    EsDni,
    ItCodiceFiscale,
    NlBsn,
}

#[derive(Deserialize)]
struct RuleText {
    kind: Kind,
    name: String,
    policy: Policy,
    pattern: String,
    #[serde(default)]
    group: usize,
    validator: Option<Validator>,
    #[serde(default)]
    context: Vec<String>,
}

#[derive(Deserialize)]
struct RuleFile {
    rules: Vec<RuleText>,
}

struct Rule {
    kind: Kind,
    name: &'static str,
    policy: Policy,
    regex: Regex,
    group: usize,
    validator: Option<Validator>,
    /// The context words, any case of ASCII letters, and each word also in capitals.
    context: Option<aho_corasick::AhoCorasick>,
}

/// Why a rules file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("The recognizer rules are not valid JSON in the expected shape: {0}")]
    Shape(String),
    #[error("The recognizer rule \"{name}\" has a pattern that does not compile: {detail}")]
    Pattern { name: String, detail: String },
    #[error("The recognizer rule \"{name}\" names capture group {group}, which its pattern does not have")]
    Group { name: String, group: usize },
}

/// Compiled recognizers.
pub struct Rules(Vec<Rule>);

/// Past this size a single pattern match is not attempted on a line as one piece (regex is
/// linear-time, so this only bounds memory for compiled automata).
const REGEX_SIZE_LIMIT: usize = 8 * 1024 * 1024;

impl Rules {
    /// Compiles a rules file; every problem is named, nothing is half-loaded.
    pub fn parse(text: &str) -> Result<Rules, RulesError> {
        let file: RuleFile = serde_json::from_str(text).map_err(|e| RulesError::Shape(e.to_string()))?;
        let mut rules = Vec::with_capacity(file.rules.len());
        for r in file.rules {
            // Word boundaries are ASCII ones: a Unicode `\b` stops the fast (DFA) engines at the
            // first non-ASCII byte of a prompt, and costs a multiple of the time.
            let pattern = r.pattern.replace(r"\b", r"(?-u:\b)");
            let regex = regex::RegexBuilder::new(&pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| RulesError::Pattern { name: r.name.clone(), detail: e.to_string() })?;
            if r.group >= regex.captures_len() {
                return Err(RulesError::Group { name: r.name, group: r.group });
            }
            let context = context_words(&r.name, &r.context)?;
            rules.push(Rule {
                kind: r.kind,
                // Rules live for the whole process.
                name: Box::leak(r.name.into_boxed_str()),
                policy: r.policy,
                regex,
                group: r.group,
                validator: r.validator,
                context,
            });
        }
        Ok(Rules(rules))
    }

    /// The rules shipped with Keyhold (checked by the tests, so this cannot fail at run time).
    pub fn builtin() -> &'static Rules {
        static RULES: OnceLock<Rules> = OnceLock::new();
        RULES.get_or_init(|| Rules::parse(include_str!("rules.json")).expect("rules.json is checked by its tests"))
    }

    /// Every sensitive value in `text` under `policy`, plus the dictionary's terms (pii and
    /// block), without overlaps: where two overlap, a secret wins, then the longer match.
    pub fn find(&self, text: &str, policy: Policy, dictionary: &Dictionary) -> Vec<Found> {
        self.find_in(text, policy, dictionary, None)
    }

    /// As [`Rules::find`], for a user in `region`: a phone number written the way that region
    /// writes them is found without a context word (see [`Region::national_phone`]).
    pub fn find_in(&self, text: &str, policy: Policy, dictionary: &Dictionary, region: Option<Region>) -> Vec<Found> {
        self.find_counted(text, policy, dictionary, region, &mut Lookups::default())
    }

    /// As [`Rules::find_in`], drawing the phone-number library's lookups from `lookups` (one
    /// budget per request: see [`Lookups`]).
    pub(crate) fn find_counted(
        &self,
        text: &str,
        policy: Policy,
        dictionary: &Dictionary,
        region: Option<Region>,
        lookups: &mut Lookups,
    ) -> Vec<Found> {
        if policy == Policy::Off || text.is_empty() {
            return Vec::new();
        }
        let pii = matches!(policy, Policy::Pii | Policy::Block);
        let mut all = Vec::new();
        for rule in self.0.iter().filter(|r| r.policy == Policy::Secrets || pii) {
            // The rule's context words in the whole text, found once at its first candidate.
            let mut context: Option<ContextWords> = None;
            // The whole match first (the fast engines); capture groups only where one matched.
            for whole in rule.regex.find_iter(text) {
                let m = if rule.group == 0 {
                    whole
                } else {
                    match rule.regex.captures_at(text, whole.start()).and_then(|c| c.get(rule.group)) {
                        Some(m) => m,
                        None => continue,
                    }
                };
                if m.as_str().is_empty() {
                    continue;
                }
                // The context first: it is cheap, and most candidates fail it. A phone number
                // without one counts when it is one of the user's region, as written there.
                let missing = rule.context.as_ref().is_some_and(|words| {
                    !context.get_or_insert_with(|| ContextWords::find(text, words)).before(text, m.start())
                });
                // A national number of the region is valid already: not asked about twice.
                let mut validated = false;
                if missing {
                    validated = rule.validator == Some(Validator::Phone)
                        && region.is_some_and(|r| r.national_phone(m.as_str(), lookups));
                    if !validated {
                        continue;
                    }
                }
                if let Some(v) = rule.validator.filter(|_| !validated) {
                    let valid = match v {
                        Validator::Phone => phone(m.as_str(), lookups),
                        v => validate(v, m.as_str()),
                    };
                    if !valid {
                        continue;
                    }
                }
                all.push(Found { kind: rule.kind, rule: rule.name, start: m.start(), end: m.end() });
            }
        }
        if pii {
            all.extend(dictionary.find(text));
        }
        resolve_overlaps(all)
    }
}

/// Keeps a set of non-overlapping findings: secrets first, then longer, then earlier. In
/// O(n log n): an 8 MiB body of short e-mails has hundreds of thousands of findings.
fn resolve_overlaps(mut all: Vec<Found>) -> Vec<Found> {
    // Most texts have no overlap at all: then the order by start is the answer.
    all.sort_unstable_by_key(|f| (f.start, f.end));
    if all.windows(2).all(|w| w[0].end <= w[1].start) {
        return all;
    }
    all.sort_by_key(|f| (f.kind != Kind::Secret, std::cmp::Reverse(f.end - f.start), f.start));
    let mut taken = Taken::default();
    let mut kept: Vec<Found> = Vec::with_capacity(all.len());
    for f in all {
        if taken.take(f.start, f.end) {
            kept.push(f);
        }
    }
    kept.sort_by_key(|f| f.start);
    kept
}

/// Byte ranges that do not overlap, by start: whether a new one is free is one lookup.
#[derive(Default)]
pub(crate) struct Taken(std::collections::BTreeMap<usize, usize>);

impl Taken {
    /// Takes `start..end` if it overlaps nothing taken; whether it did.
    pub(crate) fn take(&mut self, start: usize, end: usize) -> bool {
        // The taken range that starts last before `end` is the only one that can overlap
        // (the ones before it end before it starts).
        let free = self.0.range(..end).next_back().is_none_or(|(_, &e)| e <= start);
        if free {
            self.0.insert(start, end);
        }
        free
    }
}

/// A rule's context words as one automaton: ASCII letters in any case, and each word also in
/// lower case and in capitals (`TÉLÉPHONE`), so a candidate's context is checked without
/// copying the text before it.
fn context_words(rule: &str, words: &[String]) -> Result<Option<aho_corasick::AhoCorasick>, RulesError> {
    if words.is_empty() {
        return Ok(None);
    }
    let forms: Vec<String> = words.iter().flat_map(|w| [w.to_lowercase(), w.to_uppercase()]).collect();
    aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(&forms)
        .map(Some)
        .map_err(|e| RulesError::Pattern { name: rule.to_string(), detail: e.to_string() })
}

/// Where a rule's context words are in a text: one pass of its automaton, then a lookup per
/// candidate (not a search of the text before each of them).
struct ContextWords(Vec<(usize, usize)>);

impl ContextWords {
    fn find(text: &str, words: &aho_corasick::AhoCorasick) -> ContextWords {
        // Overlapping, so a word inside another (`tel` in `telefon`) is not hidden by it.
        // Reported by where they end: sorted by where they start for the lookups.
        let mut at: Vec<(usize, usize)> = words.find_overlapping_iter(text).map(|m| (m.start(), m.end())).collect();
        at.sort_unstable();
        ContextWords(at)
    }

    /// Whether a word lies within the 40 bytes before `at` (from the start of the character
    /// there).
    fn before(&self, text: &str, at: usize) -> bool {
        let mut from = at.saturating_sub(40);
        while !text.is_char_boundary(from) {
            from -= 1;
        }
        let first = self.0.partition_point(|&(start, _)| start < from);
        self.0[first..].iter().take_while(|&&(start, _)| start < at).any(|&(_, end)| end <= at)
    }
}

fn validate(v: Validator, value: &str) -> bool {
    match v {
        Validator::Luhn => luhn(value),
        Validator::Mod97 => iban_mod97(value),
        Validator::Phone => phone(value, &mut Lookups::default()),
        Validator::Ip => value.parse::<std::net::IpAddr>().is_ok_and(|ip| !ip.is_unspecified()),
        Validator::Entropy => entropy(value) >= 3.5,
        Validator::NotPlaceholder => !is_placeholder_value(value),
        Validator::UsSsn => super::national::us_ssn(value),
        Validator::UkNino => super::national::uk_nino(value),
        Validator::DeSteuerId => super::national::de_steuer_id(value),
        Validator::FrNir => super::national::fr_nir(value),
        Validator::EsDni => super::national::es_dni(value),
        Validator::ItCodiceFiscale => super::national::it_codice_fiscale(value),
        Validator::NlBsn => super::national::nl_bsn(value),
    }
}

/// The Luhn checksum of a card number (spaces and dashes ignored), 13 to 19 digits.
pub fn luhn(value: &str) -> bool {
    let digits: Vec<u32> = value.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) || digits.iter().all(|d| *d == digits[0]) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// ISO 13616: the country's length, then mod 97 of the rearranged number is 1.
pub fn iban_mod97(value: &str) -> bool {
    let s: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(len) = iban_length(&s[..2.min(s.len())]) else { return false };
    if s.len() != len {
        return false;
    }
    let rearranged = s[4..].chars().chain(s[..4].chars());
    let mut rem: u32 = 0;
    for c in rearranged {
        let n = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        rem = if n >= 10 { (rem * 100 + n) % 97 } else { (rem * 10 + n) % 97 };
    }
    rem == 1
}

/// IBAN lengths by country (SWIFT registry), for the countries that use one.
fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "NO" => 15,
        "BE" => 16,
        "DK" | "FI" | "FO" | "GL" | "NL" => 18,
        "MK" | "SI" => 19,
        "AT" | "BA" | "EE" | "KZ" | "LT" | "LU" | "XK" => 20,
        "CH" | "CR" | "HR" | "LI" | "LV" => 21,
        "BG" | "BH" | "DE" | "GB" | "GE" | "IE" | "ME" | "RS" => 22,
        "AE" | "GI" | "IL" | "TL" => 23,
        "AD" | "CZ" | "ES" | "MD" | "PK" | "RO" | "SA" | "SE" | "SK" | "TN" | "VG" => 24,
        "PT" | "ST" => 25,
        "IS" | "TR" => 26,
        "FR" | "GR" | "IT" | "MC" | "MR" | "SM" => 27,
        "AL" | "AZ" | "BY" | "CY" | "DO" | "GT" | "HU" | "LB" | "PL" | "SV" => 28,
        "BR" | "EG" | "PS" | "QA" | "UA" => 29,
        "JO" | "KW" | "MU" => 30,
        "MT" | "SC" => 31,
        "LC" => 32,
        _ => return None,
    })
}

/// A phone number the phone-number library accepts as valid (see [`phone_uncached`]).
fn phone(value: &str, lookups: &mut Lookups) -> bool {
    let digits = value.chars().filter(char::is_ascii_digit).count();
    if !(7..=15).contains(&digits) || looks_like_date(value) {
        return false;
    }
    lookups.remembered(None, value, || phone_uncached(value))
}

/// How many times one request may ask the phone-number library. It takes about 20 µs a number,
/// and a conversation re-sends its history on every call, so verdicts are remembered — by a
/// keyed hash of the candidate, never the number itself — in a bounded table. A body of
/// hundreds of thousands of new numbers would still stall a worker for seconds: past the budget
/// a candidate of a phone number's shape is taken as one without asking (kept from the cloud,
/// never let through unchecked).
pub(crate) struct Lookups(u32);

/// About 80 ms of the library's time per request at most.
const PHONE_LOOKUPS: u32 = 4096;

impl Default for Lookups {
    fn default() -> Self {
        Lookups(PHONE_LOOKUPS)
    }
}

impl Lookups {
    #[cfg(test)]
    pub(crate) fn spent() -> Lookups {
        Lookups(0)
    }

    fn remembered(&mut self, region: Option<Region>, value: &str, verdict: impl FnOnce() -> bool) -> bool {
        use std::collections::HashMap;
        use std::hash::BuildHasher;
        use std::sync::Mutex;
        // foldhash, seeded per process: a few nanoseconds a candidate, where SipHash took a
        // noticeable share of an 8 MiB body of numbers.
        type Table = (hashbrown::DefaultHashBuilder, Mutex<HashMap<u64, bool>>);
        static SEEN: OnceLock<Table> = OnceLock::new();
        let (keys, table) = SEEN.get_or_init(Default::default);
        let h = keys.hash_one((region, value));
        if let Some(v) = table.lock().unwrap_or_else(|p| p.into_inner()).get(&h) {
            return *v;
        }
        if self.0 == 0 {
            return true;
        }
        self.0 -= 1;
        let v = verdict();
        let mut t = table.lock().unwrap_or_else(|p| p.into_inner());
        if t.len() >= 8192 {
            t.clear();
        }
        t.insert(h, v);
        v
    }
}

/// In international form as written, or national form in one of the regions Keyhold's users
/// write most.
fn phone_uncached(value: &str) -> bool {
    let international = value.trim_start().starts_with('+') || value.trim_start().starts_with("00");
    if international {
        let normalized = match value.trim_start().strip_prefix("00") {
            Some(rest) => format!("+{rest}"),
            None => value.to_string(),
        };
        return phonenumber::parse(None, &normalized).is_ok_and(|n| phonenumber::is_valid(&n));
    }
    use phonenumber::country::Id;
    [Id::US, Id::GB, Id::DE, Id::FR, Id::ES, Id::IT, Id::NL, Id::JP, Id::CA, Id::AU]
        .into_iter()
        .any(|region| phonenumber::parse(Some(region), value).is_ok_and(|n| phonenumber::is_valid(&n)))
}

/// The user's region, for the phone numbers they write without a country code (a setting,
/// defaulting to the system locale's country).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region(phonenumber::country::Id);

impl Region {
    /// An ISO 3166 country code the phone-number library knows ("DE", "us").
    pub fn parse(code: &str) -> Option<Region> {
        let code = code.trim().to_ascii_uppercase();
        if code.len() != 2 {
            return None;
        }
        code.parse().ok().map(Region)
    }

    pub fn code(&self) -> &str {
        self.0.as_ref()
    }

    /// The country of a POSIX locale name (`de_DE.UTF-8` → DE); none for `C`, `POSIX` or a
    /// language alone.
    pub fn from_locale(locale: &str) -> Option<Region> {
        let name = locale.split(['.', '@']).next()?;
        let (_, country) = name.split_once(['_', '-'])?;
        Region::parse(country)
    }

    /// The system's: the first of `LC_ALL`, `LC_TELEPHONE` (the category for phone numbers),
    /// `LANG` that is set and not empty.
    pub fn of_system() -> Option<Region> {
        ["LC_ALL", "LC_TELEPHONE", "LANG"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|v| !v.is_empty())
            .and_then(|v| Region::from_locale(&v))
    }

    /// Whether `written` is a phone number of this region as people there write one: valid for
    /// the region, in groups (a bare run of digits is an order or customer number as often),
    /// and grouped as the region groups it — all groups as its national format has them, or
    /// its area code as the first group, or pairs after a trunk 0 (`06 23 24 37 12`).
    pub(crate) fn national_phone(self, written: &str, lookups: &mut Lookups) -> bool {
        let groups = || written.split(|c: char| !c.is_ascii_digit()).filter(|g| !g.is_empty());
        let (count, digits) = groups().fold((0, 0), |(n, d), g| (n + 1, d + g.len()));
        if count < 2 || !(7..=15).contains(&digits) || looks_like_date(written) {
            return false;
        }
        lookups.remembered(Some(self), written, || {
            let groups: Vec<&str> = groups().collect();
            let Ok(n) = phonenumber::parse(Some(self.0), written) else { return false };
            if !phonenumber::is_valid(&n) || n.country().id() != Some(self.0) {
                return false;
            }
            let national = n.format().mode(phonenumber::Mode::National).to_string();
            let format: Vec<&str> = national.split(|c: char| !c.is_ascii_digit()).filter(|g| !g.is_empty()).collect();
            // The library's area codes can run long (DE `01512 3456789`, written `0151 2345
            // 6789`): a first group that starts the library's counts as the area code. Not the
            // other way round: `2026-11-29 14` is no (202) 611-2914.
            let area = format.first().is_some_and(|f| f.starts_with(groups[0]));
            let pairs =
                groups[0].starts_with('0') && groups.len() >= 4 && groups.iter().all(|g| (2..=3).contains(&g.len()));
            groups == format || area || pairs
        })
    }
}

fn looks_like_date(value: &str) -> bool {
    // Every date form below has a separator of these: most candidates have none.
    if !value.bytes().any(|b| matches!(b, b'-' | b'/' | b'.')) {
        return false;
    }
    static DATE: OnceLock<Regex> = OnceLock::new();
    DATE.get_or_init(|| {
        Regex::new(r"^\s*(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})\s*$").expect("date regex")
    })
    .is_match(value)
}

/// Shannon entropy in bits per character.
pub fn entropy(value: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for c in value.chars() {
        *counts.entry(c).or_insert(0u32) += 1;
    }
    let n = value.chars().count() as f64;
    counts.values().map(|&c| c as f64 / n).map(|p| -p * p.log2()).sum()
}

/// A value that only stands for a secret: `<your-key>`, `${TOKEN}`, `xxxxxx`, `********`,
/// `changeme`, `[SECRET_1]`.
fn is_placeholder_value(value: &str) -> bool {
    let v = value.trim_matches(|c| c == '"' || c == '\'');
    let lower = v.to_lowercase();
    is_code_reference(v)
        || v.starts_with('$')
        || v.starts_with('<')
        || v.starts_with('{')
        || v.starts_with('[')
        || v.starts_with('%')
        || v.chars().all(|c| c == v.chars().next().unwrap_or(' '))
        || [
            "your",
            "example",
            "placeholder",
            "changeme",
            "redacted",
            "xxxx",
            "****",
            "...",
            "env(",
            "process.env",
            "os.environ",
            "none",
            "null",
            "undefined",
            "required",
            "optional",
            "string",
            "password",
            "secret",
        ]
        .iter()
        .any(|w| lower.contains(w))
}

/// The right side of an assignment in code that names where the secret comes from rather than
/// holding it: a call (`getpass.getpass(...)`, `os.getenv("KEY")`), an attribute path
/// (`settings.SECRET_KEY`, `self.api_key`), or a snake_case variable (`user_password`).
fn is_code_reference(v: &str) -> bool {
    let ident = |s: &str| {
        let mut c = s.chars();
        c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
    };
    let call = v.find('(').is_some_and(|i| i > 0 && v[..i].split('.').all(ident));
    let path = v.contains('.') && v.split('.').all(ident);
    let variable = v.contains('_') && v.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    call || path || variable
}

/// The user's own terms (client names, project code names, people), matched whole-word and
/// case-insensitively.
#[derive(Default)]
pub struct Dictionary {
    matcher: Option<aho_corasick::AhoCorasick>,
}

impl Dictionary {
    pub fn new<S: AsRef<str>>(terms: &[S]) -> Dictionary {
        let terms: Vec<&str> = terms.iter().map(|t| t.as_ref().trim()).filter(|t| !t.is_empty()).collect();
        if terms.is_empty() {
            return Dictionary::default();
        }
        let matcher = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(&terms)
            .ok();
        Dictionary { matcher }
    }

    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    fn find(&self, text: &str) -> Vec<Found> {
        let Some(m) = &self.matcher else { return Vec::new() };
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        m.find_iter(text)
            .filter(|f| !word(text[..f.start()].chars().next_back()) && !word(text[f.end()..].chars().next()))
            .map(|f| Found { kind: Kind::Custom, rule: "dictionary", start: f.start(), end: f.end() })
            .collect()
    }
}
