//! The proxy over real HTTP: simulators behind, reqwest and raw TCP in front.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use zeroize::Zeroizing;

use super::*;
use crate::agents::{self, AgentSpec, Fetched, WhenOver};
use crate::datadir::DataDir;
use crate::keys;
use crate::money::Money;
use crate::passphrase::Passphrase;
use crate::vault::{kdf::KdfParams, snapshot};
use keyhold_sim::{self as sim, Behavior, Flavor};

pub(super) const KEY: &str = "sk-sim-proxy-provider-key-0001";

pub(super) struct Rig {
    _tmp: tempfile::TempDir,
    pub ws: Arc<Workspace>,
    proxy: Running,
    pub openai: sim::Running,
    pub anthropic: sim::Running,
    pub token: String,
    pub anthropic_token: String,
}

impl Rig {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.proxy.addr)
    }
}

pub(super) async fn rig() -> Rig {
    snapshot::use_fast_encryption_for_tests();
    let tmp = tempfile::tempdir().unwrap();
    let ws = Workspace::open_with(DataDir::resolve(Some(tmp.path().to_path_buf())).unwrap(), KdfParams::FAST_FOR_TESTS)
        .unwrap();
    ws.create_vault(&Passphrase::new("proxy passphrase".into()), None).unwrap();
    let addr = "127.0.0.1:0".parse().unwrap();
    let openai = sim::start(Flavor::OpenAi, addr, vec![KEY.into()]).await.unwrap();
    let anthropic = sim::start(Flavor::Anthropic, addr, vec![KEY.into()]).await.unwrap();
    for (p, l, u) in [("openai", "oa", openai.base_url()), ("anthropic", "an", anthropic.base_url())] {
        let key = Some(Zeroizing::new(KEY.into()));
        ws.with_unlocked(|c, un| keys::add(c, un, p, l, Some(&u), key, Default::default())).unwrap();
    }
    let spec = |name: &str, model: &str, key: &str| AgentSpec {
        name: name.into(),
        model: model.into(),
        key: Some(key.into()),
        max_tokens: Some(100),
        when_over: Some(WhenOver::Refuse),
        ..Default::default()
    };
    ws.with_unlocked(|c, u| agents::add(c, u, &spec("bot", "gpt-4o-mini", "oa"))).unwrap();
    ws.with_unlocked(|c, u| agents::add(c, u, &spec("claude", "claude-haiku-4-5", "an"))).unwrap();
    let token = ws.with_unlocked(|c, u| tokens::issue(c, u, "bot", None)).unwrap().token;
    let anthropic_token = ws.with_unlocked(|c, u| tokens::issue(c, u, "claude", None)).unwrap().token;
    let ws = Arc::new(ws);
    let settings = Settings {
        allowed_origins: vec!["http://localhost:5173".into()],
        body_timeout: Duration::from_millis(500),
        ..Settings::on_port(0)
    };
    let proxy = start(Arc::clone(&ws), settings).await.unwrap();
    Rig { _tmp: tmp, ws, proxy, openai, anthropic, token, anthropic_token }
}

fn c() -> reqwest::Client {
    reqwest::Client::new()
}

fn chat_body(stream: bool) -> Value {
    json!({ "model": "anything", "stream": stream, "messages": [{ "role": "user", "content": "hello there" }] })
}

#[tokio::test]
async fn an_openai_client_gets_the_answer_plain_and_streamed_with_usage_only_if_it_asked() {
    let r = rig().await;
    let v: Value = c()
        .post(r.url("/v1/chat/completions"))
        .bearer_auth(&r.token)
        .json(&chat_body(false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], sim::ANSWER);
    assert_eq!(v["usage"]["completion_tokens"], 8);

    let text = c()
        .post(r.url("/v1/chat/completions"))
        .bearer_auth(&r.token)
        .json(&chat_body(true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert!(!text.contains("\"usage\":{"), "usage the client did not ask for is hidden: {text}");
    // Upstream was still asked for usage, and the ledger has it.
    let streamed = &r.openai.requests()[1];
    assert!(streamed.stream);
    assert_eq!(
        streamed.body.as_ref().unwrap().pointer("/stream_options/include_usage"),
        Some(&json!(true)),
        "{streamed:?}"
    );
    let rows = crate::ledger::export(&r.ws.conn(), &Default::default()).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|row| row.output_tokens == 8 && !row.estimated && row.mode == "proxy"));

    let mut asked = chat_body(true);
    asked["stream_options"] = json!({ "include_usage": true });
    let text = c()
        .post(r.url("/v1/chat/completions"))
        .bearer_auth(&r.token)
        .json(&asked)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("\"usage\":{"), "{text}");
}

#[tokio::test]
async fn a_same_protocol_stream_is_forwarded_byte_for_byte() {
    let r = rig().await;
    let body = json!({ "model": "claude-haiku-4-5", "max_tokens": 50, "stream": true, "messages": [{ "role": "user", "content": "hi" }] });
    let direct = c()
        .post(format!("{}/v1/messages", r.anthropic.base_url()))
        .header("x-api-key", KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 200);
    let direct = direct.text().await.unwrap();
    let proxied = c()
        .post(r.url("/v1/messages"))
        .header("x-api-key", &r.anthropic_token)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 200);
    let proxied = proxied.text().await.unwrap();
    assert!(direct.contains("event: message_stop"), "{direct}");
    assert_eq!(proxied, direct);
}

#[tokio::test]
async fn claude_codes_beta_headers_reach_an_anthropic_step_and_its_first_request_answers() {
    let r = rig().await;
    // Claude Code's first request: beta fields, and the flags that allow them.
    let body = json!({ "model": "claude-haiku-4-5", "max_tokens": 50, "stream": true,
                       "context_management": { "edits": [] },
                       "messages": [{ "role": "user", "content": "hi" }] });
    let betas = "interleaved-thinking-2025-05-14,context-management-2025-06-27,claude-code-20250219";
    let res = c()
        .post(r.url("/v1/messages"))
        .header("x-api-key", &r.anthropic_token)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", betas)
        .header("anthropic-dangerous-direct-browser-access", "true")
        .header("x-stainless-lang", "js")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert!(res.text().await.unwrap().contains("event: message_stop"));
    let seen = r.anthropic.requests().into_iter().find(|s| s.path == "/v1/messages").unwrap();
    assert!(seen.authorized, "the step's own key, never the caller's token");
    assert_eq!(seen.headers.get("anthropic-beta").map(String::as_str), Some(betas));
    assert_eq!(seen.headers.get("anthropic-version").map(String::as_str), Some("2023-06-01"));
    assert_eq!(seen.headers.get("anthropic-dangerous-direct-browser-access").map(String::as_str), Some("true"));
    let rows = crate::ledger::export(&r.ws.conn(), &Default::default()).unwrap();
    assert_eq!(
        rows.iter().map(|r| r.outcome.as_str()).collect::<Vec<_>>(),
        ["ok"],
        "one call, no refused attempt first"
    );
}

#[tokio::test]
async fn a_request_the_provider_refuses_comes_back_as_the_provider_wrote_it() {
    let r = rig().await;
    // A beta field without its flag: the provider refuses, and the caller reads its own words.
    let body = json!({ "model": "claude-haiku-4-5", "max_tokens": 50, "context_management": { "edits": [] },
                       "messages": [{ "role": "user", "content": "hi" }] });
    let res = c()
        .post(r.url("/v1/messages"))
        .header("x-api-key", &r.anthropic_token)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let got: Value = res.json().await.unwrap();
    assert_eq!(
        got,
        json!({ "type": "error", "error": { "type": "invalid_request_error",
                "message": "context_management: Extra inputs are not permitted" } })
    );
}

#[tokio::test]
async fn count_tokens_is_asked_of_the_anthropic_step_and_estimated_for_another_and_never_billed() {
    let r = rig().await;
    let body = json!({ "model": "claude-sonnet-4-5", "system": "Be brief.",
                       "messages": [{ "role": "user", "content": "How many tokens is this question?" }] });
    // The agent's step speaks Messages: the provider counts, with the caller's beta flags.
    let res = c()
        .post(r.url("/v1/messages/count_tokens"))
        .header("x-api-key", &r.anthropic_token)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "token-counting-2024-11-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("x-keyhold-estimate").is_none(), "the provider counted");
    let counted: Value = res.json().await.unwrap();
    assert!(counted["input_tokens"].as_u64().unwrap() > 0, "{counted}");
    let seen = r.anthropic.requests().into_iter().find(|s| s.path == "/v1/messages/count_tokens").unwrap();
    assert!(seen.authorized);
    assert_eq!(seen.model.as_deref(), Some("claude-haiku-4-5"), "the agent's model, as for a call");
    assert_eq!(seen.headers.get("anthropic-beta").map(String::as_str), Some("token-counting-2024-11-01"));

    // An agent on OpenAI: Keyhold estimates, and says so; nothing is sent anywhere.
    let res =
        c().post(r.url("/v1/messages/count_tokens")).header("x-api-key", &r.token).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["x-keyhold-estimate"].to_str().unwrap().starts_with("true"));
    let estimated: Value = res.json().await.unwrap();
    assert!(estimated["input_tokens"].as_i64().unwrap() > 0);
    assert!(r.openai.requests().is_empty());

    // A count is not a model call: no ledger row, nothing reserved.
    assert!(crate::ledger::export(&r.ws.conn(), &Default::default()).unwrap().is_empty());
}

#[tokio::test]
async fn an_anthropic_header_never_crosses_into_a_step_of_another_protocol() {
    let r = rig().await;
    // The OpenAI token's agent speaks chat completions; an Anthropic caller of it is translated.
    let body = json!({ "model": "x", "max_tokens": 50, "messages": [{ "role": "user", "content": "hi" }] });
    let res = c()
        .post(r.url("/v1/messages"))
        .header("x-api-key", &r.token)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "context-management-2025-06-27")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = r.openai.requests().into_iter().find(|s| s.path.ends_with("/chat/completions")).unwrap();
    assert!(seen.headers.is_empty(), "{:?}", seen.headers);
}

const NON_ASCII: &str = "Grüße aus 東京 🦊 café";

/// Every event written in two writes cut inside a character (or between `\r` and `\n`).
fn cut_writes(crlf: bool) -> Vec<Behavior> {
    vec![Behavior { answer: Some(NON_ASCII.into()), split_writes: Some(true), crlf: Some(crlf), ..Default::default() }]
}

#[tokio::test]
async fn a_non_ascii_stream_cut_inside_characters_passes_through_byte_for_byte() {
    let r = rig().await;
    for crlf in [false, true] {
        let body = json!({ "model": "claude-haiku-4-5", "max_tokens": 50, "stream": true, "messages": [{ "role": "user", "content": "hi" }] });
        r.anthropic.set_behavior(cut_writes(crlf));
        let direct = c()
            .post(format!("{}/v1/messages", r.anthropic.base_url()))
            .header("x-api-key", KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        let direct = direct.bytes().await.unwrap();
        r.anthropic.set_behavior(cut_writes(crlf));
        let proxied =
            c().post(r.url("/v1/messages")).header("x-api-key", &r.anthropic_token).json(&body).send().await.unwrap();
        assert_eq!(proxied.status(), 200);
        let proxied = proxied.bytes().await.unwrap();
        assert!(String::from_utf8_lossy(&direct).contains("東京"), "crlf {crlf}");
        assert_eq!(proxied, direct, "crlf {crlf}");
    }
}

#[tokio::test]
async fn a_non_ascii_stream_cut_inside_characters_is_translated_intact() {
    let r = rig().await;
    r.openai.set_behavior(cut_writes(false));
    let body =
        json!({ "model": "x", "max_tokens": 50, "stream": true, "messages": [{ "role": "user", "content": "hi" }] });
    let text =
        c().post(r.url("/v1/messages")).bearer_auth(&r.token).json(&body).send().await.unwrap().text().await.unwrap();
    let answer: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| v.pointer("/delta/text").and_then(Value::as_str).map(str::to_string))
        .collect();
    assert_eq!(answer, NON_ASCII, "{text}");
}

#[tokio::test]
async fn an_anthropic_client_of_an_openai_agent_gets_a_translated_stream() {
    let r = rig().await;
    let body =
        json!({ "model": "x", "max_tokens": 50, "stream": true, "messages": [{ "role": "user", "content": "hi" }] });
    let text =
        c().post(r.url("/v1/messages")).bearer_auth(&r.token).json(&body).send().await.unwrap().text().await.unwrap();
    let names: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    assert!(text.contains("\"output_tokens\":8"), "{text}");
}

#[tokio::test]
async fn tokens_are_checked_in_both_headers_and_refusals_come_in_the_callers_format() {
    let r = rig().await;
    let no = c().post(r.url("/v1/chat/completions")).json(&chat_body(false)).send().await.unwrap();
    assert_eq!(no.status(), 401);
    assert!(no.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().contains("No Keyhold token"));
    let bad =
        c().post(r.url("/v1/messages")).header("x-api-key", "kh-nope").json(&chat_body(false)).send().await.unwrap();
    assert_eq!(bad.status(), 401);
    assert_eq!(bad.json::<Value>().await.unwrap()["type"], "error");
    // The provider key is never in what comes back.
    let ok = c()
        .post(r.url("/v1/chat/completions"))
        .header("x-api-key", &r.token)
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    let headers = format!("{:?}", ok.headers());
    let text = ok.text().await.unwrap();
    assert!(!text.contains(KEY) && !headers.contains(KEY));
    // Revoked: refused at once.
    let id = tokens::list(&r.ws.conn(), Some("bot")).unwrap()[0].id.clone();
    r.ws.with_unlocked(|c, u| tokens::revoke(c, u, &id)).unwrap();
    let after =
        c().post(r.url("/v1/chat/completions")).bearer_auth(&r.token).json(&chat_body(false)).send().await.unwrap();
    assert_eq!(after.status(), 401);
}

fn raw_http(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_are_refused() {
    let r = rig().await;
    let addr = r.proxy.addr;
    // DNS rebinding: a foreign Host, or none at all.
    let resp = tokio::task::spawn_blocking(move || {
        raw_http(addr, "GET /health HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n")
    })
    .await
    .unwrap();
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
    assert!(resp.contains("DNS rebinding"));
    let resp = tokio::task::spawn_blocking(move || raw_http(addr, "GET /health HTTP/1.0\r\n\r\n")).await.unwrap();
    assert!(resp.starts_with("HTTP/1.0 403") || resp.starts_with("HTTP/1.1 403"), "{resp}");
    let port = addr.port();
    let resp = tokio::task::spawn_blocking(move || {
        raw_http(addr, &format!("GET /health HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n", port + 1))
    })
    .await
    .unwrap();
    assert!(resp.starts_with("HTTP/1.1 403"), "another port is another origin: {resp}");
    // A web page: refused unless allowed.
    let web = c().get(r.url("/health")).header("origin", "https://evil.example").send().await.unwrap();
    assert_eq!(web.status(), 403);
    let allowed = c().get(r.url("/health")).header("origin", "http://localhost:5173").send().await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], "http://localhost:5173");
    // Oversized and malformed bodies.
    // An oversized body sent without a declared length is cut off at the limit. (With a
    // declared length the proxy answers 413 before reading and closes, and a client still
    // writing may see its write fail instead: the raw test below reads that 413.)
    let big = vec![b'a'; BODY_LIMIT + 1];
    let chunks = futures_util::stream::iter(
        big.chunks(64 * 1024).map(|c| Ok::<_, std::io::Error>(c.to_vec())).collect::<Vec<_>>(),
    );
    let sent = c()
        .post(r.url("/v1/chat/completions"))
        .bearer_auth(&r.token)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    match sent {
        Ok(resp) => assert_eq!(resp.status(), 413),
        Err(e) => {
            assert!(format!("{e:?}").contains("BrokenPipe") || format!("{e:?}").contains("ConnectionReset"), "{e:?}")
        }
    }
    let resp =
        c().post(r.url("/v1/chat/completions")).bearer_auth(&r.token).body("{\"messages\": [").send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("not valid JSON"));
    // A slow client: the body never completes.
    let token = r.token.clone();
    let resp = tokio::task::spawn_blocking(move || raw_http(addr, &format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{\"mess"))).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
}

#[tokio::test]
async fn a_locked_vault_garbage_upstream_and_a_spent_budget_each_say_so() {
    let r = rig().await;
    r.openai.set_behavior(vec![Behavior { garbage: Some(true), times: Some(1), ..Default::default() }]);
    let resp =
        c().post(r.url("/v1/chat/completions")).bearer_auth(&r.token).json(&chat_body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    assert!(resp.text().await.unwrap().contains("openai"));

    // A budget that fits one worst case (the whole body at half a token a byte, plus 100 output
    // tokens) but not a second one on top of what the first really cost (5,100 nano-dollars).
    let price =
        r.ws.with_unlocked(|c, u| crate::prices::lookup(c, u, "openai", "gpt-4o-mini", false)).unwrap().unwrap();
    let input = serde_json::to_vec(&chat_body(false)).unwrap().len().div_ceil(2) as i64 + 8;
    let worst = crate::budget::worst_case(&price, input, 100);
    let t = budgeted(&r, "tight", "gpt-4o-mini", "oa", worst + Money::from_nanos(2_000));
    assert_eq!(
        c().post(r.url("/v1/chat/completions")).bearer_auth(&t).json(&chat_body(false)).send().await.unwrap().status(),
        200
    );
    let resp = c().post(r.url("/v1/chat/completions")).bearer_auth(&t).json(&chat_body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.text().await.unwrap().contains("Daily budget of agent tight reached"));

    r.ws.lock();
    let resp = c().post(r.url("/v1/messages")).bearer_auth(&r.token).json(&chat_body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.text().await.unwrap().contains("Keyhold is locked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_streams_all_complete() {
    let r = rig().await;
    r.openai.set_behavior(vec![Behavior { delay_ms: Some(20), ..Default::default() }]);
    let calls =
        (0..40).map(|_| {
            let url = r.url("/v1/chat/completions");
            let token = r.token.clone();
            async move {
                c().post(url).bearer_auth(token).json(&chat_body(true)).send().await.unwrap().text().await.unwrap()
            }
        });
    let all = futures_util::future::join_all(calls).await;
    assert!(all.iter().all(|t| t.ends_with("data: [DONE]\n\n")));
    assert_eq!(crate::ledger::export(&r.ws.conn(), &Default::default()).unwrap().len(), 40);
}

/// The answer's text, from a whole body or a stream of either protocol.
fn answer_text(body: &str) -> String {
    let pick = |v: &Value| -> String {
        ["/delta/text", "/choices/0/delta/content", "/content/0/text", "/choices/0/message/content"]
            .iter()
            .find_map(|p| v.pointer(p).and_then(Value::as_str))
            .unwrap_or("")
            .to_string()
    };
    match serde_json::from_str::<Value>(body) {
        Ok(v) => pick(&v),
        Err(_) => body
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .map(|v| pick(&v))
            .collect(),
    }
}

#[tokio::test]
async fn a_tool_result_turn_goes_through_in_both_protocols_streamed_and_not() {
    let r = rig().await;
    for stream in [false, true] {
        // Anthropic: the last user turn holds only a tool_result block.
        let body = json!({ "model": "claude-haiku-4-5", "max_tokens": 50, "stream": stream,
            "tools": [{ "name": "lookup", "input_schema": { "type": "object" } }],
            "messages": [
                { "role": "user", "content": "What is the weather?" },
                { "role": "assistant", "content": [{ "type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {} }] },
                { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "toolu_1", "content": "42 degrees" }] } ] });
        let resp =
            c().post(r.url("/v1/messages")).header("x-api-key", &r.anthropic_token).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 200, "stream {stream}");
        assert_eq!(answer_text(&resp.text().await.unwrap()), "The tool said: 42 degrees", "stream {stream}");
        // OpenAI: the last message is role tool.
        let body = json!({ "model": "gpt-4o-mini", "stream": stream,
            "tools": [{ "type": "function", "function": { "name": "lookup", "parameters": { "type": "object" } } }],
            "messages": [
                { "role": "user", "content": "What is the weather?" },
                { "role": "assistant", "content": null, "tool_calls": [{ "id": "call_1", "type": "function", "function": { "name": "lookup", "arguments": "{}" } }] },
                { "role": "tool", "tool_call_id": "call_1", "content": "42 degrees" } ] });
        let resp = c().post(r.url("/v1/chat/completions")).bearer_auth(&r.token).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 200, "stream {stream}");
        assert_eq!(answer_text(&resp.text().await.unwrap()), "The tool said: 42 degrees", "stream {stream}");
    }
    // The tools reached the provider as they were sent.
    let seen = r.anthropic.requests();
    assert!(seen.iter().all(|s| s.body.as_ref().unwrap()["tools"][0]["name"] == "lookup"));
}

#[tokio::test]
async fn a_passthrough_carries_the_output_cap_the_budget_reserved() {
    let r = rig().await;
    // No cap from the caller: the agent's (100) goes upstream, in the field OpenAI takes.
    let body = json!({ "model": "x", "messages": [{ "role": "user", "content": "hi" }] });
    assert_eq!(
        c().post(r.url("/v1/chat/completions")).bearer_auth(&r.token).json(&body).send().await.unwrap().status(),
        200
    );
    let sent = r.openai.requests()[0].body.clone().unwrap();
    assert_eq!(sent["max_completion_tokens"], 100, "{sent}");
    // The caller's own cap, in the caller's own field.
    let body = json!({ "model": "x", "max_tokens": 7, "messages": [{ "role": "user", "content": "hi" }] });
    c().post(r.url("/v1/chat/completions")).bearer_auth(&r.token).json(&body).send().await.unwrap();
    let sent = r.openai.requests()[1].body.clone().unwrap();
    assert_eq!((sent["max_tokens"].as_u64(), sent.get("max_completion_tokens")), (Some(7), None), "{sent}");
}

/// An agent on `key` with a daily budget of `usd`, refusing past it, and its token.
fn budgeted(r: &Rig, name: &str, model: &str, key: &str, usd: Money) -> String {
    let spec = AgentSpec {
        name: name.into(),
        model: model.into(),
        key: Some(key.into()),
        max_tokens: Some(100),
        budget_usd: Some(usd.to_string()),
        when_over: Some(WhenOver::Refuse),
        ..Default::default()
    };
    r.ws.with_unlocked(|c, u| agents::add(c, u, &spec)).unwrap();
    r.ws.with_unlocked(|c, u| tokens::issue(c, u, name, None)).unwrap().token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_requests_with_large_tool_results_never_spend_past_the_budget() {
    let r = rig().await;
    let result = "measurement ".repeat(20_000);
    let body = json!({ "model": "x", "max_tokens": 100,
        "tools": [{ "name": "lookup", "input_schema": { "type": "object" } }],
        "messages": [
            { "role": "user", "content": "What did the sensor log?" },
            { "role": "assistant", "content": [{ "type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {} }] },
            { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "toolu_1", "content": result }] } ] });
    // A budget that fits five worst cases of this request, counted on its whole body.
    let price =
        r.ws.with_unlocked(|c, u| crate::prices::lookup(c, u, "anthropic", "claude-haiku-4-5", false))
            .unwrap()
            .unwrap();
    let input = serde_json::to_vec(&body).unwrap().len().div_ceil(2) as i64 + 4 * 4;
    let worst = crate::budget::worst_case(&price, input, 100);
    let budget = Money::from_nanos(worst.nanos() * 5);
    let token = budgeted(&r, "sensor", "claude-haiku-4-5", "an", budget);
    r.anthropic.set_behavior(vec![Behavior { delay_ms: Some(300), ..Default::default() }]);
    let calls = (0..50).map(|_| {
        let (url, token, body) = (r.url("/v1/messages"), token.clone(), body.clone());
        async move { c().post(url).header("x-api-key", token).json(&body).send().await.unwrap().status().as_u16() }
    });
    let statuses = futures_util::future::join_all(calls).await;
    let paid = statuses.iter().filter(|s| **s == 200).count();
    // Early calls settle to their real (smaller) cost, so a few more may fit later; the budget
    // itself is never passed, and most of the fifty are refused.
    assert!((1..=10).contains(&paid), "{paid} answers for a budget that fits 5 worst cases: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 429), "{statuses:?}");
    let agent = agents::find(&r.ws.conn(), "sensor").unwrap();
    let spent = crate::budget::spent_today(&r.ws.conn(), &agent).unwrap();
    assert!(spent <= budget, "spent {spent} of a {budget} budget");
}

#[tokio::test]
async fn asking_for_several_answers_reserves_the_cap_for_each() {
    let r = rig().await;
    let body =
        |n: u32| json!({ "model": "x", "n": n, "max_tokens": 100, "messages": [{ "role": "user", "content": "hi" }] });
    let price =
        r.ws.with_unlocked(|c, u| crate::prices::lookup(c, u, "openai", "gpt-4o-mini", false)).unwrap().unwrap();
    let input = serde_json::to_vec(&body(3)).unwrap().len().div_ceil(2) as i64 + 8;
    // Fits one answer's worst case twice over, not three answers' once.
    let one = crate::budget::worst_case(&price, input, 100);
    let token = budgeted(&r, "several", "gpt-4o-mini", "oa", Money::from_nanos(one.nanos() * 2));
    let resp = c().post(r.url("/v1/chat/completions")).bearer_auth(&token).json(&body(3)).send().await.unwrap();
    assert_eq!(resp.status(), 429, "three answers do not fit");
    let resp = c().post(r.url("/v1/chat/completions")).bearer_auth(&token).json(&body(1)).send().await.unwrap();
    assert_eq!(resp.status(), 200, "one does");
}

#[tokio::test]
async fn a_whole_reply_without_usage_is_counted_from_what_arrived_and_marked_estimated() {
    let r = rig().await;
    r.openai.set_behavior(vec![Behavior { no_usage: Some(true), ..Default::default() }]);
    let resp =
        c().post(r.url("/v1/chat/completions")).bearer_auth(&r.token).json(&chat_body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let rows = crate::ledger::export(&r.ws.conn(), &Default::default()).unwrap();
    assert!(rows[0].estimated, "{:?}", rows[0]);
    assert!(rows[0].output_tokens > 0 && rows[0].input_tokens > 0, "{:?}", rows[0]);
}

#[tokio::test]
async fn a_provider_that_echoes_the_key_in_its_error_shows_the_client_no_run_of_it() {
    let r = rig().await;
    for (sim, path, token) in
        [(&r.openai, "/v1/chat/completions", &r.token), (&r.anthropic, "/v1/messages", &r.anthropic_token)]
    {
        sim.set_behavior(vec![Behavior {
            status: Some(401),
            echo_key: Some(true),
            times: Some(1),
            ..Default::default()
        }]);
        let body = json!({ "model": "x", "max_tokens": 10, "messages": [{ "role": "user", "content": "hi" }] });
        let resp = c().post(r.url(path)).bearer_auth(token).json(&body).send().await.unwrap();
        let text = resp.text().await.unwrap();
        assert!(text.contains("[redacted]"), "{text}");
        // The mask shows four characters: no run of five or more of the key comes back.
        for w in KEY.as_bytes().windows(5) {
            assert!(!text.contains(std::str::from_utf8(w).unwrap()), "{text}");
        }
    }
    let rows = crate::ledger::export(&r.ws.conn(), &Default::default()).unwrap();
    assert!(!serde_json::to_string(&rows).unwrap().contains(&KEY[5..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_echoes_the_key_in_a_successful_answer_shows_the_client_no_run_of_it() {
    let r = rig().await;
    let hex: String = KEY.bytes().map(|b| format!("{b:02X}")).collect();
    // A provider (or a debugging proxy in front of it) that puts the presented key into a 200.
    let answer = format!("Authenticated as {KEY} ({hex}), a key like sk-sim-other works too.");
    // OpenAI and Anthropic passed through as sent, and each translated into the other, whole and
    // streamed.
    for (sim, path, token) in [
        (&r.openai, "/v1/chat/completions", &r.token),
        (&r.anthropic, "/v1/messages", &r.anthropic_token),
        (&r.anthropic, "/v1/chat/completions", &r.anthropic_token),
        (&r.openai, "/v1/messages", &r.token),
    ] {
        for stream in [false, true] {
            sim.set_behavior(vec![Behavior { answer: Some(answer.clone()), times: Some(1), ..Default::default() }]);
            let body = json!({ "model": "x", "max_tokens": 100, "stream": stream,
                "messages": [{ "role": "user", "content": "who am I?" }] });
            let resp = c().post(r.url(path)).bearer_auth(token).json(&body).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{path} stream={stream}");
            let text = resp.text().await.unwrap();
            assert!(text.contains("[redacted]"), "{path} stream={stream}: {text}");
            for w in KEY.as_bytes().windows(12).chain(hex.as_bytes().windows(24)) {
                let w = std::str::from_utf8(w).unwrap();
                assert!(!text.contains(w), "{path} stream={stream} still shows {w:?}: {text}");
            }
            // What is not the key is left as it was.
            assert!(text.contains("Authenticate") && text.contains("sk-sim-oth"), "{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_host_headers_and_an_oversized_declared_body_are_refused_at_once() {
    let r = rig().await;
    let (addr, port, token) = (r.proxy.addr, r.proxy.addr.port(), r.token.clone());
    // The allowed Host first, another after it: refused, not served.
    let twice =
        format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: evil.example\r\nConnection: close\r\n\r\n");
    let resp = tokio::task::spawn_blocking(move || raw_http(addr, &twice)).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("more than one Host"), "{resp}");
    // A declared length past the limit: 413 now, not a 408 after waiting for 99 GB.
    let started = std::time::Instant::now();
    let huge = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nContent-Length: 99999999999\r\nConnection: close\r\n\r\n{{"
    );
    let resp = tokio::task::spawn_blocking(move || raw_http(addr, &huge)).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    assert!(started.elapsed() < Duration::from_millis(400), "took {:?}", started.elapsed());
}

/// Reads until the server closes the connection (end of file or reset), or `within` passes.
async fn closed_within(s: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn slow_idle_and_surplus_connections_are_closed_and_give_their_slot_back() {
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;
    let r = rig().await;
    let limits = super::serve::Limits { max_connections: 3, header_timeout: Duration::from_millis(400) };
    let p = start(Arc::clone(&r.ws), Settings { limits, ..Settings::on_port(0) }).await.unwrap();
    let health = format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", p.addr.port());

    // One sends its headers a byte at a time and stops; one finishes a request and stays idle;
    // one connects and says nothing. That is the cap.
    let mut slow = TcpStream::connect(p.addr).await.unwrap();
    slow.write_all(b"GET /hea").await.unwrap();
    let mut idle = TcpStream::connect(p.addr).await.unwrap();
    idle.write_all(health.as_bytes()).await.unwrap();
    let mut silent = TcpStream::connect(p.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // A fourth, a real request, is not dropped: the idle ones yield their slots at once (long
    // before the header timeout) and it is answered.
    let started = std::time::Instant::now();
    let v: Value = c().get(format!("http://{}/health", p.addr)).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["status"], "ok");
    assert!(started.elapsed() < Duration::from_millis(350), "waited {:?}", started.elapsed());

    // Each of the three is closed (asked to yield, or by the header timeout).
    for (name, s) in [("slow headers", &mut slow), ("idle keep-alive", &mut idle), ("silent", &mut silent)] {
        assert!(closed_within(s, Duration::from_secs(2)).await, "{name}: still open after the header timeout");
    }
    // The slots came back: a new client is served.
    let v: Value = c().get(format!("http://{}/health", p.addr)).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["status"], "ok");
    p.stop().await;
}

const PRIVATE: &str = "Write to anna.schmidt@example.org, key sk-ant-api03-CANARYabcdefghijklmnopqrstuv, thanks";
const PRIVATE_VALUES: &[&str] = &["anna.schmidt@example.org", "CANARYabcdefghij"];

/// An agent with the pii policy on `key`, and its token.
fn pii_agent(r: &Rig, name: &str, model: &str, key: &str) -> String {
    let spec = AgentSpec {
        name: name.into(),
        model: model.into(),
        key: Some(key.into()),
        max_tokens: Some(100),
        privacy: Some(crate::privacy::Policy::Pii),
        ..Default::default()
    };
    r.ws.with_unlocked(|c, u| agents::add(c, u, &spec)).unwrap();
    r.ws.with_unlocked(|c, u| tokens::issue(c, u, name, None)).unwrap().token
}

#[tokio::test]
async fn a_pii_agent_through_the_proxy_sends_placeholders_and_returns_the_originals_in_every_shape() {
    let r = rig().await;
    let oa = pii_agent(&r, "p-oa", "gpt-4o-mini", "oa");
    let an = pii_agent(&r, "p-an", "claude-haiku-4-5", "an");
    let openai_body =
        |stream: bool| json!({ "model": "x", "stream": stream, "messages": [{ "role": "user", "content": PRIVATE }] });
    let anthropic_body = |stream: bool| json!({ "model": "x", "max_tokens": 100, "stream": stream, "messages": [{ "role": "user", "content": [{ "type": "text", "text": PRIVATE }] }] });
    // (path, token, body, the simulator behind the agent): passthrough in both protocols, and
    // an Anthropic client of an OpenAI agent (translated).
    let cases = [
        ("/v1/chat/completions", &oa, openai_body(false), &r.openai),
        ("/v1/chat/completions", &oa, openai_body(true), &r.openai),
        ("/v1/messages", &an, anthropic_body(false), &r.anthropic),
        ("/v1/messages", &an, anthropic_body(true), &r.anthropic),
        ("/v1/messages", &oa, anthropic_body(true), &r.openai),
    ];
    for (path, token, body, sim) in cases {
        sim.set_behavior(vec![Behavior { echo: Some(true), ..Default::default() }]);
        let before = sim.requests().len();
        let resp = c()
            .post(r.url(path))
            .bearer_auth(token)
            .header("x-api-key", token.as_str())
            .header("anthropic-version", "2023-06-01")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path} {body}");
        let text = resp.text().await.unwrap();
        assert_eq!(answer_text(&text), PRIVATE, "{path} stream={}: {text}", body["stream"]);
        let sent = sim.requests()[before..].iter().map(|s| s.body.as_ref().unwrap().to_string()).collect::<String>();
        for v in PRIVATE_VALUES {
            assert!(!sent.contains(v), "{v} reached the provider: {sent}");
        }
        assert!(sent.contains("[EMAIL_1]") && sent.contains("[SECRET_1]"), "{sent}");
    }
    let rows = crate::ledger::export(&r.ws.conn(), &Default::default()).unwrap();
    assert!(rows.iter().all(|row| row.redacted == "secret:1 email:1"), "{rows:?}");
}

/// Waits (a bounded while) for `found` to give something.
async fn within<T>(limit: Duration, mut found: impl FnMut() -> Option<T>) -> Option<T> {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if let Some(t) = found() {
            return Some(t);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

#[tokio::test]
async fn a_client_that_hangs_up_before_the_first_byte_ends_the_call_at_once() {
    let r = rig().await;
    // The provider takes 4 s to answer at all.
    r.openai.set_behavior(vec![Behavior { delay_ms: Some(4_000), times: Some(1), ..Default::default() }]);
    let send = c().post(r.url("/v1/chat/completions")).bearer_auth(&r.token).json(&chat_body(true)).send();
    assert!(tokio::time::timeout(Duration::from_millis(300), send).await.is_err(), "nothing came back yet");
    let hung_up = std::time::Instant::now();

    let row = within(Duration::from_secs(3), || {
        crate::ledger::export(&r.ws.conn(), &Default::default()).unwrap().into_iter().find(|r| r.outcome != "in_flight")
    })
    .await
    .expect("the attempt is in the ledger, settled");
    assert!(
        hung_up.elapsed() < Duration::from_millis(1_500),
        "the call ended {:?} after the hang-up",
        hung_up.elapsed()
    );
    assert_eq!(row.outcome, "cut", "the caller left: not a provider failure");
    assert_eq!(row.output_tokens, 0);
    assert!(row.estimated);
    let idle =
        r.ws.agent_statuses().into_iter().any(|s| s.name == "bot" && s.state == crate::activity::AgentState::Idle);
    assert!(idle, "the agent is idle again: {:?}", r.ws.agent_statuses());
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_stream_ends_the_upstream_call_and_is_metered_as_cut() {
    let r = rig().await;
    // A 10 s answer: forty words, a quarter of a second apart.
    let long = (1..=40).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ");
    r.openai.set_behavior(vec![Behavior {
        delay_ms: Some(250),
        answer: Some(long),
        times: Some(1),
        ..Default::default()
    }]);
    let mut res =
        c().post(r.url("/v1/chat/completions")).bearer_auth(&r.token).json(&chat_body(true)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut got = String::new();
    while !got.contains("word1") {
        got.push_str(&String::from_utf8_lossy(&res.chunk().await.unwrap().expect("the stream goes on")));
    }
    let hung_up = std::time::Instant::now();
    drop(res);

    let end = within(Duration::from_secs(5), || r.openai.streams().first().copied())
        .await
        .expect("the upstream stream ended");
    let after = hung_up.elapsed();
    assert!(end.written < end.total / 2, "Keyhold stopped reading upstream: {end:?}");
    assert!(after < Duration::from_secs(1), "the upstream connection closed {after:?} after the client hung up");

    let row = within(Duration::from_secs(2), || {
        crate::ledger::export(&r.ws.conn(), &Default::default()).unwrap().into_iter().next()
    })
    .await
    .expect("the attempt is in the ledger");
    assert_eq!(row.outcome, "cut");
    assert!(row.estimated, "what arrived is counted by Keyhold, marked estimated");
    assert!(row.output_tokens > 0 && row.output_tokens < 40, "only what arrived: {}", row.output_tokens);
    let idle = within(Duration::from_secs(2), || {
        r.ws.agent_statuses().into_iter().find(|s| s.name == "bot" && s.state == crate::activity::AgentState::Idle)
    })
    .await;
    assert!(idle.is_some(), "the agent is idle again: {:?}", r.ws.agent_statuses());
}

/// The text of a Responses answer: its deltas when streamed, its output's text when whole.
fn responses_text(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(v) => v["output"][0]["content"][0]["text"].as_str().unwrap_or("").to_string(),
        Err(_) => body
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter(|v| v["type"] == "response.output_text.delta")
            .map(|v| v["delta"].as_str().unwrap_or("").to_string())
            .collect(),
    }
}

fn responses_events(body: &str) -> Vec<Value> {
    body.lines().filter_map(|l| l.strip_prefix("data: ")).filter_map(|d| serde_json::from_str(d).ok()).collect()
}

#[tokio::test]
async fn a_responses_request_passes_through_to_openai_byte_for_byte_and_is_metered_exactly() {
    let r = rig().await;
    for stream in [true, false] {
        let body = json!({ "model": "gpt-4o-mini", "stream": stream, "instructions": "Be brief. cache-me",
                           "input": [{ "type": "message", "role": "user", "content": [{ "type": "input_text", "text": "hi" }] }] });
        let direct =
            c().post(format!("{}/responses", r.openai.base_url())).bearer_auth(KEY).json(&body).send().await.unwrap();
        assert_eq!(direct.status(), 200);
        let direct = direct.text().await.unwrap();
        let proxied = c().post(r.url("/v1/responses")).bearer_auth(&r.token).json(&body).send().await.unwrap();
        assert_eq!(proxied.status(), 200);
        let proxied = proxied.text().await.unwrap();
        assert_eq!(proxied, direct, "stream={stream}");
        assert_eq!(responses_text(&proxied), sim::ANSWER);
    }
    let seen: Vec<_> = r.openai.requests().into_iter().filter(|s| s.path == "/v1/responses").collect();
    assert!(seen.iter().all(|s| s.authorized && s.model.as_deref() == Some("gpt-4o-mini")));
    let rows = crate::ledger::export(&r.ws.conn(), &Default::default()).unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!((row.outcome.as_str(), row.estimated), ("ok", false));
        // input_tokens includes the cached half: Keyhold keeps them apart.
        assert!(row.cache_read_tokens > 0 && row.input_tokens > 0, "{row:?}");
        assert_eq!(row.output_tokens, 8);
    }
}

#[tokio::test]
async fn a_responses_caller_of_an_anthropic_agent_gets_the_published_event_sequence() {
    let r = rig().await;
    let body = json!({ "model": "whatever", "stream": true, "input": "hi" });
    let res = c().post(r.url("/v1/responses")).bearer_auth(&r.anthropic_token).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let events = responses_events(&text);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"response.created"));
    assert_eq!(kinds.last(), Some(&"response.completed"));
    assert!(events.iter().enumerate().all(|(i, e)| e["sequence_number"] == i as u64), "{text}");
    assert_eq!(responses_text(&text), sim::ANSWER);
    assert!(events.last().unwrap()["response"]["usage"]["output_tokens"].as_i64().unwrap() > 0);
    // Not streamed: one Response object.
    let whole: Value = c()
        .post(r.url("/v1/responses"))
        .bearer_auth(&r.anthropic_token)
        .json(&json!({ "model": "x", "input": "hi" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((whole["object"].as_str(), whole["status"].as_str()), (Some("response"), Some("completed")));
    assert_eq!(whole["output"][0]["content"][0]["text"], sim::ANSWER);
}

#[tokio::test]
async fn a_pii_agent_hides_private_values_in_a_responses_passthrough_and_restores_them_in_the_events() {
    let r = rig().await;
    let oa = pii_agent(&r, "p-resp", "gpt-4o-mini", "oa");
    for stream in [true, false] {
        r.openai.set_behavior(vec![Behavior { echo: Some(true), ..Default::default() }]);
        let before = r.openai.requests().len();
        let body = json!({ "model": "x", "stream": stream,
                           "input": [{ "type": "message", "role": "user", "content": [{ "type": "input_text", "text": PRIVATE }] }] });
        let res = c().post(r.url("/v1/responses")).bearer_auth(&oa).json(&body).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let text = res.text().await.unwrap();
        assert_eq!(responses_text(&text), PRIVATE, "stream={stream}: {text}");
        if stream {
            let events = responses_events(&text);
            assert!(events.iter().enumerate().all(|(i, e)| e["sequence_number"] == i as u64), "{text}");
            let done = events.iter().find(|e| e["type"] == "response.output_text.done").unwrap();
            assert_eq!(done["text"], PRIVATE);
            assert_eq!(events.last().unwrap()["response"]["output"][0]["content"][0]["text"], PRIVATE);
        }
        let sent =
            r.openai.requests()[before..].iter().map(|s| s.body.as_ref().unwrap().to_string()).collect::<String>();
        for v in PRIVATE_VALUES {
            assert!(!sent.contains(v), "{v} reached the provider: {sent}");
        }
        assert!(sent.contains("[EMAIL_1]") && sent.contains("[SECRET_1]"), "{sent}");
    }
}

#[tokio::test]
async fn embeddings_go_through_the_agents_key_are_metered_and_hide_private_values() {
    let r = rig().await;
    let body = json!({ "model": "text-embedding-3-small", "input": ["first text", "second text"] });
    let res = c().post(r.url("/v1/embeddings")).bearer_auth(&r.token).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert!(v["data"][0]["embedding"].as_array().unwrap().len() > 1);
    let seen = r.openai.requests().into_iter().find(|s| s.path == "/v1/embeddings").unwrap();
    assert!(seen.authorized, "the agent's own key");
    let rows = crate::ledger::export(&r.ws.conn(), &Default::default()).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].outcome.as_str(), rows[0].model.as_str(), rows[0].mode.as_str()),
        ("ok", "text-embedding-3-small", "proxy")
    );
    assert_eq!(rows[0].input_tokens, v["usage"]["prompt_tokens"].as_i64().unwrap(), "metered as the provider counted");

    // A pii agent's values never reach the provider: their placeholders are what is embedded.
    let pii = pii_agent(&r, "p-emb", "gpt-4o-mini", "oa");
    let before = r.openai.requests().len();
    let res = c()
        .post(r.url("/v1/embeddings"))
        .bearer_auth(&pii)
        .json(&json!({ "model": "text-embedding-3-small", "input": PRIVATE }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let sent = r.openai.requests()[before..].iter().map(|s| s.body.as_ref().unwrap().to_string()).collect::<String>();
    for v in PRIVATE_VALUES {
        assert!(!sent.contains(v), "{v} reached the provider: {sent}");
    }
    // An agent on Anthropic (no embeddings) says so, and sends nothing.
    let res = c()
        .post(r.url("/v1/embeddings"))
        .bearer_auth(&r.anthropic_token)
        .json(&json!({ "model": "text-embedding-3-small", "input": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    assert!(res.text().await.unwrap().contains("can embed"));
}

#[tokio::test]
async fn a_responses_stream_cut_inside_characters_and_crlf_passes_through_byte_for_byte() {
    let r = rig().await;
    for crlf in [false, true] {
        let body = json!({ "model": "gpt-4o-mini", "stream": true, "input": "hi" });
        r.openai.set_behavior(cut_writes(crlf));
        let direct =
            c().post(format!("{}/responses", r.openai.base_url())).bearer_auth(KEY).json(&body).send().await.unwrap();
        let direct = direct.text().await.unwrap();
        r.openai.set_behavior(cut_writes(crlf));
        let proxied = c().post(r.url("/v1/responses")).bearer_auth(&r.token).json(&body).send().await.unwrap();
        assert_eq!(proxied.status(), 200);
        let proxied = proxied.text().await.unwrap();
        assert_eq!(proxied, direct, "crlf={crlf}");
        assert_eq!(responses_text(&proxied.replace("\r\n", "\n")), NON_ASCII);
    }
    let rows = crate::ledger::export(&r.ws.conn(), &Default::default()).unwrap();
    assert!(rows.iter().all(|row| row.outcome == "ok" && !row.estimated), "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_ledger_row_cannot_be_written_gets_no_success_and_its_spend_still_counts() {
    let r = rig().await;
    // Another program holds the database's write lock past Keyhold's busy timeout.
    let other = crate::db::open(&r.ws.data_dir().db_path()).unwrap();
    let rows = |r: &Rig| crate::ledger::export(&r.ws.conn(), &Default::default()).unwrap();

    // Before the call: its row cannot be opened, so nothing is sent at all.
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let sent_before = r.openai.requests().len();
    let refused =
        c().post(r.url("/v1/chat/completions")).bearer_auth(&r.token).json(&chat_body(false)).send().await.unwrap();
    assert_eq!(refused.status(), 503);
    let text = refused.text().await.unwrap();
    assert!(text.contains("Nothing was sent") && text.contains("could not write this call to its ledger"), "{text}");
    assert_eq!(r.openai.requests().len(), sent_before, "a call Keyhold cannot count is not made");
    other.execute_batch("ROLLBACK").unwrap();

    // While the provider answers: the row was opened, then the lock is taken, so how the call
    // ended cannot be written.
    for stream in [false, true] {
        r.openai.set_behavior(vec![Behavior { delay_ms: Some(400), times: Some(1), ..Default::default() }]);
        let (url, token) = (r.url("/v1/chat/completions"), r.token.clone());
        let before = rows(&r).len();
        let call = tokio::spawn(async move {
            let resp = c().post(url).bearer_auth(token).json(&chat_body(stream)).send().await.unwrap();
            (resp.status(), resp.text().await.unwrap())
        });
        within(Duration::from_secs(3), || (rows(&r).len() > before).then_some(()))
            .await
            .expect("the attempt's row is written before it is sent");
        assert_eq!(rows(&r).last().map(|row| row.outcome.clone()).as_deref(), Some("in_flight"));
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let (status, body) = call.await.unwrap();
        if stream {
            // Same protocol: the answer's events arrive, its closing [DONE] does not; an error
            // in OpenAI's stream format ends it instead.
            assert!(!body.contains("[DONE]"), "{body}");
        } else {
            assert_eq!(status, 503);
        }
        assert!(body.contains("could not write this call to its ledger"), "{body}");
        other.execute_batch("ROLLBACK").unwrap();
    }
    // Both spends are held against the budget until they land.
    let agent = crate::agents::find(&r.ws.conn(), "bot").unwrap();
    assert!(r.ws.unlanded_cost(&agent.id) > Money::ZERO);
    drop(other);
    let ok =
        c().post(r.url("/v1/chat/completions")).bearer_auth(&r.token).json(&chat_body(false)).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        rows(&r).iter().filter(|row| row.agent == "bot" && row.outcome == "ok").count(),
        3,
        "the held rows landed with the next: {:?}",
        rows(&r).iter().map(|row| row.outcome.clone()).collect::<Vec<_>>()
    );
    assert_eq!(r.ws.unlanded_cost(&agent.id), Money::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_chunked_body_is_a_bad_request_not_a_size() {
    let r = rig().await;
    let (addr, port, token) = (r.proxy.addr, r.proxy.addr.port(), r.token.clone());
    let bad = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n"
    );
    let resp = tokio::task::spawn_blocking(move || raw_http(addr, &bad)).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("chunked framing is malformed") && !resp.contains("MiB"), "{resp}");
}

/// An outside program's own connection to Keyhold's database (an AI coding agent with shell
/// access, say): it can write any row, and has no passphrase.
fn outsider(r: &Rig) -> rusqlite::Connection {
    crate::db::open(&r.ws.data_dir().db_path()).unwrap()
}

#[tokio::test]
async fn a_revoked_token_written_back_with_its_earlier_tag_is_refused_and_named() {
    let r = rig().await;
    let issued = r.ws.with_unlocked(|c, u| tokens::issue(c, u, "bot", Some("editor"))).unwrap();
    let before: (Option<String>, Vec<u8>) = outsider(&r)
        .query_row("SELECT revoked_at, mac FROM agent_tokens WHERE id = ?1", [&issued.info.id], |x| {
            Ok((x.get(0)?, x.get(1)?))
        })
        .unwrap();
    crate::app::agents::revoke_token(&r.ws, &issued.info.id).unwrap();
    let resp = c().get(r.url("/v1/models")).bearer_auth(&issued.token).send().await.unwrap();
    assert_eq!(resp.status(), 401, "revoked");
    // The earlier row, tag and all, written back.
    outsider(&r)
        .execute(
            "UPDATE agent_tokens SET revoked_at = ?1, mac = ?2 WHERE id = ?3",
            rusqlite::params![before.0, before.1, issued.info.id],
        )
        .unwrap();
    let resp = c().get(r.url("/v1/models")).bearer_auth(&issued.token).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    let text = resp.text().await.unwrap();
    assert!(text.contains("token \\\"editor of agent bot\\\" was replaced by an earlier or altered copy"), "{text}");
    // Every token is refused until it is resolved (fail closed), and a lock and unlock does not
    // forget it: the saved configuration is in the vault, not the database.
    let resp =
        c().post(r.url("/v1/chat/completions")).bearer_auth(&r.token).json(&chat_body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    r.ws.lock();
    r.ws.unlock(&Passphrase::new("proxy passphrase".into())).unwrap();
    assert!(r.ws.check_configuration().is_err());
    // Revoking it again in Keyhold resolves it.
    crate::app::agents::revoke_token(&r.ws, &issued.info.id).unwrap();
    assert!(r.ws.configuration_differences().unwrap().is_empty());
    let resp =
        c().post(r.url("/v1/chat/completions")).bearer_auth(&r.token).json(&chat_body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_removed_key_brought_back_a_deleted_agent_and_a_replayed_offline_off_are_each_named() {
    let r = rig().await;
    let o = outsider(&r);
    o.execute_batch("CREATE TABLE kept AS SELECT * FROM provider_keys WHERE label = 'an'").unwrap();
    r.ws.with_unlocked(|c, u| agents::remove(c, u, "claude")).unwrap();
    crate::app::keys::remove(&r.ws, "an").unwrap();
    o.execute_batch("INSERT INTO provider_keys SELECT * FROM kept").unwrap();
    o.execute("DELETE FROM agents WHERE name = 'bot'", []).unwrap();
    // Offline mode off (signed), then on; the signed "off" is written back.
    r.ws.set_offline(false).unwrap();
    let off: (String, Vec<u8>) = o
        .query_row("SELECT value, mac FROM settings WHERE key = 'offline'", [], |x| Ok((x.get(0)?, x.get(1)?)))
        .unwrap();
    r.ws.set_offline(true).unwrap();
    o.execute("UPDATE settings SET value = ?1, mac = ?2 WHERE key = 'offline'", rusqlite::params![off.0, off.1])
        .unwrap();
    let lines = r.ws.configuration_differences().unwrap();
    assert!(lines.iter().any(|l| l == "key \"an\" was added or brought back outside Keyhold"), "{lines:?}");
    assert!(lines.iter().any(|l| l == "agent \"bot\" was deleted outside Keyhold"), "{lines:?}");
    assert!(
        lines.iter().any(|l| l == "setting \"offline mode\" was replaced by an earlier or altered copy"),
        "{lines:?}"
    );
    // The user made these changes: accepting takes the database as it is, and says what it took.
    let accepted = r.ws.accept_configuration().unwrap();
    assert_eq!(accepted, lines);
    assert!(r.ws.check_configuration().is_ok());
}

#[tokio::test]
async fn the_window_is_told_what_was_put_back_outside_keyhold() {
    let r = rig().await;
    outsider(&r).execute("DELETE FROM agents WHERE name = 'claude'", []).unwrap();
    let info = r.ws.info();
    assert!(
        info.changed_outside.iter().any(|l| l == "agent \"claude\" was deleted outside Keyhold"),
        "{:?}",
        info.changed_outside
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_fetched_by_url_reserves_the_whole_context_window_under_concurrent_requests() {
    let r = rig().await;
    // gpt-4o-mini: a 128,000-token window at $0.15 per million is $0.0192 of input; a budget of
    // $0.05 holds two such requests whatever their body says, and plenty of plain ones.
    let spec = AgentSpec {
        name: "reader".into(),
        model: "gpt-4o-mini".into(),
        key: Some("oa".into()),
        max_tokens: Some(100),
        budget_usd: Some("0.05".into()),
        when_over: Some(WhenOver::Refuse),
        ..Default::default()
    };
    r.ws.with_unlocked(|c, u| agents::add(c, u, &spec)).unwrap();
    let t = r.ws.with_unlocked(|c, u| tokens::issue(c, u, "reader", None)).unwrap().token;
    let by_url = json!({ "model": "x", "messages": [{ "role": "user", "content": [
        { "type": "text", "text": "Summarise this" },
        { "type": "image_url", "image_url": { "url": "https://example.org/a-huge-scan.png" } } ] }] });
    // The simulator answers slowly, so all fifty are in flight together.
    r.openai.set_behavior(vec![Behavior { delay_ms: Some(300), times: Some(100), ..Default::default() }]);
    let all = (0..50).map(|_| {
        let (url, t, b) = (r.url("/v1/chat/completions"), t.clone(), by_url.clone());
        tokio::spawn(async move { c().post(url).bearer_auth(t).json(&b).send().await.unwrap().status().as_u16() })
    });
    let statuses: Vec<u16> = futures_util::future::join_all(all).await.into_iter().map(|s| s.unwrap()).collect();
    let answered = statuses.iter().filter(|s| **s == 200).count();
    assert!((1..=2).contains(&answered), "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 429), "{statuses:?}");
    // A plain request still fits beside them.
    r.openai.set_behavior(vec![]);
    let resp = c().post(r.url("/v1/chat/completions")).bearer_auth(&t).json(&chat_body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_set_to_refuse_fetched_documents_under_its_budget_sends_none_and_says_why() {
    let r = rig().await;
    let spec = |name: &str, budget: Option<&str>| AgentSpec {
        name: name.into(),
        model: "gpt-4o-mini".into(),
        key: Some("oa".into()),
        max_tokens: Some(100),
        budget_usd: budget.map(str::to_string),
        fetched: Some(Fetched::Refuse),
        ..Default::default()
    };
    r.ws.with_unlocked(|c, u| agents::add(c, u, &spec("careful", Some("5")))).unwrap();
    r.ws.with_unlocked(|c, u| agents::add(c, u, &spec("unbudgeted", None))).unwrap();
    let careful = r.ws.with_unlocked(|c, u| tokens::issue(c, u, "careful", None)).unwrap().token;
    let free = r.ws.with_unlocked(|c, u| tokens::issue(c, u, "unbudgeted", None)).unwrap().token;
    let by_url = json!({ "model": "x", "messages": [{ "role": "user", "content": [
        { "type": "text", "text": "Summarise this" },
        { "type": "image_url", "image_url": { "url": "https://example.org/a-huge-scan.png" } } ] }] });
    let before = r.openai.requests().len();
    let resp = c().post(r.url("/v1/chat/completions")).bearer_auth(&careful).json(&by_url).send().await.unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert!(status == 403 || status == 429, "{status} {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("fetch") && message.contains("refuses"), "{body}");
    assert_eq!(r.openai.requests().len(), before, "nothing reached the provider");
    // Plain requests still go, and an agent without a budget has nothing to hold.
    let plain =
        c().post(r.url("/v1/chat/completions")).bearer_auth(&careful).json(&chat_body(false)).send().await.unwrap();
    assert_eq!(plain.status(), 200);
    let unbudgeted = c().post(r.url("/v1/chat/completions")).bearer_auth(&free).json(&by_url).send().await.unwrap();
    assert_eq!(unbudgeted.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_idle_connections_then_one_real_request_gets_its_answer() {
    use tokio::net::TcpStream;
    let r = rig().await;
    let mut idle = Vec::new();
    for _ in 0..300 {
        if let Ok(s) = TcpStream::connect(r.proxy.addr).await {
            idle.push(s);
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let resp =
        c().post(r.url("/v1/chat/completions")).bearer_auth(&r.token).json(&chat_body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(2), "waited {:?}", started.elapsed());
}

#[tokio::test]
async fn at_the_cap_with_every_connection_busy_a_new_one_gets_a_503_not_a_silent_close() {
    let r = rig().await;
    let limits = super::serve::Limits { max_connections: 1, header_timeout: Duration::from_secs(5) };
    let p = start(Arc::clone(&r.ws), Settings { limits, ..Settings::on_port(0) }).await.unwrap();
    r.openai.set_behavior(vec![Behavior { delay_ms: Some(3000), times: Some(1), ..Default::default() }]);
    let url = format!("http://{}/v1/chat/completions", p.addr);
    let (u, t) = (url.clone(), r.token.clone());
    let busy =
        tokio::spawn(
            async move { c().post(u).bearer_auth(t).json(&chat_body(false)).send().await.map(|r| r.status()) },
        );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let addr = p.addr;
    let reply = tokio::task::spawn_blocking(move || raw_http(addr, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
        .await
        .unwrap();
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    assert!(reply.contains("every connection busy"), "{reply}");
    assert_eq!(busy.await.unwrap().unwrap(), 200, "the busy one finished its answer");
    p.stop().await;
}

/// The agent "tight" with a budget that fits one call of [`chat_body`] and not two.
fn one_call_budget(r: &Rig) -> String {
    let price =
        r.ws.with_unlocked(|c, u| crate::prices::lookup(c, u, "openai", "gpt-4o-mini", false)).unwrap().unwrap();
    let input = serde_json::to_vec(&chat_body(false)).unwrap().len().div_ceil(2) as i64 + 8;
    let worst = crate::budget::worst_case(&price, input, 100);
    budgeted(r, "tight", "gpt-4o-mini", "oa", worst + Money::from_nanos(2_000))
}

async fn send(r: &Rig, token: &str) -> (u16, String) {
    let resp = c().post(r.url("/v1/chat/completions")).bearer_auth(token).json(&chat_body(false)).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn deleting_an_agents_ledger_rows_does_not_reopen_its_spent_budget_until_the_user_acknowledges() {
    let r = rig().await;
    let t = one_call_budget(&r);
    assert_eq!(send(&r, &t).await.0, 200);
    assert_eq!(send(&r, &t).await.0, 429, "spent");
    // Something running as the user erases the agent's spend.
    let agent = crate::agents::find(&r.ws.conn(), "tight").unwrap();
    let outside = crate::db::open(&r.ws.data_dir().db_path()).unwrap();
    outside.execute("DELETE FROM ledger WHERE agent_id = ?1", [&agent.id]).unwrap();
    let (status, text) = send(&r, &t).await;
    assert_ne!(status, 200, "{text}");
    assert!(text.contains("usage ledger was changed outside Keyhold"), "{text}");
    let shown = r.ws.info().changed_outside;
    assert!(shown.iter().any(|l| l.contains("agent \"tight\"'s spend today")), "{shown:?}");
    // An agent without a budget is not held back.
    assert_eq!(send(&r, &r.token).await.0, 200);
    // The user acknowledges: the ledger as it is now counts again.
    let accepted = r.ws.accept_configuration().unwrap();
    assert!(accepted.iter().any(|l| l.contains("spend today")), "{accepted:?}");
    assert!(r.ws.info().changed_outside.is_empty());
    assert_eq!(send(&r, &t).await.0, 200);
}

#[tokio::test]
async fn a_ledger_row_edited_while_locked_is_named_at_unlock_and_holds_budgets_closed() {
    let r = rig().await;
    let t = one_call_budget(&r);
    assert_eq!(send(&r, &t).await.0, 200);
    r.ws.lock();
    let outside = crate::db::open(&r.ws.data_dir().db_path()).unwrap();
    outside.execute("UPDATE ledger SET cost_nano = 0", []).unwrap();
    r.ws.unlock(&Passphrase::new("proxy passphrase".into())).unwrap();
    let shown = r.ws.info().changed_outside;
    assert_eq!(shown, vec!["usage ledger row 1 was changed outside Keyhold".to_string()]);
    let (status, text) = send(&r, &t).await;
    assert_ne!(status, 200, "{text}");
    assert!(text.contains("usage ledger row 1 was changed outside Keyhold"), "{text}");
}

#[tokio::test]
async fn ledger_rows_deleted_from_the_end_while_locked_are_named_at_unlock() {
    let r = rig().await;
    for _ in 0..3 {
        assert_eq!(send(&r, &r.token).await.0, 200);
    }
    r.ws.lock();
    crate::db::open(&r.ws.data_dir().db_path()).unwrap().execute("DELETE FROM ledger WHERE id > 1", []).unwrap();
    r.ws.unlock(&Passphrase::new("proxy passphrase".into())).unwrap();
    assert_eq!(
        r.ws.info().changed_outside,
        vec!["the last usage ledger rows Keyhold wrote (rows 2 to 3) were deleted outside Keyhold".to_string()]
    );
}

#[tokio::test]
async fn a_model_moved_into_another_keys_list_is_named_and_reroutes_nothing() {
    let r = rig().await;
    // An agent on its provider's default key: the key that lists its model decides where it goes.
    let spec =
        AgentSpec { name: "def".into(), model: "gpt-4o-mini".into(), max_tokens: Some(50), ..Default::default() };
    r.ws.with_unlocked(|c, u| agents::add(c, u, &spec)).unwrap();
    let t = r.ws.with_unlocked(|c, u| tokens::issue(c, u, "def", None)).unwrap().token;
    // Another program lists the model under the Anthropic key.
    outsider(&r).execute("UPDATE provider_keys SET models = '[\"gpt-4o-mini\"]' WHERE label = 'an'", []).unwrap();
    let before = r.anthropic.requests().len();
    let resp = c().post(r.url("/v1/chat/completions")).bearer_auth(&t).json(&chat_body(false)).send().await.unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(r.anthropic.requests().len(), before, "the prompt was rerouted to another key: {body}");
    assert_ne!(status, 200, "{body}");
    let message = serde_json::from_str::<Value>(&body).unwrap()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("The key \"an\" was changed outside Keyhold"), "{message}");
}

#[tokio::test]
async fn a_dictionary_wiped_with_its_tag_is_named() {
    let r = rig().await;
    r.ws.with_unlocked(|c, u| crate::privacy::dictionary::add(c, u, &[Zeroizing::new("Project Nightjar".into())]))
        .unwrap();
    outsider(&r)
        .execute_batch("DELETE FROM dictionary_terms; DELETE FROM settings WHERE key = 'integrity.dictionary'")
        .unwrap();
    let lines = r.ws.configuration_differences().unwrap();
    assert!(lines.iter().any(|l| l.contains("dictionary")), "{lines:?}");
}

#[tokio::test]
async fn a_phone_region_deleted_or_rolled_back_by_hand_is_named() {
    use crate::privacy::region::{self, Choice};
    let r = rig().await;
    // Off first, then the user's country: the older row and its tag are what a replay writes back.
    r.ws.with_unlocked(|c, u| region::set(c, u, &Choice::Off)).unwrap();
    let older: (String, Vec<u8>) = outsider(&r)
        .query_row("SELECT value, mac FROM settings WHERE key = 'privacy.phone_region'", [], |x| {
            Ok((x.get(0)?, x.get(1)?))
        })
        .unwrap();
    r.ws.with_unlocked(|c, u| region::set(c, u, &Choice::parse("DE").unwrap())).unwrap();
    assert!(r.ws.configuration_differences().unwrap().is_empty());
    outsider(&r)
        .execute(
            "UPDATE settings SET value = ?1, mac = ?2 WHERE key = 'privacy.phone_region'",
            rusqlite::params![older.0, older.1],
        )
        .unwrap();
    let lines = r.ws.configuration_differences().unwrap();
    assert!(lines.iter().any(|l| l.contains("the region for phone numbers")), "a replayed row: {lines:?}");
    outsider(&r).execute("DELETE FROM settings WHERE key = 'privacy.phone_region'", []).unwrap();
    let lines = r.ws.configuration_differences().unwrap();
    assert!(lines.iter().any(|l| l.contains("the region for phone numbers")), "a deleted row: {lines:?}");
}

/// The last ledger row's cost, recomputed from its tokens at `price`, plus `fee`.
fn tokens_of(row: &crate::ledger::ExportRow) -> crate::prices::Tokens {
    crate::prices::Tokens {
        input: row.input_tokens,
        output: row.output_tokens,
        cache_read: row.cache_read_tokens,
        cache_write: row.cache_write_tokens,
    }
}

#[tokio::test]
async fn web_searches_the_provider_reports_are_metered_at_their_fee_whole_and_streamed() {
    let r = rig().await;
    let price =
        |p: &str, m: &str| r.ws.with_unlocked(|c, u| crate::prices::lookup(c, u, p, m, false)).unwrap().unwrap();
    let last = || crate::ledger::export(&r.ws.conn(), &Default::default()).unwrap().pop().unwrap();
    for stream in [false, true] {
        // Anthropic reports them in usage.server_tool_use: $10 per 1,000.
        r.anthropic.set_behavior(vec![Behavior { web_searches: Some(3), times: Some(1), ..Default::default() }]);
        let body = json!({ "model": "x", "max_tokens": 100, "stream": stream,
            "tools": [{ "type": "web_search_20250305", "name": "web_search", "max_uses": 5 }],
            "messages": [{ "role": "user", "content": "what is new today?" }] });
        let resp =
            c().post(r.url("/v1/messages")).header("x-api-key", &r.anthropic_token).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.text().await.unwrap();
        let row = last();
        assert_eq!((row.outcome.as_str(), row.tools.as_str()), ("ok", "web_search:3"), "stream {stream}: {row:?}");
        let fee = Money::from_nanos(30_000_000);
        assert_eq!(row.cost_usd, Some(price("anthropic", "claude-haiku-4-5").cost(tokens_of(&row)) + fee));

        // The Responses API makes each search an output item: gpt-4o-mini's are $25 per 1,000.
        r.openai.set_behavior(vec![Behavior { web_searches: Some(2), times: Some(1), ..Default::default() }]);
        let body = json!({ "model": "x", "stream": stream, "tools": [{ "type": "web_search" }], "input": "news?" });
        let resp = c().post(r.url("/v1/responses")).bearer_auth(&r.token).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.text().await.unwrap();
        let row = last();
        assert_eq!(row.tools, "web_search:2", "stream {stream}: {row:?}");
        let fee = Money::from_nanos(50_000_000);
        assert_eq!(row.cost_usd, Some(price("openai", "gpt-4o-mini").cost(tokens_of(&row)) + fee));
        assert!(!row.estimated, "both fees are in the price file");
    }
    // Offered but not used: no fee.
    let body = json!({ "model": "x", "max_tokens": 100, "tools": [{ "type": "web_search_20250305", "name": "web_search" }],
        "messages": [{ "role": "user", "content": "hello" }] });
    c().post(r.url("/v1/messages")).header("x-api-key", &r.anthropic_token).json(&body).send().await.unwrap();
    let row = last();
    assert_eq!(row.tools, "");
    assert_eq!(row.cost_usd, Some(price("anthropic", "claude-haiku-4-5").cost(tokens_of(&row))));
}

#[tokio::test]
async fn a_budget_holds_the_fee_of_every_search_a_request_allows_and_the_results_it_brings_in() {
    let r = rig().await;
    // Search results are input Keyhold never sees: the model's context window counts for them
    // (claude-haiku-4-5: 200,000 tokens at its dearest input rate, $1.25 per million, $0.25),
    // and each allowed search adds its fee ($0.01). $0.30 fits three searches, not ten.
    let token = budgeted(&r, "searcher", "claude-haiku-4-5", "an", Money::parse("0.30").unwrap());
    let body = |max_uses: Option<u32>| {
        let mut tool = json!({ "type": "web_search_20250305", "name": "web_search" });
        if let Some(n) = max_uses {
            tool["max_uses"] = json!(n);
        }
        json!({ "model": "x", "max_tokens": 100, "tools": [tool], "messages": [{ "role": "user", "content": "news?" }] })
    };
    let send = |b: Value| c().post(r.url("/v1/messages")).header("x-api-key", &token).json(&b).send();
    assert_eq!(send(body(Some(10))).await.unwrap().status(), 429, "ten searches' fees do not fit");
    assert_eq!(send(body(None)).await.unwrap().status(), 429, "no bound: ten are counted");
    assert_eq!(send(body(Some(3))).await.unwrap().status(), 200, "three do");
    // A plain request of the same size reserves only its own tokens.
    let plain = json!({ "model": "x", "max_tokens": 100, "messages": [{ "role": "user", "content": "news?" }] });
    assert_eq!(send(plain).await.unwrap().status(), 200);
}
