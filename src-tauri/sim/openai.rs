//! OpenAI's chat completions API: `GET /v1/models`, `POST /v1/chat/completions` (plain and SSE,
//! `usage` with `prompt_tokens_details.cached_tokens`, the usage chunk when
//! `stream_options.include_usage` is set).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::{error, gate, tokens, tools, Behavior, Flavor, Shared, StreamEnd};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/responses", post(super::responses::responses))
        .route("/v1/embeddings", post(super::responses::embeddings))
}

async fn models(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = gate(&s, "GET", "/v1/models", &headers, None, false).await {
        return r;
    }
    let data: Vec<Value> = s
        .models
        .iter()
        .map(|m| json!({ "id": m, "object": "model", "created": 1_715_367_049, "owned_by": "system" }))
        .collect();
    Json(json!({ "object": "list", "data": data })).into_response()
}

/// Text of all messages, whether `content` is a string or a list of parts.
pub(crate) fn prompt_text(messages: Option<&Value>) -> String {
    let mut out = String::new();
    for m in messages.and_then(Value::as_array).into_iter().flatten() {
        match m.get("content") {
            Some(Value::String(s)) => out.push_str(s),
            Some(Value::Array(parts)) => {
                for p in parts {
                    if let Some(t) = p.get("text").and_then(Value::as_str) {
                        out.push_str(t);
                    }
                    // A tool result is input the provider reads (and charges for) too.
                    match p.get("content") {
                        Some(Value::String(t)) => out.push_str(t),
                        Some(inner @ Value::Array(_)) => {
                            out.push_str(&prompt_text(Some(&json!([{ "content": inner }]))))
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        out.push(' ');
    }
    out
}

async fn chat(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, Json(json!({ "error": { "message": format!("We could not parse the JSON body of your request. ({e})"), "type": "invalid_request_error", "param": null, "code": null } }))).into_response()
        }
    };
    let model = req.get("model").and_then(Value::as_str).unwrap_or("").to_string();
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let behavior = match gate(&s, "POST", "/v1/chat/completions", &headers, Some(model.clone()), stream).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    s.note_fields(&req);
    if !s.models.contains(&model) {
        return error(Flavor::OpenAi, 404, None);
    }
    if let Some(why) = tools::openai_refusal(&req) {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": { "message": why, "type": "invalid_request_error", "param": "messages", "code": null } }))).into_response();
    }
    let prompt = prompt_text(req.get("messages"));
    let prompt_tokens = tokens(&prompt);
    // "cache-me" in the prompt makes half of it a cache hit, as a repeated prefix would be.
    let cached = if prompt.contains("cache-me") { prompt_tokens / 2 } else { 0 };
    let turn = tools::openai(&req);
    let answer = match &turn {
        tools::Turn::AfterResult(r) => tools::after(r),
        _ => behavior.answer_to(req.get("messages")),
    };
    let completion_tokens = if behavior.negative_usage == Some(true) { -1_000_000 } else { tokens(&answer) as i64 };
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens as i64 + completion_tokens,
        "prompt_tokens_details": { "cached_tokens": cached },
        "completion_tokens_details": { "reasoning_tokens": 0 }
    });
    let id = "chatcmpl-sim0001";
    let created = 1_764_200_000u64;
    if let tools::Turn::Call { name, arguments } = &turn {
        return tool_call(&model, (name, arguments), stream, &usage, &behavior, &s);
    }
    if !stream {
        let mut whole = json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": answer }, "logprobs": null, "finish_reason": "stop" }],
            "usage": usage
        });
        if behavior.no_usage == Some(true) {
            whole.as_object_mut().map(|o| o.remove("usage"));
        }
        return Json(whole).into_response();
    }
    let include_usage = req.pointer("/stream_options/include_usage").and_then(Value::as_bool).unwrap_or(false);
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({ "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }] })
        )
    };
    let mut content = vec![chunk(json!({ "role": "assistant", "content": "" }), Value::Null)];
    for text in behavior.pieces(&answer) {
        content.push(chunk(json!({ "content": text }), Value::Null));
    }
    let events = match behavior.cut_after_chunks {
        Some(n) => content.into_iter().take(n + 1).collect(),
        None => {
            let mut all = content;
            all.push(chunk(json!({}), json!("stop")));
            if include_usage {
                all.push(format!(
                    "data: {}\n\n",
                    json!({ "id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [], "usage": usage })
                ));
            }
            all.push("data: [DONE]\n\n".to_string());
            all
        }
    };
    sse(events, &behavior, &s)
}

/// The model calls `name`: one tool call, its arguments streamed in two pieces.
fn tool_call(
    model: &str,
    (name, arguments): (&str, &str),
    stream: bool,
    usage: &Value,
    behavior: &Behavior,
    s: &Shared,
) -> Response {
    let (id, created, call_id) = ("chatcmpl-sim0002", 1_764_200_000u64, "call_sim0001");
    if !stream {
        return Json(json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": null, "refusal": null,
                "tool_calls": [{ "id": call_id, "type": "function", "function": { "name": name, "arguments": arguments } }] },
                "logprobs": null, "finish_reason": "tool_calls" }],
            "usage": usage
        }))
        .into_response();
    }
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({ "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }] })
        )
    };
    let (a, b) = tools::halves(arguments);
    let events = vec![
        chunk(
            json!({ "role": "assistant", "content": null,
            "tool_calls": [{ "index": 0, "id": call_id, "type": "function", "function": { "name": name, "arguments": "" } }] }),
            Value::Null,
        ),
        chunk(json!({ "tool_calls": [{ "index": 0, "function": { "arguments": a } }] }), Value::Null),
        chunk(json!({ "tool_calls": [{ "index": 0, "function": { "arguments": b } }] }), Value::Null),
        chunk(json!({}), json!("tool_calls")),
        format!(
            "data: {}\n\n",
            json!({ "id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [], "usage": usage })
        ),
        "data: [DONE]\n\n".to_string(),
    ];
    sse(events, behavior, s)
}

/// Sends pre-built events one by one: slowly, split in two writes, or with CRLF line endings
/// when the behavior asks for it.
pub(crate) fn sse(events: Vec<String>, behavior: &Behavior, state: &Shared) -> Response {
    let delay_ms = behavior.delay_ms;
    let crlf = behavior.crlf == Some(true);
    let split = behavior.split_writes == Some(true);
    let writes: Vec<(Bytes, bool)> = events
        .into_iter()
        .flat_map(|e| {
            let e = if crlf { e.replace('\n', "\r\n") } else { e };
            let bytes = Bytes::from(e);
            let cut = if !split {
                None
            } else if crlf {
                // Between the event's last \r and \n.
                Some(bytes.len() - 1)
            } else {
                // One byte into the first multi-byte character, else the middle.
                Some(bytes.iter().position(|b| *b >= 0x80).map_or(bytes.len() / 2, |i| i + 1))
            };
            match cut {
                Some(c) => vec![(bytes.slice(..c), false), (bytes.slice(c..), true)],
                None => vec![(bytes, false)],
            }
        })
        .collect();
    let writes_total = writes.len();
    let body = futures_util::stream::iter(writes).then(move |(chunk, second_half)| async move {
        if let Some(ms) = delay_ms.filter(|_| !second_half) {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if second_half {
            // Long enough for the first half to leave as its own TCP segment and be read alone.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok::<_, Infallible>(chunk)
    });
    // Notes how far the stream got when it ends: all of it, or as far as the client (Keyhold)
    // read before it closed the connection and the server dropped the body.
    let total = writes_total;
    let watch = StreamWatch { state: Arc::clone(state), written: 0, total, started: Instant::now() };
    let body = body.scan(watch, |w, chunk| {
        w.written += 1;
        std::future::ready(Some(chunk))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(body))
        .expect("static headers are valid")
}

/// Records a streamed answer's end in the simulator's state when the body is dropped.
struct StreamWatch {
    state: Shared,
    written: usize,
    total: usize,
    started: Instant,
}

impl Drop for StreamWatch {
    fn drop(&mut self) {
        let end = StreamEnd { written: self.written, total: self.total, after: self.started.elapsed() };
        self.state.streams.lock().unwrap_or_else(|p| p.into_inner()).push(end);
    }
}
