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

use super::canonical::{
    Answer, AnswerPart, ChatRequest, RawBody, RequestError, Role, StopReason, ToolCall, ToolChoice, ToolResult,
    ToolSpec, Turn, WebSearch,
};
use super::failure::provider_message;
use super::stream::{Piece, StreamError};
use super::{ClientWriter, Protocol};
use crate::prices::{Tokens, ToolUses};

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
/// prompt; `input` (a string, or items) the turns. Function calls (and Codex's free-form
/// `custom_tool_call`s) join the assistant's turn, their outputs the user's; reasoning items
/// are OpenAI's own and stay behind. `previous_response_id` and item references point at turns
/// OpenAI keeps: only a Responses step can serve those (they are marked untranslatable).
pub fn parse_request(body: Value, size: usize, default_max_tokens: u32) -> Result<ChatRequest, RequestError> {
    let mut system: Vec<String> =
        body.get("instructions").and_then(Value::as_str).map(str::to_string).into_iter().collect();
    let mut turns: Vec<Turn> = Vec::new();
    let mut untranslatable = Vec::new();
    if body.get("previous_response_id").is_some_and(|v| !v.is_null()) {
        untranslatable.push("previous_response_id".to_string());
    }
    let at = |v: &Value, f: &str| v.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
    match body.get("input") {
        Some(Value::String(s)) => turns.push(Turn::new(Role::User, s.clone())),
        Some(Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                let kind = item.get("type").and_then(Value::as_str).unwrap_or("message");
                match kind {
                    "message" => {
                        let text = content_text(item.get("content"));
                        match item.get("role").and_then(Value::as_str) {
                            Some("system" | "developer") => system.push(text),
                            Some("user") => turns.push(Turn::new(Role::User, text)),
                            Some("assistant") => turns.push(Turn::new(Role::Assistant, text)),
                            Some(other) => return Err(RequestError::UnknownRole { index, role: other.into() }),
                            None => return Err(RequestError::NoRole(index)),
                        }
                    }
                    "function_call" | "custom_tool_call" => {
                        let arguments = if kind == "function_call" {
                            at(item, "arguments")
                        } else {
                            json!({ "input": at(item, "input") }).to_string()
                        };
                        let name = match item.get("namespace").and_then(Value::as_str) {
                            Some(ns) => super::canonical::namespaced(ns, &at(item, "name")),
                            None => at(item, "name"),
                        };
                        let call = ToolCall { id: at(item, "call_id"), name, arguments };
                        match turns.last_mut() {
                            Some(t) if t.role == Role::Assistant => t.calls.push(call),
                            _ => turns.push(Turn { role: Role::Assistant, calls: vec![call], ..Default::default() }),
                        }
                    }
                    "function_call_output" | "custom_tool_call_output" => {
                        let content = item.get("output").map(|o| content_text(Some(o))).unwrap_or_default();
                        let result = ToolResult { call_id: at(item, "call_id"), content, is_error: false };
                        match turns.last_mut() {
                            Some(t) if t.role == Role::User && t.text.is_empty() => t.results.push(result),
                            _ => turns.push(Turn { role: Role::User, results: vec![result], ..Default::default() }),
                        }
                    }
                    "reasoning" => {}
                    other => untranslatable.push(other.to_string()),
                }
            }
        }
        _ => return Err(RequestError::NoMessages),
    }
    let mut tools = Vec::new();
    let mut web_search = None;
    let spec = |t: &Value, namespace: Option<&str>| ToolSpec {
        name: at(t, "name"),
        description: t.get("description").and_then(Value::as_str).map(str::to_string),
        parameters: t.get("parameters").cloned().unwrap_or(Value::Null),
        freeform: t.get("type").and_then(Value::as_str) == Some("custom"),
        namespace: namespace.map(str::to_string),
    };
    for t in body.get("tools").and_then(Value::as_array).into_iter().flatten() {
        match t.get("type").and_then(Value::as_str).unwrap_or("function") {
            "function" | "custom" => tools.push(spec(t, None)),
            "namespace" => {
                let ns = at(t, "name");
                for inner in t.get("tools").and_then(Value::as_array).into_iter().flatten() {
                    tools.push(spec(inner, Some(&ns)));
                }
            }
            // Live search only: a cached-only search has no equivalent elsewhere.
            "web_search" | "web_search_preview"
                if t.get("external_web_access").and_then(Value::as_bool) != Some(false) =>
            {
                let domains = t.pointer("/filters/allowed_domains").and_then(Value::as_array);
                let allowed_domains =
                    domains.into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
                web_search = Some(WebSearch { allowed_domains });
            }
            kind => untranslatable.push(kind.to_string()),
        }
    }
    let tool_choice = body.get("tool_choice").and_then(|c| match c {
        Value::String(s) => Some(match s.as_str() {
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            _ => ToolChoice::Auto,
        }),
        v => match v.get("type").and_then(Value::as_str) {
            Some("function" | "custom") => v.get("name").and_then(Value::as_str).map(|n| ToolChoice::Named(n.into())),
            _ => Some(ToolChoice::Auto),
        },
    });
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
        tools,
        web_search,
        tool_choice,
        untranslatable,
        raw: Some(RawBody { protocol: Protocol::OpenAiResponses, body, size, headers: Vec::new() }),
    })
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
/// `response.in_progress`, then each output item in turn (a message: `….output_item.added`,
/// `….content_part.added`, the `….output_text.delta`s, `….output_text.done`,
/// `….content_part.done`, `….output_item.done`; a function call: `….output_item.added`, the
/// `….function_call_arguments.delta`s, `….function_call_arguments.done`,
/// `….output_item.done`), and `response.completed` with the usage (`response.incomplete` when
/// the output cap cut it).
pub struct Writer {
    id: String,
    suffix: String,
    model: String,
    created: i64,
    sequence: u64,
    started: bool,
    /// The caller's free-form tools: their calls go back as `custom_tool_call`s.
    freeform: Vec<String>,
    /// Namespaced functions by the name they had elsewhere: (namespace, name).
    namespaced: Vec<(String, String, String)>,
    /// The items written whole, for `response.completed`.
    done: Vec<Value>,
    open: Option<Open>,
    stop: StopReason,
}

/// The output item being written.
enum Open {
    Text { id: String, text: String },
    Call { call: u32, id: String, call_id: String, name: String, args: String, freeform: bool },
}

impl Writer {
    pub fn new(model: &str, tools: &[ToolSpec]) -> Self {
        let suffix = super::random_suffix();
        Writer {
            id: format!("resp_kh{suffix}"),
            suffix,
            model: model.into(),
            created: chrono::Utc::now().timestamp(),
            sequence: 0,
            started: false,
            freeform: tools.iter().filter(|t| t.freeform && t.namespace.is_none()).map(|t| t.name.clone()).collect(),
            namespaced: tools
                .iter()
                .filter_map(|t| {
                    let ns = t.namespace.as_ref()?;
                    Some((super::canonical::namespaced(ns, &t.name), ns.clone(), t.name.clone()))
                })
                .collect(),
            done: Vec::new(),
            open: None,
            stop: StopReason::EndTurn,
        }
    }

    fn event(&mut self, kind: &str, mut data: Value) -> String {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        format!("event: {kind}\ndata: {data}\n\n")
    }

    fn response(&self, status: &str, output: Vec<Value>, usage: Option<Tokens>) -> Value {
        let incomplete = (status == "incomplete").then(|| json!({ "reason": "max_output_tokens" }));
        json!({ "id": self.id, "object": "response", "created_at": self.created, "status": status,
                "model": self.model, "output": output, "error": null, "incomplete_details": incomplete,
                "usage": usage.map(write_usage) })
    }

    fn start(&mut self) -> String {
        if self.started {
            return String::new();
        }
        self.started = true;
        let r = self.response("in_progress", Vec::new(), None);
        let mut out = self.event("response.created", json!({ "response": r }));
        out.push_str(&self.event("response.in_progress", json!({ "response": r })));
        out
    }

    fn index(&self) -> usize {
        self.done.len()
    }

    fn open_text(&mut self) -> String {
        let id = format!("msg_kh{}{}", self.suffix, self.index());
        let (o, item) = (
            self.index(),
            json!({ "id": id, "type": "message", "status": "in_progress",
                                                 "role": "assistant", "content": [] }),
        );
        let mut out = self.event("response.output_item.added", json!({ "output_index": o, "item": item }));
        out.push_str(&self.event(
            "response.content_part.added",
            json!({ "item_id": id, "output_index": o, "content_index": 0,
                    "part": { "type": "output_text", "text": "", "annotations": [] } }),
        ));
        self.open = Some(Open::Text { id, text: String::new() });
        out
    }

    /// Ends the open item, if any, with its closing events.
    fn close(&mut self) -> String {
        let o = self.index();
        let mut out = String::new();
        let item = match self.open.take() {
            None => return out,
            Some(Open::Text { id, text }) => {
                let part = json!({ "type": "output_text", "text": text, "annotations": [] });
                out.push_str(&self.event(
                    "response.output_text.done",
                    json!({ "item_id": id, "output_index": o, "content_index": 0, "text": text }),
                ));
                out.push_str(&self.event(
                    "response.content_part.done",
                    json!({ "item_id": id, "output_index": o, "content_index": 0, "part": part }),
                ));
                json!({ "id": id, "type": "message", "status": "completed", "role": "assistant", "content": [part] })
            }
            Some(Open::Call { id, call_id, name, args, freeform: false, .. }) => {
                out.push_str(&self.event(
                    "response.function_call_arguments.done",
                    json!({ "item_id": id, "output_index": o, "arguments": args }),
                ));
                let mut item = json!({ "id": id, "type": "function_call", "status": "completed", "call_id": call_id,
                        "name": name, "arguments": args });
                self.name_in_namespace(&mut item, &name);
                item
            }
            Some(Open::Call { id, call_id, name, args, freeform: true, .. }) => {
                // The input of a free-form call is the `input` the translation asked for.
                let input = free_input(&args);
                out.push_str(&self.event(
                    "response.custom_tool_call_input.delta",
                    json!({ "item_id": id, "output_index": o, "delta": input }),
                ));
                out.push_str(&self.event(
                    "response.custom_tool_call_input.done",
                    json!({ "item_id": id, "output_index": o, "input": input }),
                ));
                json!({ "id": id, "type": "custom_tool_call", "status": "completed", "call_id": call_id,
                        "name": name, "input": input })
            }
        };
        out.push_str(&self.event("response.output_item.done", json!({ "output_index": o, "item": item })));
        self.done.push(item);
        out
    }

    fn call_item(&self, call: &ToolCall, index: usize) -> Value {
        if self.freeform.contains(&call.name) {
            return json!({ "id": format!("ctc_kh{}{index}", self.suffix), "type": "custom_tool_call",
                    "status": "completed", "call_id": call.id, "name": call.name, "input": free_input(&call.arguments) });
        }
        let mut item = json!({ "id": format!("fc_kh{}{index}", self.suffix), "type": "function_call",
                "status": "completed", "call_id": call.id, "name": call.name, "arguments": call.arguments });
        self.name_in_namespace(&mut item, &call.name);
        item
    }

    /// A call of a namespaced function goes back under its own name, with its namespace.
    fn name_in_namespace(&self, item: &mut Value, name: &str) {
        if let Some((_, ns, inner)) = self.namespaced.iter().find(|(joined, _, _)| joined == name) {
            item["name"] = json!(inner);
            item["namespace"] = json!(ns);
        }
    }
}

/// A free-form tool's input, from the arguments a translated call carries (`{"input": …}`).
fn free_input(args: &str) -> String {
    match serde_json::from_str::<Value>(args) {
        Ok(v) => v.get("input").and_then(Value::as_str).map_or_else(|| args.to_string(), str::to_string),
        Err(_) => args.to_string(),
    }
}

impl ClientWriter for Writer {
    fn text(&mut self, text: &str) -> String {
        let mut out = self.start();
        if !matches!(self.open, Some(Open::Text { .. })) {
            out.push_str(&self.close());
            out.push_str(&self.open_text());
        }
        if !text.is_empty() {
            let o = self.index();
            let Some(Open::Text { id, text: all }) = self.open.as_mut() else { return out };
            all.push_str(text);
            let id = id.clone();
            out.push_str(&self.event(
                "response.output_text.delta",
                json!({ "item_id": id, "output_index": o, "content_index": 0, "delta": text }),
            ));
        }
        out
    }

    fn part(&mut self, part: &AnswerPart) -> String {
        let mut out = self.start();
        match part {
            AnswerPart::CallStart { index, id, name } => {
                out.push_str(&self.close());
                let freeform = self.freeform.contains(name);
                let o = self.index();
                let item_id = format!("{}_kh{}{o}", if freeform { "ctc" } else { "fc" }, self.suffix);
                let item = if freeform {
                    json!({ "id": item_id, "type": "custom_tool_call", "status": "in_progress", "call_id": id,
                            "name": name, "input": "" })
                } else {
                    let mut item = json!({ "id": item_id, "type": "function_call", "status": "in_progress",
                                           "call_id": id, "name": name, "arguments": "" });
                    self.name_in_namespace(&mut item, name);
                    item
                };
                out.push_str(&self.event("response.output_item.added", json!({ "output_index": o, "item": item })));
                self.open = Some(Open::Call {
                    call: *index,
                    id: item_id,
                    call_id: id.clone(),
                    name: name.clone(),
                    args: String::new(),
                    freeform,
                });
            }
            AnswerPart::CallArgs { index, json: delta } => {
                let o = self.index();
                match self.open.as_mut() {
                    Some(Open::Call { call, id, args, freeform, .. }) if call == index => {
                        args.push_str(delta);
                        if !*freeform {
                            let id = id.clone();
                            out.push_str(&self.event(
                                "response.function_call_arguments.delta",
                                json!({ "item_id": id, "output_index": o, "delta": delta }),
                            ));
                        }
                    }
                    _ => tracing::warn!(call = index, "tool call arguments arrived after their call's item closed"),
                }
            }
            AnswerPart::Stop(s) => self.stop = *s,
        }
        out
    }

    fn finish(&mut self, usage: Tokens) -> String {
        let mut out = self.start();
        if self.done.is_empty() && self.open.is_none() {
            out.push_str(&self.open_text());
        }
        out.push_str(&self.close());
        let status = if self.stop == StopReason::MaxTokens { "incomplete" } else { "completed" };
        let r = self.response(status, self.done.clone(), Some(usage));
        out.push_str(&self.event(&format!("response.{status}"), json!({ "response": r })));
        out
    }

    fn error(&self, message: &str) -> String {
        let data = json!({ "type": "response.failed", "sequence_number": self.sequence,
            "response": { "id": self.id, "object": "response", "created_at": self.created, "status": "failed",
                          "model": self.model, "output": [],
                          "error": { "code": "server_error", "message": message } } });
        format!("event: response.failed\ndata: {data}\n\n")
    }

    fn whole(&self, answer: &Answer, usage: Tokens) -> Value {
        let mut output = Vec::new();
        if !answer.text.is_empty() || answer.calls.is_empty() {
            output.push(json!({ "id": format!("msg_kh{}0", self.suffix), "type": "message", "status": "completed",
                "role": "assistant", "content": [{ "type": "output_text", "text": answer.text, "annotations": [] }] }));
        }
        for (i, c) in answer.calls.iter().enumerate() {
            output.push(self.call_item(c, output.len() + i));
        }
        let status = if answer.stop == StopReason::MaxTokens { "incomplete" } else { "completed" };
        let mut r = self.response(status, output, Some(usage));
        r["output_text"] = json!(answer.text);
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
        // Each provider-side tool call is an output item of its own; counted as it completes,
        // so a stream cut later still counts the searches already made.
        Some("response.output_item.done") => {
            let used = v.get("item").map(tool_use_of).unwrap_or_default();
            Ok(if used.is_empty() { Vec::new() } else { vec![Piece::ToolsUsed(used)] })
        }
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

/// The provider-side tool an output item is a call of (`web_search_call`, `file_search_call`).
fn tool_use_of(item: &Value) -> ToolUses {
    match item.get("type").and_then(Value::as_str) {
        Some("web_search_call") => ToolUses { web_search: 1, ..Default::default() },
        Some("file_search_call") => ToolUses { file_search: 1, ..Default::default() },
        _ => ToolUses::default(),
    }
}

/// The provider-side tools a whole reply used: one per call item in its output.
pub fn read_whole_tools(v: &Value) -> ToolUses {
    let items = v.get("output").and_then(Value::as_array).into_iter().flatten();
    items.map(tool_use_of).fold(ToolUses::default(), ToolUses::plus)
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
        assert_eq!(r.turns.iter().map(|t| t.role).collect::<Vec<_>>(), [Role::User, Role::Assistant, Role::User]);
        assert_eq!(r.turns[0].text, "List files");
        let call = &r.turns[1].calls[0];
        assert_eq!(
            (call.id.as_str(), call.name.as_str(), call.arguments.as_str()),
            ("c1", "shell", "{\"cmd\":\"ls\"}")
        );
        assert_eq!(r.turns[2].results[0].content, "a.txt");
        assert_eq!(r.max_tokens, 300);
        assert_eq!(r.turns[2].results[0].call_id, "c1");
        assert!(parse_request(json!({ "model": "m", "input": "hi" }), 2, 64).unwrap().turns[0].text == "hi");
        assert!(matches!(parse_request(json!({ "model": "m" }), 2, 64), Err(RequestError::NoMessages)));
    }

    #[test]
    fn a_translated_function_call_and_free_form_call_are_items_of_their_own() {
        let tools = [ToolSpec {
            name: "apply_patch".into(),
            description: None,
            parameters: Value::Null,
            freeform: true,
            namespace: None,
        }];
        let mut w = Writer::new("claude", &tools);
        let out = w.text("Patching.")
            + &w.part(&AnswerPart::CallStart { index: 0, id: "toolu_1".into(), name: "shell".into() })
            + &w.part(&AnswerPart::CallArgs { index: 0, json: "{\"cmd\":\"ls\"}".into() })
            + &w.part(&AnswerPart::CallStart { index: 1, id: "toolu_2".into(), name: "apply_patch".into() })
            + &w.part(&AnswerPart::CallArgs { index: 1, json: "{\"input\":\"*** Begin Patch\"}".into() })
            + &w.finish(Tokens::default());
        let events: Vec<Value> = out
            .split("\n\n")
            .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert!(events.iter().enumerate().all(|(i, e)| e["sequence_number"] == i as u64));
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds[8..],
            [
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.custom_tool_call_input.delta",
                "response.custom_tool_call_input.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        let output = &events.last().unwrap()["response"]["output"];
        assert_eq!(output[1]["type"], "function_call");
        assert_eq!((output[1]["call_id"].as_str(), output[1]["output_index"].as_u64()), (Some("toolu_1"), None));
        assert_eq!(output[2]["type"], "custom_tool_call");
        assert_eq!(output[2]["input"], "*** Begin Patch");
        assert_eq!(events[8]["output_index"], 1);
    }

    #[test]
    fn custom_tools_read_as_one_string_argument_and_stored_turns_are_untranslatable() {
        let body = json!({ "model": "m", "previous_response_id": "resp_1",
            "tools": [{ "type": "custom", "name": "apply_patch" }, { "type": "web_search" }],
            "input": [{ "type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": "diff" },
                      { "type": "custom_tool_call_output", "call_id": "c1", "output": "done" }] });
        let r = parse_request(body, 10, 64).unwrap();
        assert_eq!(r.untranslatable, ["previous_response_id"]);
        assert_eq!(r.web_search, Some(WebSearch::default()), "OpenAI's search is Anthropic's too");
        assert!(r.tools[0].freeform);
        assert_eq!(r.tools[0].schema()["required"], json!(["input"]));
        assert_eq!(r.turns[0].calls[0].arguments, "{\"input\":\"diff\"}");
        assert_eq!(r.turns[1].results[0].content, "done");
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
        let mut w = Writer::new("claude-haiku-4-5", &[]);
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
