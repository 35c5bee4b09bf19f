//! Money: US dollars as a whole number of nano-dollars, so sums are exact and nothing is ever a
//! float. Stored as an integer in SQLite; written as an exact decimal string ("1.41010355") in
//! IPC, JSON and exports, so the window never does float arithmetic on money; read back from
//! such a string exactly. Arithmetic saturates: no upstream number can wrap a total around.
//! Rounding for people ("$1.41") happens only where money is shown.

use std::fmt;
use std::iter::Sum;
use std::str::FromStr;

use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Nano-dollars per dollar.
const NANOS: i64 = 1_000_000_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("\"{0}\" is not an amount of USD: write it like 2.50 or 0.075 (at most 9 decimals, not negative).")]
pub struct NotMoney(pub String);

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_nanos(nanos: i64) -> Money {
        Money(nanos)
    }

    pub const fn nanos(self) -> i64 {
        self.0
    }

    pub fn saturating_add(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0))
    }

    pub fn saturating_sub(self, other: Money) -> Money {
        Money(self.0.saturating_sub(other.0))
    }

    /// From an i128 computation, clamped into range (the caller's products may exceed i64).
    pub fn from_nanos_i128(nanos: i128) -> Money {
        Money(nanos.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
    }

    /// This as a whole percentage of `whole`, rounded down (0 when `whole` is not positive).
    pub fn percent_of(self, whole: Money) -> u32 {
        if whole.0 <= 0 {
            return 0;
        }
        ((self.0.max(0) as i128 * 100) / whole.0 as i128).min(u32::MAX as i128) as u32
    }

    /// As people read it: `$1.41`, `$0.50`, `$0.0121`, `$0.00000525`, `$0` — cents from ten cents
    /// up, three significant digits below, rounded half up (the window's `usd()` does the same).
    pub fn shown(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        if abs >= NANOS as u64 / 10 {
            let cents = (abs + 5_000_000) / 10_000_000;
            let dollars = (cents / 100).to_string();
            let mut grouped = String::new();
            for (i, c) in dollars.chars().enumerate() {
                if i > 0 && (dollars.len() - i).is_multiple_of(3) {
                    grouped.push(',');
                }
                grouped.push(c);
            }
            return format!("{sign}${grouped}.{:02}", cents % 100);
        }
        if abs == 0 {
            return "$0".into();
        }
        let frac = format!("{abs:09}");
        let lead = frac.len() - frac.trim_start_matches('0').len();
        let digits: Vec<u32> = frac.bytes().map(|b| u32::from(b - b'0')).collect();
        let at = |i: usize| digits.get(i).copied().unwrap_or(0);
        let mut kept = at(lead) * 100 + at(lead + 1) * 10 + at(lead + 2);
        if at(lead + 3) >= 5 {
            kept += 1;
        }
        let width = lead + 3;
        let shown = if kept >= 1000 { format!("{:0w$}", kept / 10, w = width - 1) } else { format!("{kept:0width$}") };
        let shown = shown.trim_end_matches('0');
        format!("{sign}$0.{}", if shown.is_empty() { "0" } else { shown })
    }

    /// Parses a non-negative decimal amount of USD exactly ("0.075" → 75,000,000 nano-dollars;
    /// a leading `$` is allowed).
    pub fn parse(text: &str) -> Result<Money, NotMoney> {
        let bad = || NotMoney(text.to_string());
        let t = text.trim().trim_start_matches('$');
        let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
        if (whole.is_empty() && frac.is_empty())
            || frac.len() > 9
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
        let frac: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse().map_err(|_| bad())? };
        whole.checked_mul(NANOS).and_then(|w| w.checked_add(frac)).map(Money).ok_or_else(bad)
    }
}

impl fmt::Display for Money {
    /// The exact amount in USD, without trailing zeros ("1.41010355", "0.5", "2").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / NANOS as u64;
        let frac = abs % NANOS as u64;
        if frac == 0 {
            write!(f, "{sign}{whole}")
        } else {
            let digits = format!("{frac:09}");
            write!(f, "{sign}{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

impl FromStr for Money {
    type Err = NotMoney;

    fn from_str(s: &str) -> Result<Money, NotMoney> {
        Money::parse(s)
    }
}

impl std::ops::Add for Money {
    type Output = Money;

    fn add(self, other: Money) -> Money {
        self.saturating_add(other)
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Money::saturating_add)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
        let text = String::deserialize(d)?;
        Money::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// For export columns where an unknown amount is an empty field: `Some` as the exact decimal,
/// `None` as "".
pub fn serialize_or_empty<S: Serializer>(m: &Option<Money>, s: S) -> Result<S::Ok, S::Error> {
    match m {
        Some(m) => s.collect_str(m),
        None => s.serialize_str(""),
    }
}

impl specta::Type for Money {
    /// An exact decimal string of USD in TypeScript: no float ever carries money.
    fn definition(types: &mut specta::Types) -> specta::datatype::DataType {
        String::definition(types)
    }
}

impl ToSql for Money {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.0))
    }
}

impl FromSql for Money {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Money> {
        i64::column_result(value).map(Money)
    }
}

#[cfg(test)]
mod shown_tests {
    use super::Money;

    #[test]
    fn amounts_read_as_the_window_shows_them() {
        let m = |t: &str| Money::parse(t).unwrap().shown();
        assert_eq!(m("1.41010355"), "$1.41");
        assert_eq!(m("0.5"), "$0.50");
        assert_eq!(m("0.0121"), "$0.0121");
        assert_eq!(m("0.00000525"), "$0.00000525");
        assert_eq!(m("0"), "$0");
        assert_eq!(m("1234567.899"), "$1,234,567.90");
        assert_eq!(m("0.09996"), "$0.1");
        assert_eq!(m("0.012345"), "$0.0123");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_and_write_exactly() {
        for (text, nanos) in
            [("0.075", 75_000_000), ("2", 2 * NANOS), ("$1.41010355", 1_410_103_550), ("0.000000001", 1)]
        {
            let m = Money::parse(text).unwrap();
            assert_eq!(m.nanos(), nanos, "{text}");
            assert_eq!(Money::parse(&m.to_string()).unwrap(), m);
        }
        assert_eq!(Money::from_nanos(500_000_000).to_string(), "0.5");
        assert_eq!(Money::from_nanos(-5).to_string(), "-0.000000005");
        for bad in ["", ".", "-1", "1.0000000001", "1e3", "abc", "99999999999999999999"] {
            assert!(Money::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sums_saturate_instead_of_wrapping() {
        let big = Money::from_nanos(i64::MAX - 1);
        assert_eq!(big + Money::from_nanos(10), Money::from_nanos(i64::MAX));
        assert_eq!([big, big].into_iter().sum::<Money>(), Money::from_nanos(i64::MAX));
        assert_eq!(Money::from_nanos_i128(i128::MAX), Money::from_nanos(i64::MAX));
    }

    #[test]
    fn it_crosses_json_as_an_exact_string() {
        let m = Money::from_nanos(1_410_103_550);
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"1.41010355\"");
        assert_eq!(serde_json::from_str::<Money>("\"1.41010355\"").unwrap(), m);
        assert!(serde_json::from_str::<Money>("1.41").is_err(), "a number is refused: it may be a float");
    }

    #[test]
    fn percent_rounds_down_and_survives_odd_budgets() {
        assert_eq!(Money::from_nanos(799).percent_of(Money::from_nanos(1000)), 79);
        assert_eq!(Money::from_nanos(2820).percent_of(Money::from_nanos(1000)), 282);
        assert_eq!(Money::from_nanos(5).percent_of(Money::ZERO), 0);
        assert_eq!(Money::from_nanos(i64::MAX).percent_of(Money::from_nanos(1)), u32::MAX);
    }
}
