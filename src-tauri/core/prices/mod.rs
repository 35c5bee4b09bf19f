//! Prices: USD per million tokens for the four token classes, from the dated price file in the
//! repo, overridden per model by the user. Money is integer nano-dollars throughout, so sums are
//! exact; a model with no price has an *unknown* cost, never zero.

use crate::db::Cached;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use specta::Type;

use crate::integrity::{Record, Tampered, Unlocked};

pub use crate::money::Money;

/// USD per million tokens for each class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Price {
    pub input: Money,
    pub output: Money,
    pub cache_read: Money,
    pub cache_write: Money,
}

/// The user's own price for a model (USD per million tokens). A cache rate left out is not the
/// user's: the price file's rate for the model applies, and where the file has none the model
/// has no cache price and cached tokens cost as input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Override {
    pub input: Money,
    pub output: Money,
    pub cache_read: Option<Money>,
    pub cache_write: Option<Money>,
}

impl Override {
    /// As a user types it; an empty cache field is no cache price of their own.
    pub fn from_text(
        input: &str,
        output: &str,
        cache_read: Option<&str>,
        cache_write: Option<&str>,
    ) -> Result<Override, PriceError> {
        let optional = |v: Option<&str>| v.map(str::trim).filter(|s| !s.is_empty()).map(parse_price).transpose();
        Ok(Override {
            input: parse_price(input)?,
            output: parse_price(output)?,
            cache_read: optional(cache_read)?,
            cache_write: optional(cache_write)?,
        })
    }

    /// The price it makes, over the file's entry for the model (if any).
    fn over(&self, file: Option<&Price>) -> Price {
        Price {
            input: self.input,
            output: self.output,
            cache_read: self.cache_read.or(file.map(|f| f.cache_read)).unwrap_or(self.input),
            cache_write: self.cache_write.or(file.map(|f| f.cache_write)).unwrap_or(self.input),
        }
    }
}

/// Tokens by class. `input` never includes cache tokens, whatever the provider's convention.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Tokens {
    #[specta(type = specta_typescript::Number)]
    pub input: i64,
    #[specta(type = specta_typescript::Number)]
    pub output: i64,
    #[specta(type = specta_typescript::Number)]
    pub cache_read: i64,
    #[specta(type = specta_typescript::Number)]
    pub cache_write: i64,
}

impl Tokens {
    /// The most tokens of one class Keyhold believes a single request can use.
    pub const MAX: i64 = 1_000_000_000;

    /// The counts held to 0…`MAX`, and whether any was outside: an upstream that reports a
    /// negative or absurd count must not lower today's spend or reopen a budget.
    pub fn clamped(self) -> (Tokens, bool) {
        let c = |n: i64| n.clamp(0, Tokens::MAX);
        let t = Tokens {
            input: c(self.input),
            output: c(self.output),
            cache_read: c(self.cache_read),
            cache_write: c(self.cache_write),
        };
        (t, t != self)
    }
}

impl Price {
    pub const FREE: Price =
        Price { input: Money::ZERO, output: Money::ZERO, cache_read: Money::ZERO, cache_write: Money::ZERO };

    /// Exact cost: the four products summed, then divided by a million once, rounded half up;
    /// a request's cost is off by less than one nano-dollar.
    pub fn cost(&self, t: Tokens) -> Money {
        let sum = t.input as i128 * self.input.nanos() as i128
            + t.output as i128 * self.output.nanos() as i128
            + t.cache_read as i128 * self.cache_read.nanos() as i128
            + t.cache_write as i128 * self.cache_write.nanos() as i128;
        Money::from_nanos_i128((sum + 500_000) / 1_000_000)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PriceError {
    #[error(
        "\"{0}\" is not a price: give USD per million tokens, like 3 or 0.075 (at most 9 decimals, not negative)."
    )]
    NotAPrice(String),
    #[error("Give the model's id.")]
    NoModel,
    #[error(transparent)]
    Changed(#[from] crate::integrity::Tampered),
    #[error("Database error: {0}")]
    Db(String),
}

impl From<rusqlite::Error> for PriceError {
    fn from(e: rusqlite::Error) -> Self {
        PriceError::Db(e.to_string())
    }
}

impl crate::error::Kinded for PriceError {
    fn kind(&self) -> crate::error::ErrorKind {
        match self {
            PriceError::NotAPrice(_) | PriceError::NoModel => crate::error::ErrorKind::BadPrice,
            PriceError::Changed(_) => crate::error::ErrorKind::ChangedOutsideKeyhold,
            PriceError::Db(_) => crate::error::ErrorKind::Database,
        }
    }
}

/// Parses a price: USD per million tokens, exactly.
pub fn parse_price(text: &str) -> Result<Money, PriceError> {
    Money::parse(text).map_err(|_| PriceError::NotAPrice(text.to_string()))
}

#[derive(Deserialize)]
struct FileEntry {
    provider: String,
    model: String,
    input: String,
    output: String,
    cache_read: String,
    cache_write: String,
    /// The model's context window in tokens, where its provider publishes one.
    #[serde(default)]
    context: Option<u64>,
}

#[derive(Deserialize)]
struct PriceFile {
    as_of: String,
    models: Vec<FileEntry>,
    #[serde(default)]
    tool_fees: Vec<FeeEntry>,
}

#[derive(Deserialize)]
struct FeeEntry {
    provider: String,
    tool: String,
    #[serde(default)]
    model_prefix: Option<String>,
    per_thousand: String,
}

/// Provider-side tools a reply says were used: each use is billed on top of the tokens (a web
/// search's fee; the results it brings in are input tokens, counted with the rest).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Type)]
pub struct ToolUses {
    pub web_search: u32,
    pub web_fetch: u32,
    pub file_search: u32,
}

impl ToolUses {
    pub fn is_empty(&self) -> bool {
        *self == ToolUses::default()
    }

    /// Each count the larger of the two (a reply's running totals).
    pub fn max(self, o: ToolUses) -> ToolUses {
        ToolUses {
            web_search: self.web_search.max(o.web_search),
            web_fetch: self.web_fetch.max(o.web_fetch),
            file_search: self.file_search.max(o.file_search),
        }
    }

    /// Each count summed (uses reported one at a time).
    pub fn plus(self, o: ToolUses) -> ToolUses {
        ToolUses {
            web_search: self.web_search.saturating_add(o.web_search),
            web_fetch: self.web_fetch.saturating_add(o.web_fetch),
            file_search: self.file_search.saturating_add(o.file_search),
        }
    }

    fn each(&self) -> [(&'static str, u32); 3] {
        [("web_search", self.web_search), ("web_fetch", self.web_fetch), ("file_search", self.file_search)]
    }

    /// How the ledger writes them: `web_search:3 file_search:1`, empty when none.
    pub fn to_ledger(&self) -> String {
        let used = self.each().into_iter().filter(|(_, n)| *n > 0);
        used.map(|(tool, n)| format!("{tool}:{n}")).collect::<Vec<_>>().join(" ")
    }

    /// Read back from the ledger's form (unknown names are ignored).
    pub fn from_ledger(text: &str) -> ToolUses {
        let mut t = ToolUses::default();
        for (tool, n) in text.split_whitespace().filter_map(|w| w.split_once(':')) {
            let n = n.parse().unwrap_or(0);
            match tool {
                "web_search" => t.web_search = n,
                "web_fetch" => t.web_fetch = n,
                "file_search" => t.file_search = n,
                _ => {}
            }
        }
        t
    }
}

/// What provider-side tool uses cost on top of tokens, and whether every fee was in the price
/// file (false: a fee was taken at the highest listed for that tool, so the cost is an
/// estimate that does not undercount).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolFee {
    pub cost: Money,
    pub known: bool,
}

/// One listed fee: a provider's tool (for models starting with a prefix, when given), in USD
/// per 1,000 uses.
struct Fee {
    provider: String,
    tool: String,
    model_prefix: Option<String>,
    per_thousand: Money,
}

/// The price file as shipped, parsed once for the prices, the context windows and the fees.
fn price_file() -> &'static PriceFile {
    static PARSED: std::sync::OnceLock<PriceFile> = std::sync::OnceLock::new();
    PARSED
        .get_or_init(|| serde_json::from_str(include_str!("prices.json")).expect("prices.json is checked by its tests"))
}

fn fees() -> &'static [Fee] {
    static FEES: std::sync::OnceLock<Vec<Fee>> = std::sync::OnceLock::new();
    FEES.get_or_init(|| {
        price_file()
            .tool_fees
            .iter()
            .map(|e| Fee {
                per_thousand: parse_price(&e.per_thousand).expect("valid fee in prices.json"),
                provider: e.provider.clone(),
                tool: e.tool.clone(),
                model_prefix: e.model_prefix.clone(),
            })
            .collect()
    })
}

/// The fee for `uses` of provider-side tools on `provider`'s `model` (free on this machine).
pub fn tool_fee(provider: &str, model: &str, uses: ToolUses, local: bool) -> ToolFee {
    let mut fee = ToolFee { cost: Money::ZERO, known: true };
    if local {
        return fee;
    }
    for (tool, n) in uses.each().into_iter().filter(|(_, n)| *n > 0) {
        let listed = fees().iter().find(|f| {
            f.provider == provider && f.tool == tool && f.model_prefix.as_deref().is_none_or(|p| model.starts_with(p))
        });
        let per_thousand = match listed {
            Some(f) => f.per_thousand,
            None => {
                fee.known = false;
                fees().iter().filter(|f| f.tool == tool).map(|f| f.per_thousand).max().unwrap_or(Money::ZERO)
            }
        };
        let nanos = per_thousand.nanos() as i128 * n as i128;
        fee.cost = fee.cost.saturating_add(Money::from_nanos_i128((nanos + 500) / 1000));
    }
    fee
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct PriceEntry {
    pub provider: Option<String>,
    pub model: String,
    /// What is charged (an override's cache rates as resolved, see [`Override`]).
    pub price: Price,
    /// "file 2026-11-25" or "override".
    pub source: String,
    /// Whether this row is the one that prices the model: a file row an override shadows is not.
    pub applies: bool,
    /// The cache rates are the user's own (an override that gave them).
    pub cache_read_own: bool,
    pub cache_write_own: bool,
    /// An override's cache rate comes from the price file (false with `_own` false: as input).
    pub cache_read_from_file: bool,
    pub cache_write_from_file: bool,
}

fn file() -> &'static [PriceEntry] {
    static FILE: std::sync::OnceLock<Vec<PriceEntry>> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let f = price_file();
        f.models
            .iter()
            .map(|e| PriceEntry {
                price: Price {
                    input: parse_price(&e.input).expect("valid price in prices.json"),
                    output: parse_price(&e.output).expect("valid price in prices.json"),
                    cache_read: parse_price(&e.cache_read).expect("valid price in prices.json"),
                    cache_write: parse_price(&e.cache_write).expect("valid price in prices.json"),
                },
                provider: Some(e.provider.clone()),
                model: e.model.clone(),
                source: format!("file {}", f.as_of),
                applies: true,
                cache_read_own: false,
                cache_write_own: false,
                cache_read_from_file: true,
                cache_write_from_file: true,
            })
            .collect()
    })
}

/// A model's context window in tokens, from the price file (None: not published there).
pub fn context_window(model: &str) -> Option<u64> {
    static CONTEXT: std::sync::OnceLock<Vec<(String, u64)>> = std::sync::OnceLock::new();
    CONTEXT
        .get_or_init(|| price_file().models.iter().filter_map(|e| Some((e.model.clone(), e.context?))).collect())
        .iter()
        .find(|(m, _)| m == model)
        .map(|(_, n)| *n)
}

/// The provider a model id belongs to, from the price file (used to find a default key).
pub fn provider_of(model: &str) -> Option<&'static str> {
    file().iter().find(|e| e.model == model).and_then(|e| e.provider.as_deref())
}

/// The price of `model` on `provider`: free when the step stays on this machine (decided by
/// the key's address, see [`crate::keys::KeySummary::local`]), else the user's override (its
/// table's tag checked), else the file, else unknown.
pub fn lookup(
    conn: &Connection,
    u: &Unlocked,
    provider: &str,
    model: &str,
    local: bool,
) -> Result<Option<Price>, PriceError> {
    if local {
        return Ok(Some(Price::FREE));
    }
    Ok(Overrides(overrides(conn, u)?).price(provider, model, local))
}

/// The user's overrides, checked once (for one call), to price each step without going back
/// to the database.
#[derive(Debug, Clone, Default)]
pub struct Overrides(Vec<(String, Override)>);

impl Overrides {
    /// Reads and checks the table: refused if it was changed outside Keyhold.
    pub fn load(conn: &Connection, u: &Unlocked) -> Result<Self, PriceError> {
        Ok(Overrides(overrides(conn, u)?))
    }

    /// Like [`lookup`], from what was loaded.
    pub fn price(&self, provider: &str, model: &str, local: bool) -> Option<Price> {
        if local {
            return Some(Price::FREE);
        }
        let filed = file_price(provider, model);
        match self.0.iter().find(|(m, _)| m == model) {
            Some((_, o)) => Some(o.over(filed.or_else(|| file_price_any(model)))),
            None => filed.copied(),
        }
    }
}

fn file_price(provider: &str, model: &str) -> Option<&'static Price> {
    file().iter().find(|e| e.model == model && e.provider.as_deref() == Some(provider)).map(|e| &e.price)
}

/// The file's price for a model id under any provider (an override applies to all of them).
fn file_price_any(model: &str) -> Option<&'static Price> {
    file().iter().find(|e| e.model == model).map(|e| &e.price)
}

/// Where the overrides' tag is kept: one tag over the whole table, so a row deleted or inserted
/// by hand shows as surely as a changed one.
const TABLE_TAG: &str = "integrity.price_overrides";

fn read_overrides(conn: &Connection) -> rusqlite::Result<Vec<(String, Override)>> {
    let mut stmt = conn
        .prepare_cached("SELECT model, input, output, cache_read, cache_write FROM price_overrides ORDER BY model")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get(0)?, Override { input: r.get(1)?, output: r.get(2)?, cache_read: r.get(3)?, cache_write: r.get(4)? }))
    })?;
    rows.collect()
}

/// A cache rate given is tagged as it always was; one left out is tagged as absent.
fn table_record(rows: &[(String, Override)]) -> Record {
    rows.iter().fold(Record::new("price_overrides", "all").int(rows.len() as i64), |r, (m, p)| {
        r.text(m)
            .int(p.input.nanos())
            .int(p.output.nanos())
            .opt_int(p.cache_read.map(Money::nanos))
            .opt_int(p.cache_write.map(Money::nanos))
    })
}

/// The user's overrides, refused if the table was changed outside Keyhold.
fn overrides(conn: &Connection, u: &Unlocked) -> Result<Vec<(String, Override)>, PriceError> {
    let rows = read_overrides(conn)?;
    let mac: Option<Vec<u8>> =
        conn.cached_row("SELECT mac FROM settings WHERE key = ?1", [TABLE_TAG], |r| r.get(0)).optional()?.flatten();
    // An empty table needs no tag (a fresh database); a non-empty one always has one.
    if (rows.is_empty() && mac.is_none()) || u.verify(&table_record(&rows), mac.as_deref()) {
        Ok(rows)
    } else {
        Err(tampered().into())
    }
}

fn tampered() -> Tampered {
    Tampered::new(
        "The table of your price overrides",
        "Check them on the Prices page (`keyhold prices list`) and set them again with `keyhold prices set`.",
    )
}

/// Tags the overrides table as it is now (after a change, or adopting an older database).
pub(crate) fn retag(conn: &Connection, u: &Unlocked) -> rusqlite::Result<()> {
    let tag = u.tag(&table_record(&read_overrides(conn)?));
    conn.execute(
        "INSERT INTO settings (key, value, mac) VALUES (?1, '', ?2) ON CONFLICT(key) DO UPDATE SET mac = excluded.mac",
        params![TABLE_TAG, tag],
    )
    .map(|_| ())
}

/// Checks the overrides' tag (for `keyhold vault check` and a master-secret rotation).
pub fn verify(conn: &Connection, u: &Unlocked) -> Result<(), PriceError> {
    overrides(conn, u).map(|_| ())
}

/// Sets the user's price for a model (all providers that serve it under that id).
pub fn set(conn: &mut Connection, u: &Unlocked, model: &str, price: Override) -> Result<(), PriceError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    overrides(&tx, u)?;
    tx.execute(
        "INSERT INTO price_overrides (model, input, output, cache_read, cache_write) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(model) DO UPDATE SET input = excluded.input, output = excluded.output,
           cache_read = excluded.cache_read, cache_write = excluded.cache_write",
        params![model, price.input, price.output, price.cache_read, price.cache_write],
    )?;
    retag(&tx, u)?;
    tx.commit()?;
    Ok(())
}

/// Removes the user's price for a model: the price file's applies again. Refused if the table
/// was changed outside Keyhold (a remove must not bless a forged row).
pub fn remove(conn: &mut Connection, u: &Unlocked, model: &str) -> Result<bool, PriceError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    overrides(&tx, u)?;
    let n = tx.execute("DELETE FROM price_overrides WHERE model = ?1", [model])?;
    retag(&tx, u)?;
    tx.commit()?;
    Ok(n > 0)
}

/// Every known price: overrides first, then the file, each saying whether it is the row that
/// applies and where an override's cache rates come from.
pub fn list(conn: &Connection) -> Result<Vec<PriceEntry>, PriceError> {
    let overrides = read_overrides(conn).map_err(|e| PriceError::Db(e.to_string()))?;
    let mut all: Vec<PriceEntry> = overrides
        .iter()
        .map(|(model, o)| {
            let filed = file_price_any(model);
            PriceEntry {
                provider: None,
                model: model.clone(),
                price: o.over(filed),
                source: "override".into(),
                applies: true,
                cache_read_own: o.cache_read.is_some(),
                cache_write_own: o.cache_write.is_some(),
                cache_read_from_file: o.cache_read.is_none() && filed.is_some(),
                cache_write_from_file: o.cache_write.is_none() && filed.is_some(),
            }
        })
        .collect();
    all.extend(
        file().iter().map(|e| PriceEntry { applies: !overrides.iter().any(|(m, _)| *m == e.model), ..e.clone() }),
    );
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_side_tools_are_priced_per_use_by_provider_and_model() {
        let searches = |n| ToolUses { web_search: n, ..Default::default() };
        // Anthropic: $10 per 1,000 searches, so one is a cent.
        assert_eq!(tool_fee("anthropic", "claude-sonnet-4-5", searches(3), false).cost, Money::from_nanos(30_000_000));
        // OpenAI's non-reasoning models pay more per search than gpt-5.
        assert_eq!(tool_fee("openai", "gpt-4o-mini", searches(1), false).cost, Money::from_nanos(25_000_000));
        assert_eq!(tool_fee("openai", "gpt-5", searches(1), false).cost, Money::from_nanos(10_000_000));
        let files = ToolUses { file_search: 2, ..Default::default() };
        assert_eq!(
            tool_fee("openai", "gpt-5", files, false),
            ToolFee { cost: Money::from_nanos(5_000_000), known: true }
        );
        // Web fetch is billed in tokens only.
        let fetch = ToolUses { web_fetch: 5, ..Default::default() };
        assert_eq!(tool_fee("anthropic", "claude-sonnet-4-5", fetch, false).cost, Money::ZERO);
        // A provider with no listed fee is counted at the highest one listed, and says so.
        assert_eq!(
            tool_fee("xai", "grok-4", searches(1), false),
            ToolFee { cost: Money::from_nanos(25_000_000), known: false }
        );
        // Nothing used, or on this machine: nothing owed.
        assert_eq!(tool_fee("openai", "gpt-5", ToolUses::default(), false).cost, Money::ZERO);
        assert_eq!(tool_fee("anthropic", "claude-sonnet-4-5", searches(9), true).cost, Money::ZERO);
    }

    #[test]
    fn tool_uses_round_trip_through_the_ledger_form() {
        let t = ToolUses { web_search: 3, web_fetch: 0, file_search: 1 };
        assert_eq!(t.to_ledger(), "web_search:3 file_search:1");
        assert_eq!(ToolUses::from_ledger(&t.to_ledger()), t);
        assert_eq!(ToolUses::default().to_ledger(), "");
    }

    #[test]
    fn an_override_without_cache_prices_keeps_the_files_and_says_which_row_applies() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::open(&dir.path().join("p.db")).unwrap();
        let u = crate::integrity::for_tests();
        // The user changes gpt-4o-mini's input and output only: its cache read stays the file's
        // $0.075, not the new input price.
        set(&mut conn, &u, "gpt-4o-mini", Override::from_text("0.2", "0.8", None, Some("")).unwrap()).unwrap();
        let p = lookup(&conn, &u, "openai", "gpt-4o-mini", false).unwrap().unwrap();
        assert_eq!(p.input, parse_price("0.2").unwrap());
        assert_eq!(p.cache_read, parse_price("0.075").unwrap());
        assert_eq!(p.cache_write, Money::ZERO);
        // A model the file does not know has no cache price: cached tokens cost as input.
        set(&mut conn, &u, "my-model", Override::from_text("1", "2", None, None).unwrap()).unwrap();
        let p = lookup(&conn, &u, "custom", "my-model", false).unwrap().unwrap();
        assert_eq!((p.cache_read, p.cache_write), (p.input, p.input));
        // A cache price given is the user's.
        set(&mut conn, &u, "gpt-4o", Override::from_text("3", "9", Some("0.5"), None).unwrap()).unwrap();
        assert_eq!(
            lookup(&conn, &u, "openai", "gpt-4o", false).unwrap().unwrap().cache_read,
            parse_price("0.5").unwrap()
        );
        // The list says which row applies, and where an override's cache prices come from.
        let all = list(&conn).unwrap();
        let rows: Vec<&PriceEntry> = all.iter().filter(|e| e.model == "gpt-4o-mini").collect();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].source == "override" && rows[0].applies);
        assert!(rows[0].cache_read_from_file && !rows[0].cache_read_own);
        assert!(rows[1].source.starts_with("file") && !rows[1].applies, "the file's row is shadowed");
        let mine = all.iter().find(|e| e.model == "my-model").unwrap();
        assert!(!mine.cache_read_own && !mine.cache_read_from_file, "as input");
        assert!(all.iter().find(|e| e.model == "gpt-4o").unwrap().cache_read_own);
        assert!(all.iter().filter(|e| e.model == "claude-haiku-4-5").all(|e| e.applies));
        // Removed: the file's row applies again.
        assert!(remove(&mut conn, &u, "gpt-4o-mini").unwrap());
        assert!(list(&conn).unwrap().iter().filter(|e| e.model == "gpt-4o-mini").all(|e| e.applies));
    }

    #[test]
    fn a_price_that_is_not_an_amount_is_refused_in_prices_words() {
        assert_eq!(parse_price("0.075"), Ok(Money::from_nanos(75_000_000)));
        assert!(parse_price("-1").unwrap_err().to_string().contains("USD per million tokens"));
    }

    #[test]
    fn cost_is_exact_per_class() {
        // claude-sonnet-4-5: 1000 input, 500 output, 2000 cache read, 300 cache write.
        let m = Money::from_nanos;
        let p = Price {
            input: m(3_000_000_000),
            output: m(15_000_000_000),
            cache_read: m(300_000_000),
            cache_write: m(3_750_000_000),
        };
        let t = Tokens { input: 1000, output: 500, cache_read: 2000, cache_write: 300 };
        // 0.003 + 0.0075 + 0.0006 + 0.001125 = 0.012225 USD
        assert_eq!(p.cost(t), m(12_225_000));
        // gpt-4o-mini cached input at $0.075/M: 1 token is 75 nano-dollars.
        let mini = Price {
            input: m(150_000_000),
            output: m(600_000_000),
            cache_read: m(75_000_000),
            cache_write: Money::ZERO,
        };
        assert_eq!(mini.cost(Tokens { cache_read: 1, ..Default::default() }), m(75));
        // half a nano-dollar rounds up, less rounds down
        let tiny = Price { input: m(500_000), ..Price::FREE };
        assert_eq!(tiny.cost(Tokens { input: 1, ..Default::default() }), m(1));
        assert_eq!(
            Price { input: m(499_999), ..Price::FREE }.cost(Tokens { input: 1, ..Default::default() }),
            Money::ZERO
        );
    }

    #[test]
    fn the_price_file_parses_and_covers_every_paid_catalog_provider() {
        for p in crate::providers::catalog() {
            if p.id == "ollama" || p.id == "custom" {
                continue;
            }
            assert!(file().iter().any(|e| e.provider.as_deref() == Some(p.id.as_str())), "no prices for {}", p.id);
        }
        assert_eq!(provider_of("claude-haiku-4-5"), Some("anthropic"));
    }
}
