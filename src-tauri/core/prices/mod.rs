//! Prices: USD per million tokens for the four token classes, from the dated price file in the
//! repo, overridden per model by the user. Money is integer nano-dollars throughout, so sums are
//! exact; a model with no price has an *unknown* cost, never zero.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use specta::Type;

/// Nano-dollars per million tokens for each class. (Exported to TypeScript as numbers: exact
/// up to 2^53, i.e. prices up to $9M per million tokens.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Price {
    #[specta(type = specta_typescript::Number)]
    pub input: i64,
    #[specta(type = specta_typescript::Number)]
    pub output: i64,
    #[specta(type = specta_typescript::Number)]
    pub cache_read: i64,
    #[specta(type = specta_typescript::Number)]
    pub cache_write: i64,
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

impl Price {
    pub const FREE: Price = Price { input: 0, output: 0, cache_read: 0, cache_write: 0 };

    /// Exact cost in nano-dollars: the four products summed, then divided by a million once,
    /// rounded half up; a request's cost is off by less than one nano-dollar.
    pub fn cost(&self, t: Tokens) -> i64 {
        let sum = t.input as i128 * self.input as i128
            + t.output as i128 * self.output as i128
            + t.cache_read as i128 * self.cache_read as i128
            + t.cache_write as i128 * self.cache_write as i128;
        ((sum + 500_000) / 1_000_000) as i64
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PriceError {
    #[error(
        "\"{0}\" is not a price: give USD per million tokens, like 3 or 0.075 (at most 9 decimals, not negative)."
    )]
    NotAPrice(String),
    #[error("Database error: {0}")]
    Db(String),
}

impl crate::error::Kinded for PriceError {
    fn kind(&self) -> crate::error::ErrorKind {
        match self {
            PriceError::NotAPrice(_) => crate::error::ErrorKind::BadPrice,
            PriceError::Db(_) => crate::error::ErrorKind::Database,
        }
    }
}

/// Parses a decimal USD amount exactly into nano-dollars ("0.075" → 75_000_000).
pub fn parse_usd(text: &str) -> Result<i64, PriceError> {
    let bad = || PriceError::NotAPrice(text.to_string());
    let t = text.trim().trim_start_matches('$');
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty() && frac.is_empty()
        || frac.len() > 9
        || !whole.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
    let frac_nano: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse().map_err(|_| bad())? };
    whole.checked_mul(1_000_000_000).and_then(|w| w.checked_add(frac_nano)).ok_or_else(bad)
}

/// Nano-dollars as an exact decimal string ("0.000001234"), the form exports use.
pub fn format_usd(nano: i64) -> String {
    let sign = if nano < 0 { "-" } else { "" };
    let n = nano.unsigned_abs();
    let frac = format!("{:09}", n % 1_000_000_000);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{sign}{}", n / 1_000_000_000)
    } else {
        format!("{sign}{}.{frac}", n / 1_000_000_000)
    }
}

#[derive(Deserialize)]
struct FileEntry {
    provider: String,
    model: String,
    input: String,
    output: String,
    cache_read: String,
    cache_write: String,
}

#[derive(Deserialize)]
struct PriceFile {
    as_of: String,
    models: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct PriceEntry {
    pub provider: Option<String>,
    pub model: String,
    pub price: Price,
    /// "file 2026-11-25" or "override".
    pub source: String,
}

fn file() -> &'static [PriceEntry] {
    static FILE: std::sync::OnceLock<Vec<PriceEntry>> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        let f: PriceFile =
            serde_json::from_str(include_str!("prices.json")).expect("prices.json is checked by its tests");
        f.models
            .into_iter()
            .map(|e| PriceEntry {
                price: Price {
                    input: parse_usd(&e.input).expect("valid price in prices.json"),
                    output: parse_usd(&e.output).expect("valid price in prices.json"),
                    cache_read: parse_usd(&e.cache_read).expect("valid price in prices.json"),
                    cache_write: parse_usd(&e.cache_write).expect("valid price in prices.json"),
                },
                provider: Some(e.provider),
                model: e.model,
                source: format!("file {}", f.as_of),
            })
            .collect()
    })
}

/// The provider a model id belongs to, from the price file (used to find a default key).
pub fn provider_of(model: &str) -> Option<&'static str> {
    file().iter().find(|e| e.model == model).and_then(|e| e.provider.as_deref())
}

/// The price of `model` on `provider`: the user's override, else the file, else unknown.
pub fn lookup(conn: &Connection, provider: &str, model: &str) -> Result<Option<Price>, PriceError> {
    if provider == "ollama" {
        return Ok(Some(Price::FREE));
    }
    if let Some(p) = override_for(conn, model)? {
        return Ok(Some(p));
    }
    Ok(file().iter().find(|e| e.model == model && e.provider.as_deref() == Some(provider)).map(|e| e.price))
}

fn override_for(conn: &Connection, model: &str) -> Result<Option<Price>, PriceError> {
    conn.query_row(
        "SELECT input, output, cache_read, cache_write FROM price_overrides WHERE model = ?1",
        [model],
        |r| Ok(Price { input: r.get(0)?, output: r.get(1)?, cache_read: r.get(2)?, cache_write: r.get(3)? }),
    )
    .optional()
    .map_err(|e| PriceError::Db(e.to_string()))
}

/// Sets the user's price for a model (all providers that serve it under that id).
pub fn set(conn: &Connection, model: &str, price: Price) -> Result<(), PriceError> {
    conn.execute(
        "INSERT INTO price_overrides (model, input, output, cache_read, cache_write) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(model) DO UPDATE SET input = excluded.input, output = excluded.output,
           cache_read = excluded.cache_read, cache_write = excluded.cache_write",
        params![model, price.input, price.output, price.cache_read, price.cache_write],
    )
    .map(|_| ())
    .map_err(|e| PriceError::Db(e.to_string()))
}

/// Every known price: overrides first, then the file.
pub fn list(conn: &Connection) -> Result<Vec<PriceEntry>, PriceError> {
    let mut stmt = conn
        .prepare("SELECT model, input, output, cache_read, cache_write FROM price_overrides ORDER BY model")
        .map_err(|e| PriceError::Db(e.to_string()))?;
    let overrides: Vec<PriceEntry> = stmt
        .query_map([], |r| {
            Ok(PriceEntry {
                provider: None,
                model: r.get(0)?,
                price: Price { input: r.get(1)?, output: r.get(2)?, cache_read: r.get(3)?, cache_write: r.get(4)? },
                source: "override".into(),
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| PriceError::Db(e.to_string()))?;
    let mut all = overrides;
    all.extend(file().iter().cloned());
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usd_amounts_parse_exactly_and_format_back() {
        assert_eq!(parse_usd("3"), Ok(3_000_000_000));
        assert_eq!(parse_usd("0.075"), Ok(75_000_000));
        assert_eq!(parse_usd("$0.000000001"), Ok(1));
        assert_eq!(parse_usd(".5"), Ok(500_000_000));
        for bad in ["", "-1", "1e3", "0.0000000001", "abc", "1.2.3", "."] {
            assert!(parse_usd(bad).is_err(), "{bad}");
        }
        assert_eq!(format_usd(75_000_000), "0.075");
        assert_eq!(format_usd(3_000_000_000), "3");
        assert_eq!(format_usd(1), "0.000000001");
        assert_eq!(format_usd(0), "0");
    }

    #[test]
    fn cost_is_exact_per_class() {
        // claude-sonnet-4-5: 1000 input, 500 output, 2000 cache read, 300 cache write.
        let p =
            Price { input: 3_000_000_000, output: 15_000_000_000, cache_read: 300_000_000, cache_write: 3_750_000_000 };
        let t = Tokens { input: 1000, output: 500, cache_read: 2000, cache_write: 300 };
        // 0.003 + 0.0075 + 0.0006 + 0.001125 = 0.012225 USD
        assert_eq!(p.cost(t), 12_225_000);
        // gpt-4o-mini cached input at $0.075/M: 1 token is 75 nano-dollars.
        let mini = Price { input: 150_000_000, output: 600_000_000, cache_read: 75_000_000, cache_write: 0 };
        assert_eq!(mini.cost(Tokens { cache_read: 1, ..Default::default() }), 75);
        // half a nano-dollar rounds up, less rounds down
        let tiny = Price { input: 500_000, ..Price::FREE };
        assert_eq!(tiny.cost(Tokens { input: 1, ..Default::default() }), 1);
        assert_eq!(Price { input: 499_999, ..Price::FREE }.cost(Tokens { input: 1, ..Default::default() }), 0);
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
