//! The ledger: one SQLite row per attempt (ok or failed), the spend behind budgets, and exports.

use chrono::{DateTime, Local, NaiveDate, TimeZone, Utc};
use rusqlite::{params, Connection};
use serde::Serialize;
use specta::Type;

use crate::money::Money;
use crate::prices::Tokens;
use crate::providers::failure::Unreachable;

pub mod chain;
pub mod writer;
pub use writer::{Pending, Writer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Agent,
    Proxy,
}

impl Mode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Mode::Agent => "agent",
            Mode::Proxy => "proxy",
        }
    }
}

/// How one attempt at a chain step ended: the ledger's `outcome` column, written as text
/// (`ok`, `http_529`, `timeout`, …) so exports and old rows read the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The step answered.
    Ok,
    /// The answer broke off after it had started reaching the caller.
    Cut,
    /// The stream broke before any of the answer reached the caller.
    BrokenBeforeAnswer,
    /// The provider could not be reached.
    Unreachable(Unreachable),
    /// The provider answered with this HTTP status.
    Http(u16),
    /// The provider's reply was not in its protocol's shape.
    BadReply,
    /// The key's base URL is not a URL.
    BadUrl,
    /// A local model that is not there.
    ModelMissing,
    /// No key for the step (none given, no default for its provider).
    KeyMissing,
    /// The step's key is deactivated.
    KeyInactive,
    /// The step's key would not open (tampered with, or the vault locked meanwhile).
    KeyUnusable,
    /// No price is known for the model, so a budget cannot be held.
    PriceUnknown,
    /// The call would exceed the agent's daily budget.
    Budget,
    /// The request carries tools and the step speaks another protocol.
    ToolsUnsupported,
    /// Offline mode is on (never in the ledger: nothing was tried).
    Offline,
    /// The agent's privacy policy is `block` and the request held something it hides: nothing
    /// was sent to this cloud step.
    Blocked,
    /// A fault in Keyhold itself.
    Internal,
    /// Sent, not ended yet: the row written before the first byte goes upstream.
    InFlight,
    /// Was in flight when Keyhold stopped (killed, crashed, the machine went down): settled at
    /// the next start at what it reserved.
    Interrupted,
}

impl Outcome {
    /// Why a step did not answer, in the words a person uses ("was overloaded").
    pub fn why_not(&self) -> String {
        match self {
            Outcome::Offline => "was skipped (offline mode)".into(),
            Outcome::Blocked => "was not sent (the privacy policy blocks it)".into(),
            Outcome::Budget => "would have gone over the daily budget".into(),
            Outcome::PriceUnknown => "has no known price, so the budget could not be held".into(),
            Outcome::KeyInactive => "uses a deactivated key".into(),
            Outcome::KeyMissing => "has no key".into(),
            Outcome::KeyUnusable => "has a key that would not open".into(),
            Outcome::ToolsUnsupported => "speaks another protocol and the request uses tools".into(),
            Outcome::Unreachable(crate::providers::failure::Unreachable::Timeout) => "did not answer in time".into(),
            Outcome::Unreachable(_) => "could not be reached".into(),
            Outcome::Http(503 | 529) => "was overloaded".into(),
            Outcome::Http(429) => "was rate-limited".into(),
            Outcome::Http(401 | 403) => "rejected the key".into(),
            Outcome::Http(s) if *s >= 500 => "had a server error".into(),
            Outcome::ModelMissing => "does not have the model".into(),
            Outcome::BrokenBeforeAnswer => "broke off before answering".into(),
            Outcome::InFlight => "is still answering".into(),
            Outcome::Interrupted => "was cut off when Keyhold stopped".into(),
            other => format!("failed ({})", other.as_str()),
        }
    }

    /// A few words for a table cell ("overloaded (HTTP 529)", "broke off mid-answer"); the code
    /// (`as_str`) stays for hover, filters and exports.
    pub fn words(&self) -> String {
        use crate::providers::failure::Unreachable as U;
        let http = |what: &str, s: u16| format!("{what} (HTTP {s})");
        match self {
            Outcome::Ok => "answered".into(),
            Outcome::Cut => "broke off mid-answer".into(),
            Outcome::BrokenBeforeAnswer => "broke off before answering".into(),
            Outcome::Unreachable(U::Timeout) => "timed out".into(),
            Outcome::Unreachable(U::Dns) => "unreachable (name not found)".into(),
            Outcome::Unreachable(U::Connect) => "unreachable (no connection)".into(),
            Outcome::Unreachable(U::Tls) => "unreachable (TLS failed)".into(),
            Outcome::Http(s @ (401 | 403)) => http("key rejected", *s),
            Outcome::Http(s @ 429) => http("rate limited", *s),
            Outcome::Http(s @ (503 | 529)) => http("overloaded", *s),
            Outcome::Http(s @ 404) => http("not found", *s),
            Outcome::Http(s) if *s >= 500 => http("server error", *s),
            Outcome::Http(s) if *s >= 400 => http("refused", *s),
            Outcome::Http(s) => http("unexpected status", *s),
            Outcome::BadReply => "unreadable reply".into(),
            Outcome::BadUrl => "bad address".into(),
            Outcome::ModelMissing => "model not there".into(),
            Outcome::KeyMissing => "no key".into(),
            Outcome::KeyInactive => "key deactivated".into(),
            Outcome::KeyUnusable => "key would not open".into(),
            Outcome::PriceUnknown => "no price known".into(),
            Outcome::Budget => "over budget".into(),
            Outcome::ToolsUnsupported => "tools not supported".into(),
            Outcome::Offline => "skipped (offline)".into(),
            Outcome::Blocked => "blocked by privacy policy".into(),
            Outcome::Internal => "Keyhold error".into(),
            Outcome::InFlight => "answering".into(),
            Outcome::Interrupted => "interrupted (Keyhold stopped)".into(),
        }
    }

    pub fn as_str(&self) -> std::borrow::Cow<'static, str> {
        use std::borrow::Cow::Borrowed;
        match self {
            Outcome::Ok => Borrowed("ok"),
            Outcome::Cut => Borrowed("cut"),
            Outcome::BrokenBeforeAnswer => Borrowed("broken_before_answer"),
            Outcome::Unreachable(u) => Borrowed(u.outcome()),
            Outcome::Http(status) => std::borrow::Cow::Owned(format!("http_{status}")),
            Outcome::BadReply => Borrowed("bad_reply"),
            Outcome::BadUrl => Borrowed("bad_url"),
            Outcome::ModelMissing => Borrowed("model_missing"),
            Outcome::KeyMissing => Borrowed("key_missing"),
            Outcome::KeyInactive => Borrowed("key_inactive"),
            Outcome::KeyUnusable => Borrowed("key_unusable"),
            Outcome::PriceUnknown => Borrowed("price_unknown"),
            Outcome::Budget => Borrowed("budget"),
            Outcome::ToolsUnsupported => Borrowed("tools_unsupported"),
            Outcome::Offline => Borrowed("offline"),
            Outcome::Blocked => Borrowed("blocked"),
            Outcome::Internal => Borrowed("internal"),
            Outcome::InFlight => Borrowed(chain::IN_FLIGHT),
            Outcome::Interrupted => Borrowed(chain::INTERRUPTED),
        }
    }

    /// The cloud could not be reached at all (worth offering offline mode).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Outcome::Unreachable(_))
    }
}

/// Text that is not an outcome the ledger writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is not an outcome Keyhold writes")]
pub struct UnknownOutcome(pub String);

impl std::str::FromStr for Outcome {
    type Err = UnknownOutcome;

    /// Reads an outcome back as the ledger writes it.
    fn from_str(s: &str) -> Result<Self, UnknownOutcome> {
        let all = [
            Outcome::Ok,
            Outcome::Cut,
            Outcome::BrokenBeforeAnswer,
            Outcome::Unreachable(Unreachable::Dns),
            Outcome::Unreachable(Unreachable::Connect),
            Outcome::Unreachable(Unreachable::Tls),
            Outcome::Unreachable(Unreachable::Timeout),
            Outcome::BadReply,
            Outcome::BadUrl,
            Outcome::ModelMissing,
            Outcome::KeyMissing,
            Outcome::KeyInactive,
            Outcome::KeyUnusable,
            Outcome::PriceUnknown,
            Outcome::Budget,
            Outcome::ToolsUnsupported,
            Outcome::Offline,
            Outcome::Blocked,
            Outcome::Internal,
            Outcome::InFlight,
            Outcome::Interrupted,
        ];
        if let Some(o) = all.into_iter().find(|o| o.as_str() == s) {
            return Ok(o);
        }
        s.strip_prefix("http_")
            .and_then(|n| n.parse().ok())
            .map(Outcome::Http)
            .ok_or_else(|| UnknownOutcome(s.to_string()))
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_str())
    }
}

impl Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_str())
    }
}

impl specta::Type for Outcome {
    fn definition(types: &mut specta::Types) -> specta::datatype::DataType {
        String::definition(types)
    }
}

/// One attempt at one chain step.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// The agent's id (what budgets follow) and its name at the time (what exports show).
    pub agent_id: String,
    pub agent: String,
    pub key_id: Option<String>,
    pub key_label: Option<String>,
    pub provider: String,
    pub model: String,
    pub mode: Mode,
    pub step: u32,
    pub outcome: Outcome,
    pub tokens: Tokens,
    /// None when the model's price is unknown.
    pub cost: Option<Money>,
    /// Tokens counted by Keyhold because the reply never said (a cut stream).
    pub estimated: bool,
    pub latency_ms: i64,
    pub ttft_ms: Option<i64>,
    pub local: bool,
    /// What was replaced in the request before it left (`email:2 secret:1`); empty when nothing
    /// was, or the step was local.
    pub redacted: String,
    /// Provider-side tools the reply used, billed per use (`web_search:2`, see
    /// [`crate::prices::ToolUses::to_ledger`]); their fees are in `cost`. Empty when none were.
    pub tools: String,
}

pub fn record(conn: &Connection, a: &Attempt) -> rusqlite::Result<i64> {
    insert(conn, a, &at_text(a.at), &a.outcome.as_str(), a.cost.map(|c| c.nanos()), None)
}

/// How a row's time is stored (and chained).
pub(crate) fn at_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Chain tags of a row (`ledger::chain`), written when the writer holds the chain key.
pub(crate) struct Chained<'a> {
    pub id: i64,
    pub link: &'a [u8],
    pub seal: Option<&'a [u8]>,
}

/// Writes a row; `reserved`: what it counts if it never settles (`ledger::chain`).
pub(crate) fn insert(
    conn: &Connection,
    a: &Attempt,
    at: &str,
    outcome: &str,
    reserved: Option<i64>,
    chained: Option<Chained>,
) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO ledger (at, agent, key_id, key_label, provider, model, mode, step, outcome, input_tokens,
            output_tokens, cache_read_tokens, cache_write_tokens, cost_nano, estimated, latency_ms, ttft_ms, local,
            agent_id, redacted, id, chain, seal, reserved_nano, tools)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22,
                 ?23, ?24, ?25)",
    )?
    .execute(params![
        at,
        a.agent,
        a.key_id,
        a.key_label,
        a.provider,
        a.model,
        a.mode.as_str(),
        a.step,
        outcome,
        a.tokens.input,
        a.tokens.output,
        a.tokens.cache_read,
        a.tokens.cache_write,
        a.cost,
        a.estimated,
        a.latency_ms,
        a.ttft_ms,
        a.local,
        a.agent_id,
        (!a.redacted.is_empty()).then_some(a.redacted.as_str()),
        chained.as_ref().map(|c| c.id),
        chained.as_ref().map(|c| c.link),
        chained.as_ref().and_then(|c| c.seal),
        reserved,
        (!a.tools.is_empty()).then_some(a.tools.as_str()),
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Start of the user's local day containing `now`, in UTC.
pub fn local_day_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let local = now.with_timezone(&Local).date_naive();
    local_midnight_utc(local)
}

/// Local midnight of a date, in UTC. On a DST change where midnight does not exist, the first
/// instant of the day is used.
pub fn local_midnight_utc(date: NaiveDate) -> DateTime<Utc> {
    let naive = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    match Local.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        chrono::LocalResult::None => Local
            .from_local_datetime(&(naive + chrono::Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&naive)),
    }
}

/// What the agent with this id has spent since the start of the user's local day (known costs
/// only). The budget module is its user; the id, not the name, so a rename keeps the spend.
/// Everyone else asks `budget::spent_today` with the agent, so a name cannot be passed here.
pub fn spent_today(conn: &Connection, agent_id: &str, now: DateTime<Utc>) -> rusqlite::Result<Money> {
    let since = local_day_start(now).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    conn.prepare_cached("SELECT COALESCE(SUM(cost_nano), 0) FROM ledger WHERE agent_id = ?1 AND at >= ?2")?
        .query_row(params![agent_id, since], |r| r.get(0))
}

/// One exported row: the columns in DESIGN.md, in order (the CSV header is these names).
#[derive(Debug, Clone, Default, Serialize, Type)]
pub struct ExportRow {
    pub time: String,
    pub agent: String,
    pub mode: String,
    pub step: u32,
    pub provider: String,
    pub key_label: String,
    pub model: String,
    pub outcome: String,
    #[specta(type = specta_typescript::Number)]
    pub input_tokens: i64,
    #[specta(type = specta_typescript::Number)]
    pub output_tokens: i64,
    #[specta(type = specta_typescript::Number)]
    pub cache_read_tokens: i64,
    #[specta(type = specta_typescript::Number)]
    pub cache_write_tokens: i64,
    /// Exact decimal; an empty field when the price is unknown.
    #[serde(serialize_with = "crate::money::serialize_or_empty")]
    #[specta(type = String)]
    pub cost_usd: Option<Money>,
    pub estimated: bool,
    #[specta(type = specta_typescript::Number)]
    pub latency_ms: i64,
    #[specta(type = Option<specta_typescript::Number>)]
    pub ttft_ms: Option<i64>,
    pub local: bool,
    /// What was replaced before the request left this machine: `email:2 secret:1`, empty when
    /// nothing was.
    pub redacted: String,
    /// Provider-side tools the reply used, each billed per use and included in `cost_usd`:
    /// `web_search:2`, empty when none were.
    pub tools: String,
}

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub agent: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// An outcome, or "failed" for every outcome but ok.
    pub outcome: Option<String>,
    pub mode: Option<String>,
    /// Newest first, at most this many rows (default: all, oldest first).
    pub newest: Option<u32>,
}

pub fn export(conn: &Connection, f: &Filter) -> rusqlite::Result<Vec<ExportRow>> {
    let fmt = |t: &Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT at, agent, mode, step, provider, COALESCE(key_label, ''), model, outcome, input_tokens, output_tokens,
                cache_read_tokens, cache_write_tokens, cost_nano, estimated, latency_ms, ttft_ms, local,
                COALESCE(redacted, ''), COALESCE(tools, '')
         FROM ledger
         WHERE (?1 IS NULL OR agent = ?1 COLLATE NOCASE) AND (?2 IS NULL OR at >= ?2) AND (?3 IS NULL OR at < ?3)
           AND (?4 IS NULL OR provider = ?4) AND (?5 IS NULL OR model = ?5) AND (?6 IS NULL OR mode = ?6)
           AND (?7 IS NULL OR (?7 = 'failed' AND outcome <> 'ok') OR outcome = ?7)
         {}",
        // Newest-first with a limit walks the `at` index backwards and stops early; a full
        // export reads in time order.
        if f.newest.is_some() { "ORDER BY at DESC, id DESC LIMIT ?8" } else { "AND ?8 IS NULL ORDER BY at, id" }
    ))?;
    let rows = stmt.query_map(
        params![f.agent, fmt(&f.since), fmt(&f.until), f.provider, f.model, f.mode, f.outcome, f.newest],
        |r| {
            Ok(ExportRow {
                time: r.get(0)?,
                agent: r.get(1)?,
                mode: r.get(2)?,
                step: r.get(3)?,
                provider: r.get(4)?,
                key_label: r.get(5)?,
                model: r.get(6)?,
                outcome: r.get(7)?,
                input_tokens: r.get(8)?,
                output_tokens: r.get(9)?,
                cache_read_tokens: r.get(10)?,
                cache_write_tokens: r.get(11)?,
                cost_usd: r.get(12)?,
                estimated: r.get(13)?,
                latency_ms: r.get(14)?,
                ttft_ms: r.get(15)?,
                local: r.get(16)?,
                redacted: r.get(17)?,
                tools: r.get(18)?,
            })
        },
    )?;
    rows.collect()
}

/// The rows as CSV: one line per attempt under a header derived from `ExportRow`'s fields.
pub fn to_csv(rows: &[ExportRow]) -> String {
    let write = |rows: &[ExportRow]| {
        let mut w = csv::Writer::from_writer(Vec::new());
        for r in rows {
            // Plain strings, numbers and booleans into memory: this cannot fail.
            w.serialize(r).expect("an export row serializes");
        }
        String::from_utf8(w.into_inner().expect("writing to memory cannot fail")).expect("UTF-8 fields make UTF-8")
    };
    if rows.is_empty() {
        // csv writes the header with the first row: take it from an empty one.
        let one = write(&[ExportRow::default()]);
        return one.lines().next().map(|h| format!("{h}\n")).unwrap_or_default();
    }
    write(rows)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn attempt(agent: &str, cost: Option<i64>, at: DateTime<Utc>) -> Attempt {
        Attempt {
            agent_id: format!("id-{agent}"),
            at,
            agent: agent.into(),
            key_id: Some("k_1".into()),
            key_label: Some("Work, main".into()),
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            mode: Mode::Agent,
            step: 0,
            outcome: Outcome::Ok,
            tokens: Tokens { input: 10, output: 5, cache_read: 2, cache_write: 0 },
            cost: cost.map(Money::from_nanos),
            estimated: false,
            latency_ms: 120,
            ttft_ms: Some(40),
            local: false,
            redacted: String::new(),
            tools: String::new(),
        }
    }

    #[test]
    fn spend_today_sums_known_costs_of_this_agent_since_local_midnight() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::open(&dir.path().join("k.db")).unwrap();
        let now = Utc::now();
        record(&conn, &attempt("a", Some(1_000), now)).unwrap();
        record(&conn, &attempt("a", Some(2_500), now)).unwrap();
        record(&conn, &attempt("a", None, now)).unwrap();
        record(&conn, &attempt("b", Some(7), now)).unwrap();
        record(&conn, &attempt("a", Some(99_999), local_day_start(now) - chrono::Duration::seconds(1))).unwrap();
        assert_eq!(spent_today(&conn, "id-a", now).unwrap(), Money::from_nanos(3_500));
    }

    #[test]
    fn csv_has_the_design_columns_quotes_where_needed_and_leaves_unknown_costs_empty() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::open(&dir.path().join("k.db")).unwrap();
        record(&conn, &attempt("a", Some(1_234), Utc::now())).unwrap();
        record(&conn, &attempt("a", None, Utc::now())).unwrap();
        let rows = export(&conn, &Filter::default()).unwrap();
        let csv = to_csv(&rows);
        let lines: Vec<&str> = csv.lines().collect();
        let header = "time,agent,mode,step,provider,key_label,model,outcome,input_tokens,output_tokens,\
                      cache_read_tokens,cache_write_tokens,cost_usd,estimated,latency_ms,ttft_ms,local,redacted,tools";
        assert_eq!(lines[0], header, "the columns DESIGN.md names, in its order");
        assert!(
            lines[1].contains(",\"Work, main\",gpt-4o-mini,ok,10,5,2,0,0.000001234,false,120,40,false"),
            "{}",
            lines[1]
        );
        assert!(lines[2].contains(",ok,10,5,2,0,,false,"), "{}", lines[2]);
        // No rows: still the header, so a spreadsheet opens it with its columns.
        assert_eq!(to_csv(&[]).trim_end(), header);
    }
}
