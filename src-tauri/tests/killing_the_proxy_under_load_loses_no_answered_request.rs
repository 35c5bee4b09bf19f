//! `kill -9` of `keyhold serve` while clients are being answered: every request that got a
//! complete 200 has its ledger row (a row is committed before its answer is finished; SQLite's
//! WAL keeps a committed row through a killed process).

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use keyhold_sim::{self as sim, Flavor};
use support::{text, Run};

const KEY: &str = "sk-sim-kill-test-key-0001";

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

    let mut serve = Command::new(env!("CARGO_BIN_EXE_keyhold"))
        .args(["--passphrase-file", run.dir.path().join("pass").to_str().unwrap(), "--json", "serve", "--port", "0"])
        .env("KEYHOLD_DATA_DIR", run.data())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(serve.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let info: serde_json::Value = serde_json::from_str(&line).unwrap();
    let url = format!("{}/chat/completions", info["openai_base_url"].as_str().unwrap());

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
