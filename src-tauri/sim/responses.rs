//! OpenAI's Responses API (`POST /v1/responses`, what Codex speaks): a whole Response, or its
//! published event sequence (`response.created`, `response.in_progress`,
//! `response.output_item.added`, `response.content_part.added`, `response.output_text.delta`…,
//! `….output_text.done`, `….content_part.done`, `….output_item.done`, `response.completed`),
//! each event with its `sequence_number`, and no `[DONE]`. Usage: `input_tokens` includes
//! `input_tokens_details.cached_tokens`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::openai::sse;
use super::{error, gate, tokens, tools, Flavor, Shared};

/// The input as chat-style messages (what the steering helpers read).
fn as_messages(req: &Value) -> Value {
    let text = |c: Option<&Value>| match c {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join(" ")
        }
        _ => String::new(),
    };
    let mut out = Vec::new();
    if let Some(i) = req.get("instructions").and_then(Value::as_str) {
        out.push(json!({ "role": "system", "content": i }));
    }
    match req.get("input") {
        Some(Value::String(s)) => out.push(json!({ "role": "user", "content": s })),
        Some(Value::Array(items)) => {
            for item in items {
                match item.get("type").and_then(Value::as_str).unwrap_or("message") {
                    "message" => out.push(json!({ "role": item.get("role").cloned().unwrap_or(json!("user")),
                                                 "content": text(item.get("content")) })),
                    "function_call_output" | "custom_tool_call_output" => {
                        out.push(json!({ "role": "user", "content": text(item.get("output")) }))
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    Value::Array(out)
}

pub(crate) async fn responses(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, Json(json!({ "error": { "message": format!("We could not parse the JSON body of your request. ({e})"), "type": "invalid_request_error", "param": null, "code": null } }))).into_response()
        }
    };
    let model = req.get("model").and_then(Value::as_str).unwrap_or("").to_string();
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let behavior = match gate(&s, "POST", "/v1/responses", &headers, Some(model.clone()), stream).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    s.note_fields(&req);
    if !s.models.contains(&model) {
        return error(Flavor::OpenAi, 404, None);
    }
    if req.get("input").is_none() {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": { "message": "Missing required parameter: 'input'.", "type": "invalid_request_error", "param": "input", "code": "missing_required_parameter" } }))).into_response();
    }
    if let Some(why) = tools::responses_refusal(&req) {
        return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({ "error": { "message": why, "type": "invalid_request_error", "param": "input", "code": null } }),
            ),
        )
            .into_response();
    }
    let messages = as_messages(&req);
    let prompt = super::openai::prompt_text(Some(&messages));
    let input_tokens = tokens(&prompt);
    let cached = if prompt.contains("cache-me") { input_tokens / 2 } else { 0 };
    let turn = tools::responses(&req);
    let answer = match &turn {
        tools::Turn::AfterResult(r) => tools::after(r),
        _ => behavior.answer_to(Some(&messages)),
    };
    let output_tokens = tokens(&answer);
    let usage = json!({ "input_tokens": input_tokens, "input_tokens_details": { "cached_tokens": cached },
                        "output_tokens": output_tokens, "output_tokens_details": { "reasoning_tokens": 0 },
                        "total_tokens": input_tokens + output_tokens });
    let (id, item) = ("resp_sim0001", "msg_sim0001");
    let message = |status: &str, text: Option<&str>| {
        let content = match text {
            Some(t) => json!([{ "type": "output_text", "text": t, "annotations": [] }]),
            None => json!([]),
        };
        json!({ "id": item, "type": "message", "status": status, "role": "assistant", "content": content })
    };
    let response = |status: &str, output: Value, usage: Value| {
        json!({ "id": id, "object": "response", "created_at": 1_764_200_000u64, "status": status, "model": model,
                "output": output, "error": null, "incomplete_details": null, "usage": usage,
                "instructions": req.get("instructions").cloned().unwrap_or(Value::Null) })
    };
    let (name, arguments) = match &turn {
        tools::Turn::Call { name, arguments } => (name.as_str(), arguments.as_str()),
        _ => ("", ""),
    };
    let call = |status: &str, args: &str| {
        json!({ "id": "fc_sim0001", "type": "function_call", "status": status, "call_id": "call_sim0001",
                "name": name, "arguments": args })
    };
    let calling = matches!(turn, tools::Turn::Call { .. });
    // Each search is a web_search_call item of its own, before the answer.
    let searches: Vec<Value> = (0..crate::searches(&behavior, &req))
        .map(|i| {
            json!({ "id": format!("ws_sim{i:04}"), "type": "web_search_call", "status": "completed",
                    "action": { "type": "search", "query": "sim" } })
        })
        .collect();
    let with_searches = |last: Value| {
        let mut all = searches.clone();
        all.push(last);
        Value::Array(all)
    };
    if !stream {
        let output = if calling { call("completed", arguments) } else { message("completed", Some(&answer)) };
        return Json(response("completed", with_searches(output), usage)).into_response();
    }
    let mut seq = 0u64;
    let mut event = |kind: &str, mut data: Value| {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(seq);
        seq += 1;
        format!("event: {kind}\ndata: {data}\n\n")
    };
    let started = response("in_progress", json!([]), Value::Null);
    if calling {
        let (a, b) = tools::halves(arguments);
        let mut events = vec![
            event("response.created", json!({ "response": started })),
            event("response.in_progress", json!({ "response": started })),
            event("response.output_item.added", json!({ "output_index": 0, "item": call("in_progress", "") })),
        ];
        for d in [a, b] {
            events.push(event(
                "response.function_call_arguments.delta",
                json!({ "item_id": "fc_sim0001", "output_index": 0, "delta": d }),
            ));
        }
        events.push(event(
            "response.function_call_arguments.done",
            json!({ "item_id": "fc_sim0001", "output_index": 0, "arguments": arguments }),
        ));
        events.push(event(
            "response.output_item.done",
            json!({ "output_index": 0, "item": call("completed", arguments) }),
        ));
        let done = response("completed", json!([call("completed", arguments)]), usage);
        events.push(event("response.completed", json!({ "response": done })));
        return sse(events, &behavior, &s);
    }
    let mut events = vec![
        event("response.created", json!({ "response": started })),
        event("response.in_progress", json!({ "response": started })),
    ];
    for (i, item) in searches.iter().enumerate() {
        events.push(event("response.output_item.added", json!({ "output_index": i, "item": item })));
        events.push(event("response.output_item.done", json!({ "output_index": i, "item": item })));
    }
    let at = searches.len();
    events.extend([
        event("response.output_item.added", json!({ "output_index": at, "item": message("in_progress", None) })),
        event(
            "response.content_part.added",
            json!({ "item_id": item, "output_index": at, "content_index": 0,
                                                     "part": { "type": "output_text", "text": "", "annotations": [] } }),
        ),
    ]);
    let pieces = behavior.pieces(&answer);
    let cut = behavior.cut_after_chunks;
    for (i, text) in pieces.iter().enumerate() {
        if cut.is_some_and(|n| i >= n) {
            return sse(events, &behavior, &s);
        }
        events.push(event(
            "response.output_text.delta",
            json!({ "item_id": item, "output_index": at, "content_index": 0, "delta": text }),
        ));
    }
    events.push(event(
        "response.output_text.done",
        json!({ "item_id": item, "output_index": at, "content_index": 0, "text": answer }),
    ));
    events.push(event("response.content_part.done", json!({ "item_id": item, "output_index": at, "content_index": 0,
                                                            "part": { "type": "output_text", "text": answer, "annotations": [] } })));
    events.push(event(
        "response.output_item.done",
        json!({ "output_index": at, "item": message("completed", Some(&answer)) }),
    ));
    let done = response("completed", with_searches(message("completed", Some(&answer))), usage);
    events.push(event("response.completed", json!({ "response": done })));
    sse(events, &behavior, &s)
}

/// A deterministic vector for a text (8 dimensions): the same text, the same embedding.
fn vector(text: &str) -> Vec<f64> {
    let mut h: u64 = 1469598103934665603;
    (0..8)
        .map(|i| {
            for b in text.bytes().chain([i as u8]) {
                h ^= b as u64;
                h = h.wrapping_mul(1099511628211);
            }
            (h % 2000) as f64 / 1000.0 - 1.0
        })
        .collect()
}

fn inputs(req: &Value) -> Vec<String> {
    match req.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect(),
        _ => Vec::new(),
    }
}

/// OpenAI's `POST /v1/embeddings` (models `text-embedding-*`).
pub(crate) async fn embeddings(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": { "message": "We could not parse the JSON body of your request.", "type": "invalid_request_error", "param": null, "code": null } }))).into_response();
    };
    let model = req.get("model").and_then(Value::as_str).unwrap_or("").to_string();
    if let Err(r) = gate(&s, "POST", "/v1/embeddings", &headers, Some(model.clone()), false).await {
        return r;
    }
    s.note_fields(&req);
    if !model.starts_with("text-embedding-") {
        return error(Flavor::OpenAi, 404, None);
    }
    let texts = inputs(&req);
    let n: u64 = texts.iter().map(|t| tokens(t)).sum();
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| json!({ "object": "embedding", "index": i, "embedding": vector(t) }))
        .collect();
    Json(json!({ "object": "list", "data": data, "model": model, "usage": { "prompt_tokens": n, "total_tokens": n } }))
        .into_response()
}

/// Ollama's `POST /api/embed`.
pub(crate) async fn ollama_embed(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid JSON" }))).into_response();
    };
    let model = req.get("model").and_then(Value::as_str).unwrap_or("").to_string();
    if let Err(r) = gate(&s, "POST", "/api/embed", &headers, Some(model.clone()), false).await {
        return r;
    }
    s.note_fields(&req);
    let texts = inputs(&req);
    let n: u64 = texts.iter().map(|t| tokens(t)).sum();
    Json(json!({ "model": model, "embeddings": texts.iter().map(|t| vector(t)).collect::<Vec<_>>(), "prompt_eval_count": n }))
        .into_response()
}
