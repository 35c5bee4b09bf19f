//! The Usage page against a big ledger: 10 million rows, 50 agents, 90 days (ROWS=N to change).
//! Reports: recording rate (one row per call, as the router writes them), the 30-day per-agent
//! chart query, the page's full refresh (everything `usage_view` reads), and bytes per row.
//! Run: `cargo bench --bench usage_ledger`.

use std::time::Instant;

use chrono::{Duration, Utc};
use keyhold_core::ledger::{self, Attempt, Mode, Outcome};
use keyhold_core::money::Money;
use keyhold_core::prices::Tokens;
use keyhold_core::usage::{self, RecentFilter, Resolution};
use rand::{Rng, SeedableRng};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn attempt(rng: &mut rand::rngs::StdRng, at: chrono::DateTime<Utc>, agent: &str) -> Attempt {
    let models = [("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku-4-5"), ("ollama", "llama3.2:1b")];
    let (provider, model) = models[rng.gen_range(0..3)];
    let ok = rng.gen_range(0..100) < 97;
    Attempt {
        agent_id: agent.to_string(),
        at,
        agent: agent.into(),
        key_id: Some("k_bench".into()),
        key_label: Some("bench".into()),
        provider: provider.into(),
        model: model.into(),
        mode: if rng.gen_bool(0.5) { Mode::Agent } else { Mode::Proxy },
        step: 0,
        outcome: if ok { Outcome::Ok } else { Outcome::Http(500) },
        tokens: Tokens {
            input: rng.gen_range(10..4000),
            output: rng.gen_range(1..1500),
            cache_read: rng.gen_range(0..2000),
            cache_write: rng.gen_range(0..200),
        },
        cost: Some(Money::from_nanos(if provider == "ollama" { 0 } else { rng.gen_range(1_000..5_000_000) })),
        estimated: false,
        latency_ms: rng.gen_range(50..3000),
        ttft_ms: Some(rng.gen_range(20..800)),
        local: provider == "ollama",
        redacted: String::new(),
        tools: Default::default(),
    }
}

fn main() {
    let rows: u64 = std::env::var("ROWS").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyhold.db");
    let mut conn = keyhold_core::db::open(&path).unwrap();
    let agents: Vec<String> = (0..50).map(|i| format!("agent-{i:02}")).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let now = Utc::now();
    let start = now - Duration::days(90);
    let step_ms = 90.0 * 86_400_000.0 / rows as f64;

    // Fill (in transactions of 50k rows: this is setup, not the measured recording path).
    let fill = Instant::now();
    let mut i = 0u64;
    while i < rows {
        let tx = conn.transaction().unwrap();
        for _ in 0..50_000.min(rows - i) {
            let at = start + Duration::milliseconds((i as f64 * step_ms) as i64);
            let a = attempt(&mut rng, at, &agents[(i % 50) as usize]);
            ledger::record(&tx, &a).unwrap();
            i += 1;
        }
        tx.commit().unwrap();
    }
    let fill_s = fill.elapsed().as_secs_f64();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "usage_ledger: {rows} rows, 50 agents, 90 days; filled in {fill_s:.1} s ({:.0} rows/s in 50k-row transactions)",
        rows as f64 / fill_s
    );
    println!(
        "database size {:.1} MiB, {:.0} bytes per row (ledger, indexes and hourly rollup)",
        size as f64 / 1048576.0,
        size as f64 / rows as f64
    );

    // Recording as the router did it: one autocommitted row per call.
    let n = 20_000;
    let t = Instant::now();
    for k in 0..n {
        ledger::record(&conn, &attempt(&mut rng, now, &agents[k % 50])).unwrap();
    }
    println!("recording, one row per call (autocommit, WAL): {:.0} rows/s", n as f64 / t.elapsed().as_secs_f64());
    // Recording as the router does it now: through the group-commit writer, 64 callers at once.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    let writer = std::sync::Arc::new(ledger::Writer::start(&path).unwrap());
    let rows_now: Vec<_> = (0..n).map(|k| attempt(&mut rng, now, &agents[k % 50])).collect();
    let t = Instant::now();
    rt.block_on(async {
        let mut chunks = rows_now.into_iter();
        loop {
            let batch: Vec<_> = chunks.by_ref().take(64).collect();
            if batch.is_empty() {
                break;
            }
            let waits: Vec<_> = batch.into_iter().map(|a| writer.record(a)).collect();
            for w in waits {
                w.committed().await.unwrap();
            }
        }
    });
    println!(
        "recording through the group-commit writer (64 in flight): {:.0} rows/s",
        n as f64 / t.elapsed().as_secs_f64()
    );

    // The local-day rollup is built once for the zone (first use after an update, or a move).
    let t = Instant::now();
    usage::daily::ensure(&conn).unwrap();
    println!("daily rollup built for this zone from {rows} rows: {:.1} s", t.elapsed().as_secs_f64());

    let range = usage::Range::new(now - Duration::days(30), now).unwrap();
    let chart: Vec<f64> = (0..21)
        .map(|k| {
            let t = Instant::now();
            let s = usage::series(&conn, &range, Resolution::Day, Some(&agents[k % 50])).unwrap();
            assert!(!s.is_empty());
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    println!("30-day per-agent chart query (day buckets): median {:.2} ms", median(chart));
    let hourly: Vec<f64> = (0..11)
        .map(|k| {
            let t = Instant::now();
            usage::series(&conn, &range, Resolution::Hour, Some(&agents[k % 50])).unwrap();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    println!("30-day per-agent chart query (hour buckets): median {:.2} ms", median(hourly));
    let refresh: Vec<f64> = (0..11)
        .map(|_| {
            let t = Instant::now();
            let daily = usage::series(&conn, &range, Resolution::Day, None).unwrap();
            usage::breakdown(&conn, &range, None).unwrap();
            for a in &agents {
                ledger::spent_today(&conn, a, now).unwrap();
            }
            usage::recent(&conn, &range, &RecentFilter::default(), 200).unwrap();
            usage::anomalies(&conn, &range, &daily).unwrap();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    println!("Usage page full refresh (30 days, all agents): median {:.1} ms", median(refresh));
    // What the window asks for: usage_view with the page's defaults (30 days, by day, all agents).
    for (label, range, resolution) in
        [("30 days by day", "30d", Resolution::Day), ("24 hours by hour", "24h", Resolution::Hour)]
    {
        let query = usage::UsageQuery {
            range: range.into(),
            since: None,
            until: None,
            resolution,
            agent: None,
            filter: RecentFilter::default(),
        };
        let times: Vec<f64> = (0..11)
            .map(|_| {
                let t = Instant::now();
                let v = usage::view(&conn, &query, Utc::now()).unwrap();
                assert!(!v.series.is_empty());
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        println!("usage_view ({label}, all agents, 200 recent): median {:.1} ms", median(times));
    }
}
