//! OpenAI's Responses API (`POST /v1/responses`, what Codex speaks), both ways: what a caller
//! sends Keyhold's proxy and gets back, and what Keyhold reads from a provider that speaks it
//! (the catalog's `responses`).
//!
//! Usage semantics: `input_tokens` *includes* `input_tokens_details.cached_tokens`, and
//! `output_tokens` includes `output_tokens_details.reasoning_tokens` (billed as output), so
//! Keyhold takes the cached ones out of input when reading and puts them back when writing.
//! A stream has no `[DONE]`: it ends with `response.completed`, `response.incomplete` or
//! `response.failed`, and every event carries an increasing `sequence_number`.

use serde_json::{json, Value};

use super::canonical::{ChatRequest, RawBody, RequestError, Role, Turn};
use super::failure::provider_message;
use super::stream::{Piece, StreamError};
use super::{ClientWriter, Protocol};
use crate::prices::Tokens;

/// The Responses endpoint under an OpenAI-style base URL (which ends in `/v1`).
pub fn responses_url(base_url: &str) -> String {
    format!("{}/responses", base_url.trim_end_matches('/'))
}

// ---- The caller's side (proxy mode) ----

/// The text of a `content`: a string, or the text parts (`input_text`, `output_text`, `text`).
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| matches!(p.get("type").and_then(Value::as_str), Some("input_text" | "output_text" | "text")))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Reads a caller's Responses body: `instructions` and system/developer messages are the system
/// prompt; `input` (a string, or items) the turns. Function calls and their outputs travel in
/// the raw body (which [`RawBody::carries_tools`] then reports); a function call's output counts
/// as the user's turn.
pub fn parse_request(body: Value, size: usize, default_max_tokens: u32) -> Result<ChatRequest, RequestError> {
    let mut system: Vec<String> =
        body.get("instructions").and_then(Value::as_str).map(str::to_string).into_iter().collect();
    let mut turns = Vec::new();
    match body.get("input") {
        Some(Value::String(s)) => turns.push(Turn { role: Role::User, text: s.clone() }),
        Some(Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                let kind = item.get("type").and_then(Value::as_str).unwrap_or("message");
                match kind {
                    "message" => {
                        let text = content_text(item.get("content"));
                        match item.get("role").and_then(Value::as_str) {
                            Some("system" | "developer") => system.push(text),
                            Some("user") => turns.push(Turn { role: Role::User, text }),
                            Some("assistant") => turns.push(Turn { role: Role::Assistant, text }),
                            Some(other) => return Err(RequestError::UnknownRole { index, role: other.into() }),
                            None => return Err(RequestError::NoRole(index)),
                        }
                    }
                    "function_call_output" => {
                        let text = item.get("output").map(|o| content_text(Some(o))).unwrap_or_default();
                        turns.push(Turn { role: Role::User, text });
                    }
                    // Function calls, reasoning and other items travel in the raw body.
                    _ => {}
                }
            }
        }
        _ => return Err(RequestError::NoMessages),
    }
    let max_tokens = body
        .get("max_output_tokens")
        .and_then(Value::as_u64)
        .map(|n| n.min(u32::MAX as u64) as u32)
        .unwrap_or(default_max_tokens);
    Ok(ChatRequest {
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        turns,
        max_tokens,
        temperature: body.get("temperature").and_then(Value::as_f64).map(|t| t as f32),
        stop: Vec::new(),
        choices: 1,
        raw: Some(RawBody { protocol: Protocol::OpenAiResponses, body, size, headers: Vec::new() }),
    })
}

/// True when a Responses body uses tools: declared tools, or function calls and their outputs
/// among its items.
pub fn carries_tools(body: &Value) -> bool {
    let tools = body.get("tools").and_then(Value::as_array).is_some_and(|t| !t.is_empty());
    let items = body.get("input").and_then(Value::as_array).is_some_and(|items| {
        items.iter().any(|i| {
            matches!(
                i.get("type").and_then(Value::as_str),
                Some("function_call" | "function_call_output" | "custom_tool_call" | "custom_tool_call_output")
            )
        })
    });
    tools || items
}

/// True when the body asks for something: a non-empty `input`.
pub fn has_input(body: &Value) -> bool {
    match body.get("input") {
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        _ => false,
    }
}

/// A caller's own body, before it goes upstream: it carries `cap` as its output cap.
pub fn prepare_passthrough(body: &mut Value, cap: u32) {
    body["max_output_tokens"] = json!(cap);
}

/// Usage as the Responses API writes it.
pub fn write_usage(t: Tokens) -> Value {
    let input = t.input + t.cache_read + t.cache_write;
    json!({ "input_tokens": input, "input_tokens_details": { "cached_tokens": t.cache_read },
            "output_tokens": t.output, "output_tokens_details": { "reasoning_tokens": 0 },
            "total_tokens": input + t.output })
}

/// Writes a translated answer as the Responses API's event sequence: `response.created`,
/// `response.in_progress`, `response.output_item.added`, `response.content_part.added`, the
/// `response.output_text.delta`s, then `….output_text.done`, `….content_part.done`,
/// `….output_item.done` and `response.completed` with the usage.
pub struct Writer {
    id: String,
    item: String,
    model: String,
    created: i64,
    sequence: u64,
    started: bool,
    text: String,
}

impl Writer {
    pub fn new(model: &str) -> Self {
        let suffix = super::random_suffix();
        Writer {
            id: format!("resp_kh{suffix}"),
            item: format!("msg_kh{suffix}"),
            model: model.into(),
            created: chrono::Utc::now().timestamp(),
            sequence: 0,
            started: false,
            text: String::new(),
        }
    }

    fn event(&mut self, kind: &str, mut data: Value) -> String {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        format!("event: {kind}\ndata: {data}\n\n")
    }

    fn message(&self, status: &str) -> Value {
        let content = if status == "completed" {
            json!([{ "type": "output_text", "text": self.text, "annotations": [] }])
        } else {
            json!([])
        };
        json!({ "id": self.item, "type": "message", "status": status, "role": "assistant", "content": content })
    }

    fn response(&self, status: &str, usage: Option<Tokens>) -> Value {
        let output = if status == "completed" { json!([self.message("completed")]) } else { json!([]) };
        json!({ "id": self.id, "object": "response", "created_at": self.created, "status": status,
                "model": self.model, "output": output, "error": null, "incomplete_details": null,
                "usage": usage.map(write_usage) })
    }
}

impl ClientWriter for Writer {
    fn text(&mut self, text: &str) -> String {
        let mut out = String::new();
        if !self.started {
            self.started = true;
            let r = self.response("in_progress", None);
            out.push_str(&self.event("response.created", json!({ "response": r })));
            out.push_str(&self.event("response.in_progress", json!({ "response": r })));
            let m = self.message("in_progress");
            out.push_str(&self.event("response.output_item.added", json!({ "output_index": 0, "item": m })));
            let item = self.item.clone();
            out.push_str(&self.event(
                "response.content_part.added",
                json!({ "item_id": item, "output_index": 0, "content_index": 0,
                        "part": { "type": "output_text", "text": "", "annotations": [] } }),
            ));
        }
        if !text.is_empty() {
            self.text.push_str(text);
            let item = self.item.clone();
            out.push_str(&self.event(
                "response.output_text.delta",
                json!({ "item_id": item, "output_index": 0, "content_index": 0, "delta": text }),
            ));
        }
        out
    }

    fn finish(&mut self, usage: Tokens) -> String {
        let mut out = if self.started { String::new() } else { self.text("") };
        let (item, text) = (self.item.clone(), self.text.clone());
        out.push_str(&self.event(
            "response.output_text.done",
            json!({ "item_id": item, "output_index": 0, "content_index": 0, "text": text }),
        ));
        out.push_str(&self.event(
            "response.content_part.done",
            json!({ "item_id": item, "output_index": 0, "content_index": 0,
                    "part": { "type": "output_text", "text": text, "annotations": [] } }),
        ));
        let m = self.message("completed");
        out.push_str(&self.event("response.output_item.done", json!({ "output_index": 0, "item": m })));
        let r = self.response("completed", Some(usage));
        out.push_str(&self.event("response.completed", json!({ "response": r })));
        out
    }

    fn error(&self, message: &str) -> String {
        let data = json!({ "type": "response.failed", "sequence_number": self.sequence,
            "response": { "id": self.id, "object": "response", "created_at": self.created, "status": "failed",
                          "model": self.model, "output": [],
                          "error": { "code": "server_error", "message": message } } });
        format!("event: response.failed\ndata: {data}\n\n")
    }

    fn whole(&self, text: &str, usage: Tokens) -> Value {
        let mut w = Writer { text: text.to_string(), ..Writer::new(&self.model) };
        w.id.clone_from(&self.id);
        let mut r = w.response("completed", Some(usage));
        r["output_text"] = json!(text);
        r
    }
}

// ---- The provider's side ----

fn int(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// Usage as the Responses API reports it, in Keyhold's classes: the cached tokens out of input;
/// reasoning tokens stay in output, where they are billed.
pub fn read_usage(u: &Value) -> Tokens {
    let cached = int(u, "/input_tokens_details/cached_tokens");
    Tokens {
        input: (int(u, "/input_tokens") - cached).max(0),
        output: int(u, "/output_tokens"),
        cache_read: cached,
        cache_write: 0,
    }
}

/// The pieces of one streamed event (its `data`, already parsed).
pub fn read_event(v: &Value, data: &str) -> Result<Vec<Piece>, StreamError> {
    match v.get("type").and_then(Value::as_str) {
        Some("response.output_text.delta") => Ok(v
            .get("delta")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(|t| Piece::Text(t.into()))
            .into_iter()
            .collect()),
        Some("response.completed" | "response.incomplete") => {
            let mut out: Vec<Piece> = v
                .pointer("/response/usage")
                .filter(|u| u.is_object())
                .map(|u| Piece::Usage(read_usage(u)))
                .into_iter()
                .collect();
            out.push(Piece::End);
            Ok(out)
        }
        Some("response.failed") => Err(StreamError::Provider(
            v.pointer("/response/error/message")
                .and_then(Value::as_str)
                .map_or_else(|| provider_message(data), str::to_string),
        )),
        Some("error") => Err(StreamError::Provider(
            v.get("message").and_then(Value::as_str).map_or_else(|| provider_message(data), str::to_string),
        )),
        _ => Ok(Vec::new()),
    }
}

/// The text (and function-call arguments) of a whole reply: what a usage-less reply is counted
/// from.
pub fn read_whole_text(v: &Value) -> String {
    let mut out = String::new();
    for item in v.get("output").and_then(Value::as_array).into_iter().flatten() {
        out.push_str(&content_text(item.get("content")));
        out.push_str(item.get("arguments").and_then(Value::as_str).unwrap_or(""));
    }
    out
}

/// The usage of a whole (non-streamed) reply.
pub fn read_whole_usage(v: &Value) -> Option<Tokens> {
    v.get("usage").filter(|u| u.is_object()).map(read_usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_responses_body_reads_into_turns_with_instructions_as_the_system_prompt() {
        let body = json!({ "model": "gpt-5", "instructions": "Be brief.", "max_output_tokens": 300,
            "input": [
                { "type": "message", "role": "developer", "content": [{ "type": "input_text", "text": "Use tools." }] },
                { "type": "message", "role": "user", "content": [{ "type": "input_text", "text": "List files" }] },
                { "type": "function_call", "call_id": "c1", "name": "shell", "arguments": "{\"cmd\":\"ls\"}" },
                { "type": "function_call_output", "call_id": "c1", "output": "a.txt" },
            ] });
        let r = parse_request(body, 10, 64).unwrap();
        assert_eq!(r.system.as_deref(), Some("Be brief.\n\nUse tools."));
        assert_eq!(r.turns.iter().map(|t| t.text.as_str()).collect::<Vec<_>>(), ["List files", "a.txt"]);
        assert_eq!(r.max_tokens, 300);
        assert!(carries_tools(&r.raw.as_ref().unwrap().body));
        assert!(parse_request(json!({ "model": "m", "input": "hi" }), 2, 64).unwrap().turns[0].text == "hi");
        assert!(matches!(parse_request(json!({ "model": "m" }), 2, 64), Err(RequestError::NoMessages)));
    }

    #[test]
    fn usage_keeps_cached_tokens_out_of_input_and_reasoning_in_output() {
        let u = json!({ "input_tokens": 100, "input_tokens_details": { "cached_tokens": 40 },
                        "output_tokens": 30, "output_tokens_details": { "reasoning_tokens": 20 } });
        assert_eq!(read_usage(&u), Tokens { input: 60, output: 30, cache_read: 40, cache_write: 0 });
        assert_eq!(write_usage(read_usage(&u))["input_tokens"], 100);
    }

    #[test]
    fn a_translated_answer_is_the_published_event_sequence_numbered_in_order() {
        let mut w = Writer::new("claude-haiku-4-5");
        let out =
            w.text("Hel") + &w.text("lo") + &w.finish(Tokens { input: 3, output: 2, cache_read: 0, cache_write: 0 });
        let events: Vec<Value> = out
            .split("\n\n")
            .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        assert!(events.iter().enumerate().all(|(i, e)| e["sequence_number"] == i as u64));
        let done = events.last().unwrap();
        assert_eq!(done["response"]["output"][0]["content"][0]["text"], "Hello");
        assert_eq!(done["response"]["usage"]["output_tokens"], 2);
    }
}
