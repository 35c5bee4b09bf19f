//! Anthropic Messages, both ways: what a caller sends Keyhold's proxy and gets back, and what
//! Keyhold sends Anthropic and reads from it.
//!
//! Usage semantics: `input_tokens` *excludes* `cache_read_input_tokens` and
//! `cache_creation_input_tokens`; in a stream, `message_start` carries input and cache counts
//! and `message_delta` a running total of output (it replaces, never adds to, the last one).

use serde_json::{json, Value};

use super::canonical::{
    arguments_object, read_request, role, text_of, Answer, AnswerPart, ChatRequest, Fields, RequestError, Role,
    StopReason, ToolChoice, ToolSpec, Turn, WebSearch,
};
use super::failure::provider_message;
use super::stream::{Piece, StreamError};
use super::{ClientWriter, Protocol};
use crate::prices::{Tokens, ToolUses};

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
    let mut req = read_request(Protocol::AnthropicMessages, body, size, system, fields, default_max_tokens)?;
    if let Some(raw) = &req.raw {
        for t in raw.body.get("tools").and_then(Value::as_array).into_iter().flatten() {
            match t.get("type").and_then(Value::as_str) {
                // Its web search is OpenAI's too; other typed tools are Anthropic's own (code
                // execution, computer use, its text editor and bash): no other provider has them.
                Some(kind) if kind.starts_with("web_search_") => {
                    let domains = t.get("allowed_domains").and_then(Value::as_array).into_iter().flatten();
                    let allowed_domains = domains.filter_map(Value::as_str).map(str::to_string).collect();
                    req.web_search = Some(WebSearch { allowed_domains });
                }
                Some(kind) if kind != "custom" => req.untranslatable.push(kind.to_string()),
                _ => req.tools.push(ToolSpec {
                    name: t.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
                    description: t.get("description").and_then(Value::as_str).map(str::to_string),
                    parameters: t.get("input_schema").cloned().unwrap_or(Value::Null),
                    freeform: false,
                    namespace: None,
                }),
            }
        }
        req.tool_choice = raw.body.get("tool_choice").and_then(|c| {
            Some(match c.get("type").and_then(Value::as_str)? {
                "none" => ToolChoice::None,
                "any" => ToolChoice::Required,
                "tool" => ToolChoice::Named(c.get("name").and_then(Value::as_str)?.to_string()),
                _ => ToolChoice::Auto,
            })
        });
    }
    Ok(req)
}

/// A call id as Anthropic takes it (`^[a-zA-Z0-9_-]+$`): another provider's, with any other
/// character made `_` (the same for the call and its result, so they still match).
pub fn call_id(id: &str) -> String {
    let id: String = id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    if id.is_empty() {
        "toolu_kh".into()
    } else {
        id
    }
}

/// A stop reason in Anthropic's words.
fn stop_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn => "end_turn",
        StopReason::ToolUse => "tool_use",
        StopReason::MaxTokens => "max_tokens",
    }
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
    /// The content block being written: its index, and the tool call it is (None: text).
    open: Option<(u32, Option<u32>)>,
    next_block: u32,
    calls: u32,
    stop: StopReason,
}

impl Writer {
    pub fn new(model: &str) -> Self {
        Writer {
            id: format!("msg_kh{}", super::random_suffix()),
            model: model.into(),
            started: false,
            open: None,
            next_block: 0,
            calls: 0,
            stop: StopReason::EndTurn,
        }
    }

    fn event(name: &str, data: Value) -> String {
        format!("event: {name}\ndata: {data}\n\n")
    }

    fn start(&mut self) -> String {
        if self.started {
            return String::new();
        }
        self.started = true;
        Self::event(
            "message_start",
            json!({ "type": "message_start", "message": { "id": self.id, "type": "message", "role": "assistant",
                "model": self.model, "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": write_usage(Tokens::default()) } }),
        )
    }

    /// Closes the open block, and opens `block` as the next one.
    fn open_block(&mut self, call: Option<u32>, block: Value) -> String {
        let mut out = self.close_block();
        let index = self.next_block;
        self.next_block += 1;
        self.open = Some((index, call));
        out.push_str(&Self::event(
            "content_block_start",
            json!({ "type": "content_block_start", "index": index, "content_block": block }),
        ));
        out
    }

    fn close_block(&mut self) -> String {
        match self.open.take() {
            Some((index, _)) => {
                Self::event("content_block_stop", json!({ "type": "content_block_stop", "index": index }))
            }
            None => String::new(),
        }
    }
}

impl ClientWriter for Writer {
    fn text(&mut self, text: &str) -> String {
        let mut out = self.start();
        let index = match self.open {
            Some((index, None)) => index,
            _ => {
                out.push_str(&self.open_block(None, json!({ "type": "text", "text": "" })));
                self.next_block - 1
            }
        };
        out.push_str(&Self::event(
            "content_block_delta",
            json!({ "type": "content_block_delta", "index": index, "delta": { "type": "text_delta", "text": text } }),
        ));
        out
    }

    fn part(&mut self, part: &AnswerPart) -> String {
        let mut out = self.start();
        match part {
            AnswerPart::CallStart { index, id, name } => {
                self.calls += 1;
                let block = json!({ "type": "tool_use", "id": call_id(id), "name": name, "input": {} });
                out.push_str(&self.open_block(Some(*index), block));
            }
            AnswerPart::CallArgs { index, json: args } => match self.open {
                Some((block, Some(call))) if call == *index => out.push_str(&Self::event(
                    "content_block_delta",
                    json!({ "type": "content_block_delta", "index": block,
                            "delta": { "type": "input_json_delta", "partial_json": args } }),
                )),
                // Messages blocks come one after another: a provider that interleaves two
                // calls' arguments cannot be written back in order.
                _ => tracing::warn!(call = index, "tool call arguments arrived after their call's block closed"),
            },
            AnswerPart::Stop(s) => self.stop = *s,
        }
        out
    }

    fn finish(&mut self, usage: Tokens) -> String {
        let mut out = self.start();
        if self.next_block == 0 {
            out.push_str(&self.open_block(None, json!({ "type": "text", "text": "" })));
        }
        out.push_str(&self.close_block());
        let stop = if self.calls > 0 { StopReason::ToolUse } else { self.stop };
        out.push_str(&Self::event(
            "message_delta",
            json!({ "type": "message_delta", "delta": { "stop_reason": stop_reason(stop), "stop_sequence": null },
                    "usage": write_usage(usage) }),
        ));
        out.push_str(&Self::event("message_stop", json!({ "type": "message_stop" })));
        out
    }

    fn error(&self, message: &str) -> String {
        Self::event("error", error_body(super::error_type(502), message))
    }

    fn whole(&self, answer: &Answer, usage: Tokens) -> Value {
        let mut content = Vec::new();
        if !answer.text.is_empty() || answer.calls.is_empty() {
            content.push(json!({ "type": "text", "text": answer.text }));
        }
        for c in &answer.calls {
            content.push(
                json!({ "type": "tool_use", "id": call_id(&c.id), "name": c.name, "input": arguments_object(&c.arguments) }),
            );
        }
        json!({ "id": self.id, "type": "message", "role": "assistant", "model": self.model,
            "content": content, "stop_reason": stop_reason(answer.stop_reason()), "stop_sequence": null,
            "usage": write_usage(usage) })
    }
}

// ---- The provider's side ----

/// The body for Anthropic (`max_tokens` is required there; the system prompt stands apart).
pub fn render_request(req: &ChatRequest, model: &str) -> Value {
    let mut messages: Vec<Value> = Vec::new();
    for t in &req.turns {
        let content = content_of(t);
        // Turns alternate here: two of the same role in a row (tool results, then the user's
        // words) are one message.
        match messages.last_mut() {
            Some(last) if last["role"] == role(t.role) => {
                let blocks = blocks_of(last["content"].take());
                let mut blocks = blocks;
                blocks.extend(blocks_of(content));
                last["content"] = json!(blocks);
            }
            _ => messages.push(json!({ "role": role(t.role), "content": content })),
        }
    }
    let mut body = json!({ "model": model, "messages": messages, "max_tokens": req.max_tokens, "stream": true });
    if let Some(search) = &req.web_search {
        let mut tool = json!({ "type": "web_search_20250305", "name": "web_search" });
        if !search.allowed_domains.is_empty() {
            tool["allowed_domains"] = json!(search.allowed_domains);
        }
        body["tools"] = json!([tool]);
    }
    if !req.tools.is_empty() {
        let tools = req.tools.iter().map(|t| {
            let mut tool = json!({ "name": t.wire_name(), "input_schema": t.schema() });
            if let Some(d) = &t.description {
                tool["description"] = json!(d);
            }
            tool
        });
        let mut all: Vec<Value> = body.get("tools").and_then(Value::as_array).cloned().unwrap_or_default();
        all.extend(tools);
        body["tools"] = json!(all);
        if let Some(choice) = &req.tool_choice {
            body["tool_choice"] = match choice {
                ToolChoice::Auto => json!({ "type": "auto" }),
                ToolChoice::None => json!({ "type": "none" }),
                ToolChoice::Required => json!({ "type": "any" }),
                ToolChoice::Named(n) => json!({ "type": "tool", "name": n }),
            };
        }
    }
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

/// A turn's content: its text alone as a string, else blocks (tool results first, as Anthropic
/// requires; an empty text is left out, which Anthropic also requires).
fn content_of(t: &Turn) -> Value {
    if t.calls.is_empty() && t.results.is_empty() {
        return json!(t.text);
    }
    let mut blocks = Vec::new();
    for r in &t.results {
        let mut b = json!({ "type": "tool_result", "tool_use_id": call_id(&r.call_id), "content": r.content });
        if r.is_error {
            b["is_error"] = json!(true);
        }
        blocks.push(b);
    }
    if !t.text.is_empty() {
        blocks.push(json!({ "type": "text", "text": t.text }));
    }
    if t.role == Role::Assistant {
        for c in &t.calls {
            blocks.push(
                json!({ "type": "tool_use", "id": call_id(&c.id), "name": c.name, "input": arguments_object(&c.arguments) }),
            );
        }
    }
    json!(blocks)
}

fn blocks_of(content: Value) -> Vec<Value> {
    match content {
        Value::Array(a) => a,
        Value::String(s) if s.is_empty() => Vec::new(),
        Value::String(s) => vec![json!({ "type": "text", "text": s })],
        _ => Vec::new(),
    }
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

/// What a stream has said so far: its usage, spread over message_start and message_delta, and
/// which content blocks are tool calls (a block's index → the call's place among the calls).
#[derive(Debug, Default, Clone)]
pub struct StreamUsage {
    pub tokens: Tokens,
    calls: Vec<(u64, u32)>,
    /// Server tools used so far (`usage.server_tool_use`, a running total like the tokens).
    tools: ToolUses,
}

/// Server tools as Anthropic's usage reports them (`server_tool_use`), a running total.
pub fn read_tool_uses(u: &Value) -> Option<ToolUses> {
    let s = u.get("server_tool_use").filter(|s| s.is_object())?;
    let n = |f: &str| s.get(f).and_then(Value::as_u64).map_or(0, |n| n.min(u32::MAX as u64) as u32);
    Some(ToolUses { web_search: n("web_search_requests"), web_fetch: n("web_fetch_requests"), file_search: 0 })
}

impl StreamUsage {
    /// The uses past what was already counted, from a new running total.
    fn tools_since(&mut self, total: ToolUses) -> Option<Piece> {
        let total = total.max(self.tools);
        let new = ToolUses {
            web_search: total.web_search - self.tools.web_search,
            web_fetch: total.web_fetch - self.tools.web_fetch,
            file_search: total.file_search - self.tools.file_search,
        };
        self.tools = total;
        (!new.is_empty()).then_some(Piece::ToolsUsed(new))
    }
}

/// The pieces of one streamed event (its `data`, already parsed).
pub fn read_event(v: &Value, data: &str, usage: &mut StreamUsage) -> Result<Vec<Piece>, StreamError> {
    let mut out = Vec::new();
    match v.get("type").and_then(Value::as_str) {
        Some("message_start") => {
            if let Some(u) = v.pointer("/message/usage") {
                usage.tokens = read_usage(u);
                out.push(Piece::Usage(usage.tokens));
                out.extend(read_tool_uses(u).and_then(|t| usage.tools_since(t)));
            }
        }
        Some("content_block_start") if v.pointer("/content_block/type").and_then(Value::as_str) == Some("tool_use") => {
            let block = v.get("index").and_then(Value::as_u64).unwrap_or(0);
            let index = usage.calls.len() as u32;
            usage.calls.push((block, index));
            let at = |f: &str| v.pointer(f).and_then(Value::as_str).unwrap_or_default().to_string();
            out.push(Piece::Part(AnswerPart::CallStart {
                index,
                id: at("/content_block/id"),
                name: at("/content_block/name"),
            }));
        }
        Some("content_block_delta") => {
            if let Some(t) = v.pointer("/delta/text").and_then(Value::as_str) {
                out.push(Piece::Text(t.to_string()));
            }
            if let Some(json) = v.pointer("/delta/partial_json").and_then(Value::as_str).filter(|j| !j.is_empty()) {
                let block = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                if let Some(&(_, index)) = usage.calls.iter().find(|(b, _)| *b == block) {
                    out.push(Piece::Part(AnswerPart::CallArgs { index, json: json.to_string() }));
                }
            }
        }
        Some("message_delta") => {
            if let Some(reason) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                let stop = match reason {
                    "tool_use" => StopReason::ToolUse,
                    "max_tokens" => StopReason::MaxTokens,
                    _ => StopReason::EndTurn,
                };
                out.push(Piece::Part(AnswerPart::Stop(stop)));
            }
            if let Some(u) = v.get("usage") {
                usage.tokens.output = int(u, "output_tokens");
                // Newer API versions may repeat input/cache counts here: also running totals.
                if let Some(n) = u.get("input_tokens").and_then(Value::as_i64) {
                    usage.tokens.input = n;
                }
                if let Some(n) = u.get("cache_read_input_tokens").and_then(Value::as_i64) {
                    usage.tokens.cache_read = n;
                }
                if let Some(n) = u.get("cache_creation_input_tokens").and_then(Value::as_i64) {
                    usage.tokens.cache_write = n;
                }
                out.push(Piece::Usage(usage.tokens));
                out.extend(read_tool_uses(u).and_then(|t| usage.tools_since(t)));
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

/// The server tools a whole reply used.
pub fn read_whole_tools(v: &Value) -> ToolUses {
    v.get("usage").and_then(read_tool_uses).unwrap_or_default()
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
        assert_eq!(usage.tokens, Tokens { input: 10, output: 30, cache_read: 500, cache_write: 40 });
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
    fn a_translated_tool_call_closes_the_text_block_and_streams_its_input() {
        let mut w = Writer::new("claude");
        let s = w.text("Let me look.")
            + &w.part(&AnswerPart::CallStart { index: 0, id: "call.1".into(), name: "lookup".into() })
            + &w.part(&AnswerPart::CallArgs { index: 0, json: "{\"q\":".into() })
            + &w.part(&AnswerPart::CallArgs { index: 0, json: "1}".into() })
            + &w.finish(Tokens::default());
        let events: Vec<Value> =
            s.lines().filter_map(|l| l.strip_prefix("data: ")).map(|d| serde_json::from_str(d).unwrap()).collect();
        let kinds: Vec<String> = events
            .iter()
            .map(|e| {
                format!(
                    "{}{}",
                    e["type"].as_str().unwrap(),
                    e["index"].as_u64().map_or(String::new(), |i| format!("@{i}"))
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "message_start",
                "content_block_start@0",
                "content_block_delta@0",
                "content_block_stop@0",
                "content_block_start@1",
                "content_block_delta@1",
                "content_block_delta@1",
                "content_block_stop@1",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(events[4]["content_block"]["id"], "call_1", "an id Anthropic takes");
        assert_eq!(events[8]["delta"]["stop_reason"], "tool_use");
    }

    #[test]
    fn tool_calls_and_results_read_and_render_in_anthropics_shape() {
        let body = json!({ "model": "m", "max_tokens": 50,
            "tools": [{ "name": "lookup", "input_schema": { "type": "object" } }, { "type": "web_search_20250305", "name": "web_search" }],
            "tool_choice": { "type": "any" },
            "messages": [
                { "role": "user", "content": "Weather?" },
                { "role": "assistant", "content": [{ "type": "thinking", "thinking": "hmm", "signature": "s" },
                    { "type": "tool_use", "id": "toolu_1", "name": "lookup", "input": { "q": 1 } }] },
                { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "toolu_1", "content": [{ "type": "text", "text": "sunny" }], "is_error": true }] } ] });
        let r = parse_request(body, 100, 64).unwrap();
        assert!(r.untranslatable.is_empty() && r.web_search.is_some(), "{:?}", r.untranslatable);
        assert_eq!((r.tools.len(), r.tool_choice.clone()), (1, Some(ToolChoice::Required)));
        assert_eq!(r.turns[1].calls[0].arguments, "{\"q\":1}");
        assert_eq!(
            r.turns[2].results[0],
            crate::providers::canonical::ToolResult {
                call_id: "toolu_1".into(),
                content: "sunny".into(),
                is_error: true
            }
        );
        let out = render_request(&ChatRequest { raw: None, ..r }, "claude");
        assert_eq!(
            out["messages"][1]["content"],
            json!([{ "type": "tool_use", "id": "toolu_1", "name": "lookup", "input": { "q": 1 } }]),
            "thinking stays behind"
        );
        assert_eq!(out["messages"][2]["content"][0]["is_error"], true);
        assert_eq!(out["tool_choice"], json!({ "type": "any" }));
        assert_eq!(out["tools"][0]["type"], "web_search_20250305");
        assert_eq!(out["tools"][1]["name"], "lookup");
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
