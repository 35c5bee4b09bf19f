//! Anthropic's Messages API: `GET /v1/models`, `POST /v1/messages` (plain and SSE: message_start,
//! content_block_start/delta/stop, message_delta with cumulative usage, message_stop), with
//! `cache_creation_input_tokens` and `cache_read_input_tokens` kept out of `input_tokens`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::openai::{prompt_text, sse};
use super::{error, gate, tokens, tools, Behavior, Flavor, Shared};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/models", get(models))
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
}

/// A beta field without its `anthropic-beta` flag, refused as the real API refuses it.
fn beta_refusal(req: &Value, headers: &HeaderMap) -> Option<Response> {
    let betas = headers.get("anthropic-beta").and_then(|v| v.to_str().ok()).unwrap_or("");
    let flagged = |prefix: &str| betas.split(',').any(|b| b.trim().starts_with(prefix));
    (req.get("context_management").is_some() && !flagged("context-management-")).then(|| {
        (StatusCode::BAD_REQUEST, Json(json!({ "type": "error", "error": { "type": "invalid_request_error", "message": "context_management: Extra inputs are not permitted" } }))).into_response()
    })
}

/// `POST /v1/messages/count_tokens`: the request's input tokens, as the real API counts them
/// (no `max_tokens`, which it does not take).
async fn count_tokens(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, Json(json!({ "type": "error", "error": { "type": "invalid_request_error", "message": "There was an issue with your request body: it is not valid JSON." } }))).into_response();
    };
    let model = req.get("model").and_then(Value::as_str).unwrap_or("").to_string();
    if let Err(r) = gate(&s, "POST", "/v1/messages/count_tokens", &headers, Some(model.clone()), false).await {
        return r;
    }
    s.note_fields(&req);
    if let Some(r) = beta_refusal(&req, &headers) {
        return r;
    }
    if req.get("max_tokens").is_some() {
        return (StatusCode::BAD_REQUEST, Json(json!({ "type": "error", "error": { "type": "invalid_request_error", "message": "max_tokens: Extra inputs are not permitted" } }))).into_response();
    }
    if !s.models.contains(&model) {
        return error(Flavor::Anthropic, 404, None);
    }
    let system = match req.get("system") {
        Some(Value::String(s)) => s.clone(),
        Some(v @ Value::Array(_)) => prompt_text(Some(&json!([{ "content": v }]))),
        _ => String::new(),
    };
    let prompt = format!("{system} {}", prompt_text(req.get("messages")));
    Json(json!({ "input_tokens": tokens(&prompt) })).into_response()
}

async fn models(State(s): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = gate(&s, "GET", "/v1/models", &headers, None, false).await {
        return r;
    }
    let data: Vec<Value> = s
        .models
        .iter()
        .map(|m| json!({ "type": "model", "id": m, "display_name": m, "created_at": "2025-09-29T00:00:00Z" }))
        .collect();
    let first = s.models.first().cloned();
    let last = s.models.last().cloned();
    Json(json!({ "data": data, "has_more": false, "first_id": first, "last_id": last })).into_response()
}

fn event(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

async fn messages(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return (StatusCode::BAD_REQUEST, Json(json!({ "type": "error", "error": { "type": "invalid_request_error", "message": "There was an issue with your request body: it is not valid JSON." } }))).into_response()
        }
    };
    let model = req.get("model").and_then(Value::as_str).unwrap_or("").to_string();
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let behavior = match gate(&s, "POST", "/v1/messages", &headers, Some(model.clone()), stream).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    s.note_fields(&req);
    if !s.models.contains(&model) {
        return error(Flavor::Anthropic, 404, None);
    }
    // A beta field is refused without its beta flag, as the real API does (Claude Code's first
    // request carries `context_management` under `anthropic-beta: context-management-…`).
    if let Some(r) = beta_refusal(&req, &headers) {
        return r;
    }
    if let Some(why) = tools::anthropic_refusal(&req) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "type": "error", "error": { "type": "invalid_request_error", "message": why } })),
        )
            .into_response();
    }
    if req.get("max_tokens").and_then(Value::as_u64).is_none() {
        return (StatusCode::BAD_REQUEST, Json(json!({ "type": "error", "error": { "type": "invalid_request_error", "message": "max_tokens: Field required" } }))).into_response();
    }
    let system = match req.get("system") {
        Some(Value::String(s)) => s.clone(),
        Some(v @ Value::Array(_)) => prompt_text(Some(&json!([{ "content": v }]))),
        _ => String::new(),
    };
    let prompt = format!("{system} {}", prompt_text(req.get("messages")));
    let all_input = tokens(&prompt);
    // "cache-me" in the prompt: half of it read from the cache, a quarter written to it.
    let (cache_read, cache_write) = if prompt.contains("cache-me") { (all_input / 2, all_input / 4) } else { (0, 0) };
    let input_tokens = all_input - cache_read - cache_write;
    let turn = tools::anthropic(&req);
    let answer = match &turn {
        tools::Turn::AfterResult(r) => tools::after(r),
        _ => behavior.answer_to(req.get("messages")),
    };
    let output_tokens = if behavior.negative_usage == Some(true) { -1_000_000 } else { tokens(&answer) as i64 };
    let id = "msg_sim0001";
    let usage = json!({ "input_tokens": input_tokens, "output_tokens": output_tokens,
                        "cache_creation_input_tokens": cache_write, "cache_read_input_tokens": cache_read });
    if let tools::Turn::Call { name, arguments } = &turn {
        return tool_use(&model, name, arguments, stream, usage, &behavior, &s);
    }
    let searches = crate::searches(&behavior, &req);
    let server_tool_use = json!({ "web_search_requests": searches, "web_fetch_requests": 0 });
    if !stream {
        // Each search is a server_tool_use block and its result, before the answer.
        let mut content: Vec<Value> = (0..searches)
            .flat_map(|i| {
                let id = format!("srvtoolu_sim{i:04}");
                [
                    json!({ "type": "server_tool_use", "id": id, "name": "web_search", "input": { "query": "sim" } }),
                    json!({ "type": "web_search_tool_result", "tool_use_id": id, "content": [] }),
                ]
            })
            .collect();
        content.push(json!({ "type": "text", "text": answer }));
        return Json(json!({
            "id": id, "type": "message", "role": "assistant", "model": model,
            "content": content,
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": { "input_tokens": input_tokens, "output_tokens": output_tokens,
                       "cache_creation_input_tokens": cache_write, "cache_read_input_tokens": cache_read,
                       "server_tool_use": server_tool_use }
        }))
        .into_response();
    }
    let mut events = vec![
        event(
            "message_start",
            json!({ "type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": { "input_tokens": input_tokens, "output_tokens": 1,
                       "cache_creation_input_tokens": cache_write, "cache_read_input_tokens": cache_read } } }),
        ),
        event(
            "content_block_start",
            json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
        ),
        event("ping", json!({ "type": "ping" })),
    ];
    let cut = behavior.cut_after_chunks;
    for (i, text) in behavior.pieces(&answer).into_iter().enumerate() {
        if cut.is_some_and(|n| i >= n) {
            return sse(events, &behavior, &s);
        }
        events.push(event(
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": text } }),
        ));
    }
    events.push(event("content_block_stop", json!({ "type": "content_block_stop", "index": 0 })));
    // Usage in message_delta is cumulative: the total so far, not an increment.
    events.push(event(
        "message_delta",
        json!({ "type": "message_delta", "delta": { "stop_reason": "end_turn", "stop_sequence": null },
        "usage": { "output_tokens": output_tokens, "server_tool_use": server_tool_use } }),
    ));
    events.push(event("message_stop", json!({ "type": "message_stop" })));
    sse(events, &behavior, &s)
}

/// The model calls `name`: one tool_use block, its input streamed as two input_json_delta pieces.
fn tool_use(
    model: &str,
    name: &str,
    arguments: &str,
    stream: bool,
    usage: Value,
    behavior: &Behavior,
    s: &Shared,
) -> Response {
    let (id, tool_id) = ("msg_sim0002", "toolu_sim0001");
    let input: Value = serde_json::from_str(arguments).expect("the arguments are JSON");
    if !stream {
        return Json(json!({
            "id": id, "type": "message", "role": "assistant", "model": model,
            "content": [{ "type": "tool_use", "id": tool_id, "name": name, "input": input }],
            "stop_reason": "tool_use", "stop_sequence": null, "usage": usage
        }))
        .into_response();
    }
    let (a, b) = tools::halves(arguments);
    let mut start_usage = usage.clone();
    start_usage["output_tokens"] = json!(1);
    let events = vec![
        event(
            "message_start",
            json!({ "type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": start_usage } }),
        ),
        event(
            "content_block_start",
            json!({ "type": "content_block_start", "index": 0,
            "content_block": { "type": "tool_use", "id": tool_id, "name": name, "input": {} } }),
        ),
        event(
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "input_json_delta", "partial_json": a } }),
        ),
        event(
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "input_json_delta", "partial_json": b } }),
        ),
        event("content_block_stop", json!({ "type": "content_block_stop", "index": 0 })),
        event(
            "message_delta",
            json!({ "type": "message_delta", "delta": { "stop_reason": "tool_use", "stop_sequence": null },
            "usage": { "output_tokens": usage["output_tokens"] } }),
        ),
        event("message_stop", json!({ "type": "message_stop" })),
    ];
    sse(events, behavior, s)
}
