//! The two API shapes the proxy speaks to its callers: reading a request into the canonical
//! form, and writing answers and errors back in the caller's own format.

use serde_json::{json, Value};

use crate::prices::Tokens;
use crate::providers::Protocol;
use crate::router::canonical::{ChatRequest, RawBody, Role, Turn};

/// Text of an OpenAI/Anthropic `content`: a string, or the text parts of a list.
fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("")
        }
        _ => String::new(),
    }
}

/// Reads a caller's body. Non-text content survives only for a step of the same protocol (the
/// raw body travels along); the canonical form carries the text.
pub fn parse(protocol: Protocol, body: Value, default_max_tokens: u32) -> Result<ChatRequest, String> {
    let messages = body.get("messages").and_then(Value::as_array).ok_or("the body has no \"messages\" list")?;
    let mut system = match protocol {
        Protocol::AnthropicMessages => Some(text_of(body.get("system"))).filter(|s| !s.is_empty()),
        _ => None,
    };
    let mut turns = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).ok_or(format!("messages[{i}] has no \"role\""))?;
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
            other => return Err(format!("messages[{i}] has an unknown role \"{other}\"")),
        }
    }
    let max_tokens = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_u64))
        .map(|n| n.min(u32::MAX as u64) as u32)
        .unwrap_or(default_max_tokens);
    let stop = match body.get(if protocol == Protocol::AnthropicMessages { "stop_sequences" } else { "stop" }) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    Ok(ChatRequest {
        system,
        turns,
        max_tokens,
        temperature: body.get("temperature").and_then(Value::as_f64).map(|t| t as f32),
        stop,
        raw: Some(RawBody { protocol, body }),
    })
}

/// An error in the caller's protocol's format.
pub fn error_body(protocol: Protocol, status: u16, message: &str) -> Value {
    let kind = match status {
        400 | 413 | 408 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        503 => "overloaded_error",
        _ => "api_error",
    };
    match protocol {
        Protocol::AnthropicMessages => json!({ "type": "error", "error": { "type": kind, "message": message } }),
        _ => json!({ "error": { "message": message, "type": kind, "param": null, "code": status.to_string() } }),
    }
}

/// OpenAI's usage: prompt_tokens includes the cached (and, for a translated Anthropic answer,
/// the cache-written) tokens.
pub fn openai_usage(t: Tokens) -> Value {
    let prompt = t.input + t.cache_read + t.cache_write;
    json!({ "prompt_tokens": prompt, "completion_tokens": t.output, "total_tokens": prompt + t.output,
            "prompt_tokens_details": { "cached_tokens": t.cache_read } })
}

pub fn anthropic_usage(t: Tokens) -> Value {
    json!({ "input_tokens": t.input, "output_tokens": t.output,
            "cache_read_input_tokens": t.cache_read, "cache_creation_input_tokens": t.cache_write })
}

/// Writes a translated answer as the caller's stream, event by event.
pub struct Renderer {
    pub protocol: Protocol,
    pub id: String,
    pub model: String,
    pub created: i64,
    pub include_usage: bool,
    started: bool,
}

impl Renderer {
    pub fn new(protocol: Protocol, model: &str, include_usage: bool) -> Self {
        let mut b = [0u8; 8];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
        let suffix: String = b.iter().map(|x| format!("{x:02x}")).collect();
        let id = match protocol {
            Protocol::AnthropicMessages => format!("msg_kh{suffix}"),
            _ => format!("chatcmpl-kh{suffix}"),
        };
        Renderer {
            protocol,
            id,
            model: model.into(),
            created: chrono::Utc::now().timestamp(),
            include_usage,
            started: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Value) -> String {
        format!(
            "data: {}\n\n",
            json!({ "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                    "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
        )
    }

    fn event(name: &str, data: Value) -> String {
        format!("event: {name}\ndata: {data}\n\n")
    }

    /// Events for one piece of text (with the opening events before the first).
    pub fn text(&mut self, text: &str) -> String {
        let mut out = String::new();
        if !self.started {
            self.started = true;
            out.push_str(&match self.protocol {
                Protocol::AnthropicMessages => {
                    Self::event("message_start", json!({ "type": "message_start", "message": { "id": self.id, "type": "message", "role": "assistant",
                        "model": self.model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": anthropic_usage(Tokens::default()) } }))
                        + &Self::event("content_block_start", json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }))
                }
                _ => self.chunk(json!({ "role": "assistant", "content": "" }), Value::Null),
            });
        }
        out.push_str(&match self.protocol {
            Protocol::AnthropicMessages => Self::event(
                "content_block_delta",
                json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": text } }),
            ),
            _ => self.chunk(json!({ "content": text }), Value::Null),
        });
        out
    }

    /// The closing events, with the usage the router metered.
    pub fn finish(&mut self, usage: Tokens) -> String {
        let mut out = if self.started { String::new() } else { self.text("") };
        match self.protocol {
            Protocol::AnthropicMessages => {
                out.push_str(&Self::event("content_block_stop", json!({ "type": "content_block_stop", "index": 0 })));
                out.push_str(&Self::event("message_delta", json!({ "type": "message_delta", "delta": { "stop_reason": "end_turn", "stop_sequence": null }, "usage": anthropic_usage(usage) })));
                out.push_str(&Self::event("message_stop", json!({ "type": "message_stop" })));
            }
            _ => {
                out.push_str(&self.chunk(json!({}), json!("stop")));
                if self.include_usage {
                    out.push_str(&format!(
                        "data: {}\n\n",
                        json!({ "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model, "choices": [], "usage": openai_usage(usage) })
                    ));
                }
                out.push_str("data: [DONE]\n\n");
            }
        }
        out
    }

    /// An error after the stream started, in the caller's stream format.
    pub fn error(&self, message: &str) -> String {
        match self.protocol {
            Protocol::AnthropicMessages => Self::event("error", error_body(Protocol::AnthropicMessages, 502, message)),
            _ => format!("data: {}\n\n", error_body(Protocol::OpenAiChat, 502, message)),
        }
    }

    /// A whole, non-streamed answer in the caller's shape.
    pub fn whole(&self, text: &str, usage: Tokens) -> Value {
        match self.protocol {
            Protocol::AnthropicMessages => {
                json!({ "id": self.id, "type": "message", "role": "assistant", "model": self.model,
                "content": [{ "type": "text", "text": text }], "stop_reason": "end_turn", "stop_sequence": null, "usage": anthropic_usage(usage) })
            }
            _ => json!({ "id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
                "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
                "usage": openai_usage(usage) }),
        }
    }
}

/// True for the OpenAI usage-only chunk Keyhold asked for on a client's behalf.
pub fn is_usage_only_chunk(event: &[u8]) -> bool {
    let event = String::from_utf8_lossy(event);
    let data: String = event.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim).collect();
    serde_json::from_str::<Value>(&data).is_ok_and(|v| {
        v.get("choices").and_then(Value::as_array).is_some_and(|c| c.is_empty())
            && v.get("usage").is_some_and(|u| !u.is_null())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_and_anthropic_requests_read_into_the_same_canonical_form() {
        let o = parse(Protocol::OpenAiChat, json!({ "model": "m", "max_tokens": 50, "stop": "X", "messages": [
            { "role": "system", "content": "Be brief." }, { "role": "user", "content": [{ "type": "text", "text": "Hi" }] } ] }), 1024).unwrap();
        let a = parse(
            Protocol::AnthropicMessages,
            json!({ "model": "m", "max_tokens": 50, "stop_sequences": ["X"], "system": "Be brief.",
            "messages": [{ "role": "user", "content": "Hi" }] }),
            1024,
        )
        .unwrap();
        assert_eq!(
            (o.system.clone(), o.turns.clone(), o.max_tokens, o.stop.clone()),
            (a.system, a.turns, a.max_tokens, a.stop)
        );
        assert!(parse(Protocol::OpenAiChat, json!({ "model": "m" }), 1).unwrap_err().contains("\"messages\""));
        assert!(parse(Protocol::OpenAiChat, json!({ "messages": [{ "role": "wizard", "content": "x" }] }), 1)
            .unwrap_err()
            .contains("unknown role"));
    }

    #[test]
    fn a_translated_stream_is_well_formed_in_each_protocol() {
        let mut r = Renderer::new(Protocol::OpenAiChat, "gpt-4o-mini", true);
        let s =
            r.text("Hel") + &r.text("lo") + &r.finish(Tokens { input: 3, output: 2, cache_read: 1, cache_write: 0 });
        assert!(s.ends_with("data: [DONE]\n\n"));
        assert!(s.contains("\"prompt_tokens\":4"), "{s}");
        let mut a = Renderer::new(Protocol::AnthropicMessages, "claude", false);
        let s = a.text("Hi") + &a.finish(Tokens { input: 3, output: 2, ..Default::default() });
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
    fn the_usage_chunk_a_client_did_not_ask_for_is_recognised() {
        assert!(is_usage_only_chunk(b"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\n"));
        assert!(!is_usage_only_chunk(b"data: {\"choices\":[{\"delta\":{}}],\"usage\":null}\n\n"));
        assert!(!is_usage_only_chunk(b"data: [DONE]\n\n"));
    }
}
