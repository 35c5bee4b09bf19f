//! The router against the provider simulators (real HTTP on 127.0.0.1), a real vault and ledger.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::*;
use crate::agents::{self, Agent, AgentSpec, WhenOver};
use crate::budget::worst_case;
use crate::datadir::DataDir;
use crate::keys;
use crate::ledger::{self, Mode};
use crate::money::Money;
use crate::passphrase::Passphrase;
use crate::prices::{self, Tokens};
use crate::providers::canonical::{RawBody, Role, Turn};
use crate::providers::Protocol;
use crate::vault::{kdf::KdfParams, snapshot};
use crate::workspace::Workspace;
use chrono::Utc;
use keyhold_sim::{self as sim, Behavior, Flavor};

const OPENAI_KEY: &str = "sk-sim-router-openai";
const ANTHROPIC_KEY: &str = "sk-ant-sim-router";

struct Rig {
    _tmp: tempfile::TempDir,
    ws: Arc<Workspace>,
    openai: sim::Running,
    anthropic: sim::Running,
    ollama: sim::Running,
}

async fn rig() -> Rig {
    snapshot::use_fast_encryption_for_tests();
    let tmp = tempfile::tempdir().unwrap();
    let ws = Workspace::open_with(DataDir::resolve(Some(tmp.path().to_path_buf())).unwrap(), KdfParams::FAST_FOR_TESTS)
        .unwrap();
    ws.create_vault(&Passphrase::new("router passphrase".into()), None).unwrap();
    let addr = "127.0.0.1:0".parse().unwrap();
    let openai = sim::start(Flavor::OpenAi, addr, vec![OPENAI_KEY.into()]).await.unwrap();
    let anthropic = sim::start(Flavor::Anthropic, addr, vec![ANTHROPIC_KEY.into()]).await.unwrap();
    let ollama = sim::start(Flavor::Ollama, addr, vec![]).await.unwrap();
    for (provider, label, url, key) in [
        ("openai", "oa", openai.base_url(), Some(OPENAI_KEY)),
        ("anthropic", "an", anthropic.base_url(), Some(ANTHROPIC_KEY)),
        ("ollama", "local", ollama.base_url(), None),
    ] {
        ws.with_unlocked(|c, u| {
            keys::add(c, u, provider, label, Some(&url), key.map(|k| Zeroizing::new(k.to_string())), Default::default())
        })
        .unwrap();
    }
    Rig { _tmp: tmp, ws: Arc::new(ws), openai, anthropic, ollama }
}

fn agent(
    r: &Rig,
    name: &str,
    model: &str,
    key: &str,
    fallback: &[&str],
    budget: Option<&str>,
    when_over: WhenOver,
) -> Agent {
    let spec = AgentSpec {
        name: name.into(),
        model: model.into(),
        key: Some(key.into()),
        max_tokens: Some(100),
        fallback: fallback.iter().map(|s| s.to_string()).collect(),
        budget_usd: budget.map(str::to_string),
        when_over: Some(when_over),
        ..Default::default()
    };
    r.ws.with_unlocked(|c, u| agents::add(c, u, &spec)).unwrap().agent
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest { turns: vec![Turn::new(Role::User, text)], max_tokens: 100, ..Default::default() }
}

async fn run(r: &Rig, a: &Agent, text: &str) -> (Result<Reply, RouterError>, String) {
    let mut out = String::new();
    let res = call(&r.ws, a, ask(text), Mode::Agent, &mut |t: &str| out.push_str(t)).await;
    (res, out)
}

/// What a passthrough caller receives: the upstream's bytes.
#[derive(Default)]
struct RawSink(Vec<u8>);

impl AnswerSink for RawSink {
    fn text(&mut self, _: &str) -> Flow {
        Flow::Continue
    }

    fn raw(&mut self, event: &bytes::Bytes) -> Flow {
        self.0.extend_from_slice(event);
        Flow::Continue
    }
}

fn ledger(r: &Rig) -> Vec<ledger::ExportRow> {
    ledger::export(&r.ws.conn(), &ledger::Filter::default()).unwrap()
}

#[tokio::test]
async fn openai_cached_usage_is_metered_exactly_and_streamed() {
    let r = rig().await;
    let a = agent(&r, "A", "gpt-4o-mini", "oa", &[], None, WhenOver::Local);
    let (res, text) = run(&r, &a, "one two three four cache-me six seven eight").await;
    let reply = res.unwrap();
    assert_eq!(text, sim::ANSWER);
    // 8 prompt tokens of which 4 cached; 8 output. (4×0.15 + 8×0.60 + 4×0.075) / 1e6 USD
    assert_eq!(reply.tokens, Tokens { input: 4, output: 8, cache_read: 4, cache_write: 0 });
    assert_eq!(reply.cost_usd.map(|c| c.to_string()).as_deref(), Some("0.0000057"));
    assert!(!reply.estimated && !reply.local);
    let rows = ledger(&r);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].outcome.as_str(),
            rows[0].cost_usd.map(|c| c.to_string()).unwrap_or_default().as_str(),
            rows[0].cache_read_tokens
        ),
        ("ok", "0.0000057", 4)
    );
    // The router asked upstream for usage in the stream.
    assert!(r.openai.requests()[0].stream);
}

#[tokio::test]
async fn anthropic_cache_reads_and_writes_are_priced_at_their_own_rates() {
    let r = rig().await;
    let a = agent(&r, "B", "claude-haiku-4-5", "an", &[], None, WhenOver::Local);
    let (res, _) = run(&r, &a, "one two three four cache-me six seven eight").await;
    let reply = res.unwrap();
    // 8 words: 4 cache read, 2 cache write, 2 plain input; 8 output (cumulative, not summed).
    assert_eq!(reply.tokens, Tokens { input: 2, output: 8, cache_read: 4, cache_write: 2 });
    // (2×1 + 8×5 + 4×0.10 + 2×1.25) / 1e6 USD = 0.0000449
    assert_eq!(reply.cost_usd.map(|c| c.to_string()).as_deref(), Some("0.0000449"));
}

#[tokio::test]
async fn every_failure_before_the_first_byte_moves_to_the_next_step_and_is_recorded() {
    let r = rig().await;
    let a = agent(&r, "C", "claude-haiku-4-5", "an", &["oa:gpt-4o-mini"], None, WhenOver::Local);
    for status in [408u16, 429, 500, 503, 529, 401] {
        r.anthropic.set_behavior(vec![Behavior {
            status: Some(status),
            retry_after: Some(1),
            times: Some(1),
            ..Default::default()
        }]);
        let (res, text) = run(&r, &a, "hello").await;
        let reply = res.unwrap_or_else(|e| panic!("{status}: {e}"));
        assert_eq!((reply.step, reply.provider.as_str()), (1, "openai"), "{status}");
        assert_eq!(reply.earlier[0].outcome.to_string(), format!("http_{status}"));
        assert_eq!(text, sim::ANSWER);
        if status == 529 {
            assert_eq!(
                reply.fallback_note.as_deref(),
                Some("Anthropic claude-haiku-4-5 was overloaded, so OpenAI gpt-4o-mini answered.")
            );
        }
    }
    let rows = ledger(&r);
    assert_eq!(rows.len(), 12, "one row per attempt, failed or not");
    assert!(rows.iter().filter(|r| r.step == 0).all(|r| r.outcome.starts_with("http_")));

    // A provider that cannot be reached at all.
    r.anthropic.set_behavior(vec![]);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    r.ws.with_unlocked(|c, u| {
        keys::add(
            c,
            u,
            "anthropic",
            "dead",
            Some(&format!("http://{closed}")),
            Some(Zeroizing::new(ANTHROPIC_KEY.into())),
            Default::default(),
        )
    })
    .unwrap();
    r.ws.with_unlocked(|c, u| {
        keys::add(
            c,
            u,
            "anthropic",
            "nxdomain",
            Some("http://keyhold-router.invalid"),
            Some(Zeroizing::new(ANTHROPIC_KEY.into())),
            keys::Reach { allow_insecure_http: true, marked_local: false },
        )
    })
    .unwrap();
    for (key, outcome) in [("dead", "connect"), ("nxdomain", "dns")] {
        let a = agent(&r, &format!("D-{key}"), "claude-haiku-4-5", key, &["oa:gpt-4o-mini"], None, WhenOver::Local);
        let reply = run(&r, &a, "hello").await.0.unwrap();
        assert_eq!((reply.step, reply.earlier[0].outcome.to_string()), (1, outcome.to_string()));
    }

    // A deactivated key is skipped without sending anything.
    let sent = r.anthropic.requests().len();
    r.ws.with_unlocked(|c, u| keys::set_active(c, u, "an", false)).unwrap();
    let reply = run(&r, &a, "hello").await.0.unwrap();
    assert_eq!(reply.earlier[0].outcome.to_string(), "key_inactive");
    assert_eq!(r.anthropic.requests().len(), sent);
}

#[tokio::test]
async fn a_stream_cut_after_the_first_byte_does_not_switch_and_is_recorded_as_estimated() {
    let r = rig().await;
    let a = agent(&r, "E", "gpt-4o-mini", "oa", &["an:claude-haiku-4-5"], None, WhenOver::Local);
    r.openai.set_behavior(vec![Behavior { cut_after_chunks: Some(2), times: Some(1), ..Default::default() }]);
    let (res, text) = run(&r, &a, "hello there").await;
    assert!(matches!(res, Err(RouterError::Broken { .. })), "{res:?}");
    assert_eq!(text, "Hello from");
    assert!(r.anthropic.requests().is_empty(), "no silent switch after the first byte");
    let rows = ledger(&r);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].outcome, "cut");
    assert!(rows[0].estimated);
    assert!(rows[0].output_tokens > 0 && rows[0].input_tokens > 0);
    assert!(rows[0].cost_usd.is_some(), "an estimated row still carries its cost");
}

#[tokio::test]
async fn a_cross_protocol_chain_ends_on_the_local_model_and_streams_it() {
    let r = rig().await;
    let a = agent(&r, "F", "claude-haiku-4-5", "an", &["oa:gpt-4o-mini", "local:llama3.2:1b"], None, WhenOver::Local);
    r.anthropic.set_behavior(vec![Behavior { status: Some(529), times: Some(1), ..Default::default() }]);
    r.openai.set_behavior(vec![Behavior { status: Some(500), times: Some(1), ..Default::default() }]);
    let (res, text) = run(&r, &a, "one two three").await;
    let reply = res.unwrap();
    assert_eq!((reply.step, reply.provider.as_str(), reply.local), (2, "ollama", true));
    assert_eq!(text, sim::ANSWER);
    assert_eq!(reply.cost_usd.map(|c| c.to_string()).as_deref(), Some("0"));
    assert_eq!(reply.tokens, Tokens { input: 3, output: 8, ..Default::default() });
    let outcomes: Vec<String> = reply.earlier.iter().map(|f| f.outcome.to_string()).collect();
    assert_eq!(outcomes, vec!["http_529", "http_500"]);
    assert_eq!(r.ollama.requests().iter().filter(|s| s.path == "/api/chat").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_calls_never_spend_past_the_budget() {
    let r = rig().await;
    let req = ask("count the words in this budget test");
    let price = r.ws.with_unlocked(|c, u| prices::lookup(c, u, "openai", "gpt-4o-mini", false)).unwrap().unwrap();
    let worst = worst_case(&price, estimate_input(&req), 100);
    let budget = Money::from_nanos(worst.nanos() * 10);
    let a = agent(&r, "G", "gpt-4o-mini", "oa", &["local:llama3.2:1b"], Some(&budget.to_string()), WhenOver::Local);
    // Slow enough that all fifty are in flight together.
    r.openai.set_behavior(vec![Behavior { delay_ms: Some(300), ..Default::default() }]);
    let calls = (0..50).map(|_| {
        let ws = Arc::clone(&r.ws);
        let a = a.clone();
        let req = req.clone();
        async move {
            let mut sink = |_: &str| {};
            call(&ws, &a, req, Mode::Agent, &mut sink).await
        }
    });
    let results = futures_util::future::join_all(calls).await;
    let paid = results.iter().filter(|r| matches!(r, Ok(reply) if !reply.local)).count();
    let local = results.iter().filter(|r| matches!(r, Ok(reply) if reply.local)).count();
    assert!(paid <= 10, "{paid} paid answers for a budget that fits 10");
    assert!(paid >= 1);
    assert_eq!(paid + local, 50, "the rest went to the local step");
    let spent = crate::budget::spent_today(&r.ws.conn(), &a).unwrap();
    assert!(spent <= budget, "spent {spent} > budget {budget}");

    // The same agent set to refuse: over-budget calls get the budget error, and the user hears
    // about 80 % and 100 % once each.
    let strict = agent(&r, "H", "gpt-4o-mini", "oa", &[], Some(&worst.to_string()), WhenOver::Refuse);
    r.openai.set_behavior(vec![]);
    let mut alerts = r.ws.budgets().subscribe_alerts();
    assert!(run(&r, &strict, "count the words in this budget test").await.0.is_ok());
    let err = run(&r, &strict, "count the words in this budget test").await.0.unwrap_err();
    assert!(err.to_string().starts_with("Daily budget of agent H reached"), "{err}");
    // In money as people write it, not "0.0173916 of 0.01 USD".
    let spent_now = crate::budget::spent_today(&r.ws.conn(), &strict).unwrap();
    assert_eq!(
        err.to_string(),
        format!("Daily budget of agent H reached: {} of {} spent today.", spent_now.shown(), worst.shown())
    );
    // The first call spent less than 80 % of the worst case; force the spend over it and check.
    let row = ledger::Attempt {
        agent_id: strict.id.clone(),
        at: Utc::now(),
        agent: "H".into(),
        key_id: None,
        key_label: None,
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        mode: Mode::Agent,
        step: 0,
        outcome: ledger::Outcome::Ok,
        tokens: Tokens::default(),
        cost: Some(worst),
        estimated: false,
        latency_ms: 0,
        ttft_ms: None,
        local: false,
        redacted: String::new(),
        tools: Default::default(),
    };
    ledger::record(&r.ws.conn(), &row).unwrap();
    r.ws.budgets().check_alerts(&r.ws.conn(), &strict);
    r.ws.budgets().check_alerts(&r.ws.conn(), &strict);
    let got: Vec<u32> = std::iter::from_fn(|| alerts.try_recv().ok()).map(|a| a.percent).collect();
    assert_eq!(got, vec![80, 100], "each level once");
}

#[tokio::test]
async fn an_empty_prompt_and_a_request_the_provider_refuses_do_not_fall_back() {
    let r = rig().await;
    let a = agent(&r, "I", "gpt-4o-mini", "oa", &["local:llama3.2:1b"], None, WhenOver::Local);
    assert!(matches!(run(&r, &a, "   ").await.0, Err(RouterError::EmptyPrompt)));
    r.openai.set_behavior(vec![Behavior { status: Some(400), times: Some(1), ..Default::default() }]);
    assert!(matches!(run(&r, &a, "hi").await.0, Err(RouterError::Refused { .. })));
    assert!(r.ollama.requests().is_empty());
}

#[tokio::test]
async fn the_callers_own_body_reaches_a_same_protocol_step_with_only_the_model_changed() {
    let r = rig().await;
    let a = agent(&r, "J", "gpt-4o-mini", "oa", &[], None, WhenOver::Local);
    let body = serde_json::json!({ "model": "whatever", "messages": [{ "role": "user", "content": "hi" }], "seed": 42, "user": "tool-7" });
    let req = ChatRequest { raw: Some(RawBody::new(Protocol::OpenAiChat, body)), ..ask("hi") };
    let mut sink = RawSink::default();
    call(&r.ws, &a, req, Mode::Proxy, &mut sink).await.unwrap();
    let raw = String::from_utf8(sink.0).unwrap();
    assert!(raw.contains("\"object\":\"chat.completion\""), "the non-streamed body came back as it was: {raw}");
    let seen = &r.openai.requests()[0];
    assert_eq!(seen.model.as_deref(), Some("gpt-4o-mini"));
    assert!(
        seen.fields.contains(&"seed".to_string()) && seen.fields.contains(&"user".to_string()),
        "{:?}",
        seen.fields
    );
}

#[tokio::test]
async fn offline_mode_sends_nothing_to_any_cloud_provider() {
    let r = rig().await;
    let a = agent(&r, "K", "gpt-4o-mini", "oa", &["an:claude-haiku-4-5", "local:llama3.2:1b"], None, WhenOver::Local);
    r.ws.set_offline(true).unwrap();
    let (res, text) = run(&r, &a, "stay here").await;
    let reply = res.unwrap();
    assert!(reply.local && reply.step == 2);
    assert_eq!(text, sim::ANSWER);
    assert!(r.openai.requests().is_empty() && r.anthropic.requests().is_empty(), "nothing left the machine");
    assert_eq!(reply.earlier.iter().map(|f| f.outcome.as_str()).collect::<Vec<_>>(), ["offline", "offline"]);
    let note = reply.fallback_note.clone().unwrap();
    assert_eq!(note, "offline mode skipped 2 cloud steps, so Ollama llama3.2:1b (on this machine) answered.");
    let cloud_only = agent(&r, "L", "gpt-4o-mini", "oa", &[], None, WhenOver::Local);
    assert!(matches!(run(&r, &cloud_only, "hi").await.0, Err(RouterError::OfflineNoLocal { .. })));
    r.ws.set_offline(false).unwrap();
    assert!(run(&r, &cloud_only, "hi").await.0.is_ok());
}

#[tokio::test]
async fn a_cloud_that_cannot_be_reached_is_noticed_when_the_local_step_answers() {
    let r = rig().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    r.ws.with_unlocked(|c, u| {
        let key = Some(Zeroizing::new(OPENAI_KEY.into()));
        keys::add(c, u, "openai", "down", Some(&format!("http://{closed}/v1")), key, Default::default())
    })
    .unwrap();
    let a = agent(&r, "M", "gpt-4o-mini", "down", &["local:llama3.2:1b"], None, WhenOver::Local);
    let reply = run(&r, &a, "hi").await.0.unwrap();
    assert!(reply.cloud_unreachable && reply.local);
    // A vanished local model moves the chain on with a clear outcome.
    let b = agent(&r, "N", "gpt-4o-mini", "down", &["local:gone-model:1b", "oa:gpt-4o-mini"], None, WhenOver::Local);
    let reply = run(&r, &b, "hi").await.0.unwrap();
    assert_eq!(reply.step, 2);
    assert_eq!(reply.earlier[1].outcome.to_string(), "model_missing", "{:?}", reply.earlier);
}

/// What the reproduction saw turn into `Gr��ße aus ���京 ���� caf��`.
const NON_ASCII: &str = "Grüße aus 東京 🦊 café";

#[tokio::test]
async fn a_non_ascii_answer_cut_inside_its_characters_arrives_intact_from_every_protocol() {
    let r = rig().await;
    let cut = |crlf: bool| Behavior {
        answer: Some(NON_ASCII.into()),
        split_writes: Some(true),
        crlf: Some(crlf),
        ..Default::default()
    };
    for (i, (model, key, sim, crlf)) in [
        ("gpt-4o-mini", "oa", &r.openai, false),
        ("gpt-4o-mini", "oa", &r.openai, true),
        ("claude-haiku-4-5", "an", &r.anthropic, false),
        ("claude-haiku-4-5", "an", &r.anthropic, true),
        ("llama3.2:1b", "local", &r.ollama, false),
    ]
    .into_iter()
    .enumerate()
    {
        sim.set_behavior(vec![cut(crlf)]);
        let a = agent(&r, &format!("U{i}"), model, key, &[], None, WhenOver::Local);
        let (res, text) = run(&r, &a, "hallo").await;
        let reply = res.unwrap_or_else(|e| panic!("{model} (crlf {crlf}): {e}"));
        assert_eq!(text, NON_ASCII, "{model} (crlf {crlf})");
        assert!(!reply.estimated, "{model}: the usage events were read whole too");
    }
}

#[tokio::test]
async fn a_passthrough_stream_is_forwarded_byte_for_byte() {
    let r = rig().await;
    r.openai.set_behavior(vec![Behavior {
        answer: Some(NON_ASCII.into()),
        split_writes: Some(true),
        ..Default::default()
    }]);
    let a = agent(&r, "P", "gpt-4o-mini", "oa", &[], None, WhenOver::Local);
    let body = serde_json::json!({ "model": "x", "stream": true, "stream_options": { "include_usage": true },
                                   "messages": [{ "role": "user", "content": "hi" }] });
    let req = ChatRequest { raw: Some(RawBody::new(Protocol::OpenAiChat, body)), ..ask("hi") };
    let mut sink = RawSink::default();
    call(&r.ws, &a, req, Mode::Proxy, &mut sink).await.unwrap();
    let raw = String::from_utf8(sink.0).expect("forwarded bytes are the provider's valid UTF-8");
    let text: String = raw
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| v.pointer("/choices/0/delta/content").and_then(|c| c.as_str()).map(str::to_string))
        .collect();
    assert_eq!(text, NON_ASCII);
    assert!(raw.ends_with("data: [DONE]\n\n"), "{raw}");
}

#[tokio::test]
async fn renaming_an_agent_keeps_what_it_spent_today_against_its_budget() {
    let r = rig().await;
    let price = r.ws.with_unlocked(|c, u| prices::lookup(c, u, "openai", "gpt-4o-mini", false)).unwrap().unwrap();
    // A budget that fits one worst case, but not a second on top of what the first cost (5,850
    // nano-dollars).
    let worst = worst_case(&price, estimate_input(&ask("count the words in this budget test")), 100);
    let a = agent(
        &r,
        "Before",
        "gpt-4o-mini",
        "oa",
        &[],
        Some(&(worst + Money::from_nanos(2_000)).to_string()),
        WhenOver::Refuse,
    );
    assert!(run(&r, &a, "count the words in this budget test").await.0.is_ok());
    let spec = AgentSpec {
        name: "After".into(),
        model: "gpt-4o-mini".into(),
        key: Some("oa".into()),
        max_tokens: Some(100),
        budget_usd: Some((worst + Money::from_nanos(2_000)).to_string()),
        when_over: Some(WhenOver::Refuse),
        ..Default::default()
    };
    let renamed = r.ws.with_unlocked(|c, u| agents::update(c, u, &a.id, &spec)).unwrap().agent;
    let err = run(&r, &renamed, "count the words in this budget test").await.0.unwrap_err();
    assert!(err.to_string().starts_with("Daily budget of agent After reached"), "{err}");
}

#[tokio::test]
async fn a_provider_that_redirects_elsewhere_never_hands_that_host_the_key() {
    let r = rig().await;
    let addr = "127.0.0.1:0".parse().unwrap();
    // Another host that would accept the key: it must hear nothing.
    let elsewhere = sim::start(Flavor::Anthropic, addr, vec![ANTHROPIC_KEY.into()]).await.unwrap();
    let target = format!("{}/v1/messages", elsewhere.base_url());
    r.anthropic.set_behavior(vec![Behavior { redirect_to: Some(target.clone()), ..Default::default() }]);
    let a = agent(&r, "R", "claude-haiku-4-5", "an", &["local:llama3.2:1b"], None, WhenOver::Local);
    let reply = run(&r, &a, "hi").await.0.unwrap();
    assert_eq!(reply.provider, "ollama", "the chain went on to the local step");
    let failed = &reply.earlier[0];
    assert_eq!(failed.outcome.to_string(), "http_307");
    assert!(failed.detail.contains(&target) && failed.detail.contains("never follows a redirect"), "{}", failed.detail);
    assert!(elsewhere.requests().is_empty(), "the redirect was followed: {:?}", elsewhere.requests());
}

#[tokio::test]
async fn negative_usage_from_upstream_never_lowers_what_was_spent() {
    let r = rig().await;
    for (name, model, key, sim) in
        [("N1", "gpt-4o-mini", "oa", &r.openai), ("N2", "claude-haiku-4-5", "an", &r.anthropic)]
    {
        sim.set_behavior(vec![Behavior { negative_usage: Some(true), ..Default::default() }]);
        let a = agent(&r, name, model, key, &[], None, WhenOver::Local);
        let reply = run(&r, &a, "count these words").await.0.unwrap();
        assert!(reply.estimated, "{model}: impossible counts are marked estimated");
        assert!(reply.tokens.output >= 0 && reply.cost_usd.is_some_and(|c| c >= Money::ZERO), "{model}: {reply:?}");
        assert!(crate::budget::spent_today(&r.ws.conn(), &a).unwrap() >= Money::ZERO);
    }
    let rows = ledger(&r);
    assert_eq!(rows.len(), 2, "both attempts are in the ledger");
    assert!(rows.iter().all(|row| row.output_tokens >= 0 && row.estimated));
}

#[tokio::test]
async fn a_cut_anthropic_stream_is_counted_from_what_arrived_and_marked_estimated() {
    let r = rig().await;
    // message_start says 1 output token; three words arrive, then the connection drops.
    r.anthropic.set_behavior(vec![Behavior { cut_after_chunks: Some(3), ..Default::default() }]);
    let a = agent(&r, "Cut", "claude-haiku-4-5", "an", &[], None, WhenOver::Local);
    let (res, text) = run(&r, &a, "hi").await;
    assert!(matches!(res, Err(RouterError::Broken { .. })), "{res:?}");
    assert_eq!(text, "Hello from the");
    let row = &ledger(&r)[0];
    assert_eq!(row.outcome, "cut");
    assert!(row.estimated, "a cut stream's usage is never final: {row:?}");
    assert!(row.output_tokens >= 3, "what arrived is counted, not message_start's placeholder: {row:?}");
}

/// A provider that stalls is given up on at the call's limit: before its answer the step fails
/// as a timeout (and the chain moves on); during it, what arrived is kept, metered and marked
/// estimated, and the user is told why it stopped.
#[tokio::test]
async fn a_call_that_outlives_its_limit_is_ended_and_what_arrived_is_counted() {
    let r = rig().await;
    TEST_CALL_LIMIT.with(|l| l.set(Some(Duration::from_secs(1))));
    let a = agent(&r, "Slow", "gpt-4o-mini", "oa", &[], None, WhenOver::Local);

    r.openai.set_behavior(vec![Behavior { delay_ms: Some(3000), ..Default::default() }]);
    let started = std::time::Instant::now();
    let err = run(&r, &a, "hello").await.0.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(2500), "waited {:?}", started.elapsed());
    assert!(err.to_string().contains("no answer within 1 s"), "{err}");
    assert_eq!(ledger(&r).last().unwrap().outcome, "timeout");

    r.openai.set_behavior(vec![Behavior { delay_ms: Some(200), ..Default::default() }]);
    let (res, text) = run(&r, &a, "hello").await;
    let err = res.unwrap_err();
    assert!(err.to_string().contains("no complete answer within 1 s"), "{err}");
    assert!(!text.is_empty() && text.len() < sim::ANSWER.len(), "{text:?}");
    let row = ledger(&r).last().unwrap().clone();
    assert_eq!(row.outcome, "cut");
    assert!(row.estimated && row.output_tokens > 0, "{row:?}");
    TEST_CALL_LIMIT.with(|l| l.set(None));
}

/// What the user types: a secret, two e-mail addresses, a card, a dictionary term.
const PRIVATE: &str = "Mail anna.schmidt@example.org and bob@example.com about Project Nightingale; \
                       card 4111 1111 1111 1111; key sk-ant-api03-CANARYabcdefghijklmnopqrstuv.";
const PRIVATE_VALUES: &[&str] =
    &["anna.schmidt@example.org", "bob@example.com", "Project Nightingale", "4111 1111 1111 1111", "CANARYabcdefghij"];

fn private_agent(
    r: &Rig,
    name: &str,
    model: &str,
    key: &str,
    policy: crate::privacy::Policy,
    fallback: &[&str],
) -> Agent {
    let spec = AgentSpec {
        name: name.into(),
        model: model.into(),
        key: Some(key.into()),
        max_tokens: Some(100),
        fallback: fallback.iter().map(|s| s.to_string()).collect(),
        privacy: Some(policy),
        ..Default::default()
    };
    let terms = vec![Zeroizing::new("Project Nightingale".to_string())];
    r.ws.with_unlocked(|c, u| crate::privacy::dictionary::add(c, u, &terms)).unwrap();
    r.ws.with_unlocked(|c, u| agents::add(c, u, &spec)).unwrap().agent
}

fn assert_nothing_private_in(seen: &[keyhold_sim::Seen]) {
    for s in seen {
        let body = s.body.as_ref().map(|b| b.to_string()).unwrap_or_default();
        for v in PRIVATE_VALUES {
            assert!(!body.contains(v), "{v} reached the provider: {body}");
        }
    }
}

#[tokio::test]
async fn a_pii_agent_sends_placeholders_to_the_cloud_and_the_user_reads_their_own_values() {
    let r = rig().await;
    for (name, model, key, sim) in
        [("P-oa", "gpt-4o-mini", "oa", &r.openai), ("P-an", "claude-haiku-4-5", "an", &r.anthropic)]
    {
        sim.set_behavior(vec![Behavior { echo: Some(true), ..Default::default() }]);
        let a = private_agent(&r, name, model, key, crate::privacy::Policy::Pii, &[]);
        let before = sim.requests().len();
        let (res, text) = run(&r, &a, PRIVATE).await;
        let reply = res.unwrap();
        let seen = &sim.requests()[before..];
        assert_nothing_private_in(seen);
        let sent = seen[0].body.as_ref().unwrap().to_string();
        assert!(sent.contains("[EMAIL_1]") && sent.contains("[EMAIL_2]") && sent.contains("[TERM_1]"), "{sent}");
        assert!(sent.contains("[CARD_1]") && sent.contains("[SECRET_1]"), "{sent}");
        // Echoed back three characters at a time, every placeholder split across events.
        assert_eq!(text, PRIVATE, "{name}");
        assert_eq!(reply.redacted.to_ledger(), "secret:1 email:2 payment_card:1 custom:1");
        assert_eq!(reply.unknown_placeholders, 0);
        assert_eq!(ledger(&r).last().unwrap().redacted, "secret:1 email:2 payment_card:1 custom:1");
    }
}

#[tokio::test]
async fn a_local_step_gets_the_original_and_block_refuses_before_anything_leaves() {
    let r = rig().await;
    r.openai.set_behavior(vec![Behavior { status: Some(503), times: Some(1), ..Default::default() }]);
    let a = private_agent(&r, "Mixed", "gpt-4o-mini", "oa", crate::privacy::Policy::Pii, &["local:llama3.2:1b"]);
    let (res, _) = run(&r, &a, PRIVATE).await;
    assert!(res.unwrap().local);
    assert_nothing_private_in(&r.openai.requests());
    let local = r.ollama.requests().last().unwrap().body.as_ref().unwrap().to_string();
    assert!(local.contains("anna.schmidt@example.org"), "the local step gets the original: {local}");
    assert!(ledger(&r).last().unwrap().redacted.is_empty(), "nothing is replaced for a local step");

    // Block: no byte to the cloud, a ledger row at zero cost, and a refusal that says what and where.
    let b = private_agent(&r, "Strict", "gpt-4o-mini", "oa", crate::privacy::Policy::Block, &[]);
    let sent = r.openai.requests().len();
    let err = run(&r, &b, PRIVATE).await.0.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PrivacyBlocked, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("2 e-mail addresses") && msg.contains("message 1, character 6"), "{msg}");
    for v in PRIVATE_VALUES {
        assert!(!msg.contains(v), "the refusal shows {v}: {msg}");
    }
    assert_eq!(r.openai.requests().len(), sent);
    let row = ledger(&r).last().unwrap().clone();
    assert_eq!((row.outcome.as_str(), row.cost_usd), ("blocked", Some(Money::ZERO)));
    // Block lets a clean message through.
    r.openai.set_behavior(vec![]);
    run(&r, &b, "nothing private here").await.0.unwrap();
}

#[tokio::test]
async fn with_the_payload_log_on_the_user_can_read_exactly_what_a_provider_received() {
    use crate::privacy::outbound;
    let r = rig().await;
    let a = private_agent(&r, "Logged", "gpt-4o-mini", "oa", crate::privacy::Policy::Pii, &["local:llama3.2:1b"]);
    run(&r, &a, PRIVATE).await.0.unwrap();
    assert!(r.ws.with_unlocked(|c, _| outbound::list(c, 10)).unwrap().is_empty(), "off by default");
    r.ws.with_unlocked(|c, u| outbound::set_retention(c, u, 7)).unwrap();
    run(&r, &a, PRIVATE).await.0.unwrap();
    let logged = r.ws.with_unlocked(|c, _| outbound::list(c, 10)).unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!((logged[0].agent.as_str(), logged[0].provider.as_str()), ("Logged", "openai"));
    let body = r.ws.with_unlocked(|c, u| outbound::open(c, u, &logged[0].id)).unwrap();
    assert_eq!(
        body,
        r.openai.requests().last().unwrap().body.as_ref().unwrap().to_string(),
        "exactly what it received"
    );
    for v in PRIVATE_VALUES {
        assert!(!body.contains(v), "{v} in the log");
    }
    // A local step is never logged: nothing left the machine.
    r.openai.set_behavior(vec![Behavior { status: Some(503), times: Some(1), ..Default::default() }]);
    run(&r, &a, PRIVATE).await.0.unwrap();
    assert_eq!(
        r.ws.with_unlocked(|c, _| outbound::list(c, 10)).unwrap().len(),
        2,
        "the failed cloud step's request is logged, the local one is not"
    );
}

/// The window's Stop button: a sink whose stop signal turns on once the first words arrived.
struct StoppingSink {
    text: String,
    stop: tokio::sync::watch::Sender<bool>,
}

impl AnswerSink for StoppingSink {
    fn text(&mut self, text: &str) -> Flow {
        self.text.push_str(text);
        let _ = self.stop.send(true);
        Flow::Continue
    }

    fn stop_signal(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        Some(self.stop.subscribe())
    }
}

#[tokio::test]
async fn stopping_an_answer_keeps_what_arrived_meters_it_and_tries_no_other_step() {
    let r = rig().await;
    let a = agent(&r, "S", "gpt-4o-mini", "oa", &["an:claude-haiku-4-5"], None, WhenOver::Local);
    r.openai.set_behavior(vec![Behavior { delay_ms: Some(150), times: Some(1), ..Default::default() }]);
    let mut sink = StoppingSink { text: String::new(), stop: tokio::sync::watch::Sender::new(false) };
    let started = std::time::Instant::now();
    let reply = call(&r.ws, &a, ask("hello there"), Mode::Agent, &mut sink).await.unwrap();
    assert!(reply.stopped && reply.estimated);
    assert!(started.elapsed() < std::time::Duration::from_millis(1200), "it did not wait for the rest");
    assert_eq!(sink.text, "Hello", "only what arrived before the stop");
    assert!(r.anthropic.requests().is_empty(), "a stop is not a failure: no fallback");
    let rows = ledger(&r);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].outcome, "cut");
    assert!(rows[0].estimated && rows[0].output_tokens > 0, "what arrived is metered");
}

/// A caller that wants no more after the first piece (a reader that went away).
#[derive(Default)]
struct OnePieceSink(String);

impl AnswerSink for OnePieceSink {
    fn text(&mut self, text: &str) -> Flow {
        self.0.push_str(text);
        Flow::Stop
    }
}

#[tokio::test]
async fn a_sink_that_says_stop_ends_the_call_at_that_piece_and_it_is_metered_as_cut() {
    let r = rig().await;
    let a = agent(&r, "G", "gpt-4o-mini", "oa", &["an:claude-haiku-4-5"], None, WhenOver::Local);
    r.openai.set_behavior(vec![Behavior { delay_ms: Some(150), times: Some(1), ..Default::default() }]);
    let mut sink = OnePieceSink::default();
    let started = std::time::Instant::now();
    let reply = call(&r.ws, &a, ask("hello there"), Mode::Agent, &mut sink).await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_millis(1200), "it did not read the rest");
    assert_eq!(sink.0, "Hello", "nothing after the Stop");
    assert!(reply.estimated);
    assert!(r.anthropic.requests().is_empty(), "a caller's Stop is not a failure: no fallback");
    let rows = ledger(&r);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].outcome, "cut");
    assert!(rows[0].estimated && rows[0].output_tokens > 0);
}

#[tokio::test]
async fn an_ollama_cloud_model_is_a_cloud_step_offline_mode_skips() {
    let r = rig().await;
    let a =
        agent(&r, "C", "gpt-4o-mini", "oa", &["local:gpt-oss:120b-cloud", "local:llama3.2:1b"], None, WhenOver::Local);
    r.ws.set_offline(true).unwrap();
    let (res, _) = run(&r, &a, "stay here").await;
    let reply = res.unwrap();
    assert_eq!((reply.step, reply.model.as_str(), reply.local), (2, "llama3.2:1b", true));
    assert_eq!(reply.earlier.iter().map(|f| f.outcome.as_str()).collect::<Vec<_>>(), ["offline", "offline"]);
    assert!(r.ollama.requests().iter().all(|s| s.model.as_deref() != Some("gpt-oss:120b-cloud")), "never sent");
    r.ws.set_offline(false).unwrap();
    assert!(crate::ollama::served_remotely("qwen3-coder:480b-cloud") && crate::ollama::served_remotely("x:cloud"));
    assert!(!crate::ollama::served_remotely("llama3.2:1b") && !crate::ollama::served_remotely("cloudy-model:7b"));
}

#[tokio::test]
async fn a_model_ollama_serves_from_elsewhere_under_any_name_is_a_cloud_step() {
    let r = rig().await;
    // `ollama cp gpt-oss:120b-cloud big:latest`: the name says nothing, /api/show says where.
    r.ollama.serve_remotely("big:latest");
    let a = agent(&r, "R", "gpt-4o-mini", "oa", &["local:big:latest", "local:llama3.2:1b"], None, WhenOver::Local);
    r.ws.set_offline(true).unwrap();
    let (res, _) = run(&r, &a, "stay here").await;
    let reply = res.unwrap();
    assert_eq!((reply.step, reply.model.as_str(), reply.local), (2, "llama3.2:1b", true));
    assert_eq!(reply.earlier.iter().map(|f| f.outcome.as_str()).collect::<Vec<_>>(), ["offline", "offline"]);
    assert!(r.ollama.requests().iter().all(|s| !(s.path == "/api/chat" && s.model.as_deref() == Some("big:latest"))));
    r.ws.set_offline(false).unwrap();
}
