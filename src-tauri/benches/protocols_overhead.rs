//! What each protocol path adds: the same streamed request sent to a simulator directly and
//! through `keyhold serve`, one at a time, whole answer read. Four paths:
//!
//! - chat completions to OpenAI (same protocol, passed through byte for byte): the baseline;
//! - Responses to OpenAI (same protocol, passed through): what Codex on an OpenAI agent costs;
//! - Responses with a function tool to an Anthropic agent (translated both ways, the answer a
//!   streamed tool call): what Codex on an Anthropic step costs;
//! - chat completions with a function tool to an Anthropic agent (translated, a tool call).
//!
//! "Direct" for a translated path is the Anthropic simulator asked the equivalent Messages
//! request. Reports p50/p99 of the whole streamed answer and the median added.
//!
//! Run: `cargo bench --bench protocols_overhead` (N=requests per path, default 400).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use futures_util::StreamExt;
use keyhold_sim::{self as sim, Flavor};
use serde_json::{json, Value};

const KEY: &str = "sk-sim-bench-key-000000000002";

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// One request, its whole streamed answer read; milliseconds. `check` must find the answer's end.
async fn once(c: &reqwest::Client, url: &str, auth: (&str, &str), body: &Value, end: &str) -> f64 {
    let start = Instant::now();
    let resp =
        c.post(url).header(auth.0, auth.1).header("anthropic-version", "2023-06-01").json(body).send().await.unwrap();
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    let mut s = resp.bytes_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = s.next().await {
        buf.extend_from_slice(&chunk.unwrap());
    }
    let text = String::from_utf8_lossy(&buf);
    assert!(text.contains(end), "{url}: the answer has no {end}: {text}");
    start.elapsed().as_secs_f64() * 1000.0
}

async fn run(c: &reqwest::Client, n: usize, url: &str, auth: (&str, &str), body: &Value, end: &str) -> Vec<f64> {
    for _ in 0..20 {
        once(c, url, auth, body, end).await;
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(once(c, url, auth, body, end).await);
    }
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

fn main() {
    let n: usize = std::env::var("N").ok().and_then(|s| s.parse().ok()).unwrap_or(400);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let addr = "127.0.0.1:0".parse().unwrap();
    let openai = rt.block_on(sim::start(Flavor::OpenAi, addr, vec![KEY.into()])).unwrap();
    let anthropic = rt.block_on(sim::start(Flavor::Anthropic, addr, vec![KEY.into()])).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "bench passphrase 456").unwrap();
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
    kh(&["keys", "add", "--provider", "anthropic", "--label", "an", "--base-url", &anthropic.base_url()], KEY);
    kh(&["agents", "add", "--name", "oa", "--model", "gpt-4o-mini", "--key", "oa", "--privacy", "off"], "");
    kh(&["agents", "add", "--name", "an", "--model", "claude-haiku-4-5", "--key", "an", "--privacy", "off"], "");
    let (oa, an) = (kh(&["agents", "token", "oa"], ""), kh(&["agents", "token", "an"], ""));
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
    let info: Value = serde_json::from_str(&line).unwrap();
    let proxy = info["address"].as_str().unwrap().trim_end_matches('/').to_string();

    let tools_chat =
        json!([{ "type": "function", "function": { "name": "lookup", "parameters": { "type": "object" } } }]);
    let tools_responses = json!([{ "type": "function", "name": "lookup", "parameters": { "type": "object" } }]);
    let tools_messages = json!([{ "name": "lookup", "input_schema": { "type": "object" } }]);
    let chat =
        json!({ "model": "gpt-4o-mini", "stream": true, "messages": [{ "role": "user", "content": "hello there" }] });
    let responses = json!({ "model": "gpt-4o-mini", "stream": true, "input": "hello there" });
    let responses_tool = json!({ "model": "x", "stream": true, "tools": tools_responses, "input": "weather?" });
    let chat_tool = json!({ "model": "x", "stream": true, "tools": tools_chat, "messages": [{ "role": "user", "content": "weather?" }] });
    let messages_tool = json!({ "model": "claude-haiku-4-5", "max_tokens": 1024, "stream": true, "tools": tools_messages,
                               "messages": [{ "role": "user", "content": "weather?" }] });
    let c = reqwest::Client::builder().pool_max_idle_per_host(8).build().unwrap();
    let (bearer_key, bearer_oa, bearer_an) = (format!("Bearer {KEY}"), format!("Bearer {oa}"), format!("Bearer {an}"));
    println!(
        "protocols_overhead: {n} sequential streamed requests per path, machine: {} cores",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    rt.block_on(async {
        let direct_chat = run(&c, n, &format!("{}/chat/completions", openai.base_url()), ("authorization", &bearer_key), &chat, "[DONE]").await;
        let direct_resp = run(&c, n, &format!("{}/responses", openai.base_url()), ("authorization", &bearer_key), &responses, "response.completed").await;
        let direct_tool = run(&c, n, &format!("{}/v1/messages", anthropic.base_url()), ("x-api-key", KEY), &messages_tool, "message_stop").await;
        let paths = [
            ("chat completions → OpenAI (passthrough)", &direct_chat, run(&c, n, &format!("{proxy}/v1/chat/completions"), ("authorization", &bearer_oa), &chat, "[DONE]").await),
            ("Responses → OpenAI (passthrough)", &direct_resp, run(&c, n, &format!("{proxy}/v1/responses"), ("authorization", &bearer_oa), &responses, "response.completed").await),
            ("Responses + tool call → Anthropic (translated)", &direct_tool, run(&c, n, &format!("{proxy}/v1/responses"), ("authorization", &bearer_an), &responses_tool, "response.function_call_arguments.done").await),
            ("chat completions + tool call → Anthropic (translated)", &direct_tool, run(&c, n, &format!("{proxy}/v1/chat/completions"), ("authorization", &bearer_an), &chat_tool, "tool_calls").await),
        ];
        for (name, direct, via) in paths {
            println!(
                "{name:<55} direct p50 {:.3} ms p99 {:.3} ms | via Keyhold p50 {:.3} ms p99 {:.3} ms | added p50 {:.3} ms",
                percentile(direct, 0.5), percentile(direct, 0.99), percentile(&via, 0.5), percentile(&via, 0.99),
                percentile(&via, 0.5) - percentile(direct, 0.5)
            );
        }
    });
    let _ = serve.kill();
    let _ = serve.wait();
}
