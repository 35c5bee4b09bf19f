//! The canonical form a request takes between protocols: system, turns of text, tool calls and
//! tool results, the caller's function tools and tool choice, max tokens, temperature, stop.
//! Built from an agent's chat or read from a caller's body, and rendered by each protocol's
//! module; the answer's side (tool calls streamed back, why the model stopped) is
//! [`AnswerPart`], written by each protocol's `Writer`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use specta::Type;

use super::Protocol;
use crate::prices::ToolUses;

/// How many uses of a provider-side tool the budget's worst case counts when the request sets
/// no bound (`max_uses`, `max_tool_calls`): more than a model takes for one answer in practice.
/// The ledger counts what the provider reports, whatever this guess.
pub const TOOL_USES_UNBOUNDED: u32 = 10;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    User,
    Assistant,
}

/// One turn of a conversation. The window's chat has text only; a caller's tool use travels in
/// `calls` (an assistant's) and `results` (the user's, answering them), which never cross IPC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Turn {
    pub role: Role,
    pub text: String,
    /// The tools the assistant called in this turn, after its text.
    #[serde(skip)]
    pub calls: Vec<ToolCall>,
    /// What the caller's tools answered, before the user's text.
    #[serde(skip)]
    pub results: Vec<ToolResult>,
}

impl Turn {
    pub fn new(role: Role, text: impl Into<String>) -> Self {
        Turn { role, text: text.into(), ..Default::default() }
    }
}

/// A tool the model called: the provider's id for the call, the function, and its arguments
/// as JSON text (Anthropic's `input` object written out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// A caller's tool's answer to one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolResult {
    pub call_id: String,
    pub content: String,
    pub is_error: bool,
}

/// A function tool the caller offers the model. Every protocol has these; provider-side tools
/// (web search, code interpreter, computer use) are not, and stay in
/// [`ChatRequest::untranslatable`].
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: Option<String>,
    /// A JSON Schema of the arguments (an object schema).
    pub parameters: Value,
    /// A Responses `custom` tool (free-form text input, Codex's `apply_patch`): elsewhere a
    /// function of one string argument, `input`.
    pub freeform: bool,
    /// The Responses namespace it was offered in (Codex's `multi_agent_v1`): elsewhere its name
    /// is `namespace__name`, and a call of that name goes back with its namespace.
    pub namespace: Option<String>,
}

/// How a namespaced function is named where namespaces do not exist.
pub fn namespaced(namespace: &str, name: &str) -> String {
    format!("{namespace}__{name}")
}

/// A provider's own web search the caller offers the model (OpenAI's `web_search`, Anthropic's
/// `web_search_2025…`): the one provider-side tool two protocols share. A translated step of
/// Anthropic Messages gets Anthropic's; a step with none is skipped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebSearch {
    pub allowed_domains: Vec<String>,
}

impl ToolSpec {
    /// Its name where it is offered as a plain function (namespaced ones joined).
    pub fn wire_name(&self) -> String {
        match &self.namespace {
            Some(ns) => namespaced(ns, &self.name),
            None => self.name.clone(),
        }
    }

    /// The arguments' schema, as an object schema (what Anthropic requires of `input_schema`).
    pub fn schema(&self) -> Value {
        if self.freeform {
            return serde_json::json!({ "type": "object", "properties": { "input": { "type": "string",
                "description": "The tool's whole input, as free-form text" } }, "required": ["input"] });
        }
        match &self.parameters {
            Value::Object(o) if !o.is_empty() => self.parameters.clone(),
            _ => serde_json::json!({ "type": "object", "properties": {} }),
        }
    }
}

/// Which tool the model must use, as every protocol can say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    None,
    /// Some tool (OpenAI `required`, Anthropic `any`).
    Required,
    Named(String),
}

/// Why the model stopped, in each protocol's words when written back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StopReason {
    #[default]
    EndTurn,
    /// It called tools: the caller runs them and sends the results.
    ToolUse,
    /// It reached the output cap.
    MaxTokens,
}

/// What a translated answer holds besides its text, as it streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerPart {
    /// A tool call begins: its place among the answer's calls (0, 1, …), id and function.
    CallStart { index: u32, id: String, name: String },
    /// More of a call's arguments (JSON text, cut anywhere).
    CallArgs { index: u32, json: String },
    /// Why the model stopped.
    Stop(StopReason),
}

/// A whole translated answer, gathered from its text and parts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub text: String,
    pub calls: Vec<ToolCall>,
    pub stop: StopReason,
}

impl Answer {
    pub fn push_text(&mut self, text: &str) {
        self.text.push_str(text);
    }

    pub fn push_part(&mut self, part: &AnswerPart) {
        match part {
            AnswerPart::CallStart { id, name, .. } => {
                self.calls.push(ToolCall { id: id.clone(), name: name.clone(), arguments: String::new() })
            }
            AnswerPart::CallArgs { index, json } => {
                if let Some(c) = self.calls.get_mut(*index as usize) {
                    c.arguments.push_str(json);
                }
            }
            AnswerPart::Stop(s) => self.stop = *s,
        }
    }

    /// Why it stopped: a tool call is a tool-use stop whatever the provider said.
    pub fn stop_reason(&self) -> StopReason {
        if self.calls.is_empty() {
            self.stop
        } else {
            StopReason::ToolUse
        }
    }
}

/// A call's arguments as a JSON object (Anthropic's `input`, Ollama's `arguments`): an empty or
/// broken text reads as `{}`, never as a refusal of the whole answer.
pub fn arguments_object(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => serde_json::json!({}),
    }
}

/// An id for a call the provider gave none (Ollama's): unique within the answer.
pub fn call_id(prefix: &str, index: u32) -> String {
    format!("{prefix}kh{}{index}", super::random_suffix())
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    pub system: Option<String>,
    pub turns: Vec<Turn>,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
    pub stop: Vec<String>,
    /// How many answers the caller asked for (OpenAI's `n`); 0 reads as 1.
    pub choices: u32,
    /// The caller's function tools: offered to every step, in its protocol's words.
    pub tools: Vec<ToolSpec>,
    /// The provider's web search, when the caller offers it.
    pub web_search: Option<WebSearch>,
    /// None: the protocol's default (auto when tools are offered).
    pub tool_choice: Option<ToolChoice>,
    /// What a translation to another protocol would lose, named for the user: provider-side
    /// tools (`web_search`, `code_interpreter`, `computer_20250124`, …) and a Responses
    /// `previous_response_id` (the earlier turn is kept at OpenAI, not here). Non-empty: only a
    /// step of the caller's own protocol may take the request.
    pub untranslatable: Vec<String>,
    /// The caller's own body, when it came in a provider's protocol (proxy mode). A step that
    /// speaks the same protocol gets it as it is, with only the model (and streaming) changed,
    /// so images and new fields survive; other steps get the canonical translation.
    pub raw: Option<RawBody>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RawBody {
    pub protocol: Protocol,
    pub body: Value,
    /// The body's size in bytes, as the caller sent it: the budget's worst case counts it whole.
    pub size: usize,
    /// The caller's own headers of this protocol (`anthropic-beta`, `anthropic-version`, …;
    /// see [`Protocol::forwarded_headers`]): they go with the body to a step of the same
    /// protocol, and nowhere else.
    pub headers: Vec<(String, String)>,
}

impl RawBody {
    /// A body whose bytes are not at hand: measured by writing it out once.
    pub fn new(protocol: Protocol, body: Value) -> Self {
        let size = serde_json::to_vec(&body).map_or(0, |b| b.len());
        RawBody { protocol, body, size, headers: Vec::new() }
    }

    /// True when the body makes the provider fetch input whose size Keyhold cannot see: a
    /// document, image or file by URL or by file id (Anthropic `source.type` url/file, OpenAI
    /// `image_url` with an http(s) URL, `file_id`, `file_url`). A few hundred bytes may bill
    /// a whole context window.
    pub fn fetches_input(&self) -> bool {
        fn walk(v: &Value) -> bool {
            match v {
                Value::Object(o) => {
                    let source_type = o.get("type").and_then(Value::as_str);
                    let is_source = o.contains_key("media_type") || o.contains_key("url") || o.contains_key("file_id");
                    if is_source && matches!(source_type, Some("url" | "file")) {
                        return true;
                    }
                    if o.get("file_id").is_some_and(|f| f.is_string())
                        || o.get("file_url").is_some_and(|f| f.is_string())
                    {
                        return true;
                    }
                    let remote = |u: Option<&Value>| {
                        u.and_then(Value::as_str).is_some_and(|u| u.starts_with("http://") || u.starts_with("https://"))
                    };
                    if remote(o.get("image_url")) || remote(o.get("image_url").and_then(|i| i.get("url"))) {
                        return true;
                    }
                    o.values().any(walk)
                }
                Value::Array(a) => a.iter().any(walk),
                _ => false,
            }
        }
        ["messages", "input", "system"].iter().any(|k| self.body.get(*k).is_some_and(walk))
    }

    /// The most provider-side tool uses the body allows, for the budget's worst case: a web
    /// search (or fetch, or file search) offered counts its `max_uses` (Anthropic) or the
    /// Responses `max_tool_calls`, else [`TOOL_USES_UNBOUNDED`]; a Chat Completions body with
    /// `web_search_options` (OpenAI's search models) searches once per request.
    pub fn tool_bound(&self) -> ToolUses {
        let mut bound = ToolUses::default();
        let tools = self.body.get("tools").and_then(Value::as_array).into_iter().flatten();
        let cap = self.body.get("max_tool_calls").and_then(Value::as_u64);
        let limit = |t: &Value| {
            let n = t.get("max_uses").and_then(Value::as_u64).or(cap).unwrap_or(TOOL_USES_UNBOUNDED as u64);
            n.min(u32::MAX as u64) as u32
        };
        for t in tools {
            let kind = t.get("type").and_then(Value::as_str).unwrap_or("");
            if kind.starts_with("web_search") {
                bound.web_search = bound.web_search.saturating_add(limit(t));
            } else if kind.starts_with("web_fetch") {
                bound.web_fetch = bound.web_fetch.saturating_add(limit(t));
            } else if kind == "file_search" {
                bound.file_search = bound.file_search.saturating_add(limit(t));
            }
        }
        if self.protocol == Protocol::OpenAiChat && self.body.get("web_search_options").is_some() {
            bound.web_search = bound.web_search.max(1);
        }
        bound
    }

    /// True when the body has at least one message: what a provider needs to answer. Its last
    /// message may hold only a tool result, which is not empty.
    pub fn has_messages(&self) -> bool {
        if self.protocol == Protocol::OpenAiResponses {
            return super::openai_responses::has_input(&self.body);
        }
        self.body.get("messages").and_then(Value::as_array).is_some_and(|m| !m.is_empty())
    }
}

impl ChatRequest {
    /// How many answers this request makes the provider write: each may use the output cap.
    pub fn outputs(&self) -> u32 {
        self.choices.max(1)
    }

    /// What a step speaking `protocol` could not be given, by name (empty: it can serve the
    /// request). The caller's own protocol gets its body as it is, so it loses nothing.
    pub fn lost_on(&self, protocol: Protocol) -> Vec<String> {
        if self.raw.as_ref().is_none_or(|r| r.protocol == protocol) {
            return Vec::new();
        }
        let mut lost = self.untranslatable.clone();
        if self.web_search.is_some() && protocol != Protocol::AnthropicMessages {
            lost.push("web search".into());
        }
        lost
    }
}

/// Text of an OpenAI/Anthropic `content`: a string, or the text parts of a list.
pub fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("")
        }
        _ => String::new(),
    }
}

/// Why a caller's body is not a request Keyhold can run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the body has no \"messages\" list")]
    NoMessages,
    #[error("messages[{0}] has no \"role\"")]
    NoRole(usize),
    #[error("messages[{index}] has an unknown role \"{role}\"")]
    UnknownRole { index: usize, role: String },
}

/// Reads a caller's `messages` (OpenAI chat or Anthropic Messages: their shapes do not
/// collide) into turns; system (and developer) messages join `system`. An assistant's tool
/// calls (OpenAI `tool_calls` and the older `function_call`, Anthropic `tool_use` blocks) go
/// with its turn; tool results (OpenAI `role: tool` messages, which follow one another,
/// Anthropic `tool_result` blocks) with the user's. Thinking blocks stay behind: they are the
/// provider's own and another provider refuses them.
pub fn turns_from_messages(
    messages: &[Value],
    mut system: Option<String>,
) -> Result<(Option<String>, Vec<Turn>), RequestError> {
    let mut turns: Vec<Turn> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).ok_or(RequestError::NoRole(i))?;
        let content = m.get("content");
        let text = text_of(content);
        match role {
            "system" | "developer" => {
                system = Some(match system {
                    Some(s) => format!("{s}\n{text}"),
                    None => text,
                })
            }
            "tool" | "function" => {
                let call_id = m.get("tool_call_id").or_else(|| m.get("name")).and_then(Value::as_str);
                let result = ToolResult { call_id: call_id.unwrap_or_default().into(), content: text, is_error: false };
                match turns.last_mut() {
                    Some(t) if t.role == Role::User && t.text.is_empty() && !t.results.is_empty() => {
                        t.results.push(result)
                    }
                    _ => turns.push(Turn { role: Role::User, results: vec![result], ..Default::default() }),
                }
            }
            "user" => turns.push(Turn { role: Role::User, text, results: results_in(content), ..Default::default() }),
            "assistant" => {
                let mut calls = calls_in(content);
                for c in m.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                    calls.push(ToolCall {
                        id: str_at(c, "/id"),
                        name: str_at(c, "/function/name"),
                        arguments: str_at(c, "/function/arguments"),
                    });
                }
                if let Some(f) = m.get("function_call") {
                    calls.push(ToolCall {
                        id: str_at(f, "/name"),
                        name: str_at(f, "/name"),
                        arguments: str_at(f, "/arguments"),
                    });
                }
                turns.push(Turn { role: Role::Assistant, text, calls, ..Default::default() })
            }
            other => return Err(RequestError::UnknownRole { index: i, role: other.to_string() }),
        }
    }
    Ok((system, turns))
}

fn str_at(v: &Value, pointer: &str) -> String {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// Anthropic `tool_use` blocks of an assistant's content.
fn calls_in(content: Option<&Value>) -> Vec<ToolCall> {
    let blocks = content.and_then(Value::as_array).into_iter().flatten();
    blocks
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
        .map(|b| ToolCall {
            id: str_at(b, "/id"),
            name: str_at(b, "/name"),
            arguments: b.get("input").map_or_else(|| "{}".into(), Value::to_string),
        })
        .collect()
}

/// Anthropic `tool_result` blocks of a user's content.
fn results_in(content: Option<&Value>) -> Vec<ToolResult> {
    let blocks = content.and_then(Value::as_array).into_iter().flatten();
    blocks
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
        .map(|b| ToolResult {
            call_id: str_at(b, "/tool_use_id"),
            content: text_of(b.get("content")),
            is_error: b.get("is_error").and_then(Value::as_bool).unwrap_or(false),
        })
        .collect()
}

/// Where a protocol keeps the fields both protocols have.
pub(super) struct Fields {
    /// The output cap, first found wins (OpenAI has a newer and an older name).
    pub max_tokens: &'static [&'static str],
    pub stop: &'static str,
}

/// Reads a caller's body into the canonical form; the body travels along as the raw body.
pub(super) fn read_request(
    protocol: Protocol,
    body: Value,
    size: usize,
    system: Option<String>,
    fields: Fields,
    default_max_tokens: u32,
) -> Result<ChatRequest, RequestError> {
    let messages = body.get("messages").and_then(Value::as_array).ok_or(RequestError::NoMessages)?;
    let (system, turns) = turns_from_messages(messages, system)?;
    let max_tokens = fields
        .max_tokens
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_u64))
        .map(|n| n.min(u32::MAX as u64) as u32)
        .unwrap_or(default_max_tokens);
    let stop = match body.get(fields.stop) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    // OpenAI's `n` answers each may use the whole output cap: reserved as sent (OpenAI stops
    // at 128, but an OpenAI-compatible server may take more).
    let choices = body.get("n").and_then(Value::as_u64).map_or(1, |n| n.clamp(1, u32::MAX as u64) as u32);
    Ok(ChatRequest {
        system,
        turns,
        max_tokens,
        temperature: body.get("temperature").and_then(Value::as_f64).map(|t| t as f32),
        stop,
        choices,
        raw: Some(RawBody { protocol, body, size, headers: Vec::new() }),
        ..Default::default()
    })
}

/// A role as both protocols write it.
pub fn role(r: Role) -> &'static str {
    match r {
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// A short conversation with every canonical field set, for the protocol modules' tests.
#[cfg(test)]
pub(crate) fn sample_request() -> ChatRequest {
    ChatRequest {
        system: Some("Be brief.".into()),
        turns: vec![Turn::new(Role::User, "Hi"), Turn::new(Role::Assistant, "Hello"), Turn::new(Role::User, "Bye?")],
        max_tokens: 64,
        temperature: Some(0.5),
        stop: vec!["END".into()],
        choices: 1,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req() -> ChatRequest {
        sample_request()
    }

    #[test]
    fn a_raw_body_passes_through_to_its_own_protocol_only() {
        let raw = json!({ "model": "x", "stream": true, "messages": [{ "role": "user", "content": "Hi" }], "tools": [{ "type": "function" }], "seed": 7 });
        let r = ChatRequest { raw: Some(RawBody::new(Protocol::OpenAiChat, raw)), ..req() };
        let same = Protocol::OpenAiChat.body_for(&r, "gpt-4o", true);
        assert_eq!(same["tools"], json!([{ "type": "function" }]));
        assert_eq!((same["model"].as_str(), same["seed"].as_i64()), (Some("gpt-4o"), Some(7)));
        assert_eq!(same["stream_options"]["include_usage"], true);
        // A caller that did not stream is not streamed to.
        let plain = ChatRequest {
            raw: Some(RawBody::new(Protocol::OpenAiChat, json!({ "model": "x", "messages": [] }))),
            ..req()
        };
        let body = Protocol::OpenAiChat.body_for(&plain, "gpt-4o", true);
        assert!(body.get("stream").is_none() && body.get("stream_options").is_none(), "{body}");
        let other = Protocol::AnthropicMessages.body_for(&r, "claude-haiku-4-5", false);
        assert!(other.get("tools").is_none());
        assert_eq!(other["system"], "Be brief.");
    }
}
