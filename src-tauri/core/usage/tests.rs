//! Aggregations on a crafted ledger (real SQLite file). The daylight-saving day is tested in
//! `tests/usage_across_a_daylight_saving_change.rs`, which runs with its own time zone.

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::ledger::{self, Attempt, Mode};

fn row(agent: &str, at: DateTime<Utc>, model: &str, outcome: &str, t: Tokens, cost: Option<i64>) -> Attempt {
    Attempt {
        agent_id: format!("id-{agent}"),
        at,
        agent: agent.into(),
        key_id: None,
        key_label: Some("k".into()),
        provider: if model.contains(':') { "ollama".into() } else { "openai".into() },
        model: model.into(),
        mode: Mode::Agent,
        step: 0,
        outcome: outcome.parse().unwrap(),
        tokens: t,
        cost: cost.map(crate::money::Money::from_nanos),
        estimated: false,
        latency_ms: 10,
        ttft_ms: Some(5),
        local: model.contains(':'),
        redacted: String::new(),
        tools: Default::default(),
    }
}

fn db() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let conn = crate::db::open(&dir.path().join("k.db")).unwrap();
    (dir, conn)
}

#[test]
fn series_sum_each_token_class_and_cost_exactly_per_bucket() {
    let (_d, conn) = db();
    let t0 = Utc.with_ymd_and_hms(2026, 3, 10, 12, 15, 0).unwrap();
    let t = |i, o, cr, cw| Tokens { input: i, output: o, cache_read: cr, cache_write: cw };
    ledger::record(&conn, &row("a", t0, "gpt-4o-mini", "ok", t(10, 5, 100, 0), Some(1_234))).unwrap();
    ledger::record(&conn, &row("a", t0 + Duration::minutes(20), "gpt-4o-mini", "ok", t(1, 2, 3, 4), Some(1))).unwrap();
    ledger::record(&conn, &row("a", t0 + Duration::minutes(30), "gpt-4o-mini", "http_500", Tokens::default(), Some(0)))
        .unwrap();
    ledger::record(&conn, &row("a", t0 + Duration::hours(2), "mystery", "ok", t(7, 7, 0, 0), None)).unwrap();
    ledger::record(&conn, &row("b", t0, "llama3.2:1b", "ok", t(3, 3, 0, 0), Some(0))).unwrap();
    let range = Range::new(t0 - Duration::days(1), t0 + Duration::days(1)).unwrap();
    let hours = series(&conn, &range, Resolution::Hour, Some("a")).unwrap();
    assert_eq!(hours.len(), 2);
    assert_eq!(hours[0].tokens, t(11, 7, 103, 4));
    assert_eq!((hours[0].cost_usd.to_string().as_str(), hours[0].requests, hours[0].failures), ("0.000001235", 3, 1));
    assert_eq!((hours[1].cost_usd.to_string().as_str(), hours[1].unknown_cost), ("0", 1));
    let days = series(&conn, &range, Resolution::Day, None).unwrap();
    assert_eq!(days.iter().map(|p| p.requests).sum::<u32>(), 5);
    let slices = breakdown(&conn, &range, None).unwrap();
    assert!(slices.iter().any(|s| s.local && s.model == "llama3.2:1b"));
    assert_eq!(slices[0].cost_usd.to_string(), "0.000001235");
    let failed =
        recent(&conn, &range, &RecentFilter { outcome: Some("failed".into()), ..Default::default() }, 10).unwrap();
    assert_eq!(failed.len(), 1);
    let newest = recent(&conn, &range, &RecentFilter::default(), 2).unwrap();
    assert_eq!(newest[0].model, "mystery");
}

#[test]
fn an_empty_range_is_empty_and_an_end_before_the_start_is_refused() {
    let (_d, conn) = db();
    let now = Utc::now();
    let range = Range::new(now - Duration::days(7), now).unwrap();
    assert!(series(&conn, &range, Resolution::Day, None).unwrap().is_empty());
    let err = Range::new(now, now - Duration::days(1)).unwrap_err();
    assert!(err.to_string().contains("before its start"), "{err}");
}

#[test]
fn spikes_unexpected_models_and_failure_bursts_are_flagged() {
    let (_d, mut conn) = db();
    let spec = crate::agents::AgentSpec { name: "a".into(), model: "gpt-4o-mini".into(), ..Default::default() };
    crate::agents::add(&mut conn, &crate::integrity::for_tests(), &spec).unwrap();
    let day0 = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
    for d in 0..5 {
        ledger::record(
            &conn,
            &row("a", day0 + Duration::days(d), "gpt-4o-mini", "ok", Tokens::default(), Some(20_000_000)),
        )
        .unwrap();
    }
    ledger::record(
        &conn,
        &row("a", day0 + Duration::days(5), "gpt-4o-mini", "ok", Tokens::default(), Some(500_000_000)),
    )
    .unwrap();
    ledger::record(&conn, &row("a", day0 + Duration::days(5), "gpt-5", "ok", Tokens::default(), Some(1))).unwrap();
    for _ in 0..6 {
        ledger::record(
            &conn,
            &row("a", day0 + Duration::days(6), "gpt-4o-mini", "http_503", Tokens::default(), Some(0)),
        )
        .unwrap();
    }
    let range = Range::new(day0 - Duration::days(1), day0 + Duration::days(8)).unwrap();
    let days = series(&conn, &range, Resolution::Day, None).unwrap();
    let found = anomalies(&conn, &range, &days).unwrap();
    // In money and dates as people write them, not "$0.5 on 2026-05-06 … ($0.02)".
    let local = |t: chrono::DateTime<Utc>| t.with_timezone(&chrono::Local);
    let spike = found.iter().find(|a| a.kind == "spend_spike").unwrap();
    let day = local(day0 + Duration::days(5)).format("%b %-d, %Y");
    assert_eq!(spike.message, format!("a spent $0.50 on {day}, over 3× its median day ($0.02)."));
    let burst = found.iter().find(|a| a.kind == "failure_burst").unwrap();
    let hour = local(day0 + Duration::days(6));
    assert_eq!(
        burst.message,
        format!(
            "a: 6 of 6 attempts failed in the hour from {} on {}.",
            hour.format("%H:00"),
            hour.format("%b %-d, %Y")
        )
    );
    let kinds: Vec<String> = found.into_iter().map(|a| a.kind).collect();
    assert!(kinds.contains(&"spend_spike".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"unexpected_model".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"failure_burst".to_string()), "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "spend_spike").count(), 1);
}

#[test]
fn a_database_failure_is_never_reported_as_a_bad_range() {
    use crate::error::{ErrorKind, Kinded};
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    // No schema: every query fails as the database, not as the user's range.
    let range = Range::new(Utc::now() - chrono::Duration::days(1), Utc::now()).unwrap();
    let err = breakdown(&conn, &range, None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Database, "{err}");
    let backwards = Range::new(Utc::now(), Utc::now() - chrono::Duration::days(1)).unwrap_err();
    assert_eq!(backwards.kind(), ErrorKind::BadRange);
}

#[test]
fn the_page_gets_every_bucket_of_its_range_so_empty_days_and_hours_are_gaps_on_a_time_axis() {
    let (_d, conn) = db();
    let now = Utc::now();
    let t = Tokens { input: 1, output: 1, cache_read: 0, cache_write: 0 };
    ledger::record(&conn, &row("a", now - Duration::days(3), "gpt-4o-mini", "ok", t, Some(5))).unwrap();
    ledger::record(&conn, &row("b", now - Duration::hours(2), "gpt-4o-mini", "ok", t, Some(7))).unwrap();
    let query = |range: &str, resolution| UsageQuery {
        range: range.into(),
        since: None,
        until: None,
        resolution,
        agent: None,
        filter: RecentFilter::default(),
    };
    let week = view(&conn, &query("7d", Resolution::Day), now).unwrap();
    let today = now.with_timezone(&chrono::Local).date_naive();
    assert_eq!(week.buckets.len(), 7);
    assert_eq!(week.buckets.last().unwrap(), &today.to_string());
    assert!(week.series.iter().all(|p| week.buckets.contains(&p.bucket)), "every point sits on the axis");
    // The totals are the charts' points summed, in core (money exact).
    assert_eq!((week.totals.requests, week.totals.failures, week.totals.tokens), (2, 0, 4));
    assert_eq!(week.totals.cost_usd, week.series.iter().map(|p| p.cost_usd).sum());
    let day = view(&conn, &query("24h", Resolution::Hour), now).unwrap();
    assert!((24..=25).contains(&day.buckets.len()), "{}", day.buckets.len());
    assert!(day.series.iter().all(|p| day.buckets.contains(&p.bucket)));
    // The agent filter applies to the budgets too.
    let only_a = view(&conn, &UsageQuery { agent: Some("a".into()), ..query("30d", Resolution::Day) }, now).unwrap();
    assert!(only_a.series.iter().all(|p| p.agent == "a"));
    assert_eq!(only_a.totals.requests, 1);
    assert_eq!(only_a.buckets.len(), 30);
}

#[test]
fn each_outcome_in_the_requests_table_comes_with_words_and_keeps_its_code() {
    let (_d, conn) = db();
    let now = Utc::now();
    for outcome in ["ok", "http_529", "cut", "timeout", "http_401"] {
        ledger::record(
            &conn,
            &row("a", now - Duration::minutes(5), "gpt-4o-mini", outcome, Tokens::default(), Some(1)),
        )
        .unwrap();
    }
    let q = UsageQuery {
        range: "24h".into(),
        since: None,
        until: None,
        resolution: Resolution::Hour,
        agent: None,
        filter: RecentFilter::default(),
    };
    let v = view(&conn, &q, now).unwrap();
    let words = |code: &str| v.outcomes.iter().find(|o| o.code == code).map(|o| (o.words.as_str(), o.failed));
    assert_eq!(words("ok"), Some(("answered", false)));
    assert_eq!(words("http_529"), Some(("overloaded (HTTP 529)", true)));
    assert_eq!(words("cut"), Some(("broke off mid-answer", true)));
    assert_eq!(words("timeout"), Some(("timed out", true)));
    assert_eq!(words("http_401"), Some(("key rejected (HTTP 401)", true)));
    assert_eq!(v.outcomes.len(), 5, "one entry per code on the page");
}
