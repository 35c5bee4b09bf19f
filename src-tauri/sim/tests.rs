//! The simulators answer in the providers' published shapes (real HTTP on 127.0.0.1).

use serde_json::{json, Value};

use super::*;

const OPENAI_KEY: &str = "sk-sim-test-openai";
const ANTHROPIC_KEY: &str = "sk-ant-sim-test";

async fn sim(flavor: Flavor, key: &str) -> Running {
    start(flavor, "127.0.0.1:0".parse().unwrap(), vec![key.to_string()]).await.unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test]
async fn openai_lists_models_and_refuses_a_wrong_key_in_its_error_format() {
    let s = sim(Flavor::OpenAi, OPENAI_KEY).await;
    let ok: Value = client()
        .get(format!("{}/models", s.base_url()))
        .bearer_auth(OPENAI_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ok["object"], "list");
    assert_eq!(ok["data"][0]["id"], "gpt-4o-mini");
    let bad = client().get(format!("{}/models", s.base_url())).bearer_auth("sk-wrong").send().await.unwrap();
    assert_eq!(bad.status(), 401);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");
    let seen = s.requests();
    assert_eq!((seen[0].authorized, seen[1].authorized), (true, false));
}

#[tokio::test]
async fn openai_streams_chunks_then_the_usage_chunk_when_asked_then_done() {
    let s = sim(Flavor::OpenAi, OPENAI_KEY).await;
    let body = json!({ "model": "gpt-4o-mini", "stream": true, "stream_options": { "include_usage": true },
                       "messages": [{ "role": "user", "content": "hello there cache-me please" }] });
    let text = client()
        .post(format!("{}/chat/completions", s.base_url()))
        .bearer_auth(OPENAI_KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(*events.last().unwrap(), "data: [DONE]");
    let usage: Value = serde_json::from_str(events[events.len() - 2].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["prompt_tokens"], 4);
    assert_eq!(usage["usage"]["prompt_tokens_details"]["cached_tokens"], 2, "cached tokens are part of prompt_tokens");
    let content: String = events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e.strip_prefix("data: ")?).ok())
        .filter_map(|v| v.pointer("/choices/0/delta/content").and_then(Value::as_str).map(str::to_string))
        .collect();
    assert_eq!(content, ANSWER);

    // Without include_usage there is no usage chunk.
    let body = json!({ "model": "gpt-4o-mini", "stream": true, "messages": [{ "role": "user", "content": "hi" }] });
    let text = client()
        .post(format!("{}/chat/completions", s.base_url()))
        .bearer_auth(OPENAI_KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("\"usage\""));
}

#[tokio::test]
async fn anthropic_streams_its_event_sequence_with_cache_tokens_outside_input_tokens() {
    let s = sim(Flavor::Anthropic, ANTHROPIC_KEY).await;
    let body = json!({ "model": "claude-haiku-4-5", "max_tokens": 100, "stream": true, "system": "cache-me a b c d e f g",
                       "messages": [{ "role": "user", "content": "hello" }] });
    let text = client()
        .post(format!("{}/v1/messages", s.base_url()))
        .header("x-api-key", ANTHROPIC_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let names: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(&names[names.len() - 3..], &["content_block_stop", "message_delta", "message_stop"]);
    let start: Value = serde_json::from_str(text.lines().nth(1).unwrap().strip_prefix("data: ").unwrap()).unwrap();
    let u = &start["message"]["usage"];
    // 9 words in all: 4 read from cache, 2 written, 3 plain input.
    assert_eq!(
        (u["input_tokens"].as_u64(), u["cache_read_input_tokens"].as_u64(), u["cache_creation_input_tokens"].as_u64()),
        (Some(3), Some(4), Some(2))
    );
    // Recent SDKs send the key as a bearer token: accepted too.
    let r = client().get(format!("{}/v1/models", s.base_url())).bearer_auth(ANTHROPIC_KEY).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn ollama_streams_ndjson_and_reports_counts_in_the_last_object() {
    let s = sim(Flavor::Ollama, "").await;
    let v: Value = client().get(format!("{}/api/version", s.base_url())).send().await.unwrap().json().await.unwrap();
    assert!(v["version"].is_string());
    let ps: Value = client().get(format!("{}/api/ps", s.base_url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(ps["models"].as_array().unwrap().len(), 1);
    let body = json!({ "model": "llama3.2:1b", "messages": [{ "role": "user", "content": "one two three" }] });
    let text =
        client().post(format!("{}/api/chat", s.base_url())).json(&body).send().await.unwrap().text().await.unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["done"], true);
    assert_eq!(last["prompt_eval_count"], 3);
    assert!(last["eval_count"].as_u64().unwrap() > 0);
    let missing = client()
        .post(format!("{}/api/chat", s.base_url()))
        .json(&json!({ "model": "gone:1b", "messages": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn behaviors_apply_to_the_next_requests_then_wear_off() {
    let s = sim(Flavor::Anthropic, ANTHROPIC_KEY).await;
    s.set_behavior(vec![
        Behavior { status: Some(429), retry_after: Some(7), times: Some(1), ..Default::default() },
        Behavior { status: Some(529), times: Some(1), ..Default::default() },
    ]);
    let get = || client().get(format!("{}/v1/models", s.base_url())).header("x-api-key", ANTHROPIC_KEY).send();
    let r = get().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["retry-after"].to_str().unwrap()), (429, "7"));
    let r = get().await.unwrap();
    assert_eq!(r.status().as_u16(), 529);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["type"], "overloaded_error");
    assert_eq!(get().await.unwrap().status().as_u16(), 200);

    // A cut stream ends without its closing events.
    s.set_behavior(vec![Behavior { cut_after_chunks: Some(2), times: Some(1), ..Default::default() }]);
    let body = json!({ "model": "claude-haiku-4-5", "max_tokens": 10, "stream": true, "messages": [{ "role": "user", "content": "x" }] });
    let text = client()
        .post(format!("{}/v1/messages", s.base_url()))
        .header("x-api-key", ANTHROPIC_KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text.matches("content_block_delta").count(), 2 * 2, "two deltas (event line and type field each)");
    assert!(!text.contains("message_stop"));
}
