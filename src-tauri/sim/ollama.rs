//! Ollama's API: `/api/version`, `/api/tags`, `/api/ps`, `/api/chat` (NDJSON stream by default,
//! `prompt_eval_count` / `eval_count` in the final object).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::openai::{prompt_text, sse};
use super::{gate, tokens, Behavior, Shared};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/version", get(version))
        .route("/api/tags", get(tags))
        .route("/api/ps", get(ps))
        .route("/api/chat", post(chat))
}

async fn version(State(s): State<Shared>, headers: HeaderMap) -> Response {
    match gate(&s, "GET", "/api/version", &headers, None, false).await {
        Ok(_) => Json(json!({ "version": "0.12.6" })).into_response(),
        Err(r) => r,
    }
}

fn model_entry(name: &str) -> Value {
    json!({ "name": name, "model": name, "modified_at": "2026-10-01T10:00:00.000000000Z", "size": 1_321_098_329u64,
            "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
            "details": { "parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                         "parameter_size": "1.2B", "quantization_level": "Q8_0" } })
}

async fn tags(State(s): State<Shared>, headers: HeaderMap) -> Response {
    match gate(&s, "GET", "/api/tags", &headers, None, false).await {
        Ok(_) => Json(json!({ "models": s.models.iter().map(|m| model_entry(m)).collect::<Vec<_>>() })).into_response(),
        Err(r) => r,
    }
}

async fn ps(State(s): State<Shared>, headers: HeaderMap) -> Response {
    match gate(&s, "GET", "/api/ps", &headers, None, false).await {
        Ok(_) => {
            let loaded: Vec<Value> = s
                .models
                .iter()
                .take(1)
                .map(|m| {
                    let mut e = model_entry(m);
                    e["expires_at"] = json!("2026-11-27T12:00:00Z");
                    e["size_vram"] = json!(0);
                    e
                })
                .collect();
            Json(json!({ "models": loaded })).into_response()
        }
        Err(r) => r,
    }
}

async fn chat(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid character in JSON body" }))).into_response();
    };
    let model = req.get("model").and_then(Value::as_str).unwrap_or("").to_string();
    let stream = req.get("stream").and_then(Value::as_bool).unwrap_or(true);
    let behavior = match gate(&s, "POST", "/api/chat", &headers, Some(model.clone()), stream).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    s.note_fields(&req);
    if !s.models.contains(&model) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("model \"{model}\" not found, try pulling it first") })),
        )
            .into_response();
    }
    let prompt_eval_count = tokens(&prompt_text(req.get("messages")));
    let answer = behavior.answer();
    let eval_count = tokens(&answer);
    let at = "2026-11-27T10:00:00.000000000Z";
    let done = json!({ "model": model, "created_at": at, "message": { "role": "assistant", "content": if stream { "" } else { answer.as_str() } },
        "done": true, "done_reason": "stop", "total_duration": 480_000_000u64, "load_duration": 20_000_000u64,
        "prompt_eval_count": prompt_eval_count, "prompt_eval_duration": 60_000_000u64,
        "eval_count": eval_count, "eval_duration": 400_000_000u64 });
    if !stream {
        return Json(done).into_response();
    }
    let mut lines = Vec::new();
    for (i, word) in answer.split(' ').enumerate() {
        if behavior.cut_after_chunks.is_some_and(|n| i >= n) {
            return ndjson(sse(lines, &Behavior { crlf: None, ..behavior.clone() }));
        }
        let text = if i == 0 { word.to_string() } else { format!(" {word}") };
        lines.push(format!("{}\n", json!({ "model": model, "created_at": at, "message": { "role": "assistant", "content": text }, "done": false })));
    }
    lines.push(format!("{done}\n"));
    ndjson(sse(lines, &Behavior { crlf: None, ..behavior.clone() }))
}

fn ndjson(mut r: Response) -> Response {
    r.headers_mut().insert("content-type", "application/x-ndjson".parse().expect("valid header"));
    r
}
