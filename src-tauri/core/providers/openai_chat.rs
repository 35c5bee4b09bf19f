//! OpenAI chat completions, both ways: what a caller sends Keyhold's proxy and gets back, and
//! what Keyhold sends an OpenAI-style provider and reads from it.
//!
//! Usage semantics: `prompt_tokens` *includes* `prompt_tokens_details.cached_tokens`, so Keyhold
//! takes the cached ones out when reading and puts them back when writing.

use serde_json::{json, Value};

use super::canonical::{
    read_request, role, Answer, AnswerPart, ChatRequest, Fields, RequestError, Role, StopReason, ToolChoice, ToolSpec,
};
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
    let mut req = read_request(Protocol::OpenAiChat, body, size, None, fields, default_max_tokens)?;
    if let Some(raw) = &req.raw {
        let (tools, untranslatable) = read_tools(&raw.body);
        req.tool_choice = read_tool_choice(&raw.body);
        req.tools = tools;
        req.untranslatable = untranslatable;
    }
    Ok(req)
}

/// A caller's function tools (`tools[].function`, and the older `functions`), and the types of
/// any others (which no other protocol has).
fn read_tools(body: &Value) -> (Vec<ToolSpec>, Vec<String>) {
    let (mut tools, mut other) = (Vec::new(), Vec::new());
    for t in body.get("tools").and_then(Value::as_array).into_iter().flatten() {
        match t.get("type").and_then(Value::as_str).unwrap_or("function") {
            "function" => tools.push(spec(t.get("function").unwrap_or(t), false)),
            "custom" => tools.push(spec(t.get("custom").unwrap_or(t), true)),
            kind => other.push(kind.to_string()),
        }
    }
    for f in body.get("functions").and_then(Value::as_array).into_iter().flatten() {
        tools.push(spec(f, false));
    }
    (tools, other)
}

fn spec(f: &Value, freeform: bool) -> ToolSpec {
    ToolSpec {
        name: f.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
        description: f.get("description").and_then(Value::as_str).map(str::to_string),
        parameters: f.get("parameters").cloned().unwrap_or(Value::Null),
        freeform,
        namespace: None,
    }
}

/// `tool_choice` (or the older `function_call`): a word, or the one function to call.
fn read_tool_choice(body: &Value) -> Option<ToolChoice> {
    match body.get("tool_choice").or_else(|| body.get("function_call"))? {
        Value::String(s) => Some(match s.as_str() {
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            _ => ToolChoice::Auto,
        }),
        v => v
            .pointer("/function/name")
            .or_else(|| v.pointer("/custom/name"))
            .or_else(|| v.get("name"))
            .and_then(Value::as_str)
            .map(|n| ToolChoice::Named(n.to_string())),
    }
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
    calls: u32,
    stop: StopReason,
}

/// A stop reason in OpenAI's words.
fn finish_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn => "stop",
        StopReason::ToolUse => "tool_calls",
        StopReason::MaxTokens => "length",
    }
}

impl Writer {
    pub fn new(model: &str, include_usage: bool) -> Self {
        Writer {
            id: format!("chatcmpl-kh{}", super::random_suffix()),
            model: model.into(),
            created: chrono::Utc::now().timestamp(),
            include_usage,
            started: false,
            calls: 0,
            stop: StopReason::EndTurn,
        }
    }

    fn start(&mut self) -> String {
        if self.started {
            return String::new();
        }
        self.started = true;
        self.chunk(json!({ "role": "assistant", "content": "" }), Value::Null)
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
        let mut out = self.start();
        out.push_str(&self.chunk(json!({ "content": text }), Value::Null));
        out
    }

    fn part(&mut self, part: &AnswerPart) -> String {
        let mut out = self.start();
        match part {
            AnswerPart::CallStart { index, id, name } => {
                self.calls += 1;
                let call = json!({ "index": index, "id": id, "type": "function",
                                   "function": { "name": name, "arguments": "" } });
                out.push_str(&self.chunk(json!({ "tool_calls": [call] }), Value::Null));
            }
            AnswerPart::CallArgs { index, json: args } => {
                let call = json!({ "index": index, "function": { "arguments": args } });
                out.push_str(&self.chunk(json!({ "tool_calls": [call] }), Value::Null));
            }
            AnswerPart::Stop(s) => self.stop = *s,
        }
        out
    }

    fn finish(&mut self, usage: Tokens) -> String {
        let mut out = self.start();
        let stop = if self.calls > 0 { StopReason::ToolUse } else { self.stop };
        out.push_str(&self.chunk(json!({}), json!(finish_reason(stop))));
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

    fn whole(&self, answer: &Answer, usage: Tokens) -> Value {
        let mut message = json!({ "role": "assistant", "content": answer.text });
        if !answer.calls.is_empty() {
            if answer.text.is_empty() {
                message["content"] = Value::Null;
            }
            message["tool_calls"] = json!(answer
                .calls
                .iter()
                .map(|c| json!({ "id": c.id, "type": "function",
                "function": { "name": c.name, "arguments": c.arguments } }))
                .collect::<Vec<_>>());
        }
        json!({ "id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
            "choices": [{ "index": 0, "message": message, "finish_reason": finish_reason(answer.stop_reason()) }],
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
        // Tool results are messages of their own, right after the call's assistant message.
        for r in &t.results {
            messages.push(json!({ "role": "tool", "tool_call_id": r.call_id, "content": r.content }));
        }
        if t.role == Role::Assistant && !t.calls.is_empty() {
            let calls: Vec<Value> = t
                .calls
                .iter()
                .map(|c| {
                    let args = if c.arguments.trim().is_empty() { "{}" } else { c.arguments.as_str() };
                    json!({ "id": c.id, "type": "function", "function": { "name": c.name, "arguments": args } })
                })
                .collect();
            let content = if t.text.is_empty() { Value::Null } else { json!(t.text) };
            messages.push(json!({ "role": "assistant", "content": content, "tool_calls": calls }));
        } else if t.results.is_empty() || !t.text.is_empty() {
            messages.push(json!({ "role": role(t.role), "content": t.text }));
        }
    }
    let mut body = json!({ "model": model, "messages": messages, "stream": true,
                            "stream_options": { "include_usage": true } });
    if !req.tools.is_empty() {
        body["tools"] = json!(req
            .tools
            .iter()
            .map(|t| {
                let mut f = json!({ "name": t.wire_name(), "parameters": t.schema() });
                if let Some(d) = &t.description {
                    f["description"] = json!(d);
                }
                json!({ "type": "function", "function": f })
            })
            .collect::<Vec<_>>());
        if let Some(choice) = &req.tool_choice {
            body["tool_choice"] = match choice {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Named(n) => json!({ "type": "function", "function": { "name": n } }),
            };
        }
    }
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
    for (i, call) in
        v.pointer("/choices/0/delta/tool_calls").and_then(Value::as_array).into_iter().flatten().enumerate()
    {
        // Servers that send each call whole sometimes leave out its index.
        let index = call.get("index").and_then(Value::as_u64).unwrap_or(i as u64) as u32;
        if let Some(id) = call.get("id").and_then(Value::as_str) {
            let name = call.pointer("/function/name").and_then(Value::as_str).unwrap_or_default();
            out.push(Piece::Part(AnswerPart::CallStart { index, id: id.into(), name: name.into() }));
        }
        if let Some(args) = call.pointer("/function/arguments").and_then(Value::as_str).filter(|a| !a.is_empty()) {
            out.push(Piece::Part(AnswerPart::CallArgs { index, json: args.into() }));
        }
    }
    if let Some(reason) = v.pointer("/choices/0/finish_reason").and_then(Value::as_str) {
        let stop = match reason {
            "tool_calls" | "function_call" => StopReason::ToolUse,
            "length" => StopReason::MaxTokens,
            _ => StopReason::EndTurn,
        };
        out.push(Piece::Part(AnswerPart::Stop(stop)));
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
    fn tool_calls_read_from_a_stream_and_render_as_tool_messages() {
        let start = json!({ "choices": [{ "index": 0, "delta": { "tool_calls": [{ "index": 0, "id": "call_1",
            "type": "function", "function": { "name": "lookup", "arguments": "" } }] }, "finish_reason": null }] });
        assert_eq!(
            read_event(&start, "").unwrap(),
            [Piece::Part(AnswerPart::CallStart { index: 0, id: "call_1".into(), name: "lookup".into() })]
        );
        let more = json!({ "choices": [{ "index": 0, "delta": { "tool_calls": [{ "index": 0, "function": { "arguments": "{}" } }] }, "finish_reason": "tool_calls" }] });
        assert_eq!(
            read_event(&more, "").unwrap(),
            [
                Piece::Part(AnswerPart::CallArgs { index: 0, json: "{}".into() }),
                Piece::Part(AnswerPart::Stop(StopReason::ToolUse))
            ]
        );
        let mut req = req();
        req.turns.push(crate::providers::canonical::Turn {
            role: Role::Assistant,
            calls: vec![crate::providers::canonical::ToolCall {
                id: "t1".into(),
                name: "lookup".into(),
                arguments: String::new(),
            }],
            ..Default::default()
        });
        req.turns.push(crate::providers::canonical::Turn {
            role: Role::User,
            results: vec![crate::providers::canonical::ToolResult {
                call_id: "t1".into(),
                content: "ok".into(),
                is_error: false,
            }],
            ..Default::default()
        });
        let b = render_request(&req, "gpt-4o", true);
        let n = b["messages"].as_array().unwrap().len();
        assert_eq!(b["messages"][n - 2]["tool_calls"][0]["function"]["arguments"], "{}", "arguments are never empty");
        assert_eq!(b["messages"][n - 2]["content"], Value::Null);
        assert_eq!(b["messages"][n - 1], json!({ "role": "tool", "tool_call_id": "t1", "content": "ok" }));
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
