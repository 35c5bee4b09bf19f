//! `kill -9` of `keyhold serve` while clients are being answered: every request that got a
//! complete 200 has its ledger row (a row is committed before its answer is finished; SQLite's
//! WAL keeps a committed row through a killed process), and every request that reached the
//! provider has one too (written in flight before it is sent, settled `interrupted` at the next
//! start).

mod support;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use keyhold_sim::{self as sim, Behavior, Flavor};
use support::{text, Run};

const KEY: &str = "sk-sim-kill-test-key-0001";

/// Starts `keyhold serve` on `run`'s data dir: the process, and the proxy's OpenAI base URL.
fn serve(run: &Run) -> (std::process::Child, String) {
    let (child, info) = run.serve();
    (child, info["openai_base_url"].as_str().unwrap().to_string())
}

#[test]
fn streams_in_flight_when_the_proxy_is_killed_leave_one_interrupted_row_each_counted_at_the_next_start() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let openai = rt.block_on(sim::start(Flavor::OpenAi, "127.0.0.1:0".parse().unwrap(), vec![KEY.into()])).unwrap();
    let mut run = Run::new("kill test passphrase 2");
    assert!(run.keyhold(&["vault", "init"], "").status.success());
    let o =
        run.keyhold(&["keys", "add", "--provider", "openai", "--label", "oa", "--base-url", &openai.base_url()], KEY);
    assert!(o.status.success(), "{}", text(&o));
    let o = run
        .keyhold(&["agents", "add", "--name", "bot", "--model", "gpt-4o-mini", "--key", "oa", "--budget-usd", "5"], "");
    assert!(o.status.success(), "{}", text(&o));
    let token = String::from_utf8(run.keyhold(&["agents", "token", "bot"], "").stdout).unwrap().trim().to_string();

    // Slow streams: each chunk takes a while, so they are all still running at the kill.
    openai.set_behavior(vec![Behavior { delay_ms: Some(300), ..Default::default() }]);
    let (mut proxy, base) = serve(&run);
    let client = reqwest::Client::new();
    let streams: Vec<_> = (0..5)
        .map(|_| {
            let (client, url, token) = (client.clone(), format!("{base}/chat/completions"), token.clone());
            rt.spawn(async move {
                let body = serde_json::json!({ "model": "x", "stream": true, "max_tokens": 1000,
                                               "messages": [{ "role": "user", "content": "hi" }] });
                if let Ok(resp) = client.post(&url).bearer_auth(&token).json(&body).send().await {
                    let _ = resp.text().await;
                }
            })
        })
        .collect();
    let started = std::time::Instant::now();
    while openai.requests().iter().filter(|r| r.path.ends_with("/chat/completions")).count() < 5 {
        assert!(started.elapsed() < Duration::from_secs(20), "the streams did not reach the provider");
        std::thread::sleep(Duration::from_millis(20));
    }
    proxy.kill().unwrap();
    proxy.wait().unwrap();
    rt.block_on(async {
        for s in streams {
            let _ = s.await;
        }
    });
    let reached = openai.requests().iter().filter(|r| r.path.ends_with("/chat/completions")).count();

    // The next start settles them: unlocked, then stopped as a user would (Ctrl-C).
    openai.set_behavior(vec![Behavior::default()]);
    let (mut proxy, _) = serve(&run);
    assert!(Command::new("kill").args(["-INT", &proxy.id().to_string()]).status().unwrap().success());
    assert!(proxy.wait().unwrap().success());

    let o = run.keyhold(&["usage", "--format", "json"], "");
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let interrupted: Vec<_> = rows.iter().filter(|r| r["outcome"] == "interrupted").collect();
    assert_eq!(interrupted.len(), reached, "one row per stream that reached the provider: {rows:#?}");
    assert!(rows.iter().all(|r| r["outcome"] != "in_flight"), "{rows:#?}");
    for r in &interrupted {
        // Counted at what it reserved (the most it could cost), marked as an estimate.
        let cost: f64 = r["cost_usd"].as_str().unwrap().parse().unwrap();
        assert!(cost > 0.0 && r["estimated"] == true, "{r}");
    }
    // Settled rows are chained and sealed like any other: the whole check is clean.
    let o = run.keyhold(&["vault", "check"], "");
    assert!(o.status.success() && !text(&o).contains("changed outside"), "{}", text(&o));
}

#[test]
fn every_request_answered_before_a_kill_is_in_the_ledger() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let openai = rt.block_on(sim::start(Flavor::OpenAi, "127.0.0.1:0".parse().unwrap(), vec![KEY.into()])).unwrap();
    let mut run = Run::new("kill test passphrase 1");
    assert!(run.keyhold(&["vault", "init"], "").status.success());
    let o =
        run.keyhold(&["keys", "add", "--provider", "openai", "--label", "oa", "--base-url", &openai.base_url()], KEY);
    assert!(o.status.success(), "{}", text(&o));
    assert!(run
        .keyhold(&["agents", "add", "--name", "bot", "--model", "gpt-4o-mini", "--key", "oa"], "")
        .status
        .success());
    let token = String::from_utf8(run.keyhold(&["agents", "token", "bot"], "").stdout).unwrap().trim().to_string();

    let (mut serve, base) = serve(&run);
    let url = format!("{base}/chat/completions");

    // Eight clients send back to back, plain and streamed, until the proxy dies.
    let answered = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::new();
    let workers: Vec<_> = (0..8)
        .map(|i| {
            let (client, url, token, answered) = (client.clone(), url.clone(), token.clone(), Arc::clone(&answered));
            rt.spawn(async move {
                let body = serde_json::json!({ "model": "x", "stream": i % 2 == 1, "messages": [{ "role": "user", "content": "hi" }] });
                loop {
                    let Ok(resp) = client.post(&url).bearer_auth(&token).json(&body).send().await else { return };
                    if resp.status() != 200 {
                        return;
                    }
                    // Complete: the whole body arrived, the stream's terminator included.
                    match resp.text().await {
                        Ok(t) if t.contains("Your request arrived intact") || t.ends_with("data: [DONE]\n\n") => {
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    serve.kill().unwrap();
    serve.wait().unwrap();
    rt.block_on(async {
        for w in workers {
            let _ = w.await;
        }
    });
    let answered = answered.load(Ordering::SeqCst);
    assert!(answered > 20, "the load did not get going ({answered} answers)");

    let o = run.keyhold(&["usage", "--format", "json"], "");
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let ok = rows.iter().filter(|r| r["outcome"] == "ok").count();
    eprintln!("answered before the kill: {answered}; ok rows in the ledger: {ok}");
    assert!(ok >= answered, "{answered} requests were answered but only {ok} ledger rows survived the kill");
}
