//! Tool use, as the providers' APIs do it: a request that declares tools and has not had a tool
//! result yet gets a call of its first tool; one whose last turn is a tool result gets an answer
//! that quotes it, so a client's whole round trip can be checked.

use serde_json::Value;

/// The arguments the simulated model calls a tool with when its schema requires nothing.
pub const ARGUMENTS: &str = r#"{"input":"sim"}"#;

/// What a simulated command prints: a tool whose schema requires a command gets `echo` of it,
/// so a real client that runs it sends back a result a test can find.
pub const ECHOED: &str = "keyhold-sim-tool-ran";

/// Arguments that satisfy a tool's schema: each required property gets a value of its type (a
/// string or an array of strings is an `echo` command); none required, [`ARGUMENTS`].
pub fn arguments_for(schema: Option<&Value>) -> String {
    let required: Vec<&str> = schema
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if required.is_empty() {
        return ARGUMENTS.to_string();
    }
    let mut args = serde_json::Map::new();
    for name in required {
        let kind = schema.and_then(|s| s.pointer(&format!("/properties/{name}/type"))).and_then(Value::as_str);
        let value = match kind {
            Some("array") => serde_json::json!(["echo", ECHOED]),
            Some("integer" | "number") => serde_json::json!(1),
            Some("boolean") => serde_json::json!(false),
            Some("object") => serde_json::json!({}),
            _ => serde_json::json!(format!("echo {ECHOED}")),
        };
        args.insert(name.to_string(), value);
    }
    Value::Object(args).to_string()
}

/// The tool to call among `(name, schema)`: the one the request names as `[tool:NAME]`, else
/// the first.
fn pick<'a>(req: &Value, tools: impl Iterator<Item = (&'a str, Option<&'a Value>)>) -> Turn {
    let all: Vec<(&str, Option<&Value>)> = tools.collect();
    let text = req.to_string();
    // `[tool:NAME:echo]`: a model a prompt injection has turned, which copies every
    // placeholder of the request into the call's arguments.
    if let Some((name, _)) = all.iter().find(|(n, _)| text.contains(&format!("[tool:{n}:echo]"))) {
        let placeholders = placeholders_in(&text);
        return Turn::Call {
            name: name.to_string(),
            arguments: serde_json::json!({ "input": placeholders.join(" ") }).to_string(),
        };
    }
    let named = all.iter().find(|(n, _)| text.contains(&format!("[tool:{n}]")));
    match named.or(all.first()) {
        Some((name, schema)) => Turn::Call { name: name.to_string(), arguments: arguments_for(*schema) },
        None => Turn::Text,
    }
}

/// Every `[KIND_n]` in a text, in order.
fn placeholders_in(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices('[') {
        let rest = &text[i + 1..];
        let kind = rest.bytes().take_while(u8::is_ascii_uppercase).count();
        let digits = rest[kind..].strip_prefix('_').map(|d| d.bytes().take_while(u8::is_ascii_digit).count());
        if let Some(n) = digits.filter(|n| kind > 0 && *n > 0) {
            if rest.as_bytes().get(kind + 1 + n) == Some(&b']') {
                out.push(&text[i..i + kind + n + 3]);
            }
        }
    }
    out
}

/// A text cut in two at a character boundary near its middle, for a stream in two pieces.
pub fn halves(s: &str) -> (&str, &str) {
    let mut at = s.len() / 2;
    while !s.is_char_boundary(at) {
        at += 1;
    }
    s.split_at(at)
}

fn tool_list(req: &Value) -> impl Iterator<Item = &Value> {
    req.get("tools").and_then(Value::as_array).into_iter().flatten()
}

/// What the simulated model does with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    /// Call this tool (the one the request names as `[tool:NAME]`, else the first declared),
    /// with these arguments (JSON text).
    Call { name: String, arguments: String },
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

/// OpenAI: `tools[].function.name`; a result is a `role: tool` message since the last
/// assistant message (the user may have written after it).
pub fn openai(req: &Value) -> Turn {
    let messages = req.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let since = messages.iter().rposition(|m| m.get("role").and_then(Value::as_str) == Some("assistant"));
    let after = &messages[since.map_or(0, |i| i + 1)..];
    if let Some(m) = after.iter().find(|m| m.get("role").and_then(Value::as_str) == Some("tool")) {
        return Turn::AfterResult(text(m.get("content")));
    }
    pick(
        req,
        tool_list(req)
            .filter_map(|t| Some((t.pointer("/function/name")?.as_str()?, t.pointer("/function/parameters")))),
    )
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
    // Typed tools (web search, …) are the provider's own: the model does not call them here.
    let custom = tool_list(req).filter(|t| t.get("type").is_none_or(|k| k == "custom"));
    pick(req, custom.filter_map(|t| Some((t.get("name")?.as_str()?, t.get("input_schema")))))
}

/// The answer after a tool result.
pub fn after(result: &str) -> String {
    format!("The tool said: {result}")
}

/// Responses: `tools[].name`; a result is a `function_call_output` (or a custom tool's) item last.
pub fn responses(req: &Value) -> Turn {
    let last = req.get("input").and_then(Value::as_array).and_then(|i| i.last());
    if let Some(item) = last.filter(|i| {
        matches!(i.get("type").and_then(Value::as_str), Some("function_call_output" | "custom_tool_call_output"))
    }) {
        return Turn::AfterResult(text(item.get("output")));
    }
    let functions = tool_list(req).filter(|t| t.get("type").and_then(Value::as_str) == Some("function"));
    pick(req, functions.filter_map(|t| Some((t.get("name")?.as_str()?, t.get("parameters")))))
}

/// Ollama: `tools[].function.name`; a result is a `role: tool` message last.
pub fn ollama(req: &Value) -> Turn {
    let last = req.get("messages").and_then(Value::as_array).and_then(|m| m.last());
    if let Some(m) = last.filter(|m| m.get("role").and_then(Value::as_str) == Some("tool")) {
        return Turn::AfterResult(text(m.get("content")));
    }
    pick(
        req,
        tool_list(req)
            .filter_map(|t| Some((t.pointer("/function/name")?.as_str()?, t.pointer("/function/parameters")))),
    )
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// What OpenAI's chat completions refuses about tools, in its words: a tool message that
/// answers no call, a call left unanswered, arguments that are not a string, a nameless tool.
pub fn openai_refusal(req: &Value) -> Option<String> {
    for (i, t) in req.get("tools").and_then(Value::as_array).into_iter().flatten().enumerate() {
        if t.get("type").and_then(Value::as_str) == Some("function")
            && !t.pointer("/function/name").and_then(Value::as_str).is_some_and(valid_name)
        {
            return Some(format!("Invalid 'tools[{i}].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."));
        }
    }
    let messages = req.get("messages").and_then(Value::as_array)?;
    let mut pending: Vec<String> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        if role == "tool" {
            let id = m.get("tool_call_id").and_then(Value::as_str).unwrap_or("");
            match pending.iter().position(|p| p == id) {
                Some(at) => {
                    pending.remove(at);
                }
                None => return Some(format!("Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'. (messages[{i}])")),
            }
            continue;
        }
        if !pending.is_empty() {
            return Some(format!("An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}", pending.join(", ")));
        }
        for (j, call) in m.get("tool_calls").and_then(Value::as_array).into_iter().flatten().enumerate() {
            if !call.pointer("/function/arguments").is_some_and(Value::is_string) {
                return Some(format!(
                    "Invalid type for 'messages[{i}].tool_calls[{j}].function.arguments': expected a string."
                ));
            }
            match call.get("id").and_then(Value::as_str) {
                Some(id) if !id.is_empty() && id.len() <= 40 => pending.push(id.to_string()),
                _ => return Some(format!("Invalid 'messages[{i}].tool_calls[{j}].id'.")),
            }
        }
    }
    (!pending.is_empty()).then(|| format!("An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}", pending.join(", ")))
}

/// What Anthropic's Messages refuses about tools, in its words: a `tool_use` without its
/// `tool_result` in the next message (or the reverse), an input that is not an object, an id
/// or tool name out of pattern, a tool without its schema, an empty text block.
pub fn anthropic_refusal(req: &Value) -> Option<String> {
    for (i, t) in req.get("tools").and_then(Value::as_array).into_iter().flatten().enumerate() {
        if t.get("type").is_none_or(|k| k == "custom") {
            if !t.get("name").and_then(Value::as_str).is_some_and(valid_name) {
                return Some(format!("tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"));
            }
            if t.pointer("/input_schema/type").and_then(Value::as_str) != Some("object") {
                return Some(format!("tools.{i}.custom.input_schema.type: Input should be 'object'"));
            }
        }
    }
    let messages = req.get("messages").and_then(Value::as_array)?;
    let blocks = |m: &Value| m.get("content").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut expected: Vec<String> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        let content = blocks(m);
        for (j, b) in content.iter().enumerate() {
            if b.get("type").and_then(Value::as_str) == Some("text")
                && b.get("text").and_then(Value::as_str).is_some_and(str::is_empty)
            {
                return Some(format!("messages.{i}.content.{j}.text: text content blocks must be non-empty"));
            }
        }
        let results: Vec<String> = content
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
            .map(|b| b.get("tool_use_id").and_then(Value::as_str).unwrap_or("").to_string())
            .collect();
        if let Some(r) = results.iter().find(|r| !expected.contains(r)) {
            return Some(format!("messages.{i}.content.0: unexpected `tool_use_id` found in `tool_result` blocks: {r}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."));
        }
        let missing: Vec<&String> = expected.iter().filter(|e| role != "user" || !results.contains(e)).collect();
        if !missing.is_empty() {
            return Some(format!("messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", i - 1, missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")));
        }
        expected.clear();
        if role == "assistant" {
            for (j, b) in content.iter().enumerate() {
                if b.get("type").and_then(Value::as_str) != Some("tool_use") {
                    continue;
                }
                if !b.get("input").is_some_and(Value::is_object) {
                    return Some(format!(
                        "messages.{i}.content.{j}.tool_use.input: Input should be a valid dictionary"
                    ));
                }
                match b.get("id").and_then(Value::as_str) {
                    Some(id) if valid_name(id) => expected.push(id.to_string()),
                    _ => {
                        return Some(format!(
                            "messages.{i}.content.{j}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
                        ))
                    }
                }
            }
        }
    }
    (!expected.is_empty()).then(|| format!("messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", messages.len() - 1, expected.join(", ")))
}

/// What the Responses API refuses: an output for a call the input does not hold.
pub fn responses_refusal(req: &Value) -> Option<String> {
    if req.get("previous_response_id").is_some_and(|v| !v.is_null()) {
        return None;
    }
    let items = req.get("input").and_then(Value::as_array)?;
    let mut calls = Vec::new();
    for item in items {
        match item.get("type").and_then(Value::as_str) {
            Some("function_call" | "custom_tool_call") => {
                calls.push(item.get("call_id").and_then(Value::as_str).unwrap_or(""))
            }
            Some("function_call_output" | "custom_tool_call_output") => {
                let id = item.get("call_id").and_then(Value::as_str).unwrap_or("");
                if !calls.contains(&id) {
                    return Some(format!("No tool call found for function call output with call_id {id}."));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_refuses_a_tool_message_without_its_call_and_a_call_without_its_result() {
        let orphan = json!({ "messages": [{ "role": "user", "content": "x" }, { "role": "tool", "tool_call_id": "c1", "content": "r" }] });
        assert!(openai_refusal(&orphan).unwrap().contains("must be a response to a preceeding message"));
        let unanswered = json!({ "messages": [{ "role": "assistant", "content": null, "tool_calls": [{ "id": "c1", "type": "function", "function": { "name": "f", "arguments": "{}" } }] },
                                              { "role": "user", "content": "x" }] });
        assert!(openai_refusal(&unanswered).unwrap().contains("did not have response messages: c1"));
        let fine = json!({ "messages": [{ "role": "assistant", "content": null, "tool_calls": [{ "id": "c1", "type": "function", "function": { "name": "f", "arguments": "{}" } }] },
                                        { "role": "tool", "tool_call_id": "c1", "content": "r" }] });
        assert_eq!(openai_refusal(&fine), None);
    }

    #[test]
    fn anthropic_refuses_unpaired_tool_blocks_and_inputs_that_are_not_objects() {
        let call = |input: Value| json!({ "role": "assistant", "content": [{ "type": "tool_use", "id": "t1", "name": "f", "input": input }] });
        let result =
            json!({ "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "t1", "content": "r" }] });
        assert_eq!(
            anthropic_refusal(&json!({ "messages": [{ "role": "user", "content": "x" }, call(json!({})), result] })),
            None
        );
        let missing = json!({ "messages": [call(json!({})), { "role": "user", "content": "x" }] });
        assert!(anthropic_refusal(&missing).unwrap().contains("without `tool_result` blocks immediately after: t1"));
        let stray = json!({ "messages": [{ "role": "user", "content": "x" }, result] });
        assert!(anthropic_refusal(&stray).unwrap().contains("unexpected `tool_use_id`"));
        assert!(anthropic_refusal(&json!({ "messages": [call(json!("{}")), result] }))
            .unwrap()
            .contains("valid dictionary"));
    }

    #[test]
    fn a_tool_is_called_with_arguments_its_schema_requires() {
        let schema = json!({ "type": "object", "required": ["command", "timeout"],
                             "properties": { "command": { "type": "array" }, "timeout": { "type": "integer" } } });
        let args: Value = serde_json::from_str(&arguments_for(Some(&schema))).unwrap();
        assert_eq!(args, json!({ "command": ["echo", ECHOED], "timeout": 1 }));
        let req = json!({ "tools": [{ "name": "A", "input_schema": {} }, { "name": "Bash", "input_schema": {} }],
                          "messages": [{ "role": "user", "content": "please [tool:Bash]" }] });
        assert!(matches!(anthropic(&req), Turn::Call { name, .. } if name == "Bash"));
    }
}
