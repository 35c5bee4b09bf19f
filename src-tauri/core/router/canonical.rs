//! The small canonical form a request takes between protocols: system, multi-turn text,
//! max tokens, temperature, stop. Built from an agent's chat, and rendered per protocol.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use specta::Type;

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
    /// The caller's own body, when it came in a provider's protocol (proxy mode). A step that
    /// speaks the same protocol gets it as it is, with only the model (and streaming) changed,
    /// so tools, images and new fields survive; other steps get the canonical translation.
    pub raw: Option<RawBody>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RawBody {
    pub protocol: crate::providers::Protocol,
    pub body: Value,
}

impl RawBody {
    /// True when the body declares tools, or any message holds a tool call or a tool result
    /// (OpenAI `tool_calls` / `role: tool`; Anthropic `tool_use` / `tool_result` blocks). The
    /// canonical form carries text only, so such a body must not be translated: it would reach
    /// the other protocol without its tools.
    pub fn carries_tools(&self) -> bool {
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
        self.body.get("messages").and_then(Value::as_array).is_some_and(|m| !m.is_empty())
    }
}

impl ChatRequest {
    /// The body for a step: the caller's own if the protocols match, else the translation.
    pub fn body_for(&self, protocol: crate::providers::Protocol, model: &str, provider_is_openai: bool) -> Value {
        use crate::providers::Protocol;
        if let Some(raw) = self.raw.as_ref().filter(|r| r.protocol == protocol) {
            let mut body = raw.body.clone();
            body["model"] = json!(model);
            let streamed = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
            if streamed && protocol == Protocol::OpenAiChat {
                // Always ask for usage: a cost nobody counted is a cost nobody can budget.
                body["stream_options"]["include_usage"] = json!(true);
            }
            return body;
        }
        match protocol {
            Protocol::AnthropicMessages => self.to_anthropic(model),
            _ => self.to_openai(model, provider_is_openai),
        }
    }

    /// OpenAI chat completions body. OpenAI's own API takes `max_completion_tokens` (its newer
    /// models refuse `max_tokens`); OpenAI-compatible servers take `max_tokens`.
    pub fn to_openai(&self, model: &str, provider_is_openai: bool) -> Value {
        let mut messages = Vec::new();
        if let Some(s) = &self.system {
            messages.push(json!({ "role": "system", "content": s }));
        }
        for t in &self.turns {
            messages.push(json!({ "role": role(t.role), "content": t.text }));
        }
        let mut body = json!({ "model": model, "messages": messages, "stream": true,
                                "stream_options": { "include_usage": true } });
        body[if provider_is_openai { "max_completion_tokens" } else { "max_tokens" }] = json!(self.max_tokens);
        if let Some(t) = self.temperature {
            body["temperature"] = json!(t);
        }
        if !self.stop.is_empty() {
            body["stop"] = json!(self.stop);
        }
        body
    }

    /// Anthropic Messages body (max_tokens is required there).
    pub fn to_anthropic(&self, model: &str) -> Value {
        let messages: Vec<Value> =
            self.turns.iter().map(|t| json!({ "role": role(t.role), "content": t.text })).collect();
        let mut body = json!({ "model": model, "messages": messages, "max_tokens": self.max_tokens, "stream": true });
        if let Some(s) = &self.system {
            body["system"] = json!(s);
        }
        if let Some(t) = self.temperature {
            body["temperature"] = json!(t);
        }
        if !self.stop.is_empty() {
            body["stop_sequences"] = json!(self.stop);
        }
        body
    }
}

fn role(r: Role) -> &'static str {
    match r {
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> ChatRequest {
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
            raw: None,
        }
    }

    #[test]
    fn openai_gets_system_as_a_message_and_asks_for_streamed_usage() {
        let b = req().to_openai("gpt-4o-mini", true);
        assert_eq!(b["messages"][0], json!({ "role": "system", "content": "Be brief." }));
        assert_eq!(b["messages"][3]["content"], "Bye?");
        assert_eq!(b["stream_options"]["include_usage"], true);
        assert_eq!(b["max_completion_tokens"], 64);
        assert_eq!(req().to_openai("llama", false)["max_tokens"], 64);
        assert_eq!(b["stop"], json!(["END"]));
    }

    #[test]
    fn a_raw_body_passes_through_to_its_own_protocol_only() {
        use crate::providers::Protocol;
        let raw = json!({ "model": "x", "stream": true, "messages": [{ "role": "user", "content": "Hi" }], "tools": [{ "type": "function" }], "seed": 7 });
        let r = ChatRequest { raw: Some(RawBody { protocol: Protocol::OpenAiChat, body: raw }), ..req() };
        let same = r.body_for(Protocol::OpenAiChat, "gpt-4o", true);
        assert_eq!(same["tools"], json!([{ "type": "function" }]));
        assert_eq!((same["model"].as_str(), same["seed"].as_i64()), (Some("gpt-4o"), Some(7)));
        assert_eq!(same["stream_options"]["include_usage"], true);
        // A caller that did not stream is not streamed to.
        let plain = ChatRequest {
            raw: Some(RawBody { protocol: Protocol::OpenAiChat, body: json!({ "model": "x", "messages": [] }) }),
            ..req()
        };
        let body = plain.body_for(Protocol::OpenAiChat, "gpt-4o", true);
        assert!(body.get("stream").is_none() && body.get("stream_options").is_none(), "{body}");
        let other = r.body_for(Protocol::AnthropicMessages, "claude-haiku-4-5", false);
        assert!(other.get("tools").is_none());
        assert_eq!(other["system"], "Be brief.");
    }

    #[test]
    fn anthropic_gets_system_apart_and_stop_sequences() {
        let b = req().to_anthropic("claude-haiku-4-5");
        assert_eq!(b["system"], "Be brief.");
        assert_eq!(b["messages"].as_array().unwrap().len(), 3);
        assert_eq!(b["messages"][0]["role"], "user");
        assert_eq!(b["stop_sequences"], json!(["END"]));
        assert_eq!(b["max_tokens"], 64);
    }
}
