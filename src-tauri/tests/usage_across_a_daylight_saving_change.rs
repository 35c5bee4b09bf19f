//! A user in Paris looks at daily usage across the night clocks go forward (29 March 2026): that
//! local day has 23 hours, and every row lands in the day its local time says. This test binary
//! runs in its own process so it can set the time zone.

use chrono::{Duration, TimeZone, Utc};
use keyhold_core::ledger::{self, Attempt, Mode};
use keyhold_core::prices::Tokens;
use keyhold_core::usage::{self, Range, Resolution};

#[test]
fn a_daylight_saving_day_has_23_hours_of_usage() {
    std::env::set_var("TZ", "Europe/Paris");
    extern "C" {
        fn tzset();
    }
    unsafe { tzset() };
    let dir = tempfile::tempdir().unwrap();
    let conn = keyhold_core::db::open(&dir.path().join("k.db")).unwrap();
    let start = Utc.with_ymd_and_hms(2026, 3, 28, 12, 0, 0).unwrap();
    for h in 0..48 {
        let a = Attempt {
            agent_id: "id-night".into(),
            at: start + Duration::hours(h) + Duration::minutes(30),
            agent: "a".into(),
            key_id: None,
            key_label: None,
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            mode: Mode::Agent,
            step: 0,
            outcome: keyhold_core::ledger::Outcome::Ok,
            tokens: Tokens { input: 1, output: 1, cache_read: 0, cache_write: 0 },
            cost: Some(keyhold_core::money::Money::from_nanos(1)),
            estimated: false,
            latency_ms: 1,
            ttft_ms: None,
            local: false,
            redacted: String::new(),
            tools: Default::default(),
        };
        ledger::record(&conn, &a).unwrap();
    }
    let range = Range::new(start - Duration::days(1), start + Duration::days(3)).unwrap();
    let days = usage::series(&conn, &range, Resolution::Day, None).unwrap();
    let per_day: Vec<(&str, u32)> = days.iter().map(|p| (p.bucket.as_str(), p.requests)).collect();
    // 28 March from 13:30 CET (12:30Z) to midnight: 11 hours; 29 March: 23; the rest on the 30th.
    assert_eq!(per_day, vec![("2026-03-28", 11), ("2026-03-29", 23), ("2026-03-30", 14)]);
    // The local day's start, in UTC, is where chrono says it is too.
    let day_start = ledger::local_midnight_utc(chrono::NaiveDate::from_ymd_opt(2026, 3, 30).unwrap());
    assert_eq!(day_start, Utc.with_ymd_and_hms(2026, 3, 29, 22, 0, 0).unwrap());
}
