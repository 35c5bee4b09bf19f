//! What the proxy adds: the same open-loop load sent to the OpenAI simulator directly and
//! through `keyhold serve` (a separate process, so its memory can be read), in one run.
//! Reports p50/p99 latency at 200 and 1,000 requests/s (non-streaming), time to first token
//! for streaming, and the proxy's resident memory under the load.
//!
//! Run: `cargo bench --bench proxy_overhead` (SECONDS=N sets each phase's length, default 5).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyhold_sim::{self as sim, Flavor};

const KEY: &str = "sk-sim-bench-key-000000000001";

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn load(client: &reqwest::Client, url: &str, token: &str, rate: u64, seconds: u64) -> (Vec<f64>, usize) {
    load_with(client, url, token, rate, seconds, "hello there").await
}

/// A 2 KB prompt of ordinary prose with an e-mail address, a phone number and a key in it.
fn two_kb_prompt() -> String {
    let line = "Please review the attached plan with the platform team before Thursday's meeting. ";
    let mut p = String::from(
        "Ask anna.schmidt@example.org (or call +49 30 12345678) and use sk-proj-abcdefghijklmnopqrstuvwxyz012345. ",
    );
    while p.len() < 2048 {
        p.push_str(line);
    }
    p
}

async fn load_with(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    rate: u64,
    seconds: u64,
    prompt: &str,
) -> (Vec<f64>, usize) {
    let body = serde_json::json!({ "model": "gpt-4o-mini", "messages": [{ "role": "user", "content": prompt }] });
    let total = rate * seconds;
    let mut interval = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(total as usize);
    for _ in 0..total {
        interval.tick().await;
        let (c, u, t, b) = (client.clone(), url.to_string(), token.to_string(), body.clone());
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let ok = c.post(u).bearer_auth(t).json(&b).send().await.map(|r| r.status().is_success()).unwrap_or(false);
            (start.elapsed().as_secs_f64() * 1000.0, ok)
        }));
    }
    let mut lat = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let (ms, ok) = t.await.unwrap();
        if ok {
            lat.push(ms)
        } else {
            failed += 1
        }
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (lat, failed)
}

async fn ttft(client: &reqwest::Client, url: &str, token: &str, n: usize) -> Vec<f64> {
    use futures_util::StreamExt;
    let body = serde_json::json!({ "model": "gpt-4o-mini", "stream": true, "messages": [{ "role": "user", "content": "hi" }] });
    let mut out = Vec::new();
    for _ in 0..n {
        let start = Instant::now();
        let resp = client.post(url).bearer_auth(token).json(&body).send().await.unwrap();
        let mut s = resp.bytes_stream();
        let mut buf = String::new();
        while let Some(chunk) = s.next().await {
            buf.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if buf.contains("\"content\":\"Hello") {
                out.push(start.elapsed().as_secs_f64() * 1000.0);
                break;
            }
        }
        while s.next().await.is_some() {}
    }
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

fn main() {
    let seconds: u64 = std::env::var("SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let openai = rt.block_on(sim::start(Flavor::OpenAi, "127.0.0.1:0".parse().unwrap(), vec![KEY.into()])).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "bench passphrase 123").unwrap();
    let kh = |args: &[&str], stdin: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_keyhold"))
            .arg("--data-dir")
            .arg(&data)
            .arg("--passphrase-file")
            .arg(&pass)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    kh(&["vault", "init"], "");
    kh(&["keys", "add", "--provider", "openai", "--label", "oa", "--base-url", &openai.base_url()], KEY);
    kh(&["agents", "add", "--name", "bench", "--model", "gpt-4o-mini", "--key", "oa", "--privacy", "off"], "");
    kh(&["agents", "add", "--name", "bench-pii", "--model", "gpt-4o-mini", "--key", "oa", "--privacy", "pii"], "");
    let token = kh(&["agents", "token", "bench"], "");
    let pii_token = kh(&["agents", "token", "bench-pii"], "");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_keyhold"))
        .arg("--data-dir")
        .arg(&data)
        .arg("--passphrase-file")
        .arg(&pass)
        .args(["--json", "serve", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(serve.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    let proxy = info["openai_base_url"].as_str().unwrap().to_string();
    let direct = openai.base_url();
    let pid = serve.id();

    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    println!(
        "proxy_overhead: {seconds} s per phase, machine: {} cores",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    rt.block_on(async {
        // Warm both paths (connections, SQLite pages).
        load(&client, &format!("{direct}/chat/completions"), KEY, 100, 1).await;
        load(&client, &format!("{proxy}/chat/completions"), &token, 100, 1).await;
        for rate in [200u64, 1000] {
            let (d, df) = load(&client, &format!("{direct}/chat/completions"), KEY, rate, seconds).await;
            let peak = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let p2 = Arc::clone(&peak);
            let sampler = tokio::spawn(async move {
                loop {
                    p2.fetch_max(rss_kib(pid).0, std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
            let (p, pf) = load(&client, &format!("{proxy}/chat/completions"), &token, rate, seconds).await;
            sampler.abort();
            println!(
                "{rate:>5} req/s  direct p50 {:.3} ms p99 {:.3} ms | via proxy p50 {:.3} ms p99 {:.3} ms | added p50 {:.3} ms p99 {:.3} ms | failed {df}/{pf} | proxy RSS peak {:.1} MiB",
                percentile(&d, 0.5), percentile(&d, 0.99), percentile(&p, 0.5), percentile(&p, 0.99),
                percentile(&p, 0.5) - percentile(&d, 0.5), percentile(&p, 0.99) - percentile(&d, 0.99),
                peak.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0
            );
        }
        let d = ttft(&client, &format!("{direct}/chat/completions"), KEY, 200).await;
        let p = ttft(&client, &format!("{proxy}/chat/completions"), &token, 200).await;
        println!("streaming TTFT  direct p50 {:.3} ms p99 {:.3} ms | via proxy p50 {:.3} ms p99 {:.3} ms",
            percentile(&d, 0.5), percentile(&d, 0.99), percentile(&p, 0.5), percentile(&p, 0.99));
        // Local anonymization: the same 2 KB prompt through an agent with privacy off and one
        // with pii (its e-mail, phone and key replaced, the answer restored).
        let prompt = two_kb_prompt();
        let url = format!("{proxy}/chat/completions");
        load_with(&client, &url, &pii_token, 100, 1, &prompt).await;
        let (off, _) = load_with(&client, &url, &token, 200, seconds, &prompt).await;
        let (pii, pf) = load_with(&client, &url, &pii_token, 200, seconds, &prompt).await;
        println!(
            "2 KB prompt, 200 req/s  privacy off p50 {:.3} ms p99 {:.3} ms | pii p50 {:.3} ms p99 {:.3} ms | pii adds p50 {:.3} ms | failed {pf}",
            percentile(&off, 0.5), percentile(&off, 0.99), percentile(&pii, 0.5), percentile(&pii, 0.99),
            percentile(&pii, 0.5) - percentile(&off, 0.5)
        );
        let (rss, hwm) = rss_kib(pid);
        println!("proxy process RSS now {:.1} MiB, high-water mark {:.1} MiB", rss as f64 / 1024.0, hwm as f64 / 1024.0);
    });
    let _ = serve.kill();
    let _ = serve.wait();
}
