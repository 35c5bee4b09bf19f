//! OpenAI chat completions, both ways: what a caller sends Keyhold's proxy and gets back, and
//! what Keyhold sends an OpenAI-style provider and reads from it.
//!
//! Usage semantics: `prompt_tokens` *includes* `prompt_tokens_details.cached_tokens`, so Keyhold
//! takes the cached ones out when reading and puts them back when writing.

use serde_json::{json, Value};

use super::canonical::{read_request, role, ChatRequest, Fields, RequestError};
use super::failure::provider_message;
use super::stream::{Piece, StreamError};
use super::{ClientWriter, Protocol};
use crate::prices::Tokens;

/// The chat endpoint under an OpenAI-style base URL (which ends in `/v1`).
pub fn chat_url(base_url: &str) -> String {
    format!("{}/chat/completions", base_url.trim_end_matches('/'))
}

// ---- The caller's side (proxy mode) ----

/// Reads a caller's chat completions body. The raw body travels along for a step of the same
/// protocol; the canonical form carries the text.
pub fn parse_request(body: Value, size: usize, default_max_tokens: u32) -> Result<ChatRequest, RequestError> {
    let fields = Fields { max_tokens: &["max_completion_tokens", "max_tokens"], stop: "stop" };
    read_request(Protocol::OpenAiChat, body, size, None, fields, default_max_tokens)
}

/// An error in OpenAI's format.
pub fn error_body(status: u16, kind: &str, message: &str) -> Value {
    json!({ "error": { "message": message, "type": kind, "param": null, "code": status.to_string() } })
}

/// Usage as OpenAI writes it: `prompt_tokens` includes the cached (and, for a translated
/// Anthropic answer, the cache-written) tokens.
pub fn write_usage(t: Tokens) -> Value {
    let prompt = t.input + t.cache_read + t.cache_write;
    json!({ "prompt_tokens": prompt, "completion_tokens": t.output, "total_tokens": prompt + t.output,
            "prompt_tokens_details": { "cached_tokens": t.cache_read } })
}

/// True for the usage-only chunk Keyhold asked for on a client's behalf.
pub fn is_usage_only_chunk(event: &[u8]) -> bool {
    let event = String::from_utf8_lossy(event);
    let data: String = event.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim).collect();
    serde_json::from_str::<Value>(&data).is_ok_and(|v| {
        v.get("choices").and_then(Value::as_array).is_some_and(|c| c.is_empty())
            && v.get("usage").is_some_and(|u| !u.is_null())
    })
}

/// Writes a translated answer as OpenAI chunks.
pub struct Writer {
    id: String,
    model: String,
    created: i64,
    include_usage: bool,
    started: bool,
}

impl Writer {
    pub fn new(model: &str, include_usage: bool) -> Self {
        Writer {
            id: format!("chatcmpl-kh{}", super::random_suffix()),
            model: model.into(),
            created: chrono::Utc::now().timestamp(),
            include_usage,
            started: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Value) -> String {
        format!(
            "data: {}\n\n",
            json!({ "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                    "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
        )
    }
}

impl ClientWriter for Writer {
    fn text(&mut self, text: &str) -> String {
        let mut out = String::new();
        if !self.started {
            self.started = true;
            out.push_str(&self.chunk(json!({ "role": "assistant", "content": "" }), Value::Null));
        }
        out.push_str(&self.chunk(json!({ "content": text }), Value::Null));
        out
    }

    fn finish(&mut self, usage: Tokens) -> String {
        let mut out = if self.started { String::new() } else { self.text("") };
        out.push_str(&self.chunk(json!({}), json!("stop")));
        if self.include_usage {
            out.push_str(&format!(
                "data: {}\n\n",
                json!({ "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                        "choices": [], "usage": write_usage(usage) })
            ));
        }
        out.push_str("data: [DONE]\n\n");
        out
    }

    fn error(&self, message: &str) -> String {
        format!("data: {}\n\n", error_body(502, super::error_type(502), message))
    }

    fn whole(&self, text: &str, usage: Tokens) -> Value {
        json!({ "id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
            "usage": write_usage(usage) })
    }
}

// ---- The provider's side ----

/// The body for an OpenAI-style provider. OpenAI's own API takes `max_completion_tokens` (its
/// newer models refuse `max_tokens`); OpenAI-compatible servers take `max_tokens`.
pub fn render_request(req: &ChatRequest, model: &str, provider_is_openai: bool) -> Value {
    let mut messages = Vec::new();
    if let Some(s) = &req.system {
        messages.push(json!({ "role": "system", "content": s }));
    }
    for t in &req.turns {
        messages.push(json!({ "role": role(t.role), "content": t.text }));
    }
    let mut body = json!({ "model": model, "messages": messages, "stream": true,
                            "stream_options": { "include_usage": true } });
    body[if provider_is_openai { "max_completion_tokens" } else { "max_tokens" }] = json!(req.max_tokens);
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if !req.stop.is_empty() {
        body["stop"] = json!(req.stop);
    }
    body
}

/// A caller's own body, before it goes upstream: it carries `cap` as its output cap (in the
/// field the caller used, else the one the provider takes), and a streamed one always asks for
/// usage (a cost nobody counted is a cost nobody can budget; the chunk is hidden again from a
/// caller that did not ask for it).
pub fn prepare_passthrough(body: &mut Value, cap: u32, provider_is_openai: bool) {
    let mut capped = false;
    for field in ["max_completion_tokens", "max_tokens"] {
        if body.get(field).is_some_and(|v| !v.is_null()) {
            body[field] = json!(cap);
            capped = true;
        }
    }
    if !capped {
        body[if provider_is_openai { "max_completion_tokens" } else { "max_tokens" }] = json!(cap);
    }
    if body.get("stream").and_then(Value::as_bool).unwrap_or(false) {
        body["stream_options"]["include_usage"] = json!(true);
    }
}

/// The text (and tool-call arguments) of a whole reply: what a usage-less reply is counted from.
pub fn read_whole_text(v: &Value) -> String {
    let mut out = String::new();
    for choice in v.get("choices").and_then(Value::as_array).into_iter().flatten() {
        if let Some(t) = choice.pointer("/message/content").and_then(Value::as_str) {
            out.push_str(t);
        }
        for call in choice.pointer("/message/tool_calls").and_then(Value::as_array).into_iter().flatten() {
            out.push_str(call.pointer("/function/arguments").and_then(Value::as_str).unwrap_or(""));
        }
    }
    out
}

fn int(v: &Value, field: &str) -> i64 {
    v.get(field).and_then(Value::as_i64).unwrap_or(0)
}

/// Usage as OpenAI reports it, in Keyhold's classes: the cached tokens out of `prompt_tokens`.
pub fn read_usage(u: &Value) -> Tokens {
    let prompt = int(u, "prompt_tokens");
    let cached = u.pointer("/prompt_tokens_details/cached_tokens").and_then(Value::as_i64).unwrap_or(0);
    Tokens { input: (prompt - cached).max(0), output: int(u, "completion_tokens"), cache_read: cached, cache_write: 0 }
}

/// The pieces of one streamed chunk (its `data`, already parsed).
pub fn read_event(v: &Value, data: &str) -> Result<Vec<Piece>, StreamError> {
    if v.get("error").is_some() {
        return Err(StreamError::Provider(provider_message(data)));
    }
    let mut out = Vec::new();
    if let Some(t) = v.pointer("/choices/0/delta/content").and_then(Value::as_str) {
        if !t.is_empty() {
            out.push(Piece::Text(t.to_string()));
        }
    }
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        out.push(Piece::Usage(read_usage(u)));
    }
    Ok(out)
}

/// The usage of a whole (non-streamed) reply.
pub fn read_whole_usage(v: &Value) -> Option<Tokens> {
    v.get("usage").filter(|u| u.is_object()).map(read_usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> ChatRequest {
        crate::providers::canonical::sample_request()
    }

    #[test]
    fn openai_gets_system_as_a_message_and_asks_for_streamed_usage() {
        let b = render_request(&req(), "gpt-4o-mini", true);
        assert_eq!(b["messages"][0], json!({ "role": "system", "content": "Be brief." }));
        assert_eq!(b["messages"][3]["content"], "Bye?");
        assert_eq!(b["stream_options"]["include_usage"], true);
        assert_eq!(b["max_completion_tokens"], 64);
        assert_eq!(render_request(&req(), "llama", false)["max_tokens"], 64);
        assert_eq!(b["stop"], json!(["END"]));
    }

    #[test]
    fn cached_tokens_are_taken_out_of_input_and_put_back_for_a_caller() {
        let u = json!({ "prompt_tokens": 1000, "completion_tokens": 20, "prompt_tokens_details": { "cached_tokens": 800 } });
        let t = read_usage(&u);
        assert_eq!(t, Tokens { input: 200, output: 20, cache_read: 800, cache_write: 0 });
        assert_eq!(write_usage(t)["prompt_tokens"], 1000);
    }

    #[test]
    fn a_translated_stream_is_well_formed() {
        let mut w = Writer::new("gpt-4o-mini", true);
        let s =
            w.text("Hel") + &w.text("lo") + &w.finish(Tokens { input: 3, output: 2, cache_read: 1, cache_write: 0 });
        assert!(s.ends_with("data: [DONE]\n\n"));
        assert!(s.contains("\"prompt_tokens\":4"), "{s}");
    }

    #[test]
    fn the_usage_chunk_a_client_did_not_ask_for_is_recognised() {
        assert!(is_usage_only_chunk(b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\n"));
        assert!(!is_usage_only_chunk(b"data: {\"choices\":[{\"delta\":{}}],\"usage\":null}\n\n"));
        assert!(!is_usage_only_chunk(b"data: [DONE]\n\n"));
    }

    #[test]
    fn a_request_without_messages_or_with_an_unknown_role_is_refused() {
        assert_eq!(parse_request(json!({ "model": "m" }), 13, 1).unwrap_err(), RequestError::NoMessages);
        let bad = json!({ "messages": [{ "role": "wizard", "content": "x" }] });
        assert!(parse_request(bad, 50, 1).unwrap_err().to_string().contains("unknown role \"wizard\""));
    }
}
