//! Putting the user's values back into an answer: exactly, as it streams, and only for
//! placeholders Keyhold made. A placeholder the model invented or mangled stays as it is and is
//! counted, never guessed.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use regex::Regex;
use serde_json::Value;

use super::ToolValues;
use crate::providers::Protocol;

/// The longest text a placeholder can be (`[ADDRESS_999999]`): a held-back tail never exceeds it.
const MAX_PLACEHOLDER: usize = 16;

fn placeholder_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\[(?:SECRET|EMAIL|PHONE|CARD|IBAN|IP|ADDRESS|ID|TERM)_[0-9]{1,6}\]").expect("placeholder regex")
    })
}

/// Every text in `text` that reads like one of Keyhold's placeholders.
pub fn placeholders_in(text: &str) -> Vec<&str> {
    if !text.contains('[') {
        return Vec::new();
    }
    placeholder_re().find_iter(text).map(|m| m.as_str()).collect()
}

/// Could `tail` (starting with `[`) still grow into a placeholder?
fn could_be_placeholder(tail: &str) -> bool {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"^\[[A-Z]{0,7}(?:_[0-9]{0,6})?$").expect("prefix regex"));
    tail.len() < MAX_PLACEHOLDER && re.is_match(tail)
}

/// Restores one stream of text (one field of an answer). Text that might be the start of a
/// placeholder is held back until the next piece says what it is.
#[derive(Clone)]
pub struct Restorer {
    map: Arc<HashMap<String, String>>,
    pending: String,
    /// The stream is JSON text (a tool call's arguments as a string): restored values are
    /// written JSON-escaped.
    json: bool,
    /// The stream is a tool call's arguments: a secret is never restored there. The tool gets
    /// `[SECRET_1]`: a model that was told (by a prompt injection, say) to hand the key to a
    /// tool that sends it somewhere hands over the placeholder. The other kinds come back as the
    /// agent's [`ToolValues`] says.
    tool: bool,
    tool_values: ToolValues,
    unknown: u32,
}

impl Restorer {
    pub fn new(map: Arc<HashMap<String, String>>) -> Self {
        Restorer {
            map,
            pending: String::new(),
            json: false,
            tool: false,
            tool_values: ToolValues::default(),
            unknown: 0,
        }
    }

    /// What the tool calls of this answer get back (the agent's choice).
    pub fn with_tool_values(mut self, tool_values: ToolValues) -> Self {
        self.tool_values = tool_values;
        self
    }

    /// The same placeholders, for a tool call's arguments given as JSON text.
    pub fn for_json(&self) -> Self {
        Restorer { json: true, ..self.for_tool() }
    }

    /// The same placeholders, for the string values inside a tool call's input object.
    pub fn for_tool(&self) -> Self {
        Restorer {
            map: Arc::clone(&self.map),
            pending: String::new(),
            json: false,
            tool: true,
            tool_values: self.tool_values,
            unknown: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Placeholders seen that Keyhold did not make (left as they were).
    pub fn unknown(&self) -> u32 {
        self.unknown
    }

    /// The next piece of text; returns what can be shown now.
    pub fn push(&mut self, piece: &str) -> String {
        if self.map.is_empty() {
            return piece.to_string();
        }
        self.pending.push_str(piece);
        let text = std::mem::take(&mut self.pending);
        // Hold back a tail that may be an unfinished placeholder.
        let cut = match text.rfind('[') {
            Some(i) if could_be_placeholder(&text[i..]) => i,
            _ => text.len(),
        };
        self.pending = text[cut..].to_string();
        self.replace(&text[..cut])
    }

    /// The end of the stream: whatever was held back, as it is.
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        self.replace(&rest)
    }

    /// A whole text at once.
    pub fn restore_all(&mut self, text: &str) -> String {
        self.replace(text)
    }

    fn replace(&mut self, text: &str) -> String {
        if !text.contains('[') {
            return text.to_string();
        }
        let mut unknown = 0;
        let out = placeholder_re()
            .replace_all(text, |c: &regex::Captures<'_>| match self.map.get(&c[0]) {
                Some(_) if self.tool && c[0].starts_with("[SECRET_") => c[0].to_string(),
                // The user's own placeholder-like text (mapped to itself) comes back as it was.
                Some(v) if self.tool && self.tool_values == ToolValues::Placeholders && *v != c[0] => c[0].to_string(),
                Some(v) if self.json => {
                    let quoted = serde_json::to_string(v).expect("a string serializes");
                    quoted[1..quoted.len() - 1].to_string()
                }
                Some(v) => v.clone(),
                None => {
                    unknown += 1;
                    c[0].to_string()
                }
            })
            .into_owned();
        self.unknown += unknown;
        out
    }
}

/// Restores a caller's own protocol as it passes through: whole reply bodies, and stream events
/// one by one, each text field with its own [`Restorer`] so a placeholder split across two
/// events comes out whole.
pub struct RawRestorer {
    base: Restorer,
    protocol: Protocol,
    fields: HashMap<String, Restorer>,
    unknown: u32,
    /// Responses events carry a `sequence_number`: events this restorer adds (a held-back tail
    /// sent before its `.done`) shift the ones after them.
    added: u64,
}

impl RawRestorer {
    pub fn new(base: Restorer, protocol: Protocol) -> Self {
        RawRestorer { base, protocol, fields: HashMap::new(), unknown: 0, added: 0 }
    }

    pub fn unknown(&self) -> u32 {
        self.unknown + self.fields.values().map(Restorer::unknown).sum::<u32>()
    }

    /// One raw piece from upstream (a whole JSON body, or one SSE event): the bytes to send on,
    /// one or more (a held-back tail is sent as its own event before the one that ends a block).
    pub fn piece(&mut self, raw: &Bytes) -> Vec<Bytes> {
        if self.base.is_empty() {
            return vec![raw.clone()];
        }
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t,
            Err(_) => return vec![raw.clone()],
        };
        if text.trim_start().starts_with('{') {
            return vec![self.whole(text).unwrap_or_else(|| raw.clone())];
        }
        self.event(text).unwrap_or_else(|| vec![raw.clone()])
    }

    /// A non-streamed reply.
    fn whole(&mut self, text: &str) -> Option<Bytes> {
        let mut v: Value = serde_json::from_str(text).ok()?;
        let mut r = self.base.clone();
        match self.protocol {
            Protocol::OpenAiResponses => {
                let mut j = r.for_json();
                restore_response(&mut v, &mut r, &mut j);
                restore_str(v.get_mut("output_text"), &mut r);
                self.unknown += j.unknown();
            }
            Protocol::AnthropicMessages => {
                for block in v.get_mut("content").and_then(Value::as_array_mut).into_iter().flatten() {
                    match block.get("type").and_then(Value::as_str) {
                        Some("text") => restore_str(block.get_mut("text"), &mut r),
                        Some("tool_use") => {
                            let mut t = r.for_tool();
                            restore_value(block.get_mut("input"), &mut t);
                            self.unknown += t.unknown();
                        }
                        _ => {}
                    }
                }
            }
            _ => {
                for choice in v.get_mut("choices").and_then(Value::as_array_mut).into_iter().flatten() {
                    let Some(msg) = choice.get_mut("message") else { continue };
                    restore_str(msg.get_mut("content"), &mut r);
                    let mut j = r.for_json();
                    for call in msg.get_mut("tool_calls").and_then(Value::as_array_mut).into_iter().flatten() {
                        restore_str(call.pointer_mut("/function/arguments"), &mut j);
                    }
                    self.unknown += j.unknown();
                }
            }
        }
        self.unknown += r.unknown();
        Some(Bytes::from(serde_json::to_vec(&v).ok()?))
    }

    /// One SSE event.
    fn event(&mut self, text: &str) -> Option<Vec<Bytes>> {
        let mut other = Vec::new();
        let mut data = Vec::new();
        for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
            match line.strip_prefix("data:") {
                Some(d) => data.push(d.strip_prefix(' ').unwrap_or(d)),
                None if !line.is_empty() => other.push(line),
                None => {}
            }
        }
        let data = data.join("\n");
        if data.trim() == "[DONE]" {
            let mut out = self.flush_openai(None);
            out.push(Bytes::from(text.to_string()));
            return Some(out);
        }
        let mut v: Value = serde_json::from_str(&data).ok()?;
        let mut before = Vec::new();
        match self.protocol {
            Protocol::OpenAiResponses => before.extend(self.responses_event(&mut v)),
            Protocol::AnthropicMessages => match v.get("type").and_then(Value::as_str) {
                Some("content_block_delta") => {
                    let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                    let delta = v.get_mut("delta")?;
                    match delta.get("type").and_then(Value::as_str) {
                        Some("text_delta") => self.stream_field(format!("b{index}"), false, delta.get_mut("text")),
                        Some("input_json_delta") => {
                            self.stream_field(format!("b{index}"), true, delta.get_mut("partial_json"))
                        }
                        _ => {}
                    }
                }
                Some("content_block_stop") => {
                    let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                    before.extend(self.flush_anthropic(index));
                }
                _ => {}
            },
            _ => {
                let mut finishing = Vec::new();
                for choice in v.get_mut("choices").and_then(Value::as_array_mut).into_iter().flatten() {
                    let i = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
                    if choice.get("finish_reason").is_some_and(|f| !f.is_null()) {
                        finishing.push(i);
                    }
                    let Some(delta) = choice.get_mut("delta") else { continue };
                    self.stream_field(format!("c{i}"), false, delta.get_mut("content"));
                    for call in delta.get_mut("tool_calls").and_then(Value::as_array_mut).into_iter().flatten() {
                        let t = call.get("index").and_then(Value::as_u64).unwrap_or(0);
                        self.stream_field(format!("t{i}.{t}"), true, call.pointer_mut("/function/arguments"));
                    }
                }
                for i in finishing {
                    before.extend(self.flush_openai(Some((i, &v))));
                }
            }
        }
        let mut frame = String::new();
        for l in other {
            frame.push_str(l);
            frame.push('\n');
        }
        frame.push_str("data: ");
        frame.push_str(&serde_json::to_string(&v).ok()?);
        frame.push_str("\n\n");
        before.push(Bytes::from(frame));
        Some(before)
    }

    fn stream_field(&mut self, key: String, json: bool, field: Option<&mut Value>) {
        let Some(Value::String(s)) = field else { return };
        let base = &self.base;
        let r = self.fields.entry(key).or_insert_with(|| if json { base.for_json() } else { base.clone() });
        *s = r.push(s);
    }

    /// Held-back text of OpenAI choice `only` (or of every choice, before `[DONE]`), as chunks
    /// of their own.
    fn flush_openai(&mut self, only: Option<(u64, &Value)>) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut keys: Vec<String> =
            self.fields.keys().filter(|k| k.starts_with('c') || k.starts_with('t')).cloned().collect();
        keys.sort();
        for key in keys {
            let (choice, tool) = match key.strip_prefix('c') {
                Some(c) => (c.parse::<u64>().unwrap_or(0), None),
                None => {
                    let (c, t) = key[1..].split_once('.').unwrap_or(("0", "0"));
                    (c.parse().unwrap_or(0), Some(t.parse::<u64>().unwrap_or(0)))
                }
            };
            if only.is_some_and(|(i, _)| i != choice) {
                continue;
            }
            let tail = self.fields.get_mut(&key).map(Restorer::finish).unwrap_or_default();
            if tail.is_empty() {
                continue;
            }
            let delta = match tool {
                None => serde_json::json!({ "content": tail }),
                Some(t) => serde_json::json!({ "tool_calls": [{ "index": t, "function": { "arguments": tail } }] }),
            };
            let mut chunk = only
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| serde_json::json!({ "object": "chat.completion.chunk" }));
            if let Some(obj) = chunk.as_object_mut() {
                obj.remove("usage");
                obj.insert(
                    "choices".into(),
                    serde_json::json!([{ "index": choice, "delta": delta, "finish_reason": null }]),
                );
            }
            out.push(Bytes::from(format!("data: {}\n\n", chunk)));
        }
        out
    }

    /// One Responses event: deltas through their field's restorer; a `.done` after the held-back
    /// tail of its field (sent first, as its own delta); every whole text and argument string
    /// of `.done` and terminal events restored; sequence numbers shifted past added events.
    fn responses_event(&mut self, v: &mut Value) -> Vec<Bytes> {
        let mut before = Vec::new();
        let at = |v: &Value, f: &str| v.get(f).and_then(Value::as_u64).unwrap_or(0);
        let (o, c) = (at(v, "output_index"), at(v, "content_index"));
        let kind = v.get("type").and_then(Value::as_str).unwrap_or("").to_string();
        match kind.as_str() {
            "response.output_text.delta" => self.stream_field(format!("r{o}.{c}"), false, v.get_mut("delta")),
            "response.function_call_arguments.delta" => self.stream_field(format!("f{o}"), true, v.get_mut("delta")),
            "response.output_text.done" | "response.function_call_arguments.done" => {
                let text = kind == "response.output_text.done";
                let key = if text { format!("r{o}.{c}") } else { format!("f{o}") };
                let tail = self.fields.get_mut(&key).map(Restorer::finish).unwrap_or_default();
                if !tail.is_empty() {
                    let mut delta = v.clone();
                    if let Some(d) = delta.as_object_mut() {
                        d.remove("text");
                        d.remove("arguments");
                        d.insert("delta".into(), Value::String(tail));
                        let t =
                            if text { "response.output_text.delta" } else { "response.function_call_arguments.delta" };
                        d.insert("type".into(), Value::String(t.into()));
                    }
                    if let Some(n) = delta.get("sequence_number").and_then(Value::as_u64) {
                        delta["sequence_number"] = Value::from(n + self.added);
                        self.added += 1;
                    }
                    let name = delta["type"].as_str().unwrap_or("").to_string();
                    before.push(Bytes::from(format!("event: {name}\ndata: {delta}\n\n")));
                }
                let mut r = if text { self.base.clone() } else { self.base.for_json() };
                restore_str(v.get_mut(if text { "text" } else { "arguments" }), &mut r);
                self.unknown += r.unknown();
            }
            "response.content_part.done" => {
                let mut r = self.base.clone();
                restore_str(v.pointer_mut("/part/text"), &mut r);
                self.unknown += r.unknown();
            }
            "response.output_item.done" => {
                let (mut r, mut j) = (self.base.clone(), self.base.for_json());
                if let Some(item) = v.get_mut("item") {
                    restore_item(item, &mut r, &mut j);
                }
                self.unknown += r.unknown() + j.unknown();
            }
            "response.completed" | "response.incomplete" => {
                let (mut r, mut j) = (self.base.clone(), self.base.for_json());
                if let Some(resp) = v.get_mut("response") {
                    restore_response(resp, &mut r, &mut j);
                }
                self.unknown += r.unknown() + j.unknown();
            }
            _ => {}
        }
        if let Some(n) = v.get("sequence_number").and_then(Value::as_u64) {
            v["sequence_number"] = Value::from(n + self.added);
        }
        before
    }

    /// Held-back text of Anthropic block `index`, as a delta event before its stop.
    fn flush_anthropic(&mut self, index: u64) -> Vec<Bytes> {
        let Some(r) = self.fields.get_mut(&format!("b{index}")) else { return Vec::new() };
        let json = r.json;
        let tail = r.finish();
        if tail.is_empty() {
            return Vec::new();
        }
        let delta = if json {
            serde_json::json!({ "type": "input_json_delta", "partial_json": tail })
        } else {
            serde_json::json!({ "type": "text_delta", "text": tail })
        };
        let event = serde_json::json!({ "type": "content_block_delta", "index": index, "delta": delta });
        vec![Bytes::from(format!("event: content_block_delta\ndata: {event}\n\n"))]
    }
}

/// A Responses object's output items.
fn restore_response(resp: &mut Value, r: &mut Restorer, j: &mut Restorer) {
    for item in resp.get_mut("output").and_then(Value::as_array_mut).into_iter().flatten() {
        restore_item(item, r, j);
    }
}

/// One Responses output item: a message's text parts, a function call's arguments.
fn restore_item(item: &mut Value, r: &mut Restorer, j: &mut Restorer) {
    for part in item.get_mut("content").and_then(Value::as_array_mut).into_iter().flatten() {
        restore_str(part.get_mut("text"), r);
    }
    restore_str(item.get_mut("arguments"), j);
}

fn restore_str(field: Option<&mut Value>, r: &mut Restorer) {
    if let Some(Value::String(s)) = field {
        *s = r.restore_all(s);
    }
}

/// Every string inside a JSON value (a tool call's input object).
fn restore_value(v: Option<&mut Value>, r: &mut Restorer) {
    match v {
        Some(Value::String(s)) => *s = r.restore_all(s),
        Some(Value::Array(a)) => a.iter_mut().for_each(|x| restore_value(Some(x), r)),
        Some(Value::Object(o)) => o.values_mut().for_each(|x| restore_value(Some(x), r)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restorer() -> Restorer {
        let mut m = HashMap::new();
        m.insert("[EMAIL_1]".to_string(), "anna@example.org".to_string());
        m.insert("[SECRET_1]".to_string(), "pa\"ss".to_string());
        m.insert("[EMAIL_2]".to_string(), "a\"b@example.org".to_string());
        Restorer::new(Arc::new(m))
    }

    #[test]
    fn a_placeholder_split_anywhere_comes_back_whole_and_unknown_ones_stay() {
        let text = "Write to [EMAIL_1] today; [EMAIL_9] is not ours, nor is [EMAIL_1 or [x].";
        let want = "Write to anna@example.org today; [EMAIL_9] is not ours, nor is [EMAIL_1 or [x].";
        for i in 0..text.len() {
            for j in i..text.len() {
                let mut r = restorer();
                let out = r.push(&text[..i]) + &r.push(&text[i..j]) + &r.push(&text[j..]) + &r.finish();
                assert_eq!(out, want, "split at {i}, {j}");
                assert_eq!(r.unknown(), 1);
            }
        }
    }

    #[test]
    fn inside_json_a_restored_value_is_escaped_and_a_secret_is_never_restored() {
        let mut r = restorer().for_json();
        assert_eq!(r.push(r#"{"to":"[EMAIL_2]"}"#) + &r.finish(), r#"{"to":"a\"b@example.org"}"#);
        // A tool call's arguments never get the secret back: the tool sees the placeholder.
        assert_eq!(r.push(r#"{"key":"[SECRET_1]"}"#) + &r.finish(), r#"{"key":"[SECRET_1]"}"#);
        // The answer's text still does.
        assert_eq!(restorer().restore_all("[SECRET_1]"), "pa\"ss");
    }

    #[test]
    fn openai_stream_events_are_restored_across_events_and_flushed_before_the_end() {
        let mut raw = RawRestorer::new(restorer(), Protocol::OpenAiChat);
        let ev = |c: &str| {
            Bytes::from(format!(
                "data: {}\n\n",
                serde_json::json!({"choices":[{"index":0,"delta":{"content":c},"finish_reason":null}]})
            ))
        };
        let mut text = String::new();
        let mut collect = |bs: Vec<Bytes>| {
            for b in bs {
                let s = std::str::from_utf8(&b).unwrap().trim().strip_prefix("data: ").unwrap().to_string();
                if s == "[DONE]" {
                    continue;
                }
                let v: Value = serde_json::from_str(&s).unwrap();
                text.push_str(v.pointer("/choices/0/delta/content").and_then(Value::as_str).unwrap_or(""));
            }
        };
        collect(raw.piece(&ev("Hi [EMA")));
        collect(raw.piece(&ev("IL_1] and [EM")));
        collect(raw.piece(&Bytes::from_static(b"data: [DONE]\n\n")));
        assert_eq!(text, "Hi anna@example.org and [EM");
    }
}
