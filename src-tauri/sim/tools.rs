//! Tool use, as the providers' APIs do it: a request that declares tools and has not had a tool
//! result yet gets a call of its first tool; one whose last turn is a tool result gets an answer
//! that quotes it, so a client's whole round trip can be checked.

use serde_json::Value;

/// The arguments the simulated model calls a tool with.
pub const ARGUMENTS: &str = r#"{"input":"sim"}"#;

/// What the simulated model does with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    /// Call this tool (the first one declared).
    Call { name: String },
    /// Answer after a tool result with this content.
    AfterResult(String),
    /// No tools involved.
    Text,
}

fn text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect(),
        _ => String::new(),
    }
}

/// OpenAI: `tools[].function.name`; a result is a `role: tool` message.
pub fn openai(req: &Value) -> Turn {
    let last = req.get("messages").and_then(Value::as_array).and_then(|m| m.last());
    if let Some(m) = last.filter(|m| m.get("role").and_then(Value::as_str) == Some("tool")) {
        return Turn::AfterResult(text(m.get("content")));
    }
    match req.pointer("/tools/0/function/name").and_then(Value::as_str) {
        Some(name) => Turn::Call { name: name.to_string() },
        None => Turn::Text,
    }
}

/// Anthropic: `tools[].name`; a result is a `tool_result` block in the last user turn.
pub fn anthropic(req: &Value) -> Turn {
    let last = req.get("messages").and_then(Value::as_array).and_then(|m| m.last());
    let result = last
        .and_then(|m| m.get("content"))
        .and_then(Value::as_array)
        .and_then(|parts| parts.iter().find(|p| p.get("type").and_then(Value::as_str) == Some("tool_result")));
    if let Some(r) = result {
        return Turn::AfterResult(text(r.get("content")));
    }
    match req.pointer("/tools/0/name").and_then(Value::as_str) {
        Some(name) => Turn::Call { name: name.to_string() },
        None => Turn::Text,
    }
}

/// The answer after a tool result.
pub fn after(result: &str) -> String {
    format!("The tool said: {result}")
}
