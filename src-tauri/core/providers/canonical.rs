//! The small canonical form a request takes between protocols: system, multi-turn text,
//! max tokens, temperature, stop. Built from an agent's chat or read from a caller's body, and
//! rendered by each protocol's module.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use specta::Type;

use super::Protocol;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Turn {
    pub role: Role,
    pub text: String,
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
    /// The caller's own body, when it came in a provider's protocol (proxy mode). A step that
    /// speaks the same protocol gets it as it is, with only the model (and streaming) changed,
    /// so tools, images and new fields survive; other steps get the canonical translation.
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

    /// True when the body declares tools, or any message holds a tool call or a tool result
    /// (OpenAI `tool_calls` / `role: tool`; Anthropic `tool_use` / `tool_result` blocks). The
    /// canonical form carries text only, so such a body must not be translated: it would reach
    /// the other protocol without its tools.
    pub fn carries_tools(&self) -> bool {
        if self.protocol == Protocol::OpenAiResponses {
            return super::openai_responses::carries_tools(&self.body);
        }
        let tools = self.body.get("tools").and_then(Value::as_array).is_some_and(|t| !t.is_empty());
        let in_messages = self.body.get("messages").and_then(Value::as_array).is_some_and(|ms| {
            ms.iter().any(|m| {
                m.get("role").and_then(Value::as_str) == Some("tool")
                    || m.get("tool_calls").and_then(Value::as_array).is_some_and(|c| !c.is_empty())
                    || m.get("content").and_then(Value::as_array).is_some_and(|parts| {
                        parts
                            .iter()
                            .any(|p| matches!(p.get("type").and_then(Value::as_str), Some("tool_use" | "tool_result")))
                    })
            })
        });
        tools || in_messages
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

/// Reads a caller's `messages` into turns; system (and developer) messages join `system`.
/// Tool results count as the user's turn.
pub fn turns_from_messages(
    messages: &[Value],
    mut system: Option<String>,
) -> Result<(Option<String>, Vec<Turn>), RequestError> {
    let mut turns = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).ok_or(RequestError::NoRole(i))?;
        let text = text_of(m.get("content"));
        match role {
            "system" | "developer" => {
                system = Some(match system {
                    Some(s) => format!("{s}\n{text}"),
                    None => text,
                })
            }
            "user" | "tool" => turns.push(Turn { role: Role::User, text }),
            "assistant" => turns.push(Turn { role: Role::Assistant, text }),
            other => return Err(RequestError::UnknownRole { index: i, role: other.to_string() }),
        }
    }
    Ok((system, turns))
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
    // OpenAI's `n` answers each may use the whole output cap (128 is its own limit).
    let choices = body.get("n").and_then(Value::as_u64).map_or(1, |n| n.clamp(1, 128) as u32);
    Ok(ChatRequest {
        system,
        turns,
        max_tokens,
        temperature: body.get("temperature").and_then(Value::as_f64).map(|t| t as f32),
        stop,
        choices,
        raw: Some(RawBody { protocol, body, size, headers: Vec::new() }),
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
        turns: vec![
            Turn { role: Role::User, text: "Hi".into() },
            Turn { role: Role::Assistant, text: "Hello".into() },
            Turn { role: Role::User, text: "Bye?".into() },
        ],
        max_tokens: 64,
        temperature: Some(0.5),
        stop: vec!["END".into()],
        choices: 1,
        raw: None,
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
