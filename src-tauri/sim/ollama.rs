//! Ollama's API: `/api/version`, `/api/tags`, `/api/ps`, `/api/chat` (NDJSON stream by default,
//! `prompt_eval_count` / `eval_count` in the final object), `/api/pull` (NDJSON progress:
//! `status`, and `digest`/`total`/`completed` while downloading; `{"error": …}` for a name the
//! library does not have), `/api/delete` (404 for a model that is not installed) and `/api/show`.
//! A cloud model (`…-cloud`, or one copied from one under another name: [`super::Running::serve_remotely`])
//! carries `remote_model` and `remote_host` in `/api/tags` and `/api/show`, as Ollama's do: Ollama
//! forwards its requests to ollama.com.

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
        .route("/api/embed", post(super::responses::ollama_embed))
        .route("/api/pull", post(pull))
        .route("/api/delete", axum::routing::delete(delete))
        .route("/api/show", post(show))
}

/// Where Ollama serves `name` from, when not this machine.
fn remote_of(s: &Shared, name: &str) -> Option<&'static str> {
    let aliased = s.remote.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|m| m == name);
    (aliased || name.ends_with("-cloud") || name.ends_with(":cloud")).then_some("https://ollama.com:443")
}

async fn show(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(name) = name_of(&body) else {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "model is required" }))).into_response();
    };
    // A look at a model's details, not a call: it neither records a request nor takes the
    // behavior set for the next call (a test's "the next chat fails" stays for the chat).
    let _ = headers;
    if !s.installed.lock().unwrap_or_else(|p| p.into_inner()).contains(&name) {
        return (StatusCode::NOT_FOUND, Json(json!({ "error": format!("model '{name}' not found") }))).into_response();
    }
    let mut v = json!({ "modelfile": "", "parameters": "", "template": "{{ .Prompt }}",
        "details": model_entry(&name)["details"].clone(), "capabilities": ["completion"],
        "modified_at": "2026-10-01T10:00:00.000000000Z" });
    if let Some(host) = remote_of(&s, &name) {
        v["remote_model"] = json!(name.trim_end_matches("-cloud"));
        v["remote_host"] = json!(host);
    }
    Json(v).into_response()
}

/// What the simulated library has to pull.
const LIBRARY: &[&str] = &["llama3.2:1b", "llama3.2:3b", "qwen2.5:0.5b", "gemma2:2b", "phi3:mini"];

fn name_of(body: &Bytes) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("model").or_else(|| v.get("name")).and_then(Value::as_str).map(str::to_string)
}

async fn pull(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(name) = name_of(&body) else {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "model is required" }))).into_response();
    };
    if let Err(r) = gate(&s, "POST", "/api/pull", &headers, Some(name.clone()), true).await {
        return r;
    }
    let mut lines = vec![json!({ "status": "pulling manifest" }).to_string()];
    if !LIBRARY.contains(&name.as_str()) {
        lines.push(json!({ "error": "pull model manifest: file does not exist" }).to_string());
    } else {
        let total = 1_321_098_329u64;
        for k in 0..=4u64 {
            lines.push(
                json!({ "status": "pulling a80c4f17acd5", "digest": "sha256:a80c4f17acd5", "total": total, "completed": total * k / 4 })
                    .to_string(),
            );
        }
        lines.push(json!({ "status": "verifying sha256 digest" }).to_string());
        lines.push(json!({ "status": "success" }).to_string());
        let mut installed = s.installed.lock().unwrap_or_else(|p| p.into_inner());
        if !installed.contains(&name) {
            installed.push(name);
        }
    }
    use futures_util::StreamExt;
    let body = futures_util::stream::iter(lines).then(|l| async move {
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        Ok::<_, std::convert::Infallible>(Bytes::from(format!("{l}\n")))
    });
    Response::builder()
        .header("content-type", "application/x-ndjson")
        .body(axum::body::Body::from_stream(body))
        .expect("static headers are valid")
}

async fn delete(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(name) = name_of(&body) else {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "model is required" }))).into_response();
    };
    if let Err(r) = gate(&s, "DELETE", "/api/delete", &headers, Some(name.clone()), false).await {
        return r;
    }
    let mut installed = s.installed.lock().unwrap_or_else(|p| p.into_inner());
    match installed.iter().position(|m| *m == name) {
        Some(i) => {
            installed.remove(i);
            StatusCode::OK.into_response()
        }
        None => (StatusCode::NOT_FOUND, Json(json!({ "error": format!("model '{name}' not found") }))).into_response(),
    }
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
        Ok(_) => {
            let installed = s.installed.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let entries: Vec<Value> = installed
                .iter()
                .map(|m| {
                    let mut e = model_entry(m);
                    if let Some(host) = remote_of(&s, m) {
                        e["remote_model"] = json!(m.trim_end_matches("-cloud"));
                        e["remote_host"] = json!(host);
                    }
                    e
                })
                .collect();
            Json(json!({ "models": entries })).into_response()
        }
        Err(r) => r,
    }
}

async fn ps(State(s): State<Shared>, headers: HeaderMap) -> Response {
    match gate(&s, "GET", "/api/ps", &headers, None, false).await {
        Ok(_) => {
            let installed = s.installed.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let loaded: Vec<Value> = installed
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
    if !s.installed.lock().unwrap_or_else(|p| p.into_inner()).contains(&model) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("model \"{model}\" not found, try pulling it first") })),
        )
            .into_response();
    }
    let prompt_eval_count = tokens(&prompt_text(req.get("messages")));
    let turn = super::tools::ollama(&req);
    let answer = match &turn {
        super::tools::Turn::AfterResult(r) => super::tools::after(r),
        _ => behavior.answer(),
    };
    let eval_count = tokens(&answer);
    let at = "2026-11-27T10:00:00.000000000Z";
    let done = json!({ "model": model, "created_at": at, "message": { "role": "assistant", "content": if stream { "" } else { answer.as_str() } },
        "done": true, "done_reason": "stop", "total_duration": 480_000_000u64, "load_duration": 20_000_000u64,
        "prompt_eval_count": prompt_eval_count, "prompt_eval_duration": 60_000_000u64,
        "eval_count": eval_count, "eval_duration": 400_000_000u64 });
    if let super::tools::Turn::Call { name, arguments } = &turn {
        // Ollama sends a call whole, in one message, with its arguments as an object.
        let args: Value = serde_json::from_str(arguments).expect("the arguments are JSON");
        let message = json!({ "role": "assistant", "content": "", "tool_calls": [{ "function": { "name": name, "arguments": args } }] });
        let mut whole = done.clone();
        whole["message"] = message.clone();
        if !stream {
            return Json(whole).into_response();
        }
        let first = json!({ "model": model, "created_at": at, "message": message, "done": false });
        let lines = vec![format!("{first}\n"), format!("{done}\n")];
        return ndjson(sse(lines, &Behavior { crlf: None, ..behavior.clone() }, &s));
    }
    if !stream {
        return Json(done).into_response();
    }
    let mut lines = Vec::new();
    for (i, word) in answer.split(' ').enumerate() {
        if behavior.cut_after_chunks.is_some_and(|n| i >= n) {
            return ndjson(sse(lines, &Behavior { crlf: None, ..behavior.clone() }, &s));
        }
        let text = if i == 0 { word.to_string() } else { format!(" {word}") };
        lines.push(format!("{}\n", json!({ "model": model, "created_at": at, "message": { "role": "assistant", "content": text }, "done": false })));
    }
    lines.push(format!("{done}\n"));
    ndjson(sse(lines, &Behavior { crlf: None, ..behavior.clone() }, &s))
}

fn ndjson(mut r: Response) -> Response {
    r.headers_mut().insert("content-type", "application/x-ndjson".parse().expect("valid header"));
    r
}
