//! What the tamper-evident ledger costs (`ledger::chain`): rows recorded per second through the
//! group-commit writer with and without the chain (64 callers in flight, as under proxy load),
//! attempts opened in flight then settled (two writes per attempt, as the router does for every
//! attempt it sends), and how fast a ledger is checked (the whole of it, as `keyhold vault check` and the
//! background check after unlock do). Rounds alternate so both sides share the machine's state.
//! Run: `cargo bench -p keyhold-core --bench ledger_chain` (ROWS=N for the checked ledger).

use std::time::Instant;

use chrono::Utc;
use keyhold_core::ledger::chain::{self, ChainKey};
use keyhold_core::ledger::{Attempt, Mode, Outcome, Writer};
use keyhold_core::money::Money;
use keyhold_core::prices::Tokens;
use keyhold_core::seal::MasterSecret;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn row(k: usize) -> Attempt {
    Attempt {
        agent_id: format!("agent-{}", k % 50),
        at: Utc::now(),
        agent: format!("agent {}", k % 50),
        key_id: Some("k_bench".into()),
        key_label: Some("bench".into()),
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        mode: Mode::Proxy,
        step: 0,
        outcome: Outcome::Ok,
        tokens: Tokens { input: 1200, output: 300, cache_read: 0, cache_write: 0 },
        cost: Some(Money::from_nanos(5_100 + k as i64)),
        estimated: false,
        latency_ms: 12,
        ttft_ms: Some(4),
        local: false,
        redacted: String::new(),
        tools: Default::default(),
    }
}

fn key() -> ChainKey {
    ChainKey::new(&MasterSecret::from_slice(&[9u8; 32]).unwrap())
}

/// Rows per second recorded through a writer, 64 in flight at a time.
fn record(rt: &tokio::runtime::Runtime, writer: &Writer, n: usize) -> f64 {
    let t = Instant::now();
    rt.block_on(async {
        for start in (0..n).step_by(64) {
            let waits: Vec<_> = (start..(start + 64).min(n)).map(|k| writer.record(row(k))).collect();
            for w in waits {
                w.committed().await.unwrap();
            }
        }
    });
    n as f64 / t.elapsed().as_secs_f64()
}

/// Attempts per second opened (in flight) then settled through a chained writer, 64 at a time.
fn open_and_settle(rt: &tokio::runtime::Runtime, writer: &Writer, n: usize) -> f64 {
    let t = Instant::now();
    rt.block_on(async {
        for start in (0..n).step_by(64) {
            let ks: Vec<usize> = (start..(start + 64).min(n)).collect();
            let opens: Vec<_> = ks
                .iter()
                .map(|&k| {
                    writer.open(
                        Attempt { outcome: Outcome::InFlight, cost: None, ..row(k) },
                        Some(Money::from_nanos(90_000)),
                    )
                })
                .collect();
            let mut ids = Vec::new();
            for o in opens {
                ids.push(o.committed().await.unwrap());
            }
            let settles: Vec<_> = ks.iter().zip(ids).map(|(&k, id)| writer.settle(id, row(k))).collect();
            for s in settles {
                s.committed().await.unwrap();
            }
        }
    });
    n as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let n = 20_000;
    let (mut plain, mut chained, mut settled) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let w = Writer::start(&dir.path().join("plain.db")).unwrap();
        plain.push(record(&rt, &w, n));
        let w = Writer::start(&dir.path().join("chained.db")).unwrap();
        w.arm(key(), None).unwrap();
        chained.push(record(&rt, &w, n));
        let w = Writer::start(&dir.path().join("settled.db")).unwrap();
        w.arm(key(), None).unwrap();
        settled.push(open_and_settle(&rt, &w, n));
    }
    let (p, c, o) = (median(plain), median(chained), median(settled));
    println!(
        "recording, 64 in flight: {p:.0} rows/s unchained, {c:.0} rows/s chained ({:+.1} %), \
         {o:.0} attempts/s chained opened then settled ({:+.1} % against chained whole rows)",
        (c / p - 1.0) * 100.0,
        (o / c - 1.0) * 100.0
    );

    let rows: usize = std::env::var("ROWS").ok().and_then(|r| r.parse().ok()).unwrap_or(200_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checked.db");
    let w = Writer::start(&path).unwrap();
    w.arm(key(), None).unwrap();
    record(&rt, &w, rows);
    let mark = w.mark().unwrap();
    let conn = keyhold_core::db::open(&path).unwrap();
    let times: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let c = chain::check(&conn, &key(), chain::Head::genesis(), Some(&mark), &|_| false).unwrap();
            assert!(c.breaks.is_empty());
            t.elapsed().as_secs_f64()
        })
        .collect();
    let s = median(times);
    println!("whole ledger checked: {rows} rows in {:.0} ms ({:.0} rows/s)", s * 1000.0, rows as f64 / s);
}
