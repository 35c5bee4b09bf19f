//! Anthropic Messages, both ways: what a caller sends Keyhold's proxy and gets back, and what
//! Keyhold sends Anthropic and reads from it.
//!
//! Usage semantics: `input_tokens` *excludes* `cache_read_input_tokens` and
//! `cache_creation_input_tokens`; in a stream, `message_start` carries input and cache counts
//! and `message_delta` a running total of output (it replaces, never adds to, the last one).

use serde_json::{json, Value};

use super::canonical::{read_request, role, text_of, ChatRequest, Fields, RequestError};
use super::failure::provider_message;
use super::stream::{Piece, StreamError};
use super::{ClientWriter, Protocol};
use crate::prices::Tokens;

/// The API version header Anthropic's SDKs send.
pub const VERSION: &str = "2023-06-01";

/// The Messages endpoint under an Anthropic base URL (which has no `/v1`).
pub fn messages_url(base_url: &str) -> String {
    format!("{}/v1/messages", base_url.trim_end_matches('/'))
}

// ---- The caller's side (proxy mode) ----

/// Reads a caller's Messages body. The raw body travels along for a step of the same protocol;
/// the canonical form carries the text.
pub fn parse_request(body: Value, size: usize, default_max_tokens: u32) -> Result<ChatRequest, RequestError> {
    let system = Some(text_of(body.get("system"))).filter(|s| !s.is_empty());
    let fields = Fields { max_tokens: &["max_tokens"], stop: "stop_sequences" };
    read_request(Protocol::AnthropicMessages, body, size, system, fields, default_max_tokens)
}

/// An error in Anthropic's format.
pub fn error_body(kind: &str, message: &str) -> Value {
    json!({ "type": "error", "error": { "type": kind, "message": message } })
}

/// Usage as Anthropic writes it.
pub fn write_usage(t: Tokens) -> Value {
    json!({ "input_tokens": t.input, "output_tokens": t.output,
            "cache_read_input_tokens": t.cache_read, "cache_creation_input_tokens": t.cache_write })
}

/// Writes a translated answer as Anthropic's stream events.
pub struct Writer {
    id: String,
    model: String,
    started: bool,
}

impl Writer {
    pub fn new(model: &str) -> Self {
        Writer { id: format!("msg_kh{}", super::random_suffix()), model: model.into(), started: false }
    }

    fn event(name: &str, data: Value) -> String {
        format!("event: {name}\ndata: {data}\n\n")
    }
}

impl ClientWriter for Writer {
    fn text(&mut self, text: &str) -> String {
        let mut out = String::new();
        if !self.started {
            self.started = true;
            out.push_str(&Self::event(
                "message_start",
                json!({ "type": "message_start", "message": { "id": self.id, "type": "message", "role": "assistant",
                    "model": self.model, "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": write_usage(Tokens::default()) } }),
            ));
            out.push_str(&Self::event(
                "content_block_start",
                json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
            ));
        }
        out.push_str(&Self::event(
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": text } }),
        ));
        out
    }

    fn finish(&mut self, usage: Tokens) -> String {
        let mut out = if self.started { String::new() } else { self.text("") };
        out.push_str(&Self::event("content_block_stop", json!({ "type": "content_block_stop", "index": 0 })));
        out.push_str(&Self::event(
            "message_delta",
            json!({ "type": "message_delta", "delta": { "stop_reason": "end_turn", "stop_sequence": null },
                    "usage": write_usage(usage) }),
        ));
        out.push_str(&Self::event("message_stop", json!({ "type": "message_stop" })));
        out
    }

    fn error(&self, message: &str) -> String {
        Self::event("error", error_body(super::error_type(502), message))
    }

    fn whole(&self, text: &str, usage: Tokens) -> Value {
        json!({ "id": self.id, "type": "message", "role": "assistant", "model": self.model,
            "content": [{ "type": "text", "text": text }], "stop_reason": "end_turn", "stop_sequence": null,
            "usage": write_usage(usage) })
    }
}

// ---- The provider's side ----

/// The body for Anthropic (`max_tokens` is required there; the system prompt stands apart).
pub fn render_request(req: &ChatRequest, model: &str) -> Value {
    let messages: Vec<Value> = req.turns.iter().map(|t| json!({ "role": role(t.role), "content": t.text })).collect();
    let mut body = json!({ "model": model, "messages": messages, "max_tokens": req.max_tokens, "stream": true });
    if let Some(s) = &req.system {
        body["system"] = json!(s);
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if !req.stop.is_empty() {
        body["stop_sequences"] = json!(req.stop);
    }
    body
}

/// A caller's own body, before it goes upstream: it carries `cap` as its output cap.
pub fn prepare_passthrough(body: &mut Value, cap: u32) {
    body["max_tokens"] = json!(cap);
}

/// The text (and tool inputs) of a whole reply: what a usage-less reply is counted from.
pub fn read_whole_text(v: &Value) -> String {
    let mut out = String::new();
    for block in v.get("content").and_then(Value::as_array).into_iter().flatten() {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => out.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("tool_use") => out.push_str(&block.get("input").map(Value::to_string).unwrap_or_default()),
            _ => {}
        }
    }
    out
}

fn int(v: &Value, field: &str) -> i64 {
    v.get(field).and_then(Value::as_i64).unwrap_or(0)
}

/// Usage as Anthropic reports it (already in Keyhold's classes).
pub fn read_usage(u: &Value) -> Tokens {
    Tokens {
        input: int(u, "input_tokens"),
        output: int(u, "output_tokens"),
        cache_read: int(u, "cache_read_input_tokens"),
        cache_write: int(u, "cache_creation_input_tokens"),
    }
}

/// The usage of a stream so far, spread over message_start and message_delta.
#[derive(Debug, Default, Clone, Copy)]
pub struct StreamUsage(pub Tokens);

/// The pieces of one streamed event (its `data`, already parsed).
pub fn read_event(v: &Value, data: &str, usage: &mut StreamUsage) -> Result<Vec<Piece>, StreamError> {
    let mut out = Vec::new();
    match v.get("type").and_then(Value::as_str) {
        Some("message_start") => {
            if let Some(u) = v.pointer("/message/usage") {
                usage.0 = read_usage(u);
                out.push(Piece::Usage(usage.0));
            }
        }
        Some("content_block_delta") => {
            if let Some(t) = v.pointer("/delta/text").and_then(Value::as_str) {
                out.push(Piece::Text(t.to_string()));
            }
        }
        Some("message_delta") => {
            if let Some(u) = v.get("usage") {
                usage.0.output = int(u, "output_tokens");
                // Newer API versions may repeat input/cache counts here: also running totals.
                if let Some(n) = u.get("input_tokens").and_then(Value::as_i64) {
                    usage.0.input = n;
                }
                if let Some(n) = u.get("cache_read_input_tokens").and_then(Value::as_i64) {
                    usage.0.cache_read = n;
                }
                if let Some(n) = u.get("cache_creation_input_tokens").and_then(Value::as_i64) {
                    usage.0.cache_write = n;
                }
                out.push(Piece::Usage(usage.0));
            }
        }
        Some("message_stop") => out.push(Piece::End),
        Some("error") => {
            return Err(StreamError::Provider(provider_message(data)));
        }
        _ => {}
    }
    Ok(out)
}

/// The usage of a whole (non-streamed) reply.
pub fn read_whole_usage(v: &Value) -> Option<Tokens> {
    v.get("usage").map(read_usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_gets_system_apart_and_stop_sequences() {
        let b = render_request(&crate::providers::canonical::sample_request(), "claude-haiku-4-5");
        assert_eq!(b["system"], "Be brief.");
        assert_eq!(b["messages"].as_array().unwrap().len(), 3);
        assert_eq!(b["messages"][0]["role"], "user");
        assert_eq!(b["stop_sequences"], json!(["END"]));
        assert_eq!(b["max_tokens"], 64);
    }

    #[test]
    fn output_usage_is_a_running_total_not_an_increment() {
        let mut usage = StreamUsage::default();
        let start = json!({ "type": "message_start", "message": { "usage": { "input_tokens": 10, "output_tokens": 1,
            "cache_read_input_tokens": 500, "cache_creation_input_tokens": 40 } } });
        read_event(&start, "", &mut usage).unwrap();
        for n in [5, 12, 30] {
            let d = json!({ "type": "message_delta", "delta": {}, "usage": { "output_tokens": n } });
            read_event(&d, "", &mut usage).unwrap();
        }
        assert_eq!(usage.0, Tokens { input: 10, output: 30, cache_read: 500, cache_write: 40 });
    }

    #[test]
    fn a_translated_stream_has_every_event_in_order() {
        let mut w = Writer::new("claude");
        let s = w.text("Hi") + &w.finish(Tokens { input: 3, output: 2, ..Default::default() });
        let names: Vec<&str> = s.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
    }

    #[test]
    fn openai_and_anthropic_requests_read_into_the_same_canonical_form() {
        let o = crate::providers::openai_chat::parse_request(
            json!({ "model": "m", "max_tokens": 50, "stop": "X", "messages": [
                { "role": "system", "content": "Be brief." }, { "role": "user", "content": [{ "type": "text", "text": "Hi" }] } ] }),
            140,
            1024,
        )
        .unwrap();
        let a = parse_request(
            json!({ "model": "m", "max_tokens": 50, "stop_sequences": ["X"], "system": "Be brief.",
                    "messages": [{ "role": "user", "content": "Hi" }] }),
            110,
            1024,
        )
        .unwrap();
        assert_eq!((o.system, o.turns, o.max_tokens, o.stop), (a.system, a.turns, a.max_tokens, a.stop));
    }
}
