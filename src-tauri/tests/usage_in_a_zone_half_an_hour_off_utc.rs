//! A user in India (UTC+05:30) looks at daily usage: a request at 23:40 local time and one at
//! 00:10 the next morning fall in the same UTC hour, yet belong to two local days. This test
//! binary runs in its own process so it can set the time zone.

use chrono::{NaiveDate, TimeZone, Utc};
use keyhold_core::ledger::{self, Attempt, Mode};
use keyhold_core::prices::Tokens;
use keyhold_core::usage::{self, Range, Resolution};

fn row(at: chrono::DateTime<Utc>, cost: i64) -> Attempt {
    Attempt {
        agent_id: "id-kolkata".into(),
        at,
        agent: "a".into(),
        key_id: None,
        key_label: None,
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        mode: Mode::Agent,
        step: 0,
        outcome: keyhold_core::ledger::Outcome::Ok,
        tokens: Tokens { input: 1, output: 1, cache_read: 0, cache_write: 0 },
        cost: Some(keyhold_core::money::Money::from_nanos(cost)),
        estimated: false,
        latency_ms: 1,
        ttft_ms: None,
        local: false,
        redacted: String::new(),
        tools: Default::default(),
    }
}

#[test]
fn requests_either_side_of_local_midnight_land_on_their_own_days() {
    std::env::set_var("TZ", "Asia/Kolkata");
    extern "C" {
        fn tzset();
    }
    unsafe { tzset() };
    let dir = tempfile::tempdir().unwrap();
    let conn = keyhold_core::db::open(&dir.path().join("k.db")).unwrap();
    // 18:10Z is 23:40 on 10 November in Kolkata; 18:40Z is 00:10 on the 11th.
    ledger::record(&conn, &row(Utc.with_ymd_and_hms(2026, 11, 10, 18, 10, 0).unwrap(), 1_000)).unwrap();
    ledger::record(&conn, &row(Utc.with_ymd_and_hms(2026, 11, 10, 18, 40, 0).unwrap(), 2_000)).unwrap();
    let d = |day| NaiveDate::from_ymd_opt(2026, 11, day).unwrap();
    let range = Range::local_days(d(9), d(12)).unwrap();
    let days = usage::series(&conn, &range, Resolution::Day, None).unwrap();
    let per_day: Vec<(&str, u32, i64)> =
        days.iter().map(|p| (p.bucket.as_str(), p.requests, p.cost_usd.nanos())).collect();
    assert_eq!(per_day, vec![("2026-11-10", 1, 1_000), ("2026-11-11", 1, 2_000)]);
    // The breakdown of the 11th alone holds only the second request.
    let eleventh = Range::local_days(d(11), d(11)).unwrap();
    let slices = usage::breakdown(&conn, &eleventh, None).unwrap();
    assert_eq!(slices.iter().map(|s| s.requests).sum::<u32>(), 1);
    assert_eq!(slices[0].cost_usd.nanos(), 2_000);
    // Hours are shown at their local half hour, not rounded to the hour.
    let hours = usage::series(&conn, &range, Resolution::Hour, None).unwrap();
    assert_eq!(hours[0].bucket, "2026-11-10T23:30");
}
