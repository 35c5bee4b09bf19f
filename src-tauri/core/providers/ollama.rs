//! Ollama's chat API (`/api/chat`, NDJSON): what Keyhold sends a local model and reads from it.
//! Usage comes as `prompt_eval_count` / `eval_count` in the final object; a local model costs
//! nothing. Detection, the model list and pulls live in `crate::ollama`.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use super::canonical::{arguments_object, call_id, AnswerPart, ChatRequest, Role, StopReason};
use super::failure::provider_message;
use super::framing::LineSplitter;
use super::stream::{Failure, Piece, Pieces, StreamError};
use crate::ledger::Outcome;
use crate::prices::Tokens;

/// A chat on a local Ollama. The request and reply types are ollama-rs's; the stream is read
/// here, line by line in bytes, because ollama-rs 0.3 decodes each network chunk on its own and
/// silently drops one that ends inside a multi-byte character.
pub async fn start(
    base_url: &str,
    model: &str,
    req: &ChatRequest,
    connect_timeout: Duration,
) -> Result<Pieces, Failure> {
    use ollama_rs::generation::chat::{request::ChatMessageRequest, ChatMessage, ChatMessageResponse};
    use ollama_rs::generation::tools::{ToolCall, ToolCallFunction};
    use ollama_rs::models::ModelOptions;
    let url = reqwest::Url::parse(&format!("{}/api/chat", base_url.trim_end_matches('/'))).map_err(|e| Failure {
        kind: Outcome::BadUrl,
        detail: format!("the Ollama address is not a URL: {e}"),
        upstream: None,
        request_fault: false,
    })?;
    let mut messages = Vec::new();
    if let Some(s) = &req.system {
        messages.push(ChatMessage::system(s.clone()));
    }
    // Which function each call id named: Ollama's tool messages carry the tool's name.
    let names: std::collections::HashMap<&str, &str> =
        req.turns.iter().flat_map(|t| &t.calls).map(|c| (c.id.as_str(), c.name.as_str())).collect();
    let mut tool_names = Vec::new();
    for t in &req.turns {
        for r in &t.results {
            messages.push(ChatMessage::tool(r.content.clone()));
            tool_names.push((messages.len() - 1, names.get(r.call_id.as_str()).map(|n| n.to_string())));
        }
        if !t.results.is_empty() && t.text.is_empty() {
            continue;
        }
        messages.push(match t.role {
            Role::User => ChatMessage::user(t.text.clone()),
            Role::Assistant => {
                let mut m = ChatMessage::assistant(t.text.clone());
                m.tool_calls = t
                    .calls
                    .iter()
                    .map(|c| ToolCall {
                        function: ToolCallFunction { name: c.name.clone(), arguments: arguments_object(&c.arguments) },
                    })
                    .collect();
                m
            }
        });
    }
    let mut options = ModelOptions::default().num_predict(req.max_tokens.min(i32::MAX as u32) as i32);
    if let Some(t) = req.temperature {
        options = options.temperature(t);
    }
    if !req.stop.is_empty() {
        options = options.stop(req.stop.clone());
    }
    let mut body = serde_json::to_value(ChatMessageRequest::new(model.to_string(), messages).options(options))
        .map_err(|e| Failure { kind: Outcome::Internal, detail: e.to_string(), request_fault: true, upstream: None })?;
    body["stream"] = Value::Bool(true);
    for (i, name) in tool_names {
        if let (Some(m), Some(name)) = (body.pointer_mut(&format!("/messages/{i}")), name) {
            m["tool_name"] = Value::String(name);
        }
    }
    // Tools as Ollama's chat API takes them (OpenAI's function shape); written here rather than
    // through ollama-rs's `ToolInfo`, whose schema type cannot hold a caller's schema as given.
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                serde_json::json!({ "type": "function", "function": { "name": t.wire_name(),
                    "description": t.description.clone().unwrap_or_default(), "parameters": t.schema() } })
            })
            .collect();
        body["tools"] = Value::Array(tools);
    }
    let client = super::stream::shared_client(connect_timeout)?;
    let resp = client.post(url).json(&body).send().await.map_err(|e| super::stream::unreachable(&e))?;
    let status = resp.status().as_u16();
    if resp.status().is_redirection() {
        return Err(super::stream::redirected(status, resp.headers(), None));
    }
    if status != 200 {
        let text = resp.text().await.unwrap_or_default();
        let detail = provider_message(&text);
        let kind =
            if status == 404 || detail.contains("not found") { Outcome::ModelMissing } else { Outcome::Http(status) };
        // A model that cannot use tools is this step's limit, not the request's fault: the next
        // step may serve it.
        let step_limit = detail.contains("does not support tools");
        return Err(Failure { kind, detail, request_fault: status == 400 && !step_limit, upstream: None });
    }
    let lines = futures_util::stream::unfold(
        (Box::pin(resp.bytes_stream()), LineSplitter::default(), false, false),
        |(mut bytes, mut splitter, mut eof, done)| async move {
            if done {
                return None;
            }
            loop {
                match splitter.next_line(eof) {
                    Ok(Some(line)) => return Some((Ok(line), (bytes, splitter, eof, false))),
                    Ok(None) if eof => return None,
                    Ok(None) => {}
                    Err(e) => return Some((Err(e.into()), (bytes, splitter, eof, true))),
                }
                match bytes.next().await {
                    Some(Ok(chunk)) => splitter.push(&chunk),
                    Some(Err(e)) => {
                        return Some((Err(StreamError::Broke(e.to_string())), (bytes, splitter, eof, true)))
                    }
                    None => eof = true,
                }
            }
        },
    );
    let mut calls = 0u32;
    let pieces = lines
        .map(move |line| -> Vec<Result<Piece, StreamError>> {
            let line = match line {
                Ok(l) if l.iter().all(u8::is_ascii_whitespace) => return Vec::new(),
                Ok(l) => l,
                Err(e) => return vec![Err(e)],
            };
            let r: ChatMessageResponse = match serde_json::from_slice(&line) {
                Ok(r) => r,
                Err(_) => return vec![Err(StreamError::NotJson(provider_message(&String::from_utf8_lossy(&line))))],
            };
            let mut v = Vec::new();
            if !r.message.content.is_empty() {
                v.push(Ok(Piece::Text(r.message.content)));
            }
            // Ollama sends each call whole, with no id.
            for c in r.message.tool_calls {
                let index = calls;
                calls += 1;
                let (id, name) = (call_id("call_", index), c.function.name);
                v.push(Ok(Piece::Part(AnswerPart::CallStart { index, id, name })));
                v.push(Ok(Piece::Part(AnswerPart::CallArgs { index, json: c.function.arguments.to_string() })));
            }
            if r.done && calls > 0 {
                v.push(Ok(Piece::Part(AnswerPart::Stop(StopReason::ToolUse))));
            }
            if let Some(f) = r.final_data {
                v.push(Ok(Piece::Usage(Tokens {
                    input: f.prompt_eval_count as i64,
                    output: f.eval_count as i64,
                    ..Default::default()
                })));
            }
            if r.done {
                v.push(Ok(Piece::End));
            }
            v
        })
        .flat_map(futures_util::stream::iter);
    // A stream that closes without `done` was cut.
    let checked =
        pieces.chain(futures_util::stream::once(async { Err::<Piece, StreamError>(StreamError::EndedEarly) }));
    let mut finished = false;
    let checked = checked.take_while(move |p| {
        let go = !finished;
        if matches!(p, Ok(Piece::End)) {
            finished = true;
        }
        async move { go }
    });
    Ok(Box::pin(checked))
}
