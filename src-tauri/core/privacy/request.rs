//! Which parts of a request are the user's text, in both protocols: the system prompt, every
//! message's text and text parts, tool results, and the arguments of earlier tool calls (the
//! user saw them restored, so they carry real values again). Never model names, tool schemas or
//! other fields.

use serde_json::Value;

use super::Redactor;
use crate::providers::canonical::{ChatRequest, RawBody};
use crate::providers::Protocol;

/// The request as a cloud step receives it.
pub fn redact(req: &ChatRequest, r: &mut Redactor<'_>) -> ChatRequest {
    // The user's own placeholder-like text anywhere in the request is known before numbering.
    if let Some(s) = &req.system {
        r.reserve_literals(s);
    }
    for t in &req.turns {
        r.reserve_literals(&t.text);
        t.results.iter().for_each(|x| r.reserve_literals(&x.content));
        t.calls.iter().for_each(|x| r.reserve_literals(&x.arguments));
    }
    if let Some(raw) = &req.raw {
        r.reserve_literals(&raw.body.to_string());
    }
    let mut out = req.clone();
    if let Some(s) = &req.system {
        out.system = Some(r.redact(s, "the system prompt"));
    }
    for (i, t) in out.turns.iter_mut().enumerate() {
        let place = format!("message {}", i + 1);
        t.text = r.redact(&t.text, &place);
        // Tool results are the user's data; earlier calls' arguments were shown restored.
        for result in &mut t.results {
            result.content = r.redact(&result.content, &place);
        }
        for call in &mut t.calls {
            call.arguments = r.redact(&call.arguments, &place);
        }
    }
    if let Some(raw) = &req.raw {
        // The caller's body holds the same text as the canonical turns: count it once, as the
        // body (placeholders stay the same, so either form restores alike).
        r.reset_tally();
        let mut body = raw.body.clone();
        redact_body(&mut body, raw.protocol, r);
        out.raw = Some(RawBody { protocol: raw.protocol, body, size: raw.size, headers: raw.headers.clone() });
    }
    out
}

fn redact_body(body: &mut Value, protocol: Protocol, r: &mut Redactor<'_>) {
    // Free text a caller may put beside the messages: OpenAI's `user` and `metadata`,
    // Anthropic's `metadata.user_id`, OpenAI's predicted output.
    strings_in(body.get_mut("user"), r, "the user field");
    strings_in(body.get_mut("metadata"), r, "the metadata");
    if protocol == Protocol::OpenAiResponses {
        return redact_responses(body, r);
    }
    match body.pointer_mut("/prediction/content") {
        Some(Value::Array(parts)) => {
            parts.iter_mut().for_each(|p| strings_in(p.get_mut("text"), r, "the predicted output"))
        }
        other => strings_in(other, r, "the predicted output"),
    }
    if protocol == Protocol::AnthropicMessages {
        // Anthropic's system: a string, or text blocks.
        text_or_blocks(body.get_mut("system"), r, "the system prompt");
    }
    for (i, m) in body.get_mut("messages").and_then(Value::as_array_mut).into_iter().flatten().enumerate() {
        let place = format!("message {}", i + 1);
        text_or_blocks(m.get_mut("content"), r, &place);
        // OpenAI: a participant's name (often a person's).
        strings_in(m.get_mut("name"), r, &place);
        // OpenAI: an assistant's earlier tool calls carry their arguments as JSON text, and the
        // older `function_call` too.
        for call in m.get_mut("tool_calls").and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(Value::String(args)) = call.pointer_mut("/function/arguments") {
                *args = r.redact(args, &place);
            }
        }
        strings_in(m.pointer_mut("/function_call/arguments"), r, &place);
    }
}

/// The Responses API's text: `instructions`, and `input` (a string, or items: messages with a
/// string or text parts, function calls' arguments, function call outputs).
fn redact_responses(body: &mut Value, r: &mut Redactor<'_>) {
    if let Some(Value::String(s)) = body.get_mut("instructions") {
        *s = r.redact(s, "the instructions");
    }
    match body.get_mut("input") {
        Some(Value::String(s)) => *s = r.redact(s, "message 1"),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter_mut().enumerate() {
                let place = format!("message {}", i + 1);
                match item.get("type").and_then(Value::as_str).unwrap_or("message") {
                    "message" => match item.get_mut("content") {
                        Some(Value::String(s)) => *s = r.redact(s, &place),
                        Some(Value::Array(parts)) => {
                            for part in parts {
                                if let Some(Value::String(s)) = part.get_mut("text") {
                                    *s = r.redact(s, &place);
                                }
                            }
                        }
                        _ => {}
                    },
                    "function_call" | "custom_tool_call" => {
                        for field in ["arguments", "input"] {
                            if let Some(Value::String(s)) = item.get_mut(field) {
                                *s = r.redact(s, &place);
                            }
                        }
                    }
                    "function_call_output" | "custom_tool_call_output" => strings_in(item.get_mut("output"), r, &place),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// A content field: a string, or an array of parts/blocks of which the text ones (and tool
/// results, tool inputs) are redacted.
fn text_or_blocks(content: Option<&mut Value>, r: &mut Redactor<'_>, place: &str) {
    match content {
        Some(Value::String(s)) => *s = r.redact(s, place),
        Some(Value::Array(parts)) => {
            for part in parts {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        if let Some(Value::String(s)) = part.get_mut("text") {
                            *s = r.redact(s, place);
                        }
                    }
                    // Anthropic: a tool result holds a string or blocks of its own.
                    Some("tool_result") => text_or_blocks(part.get_mut("content"), r, place),
                    // Anthropic: an earlier tool call's input.
                    Some("tool_use") => strings_in(part.get_mut("input"), r, place),
                    // Anthropic: a document given as text (or as blocks), with its title and
                    // context; a search result's title and text.
                    Some("document") => {
                        if part.pointer("/source/type").and_then(Value::as_str) == Some("text") {
                            strings_in(part.pointer_mut("/source/data"), r, place);
                        }
                        text_or_blocks(part.pointer_mut("/source/content"), r, place);
                        strings_in(part.get_mut("title"), r, place);
                        strings_in(part.get_mut("context"), r, place);
                    }
                    Some("search_result") => {
                        strings_in(part.get_mut("title"), r, place);
                        text_or_blocks(part.get_mut("content"), r, place);
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

fn strings_in(v: Option<&mut Value>, r: &mut Redactor<'_>, place: &str) {
    match v {
        Some(Value::String(s)) => *s = r.redact(s, place),
        Some(Value::Array(a)) => a.iter_mut().for_each(|x| strings_in(Some(x), r, place)),
        Some(Value::Object(o)) => o.values_mut().for_each(|x| strings_in(Some(x), r, place)),
        _ => {}
    }
}
