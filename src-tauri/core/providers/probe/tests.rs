//! Key tests against the provider simulators (real HTTP on 127.0.0.1).

use std::time::Duration;

use super::*;
use crate::providers::anthropic_messages::VERSION as ANTHROPIC_VERSION;
use crate::providers::{find, AuthStyle};
use keyhold_sim::{self as sim, Behavior, Flavor};

const T: Duration = Duration::from_secs(5);

async fn sim(flavor: Flavor, key: &str) -> sim::Running {
    sim::start(flavor, "127.0.0.1:0".parse().unwrap(), vec![key.into()]).await.unwrap()
}

#[tokio::test]
async fn a_good_key_is_valid_with_its_models_and_a_wrong_one_is_rejected_with_the_providers_words() {
    let s = sim(Flavor::Anthropic, "sk-ant-sim-good-key-123").await;
    let anthropic = find("anthropic").unwrap();
    let v = test(anthropic, &s.base_url(), Some("sk-ant-sim-good-key-123"), T).await;
    assert_eq!(v, Verdict::Valid { models: vec!["claude-sonnet-4-5".into(), "claude-haiku-4-5".into()] });
    assert_eq!(v.sentence("Anthropic"), "Valid: Anthropic accepted the key (2 models).");
    assert_eq!(
        v.sentence_for("Ollama", true),
        "Valid: Ollama answered (2 models).",
        "a key-less server has no key to accept"
    );
    let v = test(anthropic, &s.base_url(), Some("sk-ant-wrong-key-456"), T).await;
    assert_eq!(v, Verdict::Rejected { status: 401, provider_message: "invalid x-api-key".into() });
    assert_eq!(v.sentence("Anthropic"), "Rejected by Anthropic (401): invalid x-api-key");

    let o = sim(Flavor::OpenAi, "sk-sim-openai-good").await;
    let v = test(find("openai").unwrap(), &o.base_url(), Some("sk-sim-openai-good"), T).await;
    assert!(matches!(&v, Verdict::Valid { models } if models.len() == 3), "{v:?}");
}

#[tokio::test]
async fn rate_limits_errors_and_garbage_are_never_called_valid() {
    let s = sim(Flavor::OpenAi, "sk-sim-k").await;
    let openai = find("openai").unwrap();
    s.set_behavior(vec![Behavior { status: Some(429), retry_after: Some(12), times: Some(1), ..Default::default() }]);
    let v = test(openai, &s.base_url(), Some("sk-sim-k"), T).await;
    assert!(matches!(v, Verdict::RateLimited { retry_after_secs: Some(12), .. }), "{v:?}");
    assert!(v.sentence("OpenAI").ends_with("Try again in 12 s."));
    s.set_behavior(vec![Behavior { status: Some(500), times: Some(1), ..Default::default() }]);
    assert!(matches!(
        test(openai, &s.base_url(), Some("sk-sim-k"), T).await,
        Verdict::Unexpected { status: Some(500), .. }
    ));
    s.set_behavior(vec![Behavior { garbage: Some(true), times: Some(1), ..Default::default() }]);
    let v = test(openai, &s.base_url(), Some("sk-sim-k"), T).await;
    assert_eq!(v, Verdict::Unexpected { status: Some(200), detail: "the reply is not JSON".into() });
    // A base URL missing its /v1 lands on a 404: the sentence says what to check.
    let v = test(openai, &format!("http://{}", s.addr), Some("sk-sim-k"), T).await;
    assert!(v.sentence("OpenAI").contains("Check the base URL"), "{}", v.sentence("OpenAI"));
}

#[tokio::test]
async fn unreachable_says_which_way() {
    let openai = find("openai").unwrap();
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let v = test(openai, &format!("http://{closed}/v1"), Some("sk-x"), T).await;
    assert!(matches!(v, Verdict::Unreachable { reason: Unreachable::Connect, .. }), "{v:?}");
    // .invalid never resolves (RFC 6761).
    let v = test(openai, "http://keyhold-test.invalid/v1", Some("sk-x"), T).await;
    assert!(matches!(v, Verdict::Unreachable { reason: Unreachable::Dns, .. }), "{v:?}");
    // TLS spoken to a plain-HTTP server.
    let s = sim(Flavor::OpenAi, "sk-x").await;
    let v = test(openai, &format!("https://{}/v1", s.addr), Some("sk-x"), T).await;
    assert!(matches!(v, Verdict::Unreachable { reason: Unreachable::Tls, .. }), "{v:?}");
    // Slower than the timeout.
    s.set_behavior(vec![Behavior { delay_ms: Some(3000), times: Some(1), ..Default::default() }]);
    let v = test(openai, &s.base_url(), Some("sk-x"), Duration::from_millis(300)).await;
    assert!(matches!(v, Verdict::Unreachable { reason: Unreachable::Timeout, .. }), "{v:?}");
}

#[tokio::test]
async fn a_local_ollama_needs_no_key() {
    let s = sim(Flavor::Ollama, "").await;
    let v = test(find("ollama").unwrap(), &s.base_url(), None, T).await;
    assert_eq!(v, Verdict::Valid { models: vec!["llama3.2:1b".into(), "qwen2.5:0.5b".into()] });
}

#[test]
fn a_key_echoed_in_a_provider_message_is_redacted() {
    let key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123";
    let msg = "Incorrect API key provided: sk-proj-abcdefgh****************0123.";
    let out = redact(msg, Some(key));
    assert!(!out.contains("abcdefgh"), "{out}");
    assert!(out.starts_with("Incorrect API key provided: "));
    assert_eq!(redact("nothing to hide", Some(key)), "nothing to hide");
}

#[test]
fn auth_travels_in_each_providers_header_and_is_marked_sensitive() {
    let h = AuthStyle::XApiKey.headers(Some("sk-ant-1"));
    assert_eq!(h["x-api-key"], "sk-ant-1");
    assert!(h["x-api-key"].is_sensitive());
    assert_eq!(h["anthropic-version"], ANTHROPIC_VERSION);
    let h = AuthStyle::Bearer.headers(Some("sk-1"));
    assert_eq!(h["authorization"], "Bearer sk-1");
    assert!(!format!("{h:?}").contains("sk-1"), "{h:?}");
    assert!(AuthStyle::None.headers(None).is_empty());
}

#[tokio::test]
async fn a_key_test_that_is_redirected_says_where_and_sends_the_key_nowhere_else() {
    let key = "sk-ant-sim-redirect-canary-7781";
    let first = sim(Flavor::Anthropic, key).await;
    let elsewhere = sim(Flavor::Anthropic, key).await;
    let target = format!("{}/v1/models", elsewhere.base_url());
    first.set_behavior(vec![Behavior { redirect_to: Some(target.clone()), ..Default::default() }]);
    let v = test(find("anthropic").unwrap(), &first.base_url(), Some(key), T).await;
    let sentence = v.sentence("Anthropic");
    assert!(matches!(v, Verdict::Unexpected { status: Some(307), .. }), "{v:?}");
    assert!(sentence.contains(&target), "{sentence}");
    assert!(elsewhere.requests().is_empty());
}
