//! Providers: the catalog (data, not code per provider: adding a provider that speaks a
//! protocol Keyhold knows is a line in `catalog.json`), and one module per protocol
//! (`openai_chat`, `anthropic_messages`, `ollama`) that knows both sides of it: reading a
//! caller's request and writing its answer, rendering an upstream request and reading its
//! stream, usage and errors. Adding a protocol touches one module here.

pub mod anthropic_messages;
pub mod canonical;
pub mod failure;
pub mod framing;
pub mod ollama;
pub mod openai_chat;
pub mod openai_responses;
pub mod probe;
pub mod stream;
pub mod upstream;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde::{Deserialize, Serialize};
use specta::Type;

use crate::prices;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
pub enum Protocol {
    #[serde(rename = "openai-chat")]
    OpenAiChat,
    /// OpenAI's Responses API (Codex): a caller's protocol, and a step's where the provider
    /// speaks it (the catalog's `responses`).
    #[serde(rename = "openai-responses")]
    OpenAiResponses,
    #[serde(rename = "anthropic-messages")]
    AnthropicMessages,
    #[serde(rename = "ollama")]
    Ollama,
}

impl Protocol {
    /// The protocol's name as users know it.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::OpenAiChat => "OpenAI chat completions",
            Protocol::OpenAiResponses => "OpenAI Responses",
            Protocol::AnthropicMessages => "Anthropic Messages",
            Protocol::Ollama => "Ollama chat",
        }
    }
}

/// How a key travels: OpenAI-style `Authorization: Bearer`, Anthropic's `x-api-key` (with
/// `anthropic-version`), or none (a local Ollama). Gemini is reached through its
/// OpenAI-compatible endpoint, so it is `bearer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "kebab-case")]
pub enum AuthStyle {
    Bearer,
    XApiKey,
    None,
}

impl AuthStyle {
    /// The request headers for a key, marked sensitive so no debug output ever prints them.
    pub fn headers(self, secret: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        let Some(secret) = secret else { return h };
        match self {
            AuthStyle::Bearer => {
                if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {secret}")) {
                    v.set_sensitive(true);
                    h.insert(AUTHORIZATION, v);
                }
            }
            AuthStyle::XApiKey => {
                if let Ok(mut v) = HeaderValue::from_str(secret) {
                    v.set_sensitive(true);
                    h.insert("x-api-key", v);
                }
                h.insert("anthropic-version", HeaderValue::from_static(anthropic_messages::VERSION));
            }
            AuthStyle::None => {}
        }
        h
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub protocol: Protocol,
    /// In the form the provider's official SDK takes (OpenAI-style `…/v1`, Anthropic without `/v1`).
    pub default_base_url: Option<String>,
    pub models_path: String,
    pub auth: AuthStyle,
    /// What keys usually start with: a hint for a warning, never a refusal (shapes change).
    pub key_prefix: Option<String>,
    /// It also speaks OpenAI's Responses API (`…/v1/responses`): a Responses caller's body goes
    /// to it as it is.
    #[serde(default)]
    pub responses: bool,
}

impl Provider {
    /// The protocol a step on this provider speaks for a caller of `caller`'s protocol: its own,
    /// or the Responses API when the caller speaks it and the provider does too.
    pub fn step_protocol(&self, caller: Option<Protocol>) -> Protocol {
        match caller {
            Some(Protocol::OpenAiResponses) if self.responses => Protocol::OpenAiResponses,
            _ => self.protocol,
        }
    }
}

#[derive(Deserialize)]
struct CatalogFile {
    providers: Vec<Provider>,
}

/// The catalog shipped in the binary.
pub fn catalog() -> &'static [Provider] {
    static CATALOG: std::sync::OnceLock<Vec<Provider>> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| {
        serde_json::from_str::<CatalogFile>(include_str!("catalog.json"))
            .expect("catalog.json is checked by the providers tests")
            .providers
    })
}

pub fn find(id: &str) -> Option<&'static Provider> {
    catalog().iter().find(|p| p.id.eq_ignore_ascii_case(id))
}

/// Writes a translated answer back to a caller, in the caller's protocol: one implementation
/// per protocol module.
pub trait ClientWriter: Send {
    /// Events for one piece of text (with the opening events before the first).
    fn text(&mut self, text: &str) -> String;
    /// Events for a tool call's start or arguments; a stop reason is kept for the end.
    fn part(&mut self, part: &canonical::AnswerPart) -> String;
    /// The closing events, with the usage the router metered.
    fn finish(&mut self, usage: prices::Tokens) -> String;
    /// An error after the stream started, in the caller's stream format.
    fn error(&self, message: &str) -> String;
    /// A whole, non-streamed answer in the caller's shape.
    fn whole(&self, answer: &canonical::Answer, usage: prices::Tokens) -> serde_json::Value;
}

impl Protocol {
    /// Reads a caller's body in this protocol into the canonical form (the body travels along);
    /// `size` is its length in bytes as received.
    pub fn parse_request(
        self,
        body: serde_json::Value,
        size: usize,
        default_max_tokens: u32,
    ) -> Result<canonical::ChatRequest, canonical::RequestError> {
        match self {
            Protocol::AnthropicMessages => anthropic_messages::parse_request(body, size, default_max_tokens),
            Protocol::OpenAiResponses => openai_responses::parse_request(body, size, default_max_tokens),
            _ => openai_chat::parse_request(body, size, default_max_tokens),
        }
    }

    /// An error body in this protocol's format.
    pub fn error_body(self, status: u16, message: &str) -> serde_json::Value {
        self.error_body_typed(status, None, message)
    }

    /// An error body with the error type given (a provider's own), else the one for `status`.
    pub fn error_body_typed(self, status: u16, kind: Option<&str>, message: &str) -> serde_json::Value {
        let kind = kind.unwrap_or_else(|| error_type(status));
        match self {
            Protocol::AnthropicMessages => anthropic_messages::error_body(kind, message),
            _ => openai_chat::error_body(status, kind, message),
        }
    }

    /// The body for a step in this protocol: the caller's own if it spoke it (only the model
    /// changes), else the translation.
    pub fn body_for(self, req: &canonical::ChatRequest, model: &str, provider_is_openai: bool) -> serde_json::Value {
        if let Some(raw) = req.raw.as_ref().filter(|r| r.protocol == self) {
            let mut body = raw.body.clone();
            body["model"] = serde_json::json!(model);
            // The output cap the budget reserved is the one sent, whatever the caller wrote or
            // left out: an uncapped passthrough could spend past the budget.
            match self {
                Protocol::AnthropicMessages => anthropic_messages::prepare_passthrough(&mut body, req.max_tokens),
                Protocol::OpenAiResponses => openai_responses::prepare_passthrough(&mut body, req.max_tokens),
                _ => openai_chat::prepare_passthrough(&mut body, req.max_tokens, provider_is_openai),
            }
            return body;
        }
        match self {
            Protocol::AnthropicMessages => anthropic_messages::render_request(req, model),
            _ => openai_chat::render_request(req, model, provider_is_openai),
        }
    }

    /// The caller's headers that belong to this protocol and go with its body to a step of the
    /// same protocol: every `anthropic-*` header for Messages (`anthropic-beta` carries the
    /// features a request uses, `anthropic-version` its version); `openai-beta` for chat
    /// completions. Never a credential, never a hop-by-hop header, never to another protocol.
    pub fn forwarded_headers(self, headers: &HeaderMap) -> Vec<(String, String)> {
        let wanted = |name: &str| match self {
            Protocol::AnthropicMessages => name.starts_with("anthropic-"),
            Protocol::OpenAiChat | Protocol::OpenAiResponses => name == "openai-beta",
            Protocol::Ollama => false,
        };
        headers
            .iter()
            .filter(|(k, _)| wanted(k.as_str()))
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect()
    }

    /// A writer for answers translated into this protocol, for a request offering `tools` (a
    /// Responses caller's free-form tools get their calls back as `custom_tool_call`s).
    pub fn writer(self, model: &str, include_usage: bool, tools: &[canonical::ToolSpec]) -> Box<dyn ClientWriter> {
        match self {
            Protocol::AnthropicMessages => Box::new(anthropic_messages::Writer::new(model)),
            Protocol::OpenAiResponses => Box::new(openai_responses::Writer::new(model, tools)),
            _ => Box::new(openai_chat::Writer::new(model, include_usage)),
        }
    }
}

/// The error `type` both protocols put in an error body, by HTTP status.
fn error_type(status: u16) -> &'static str {
    match status {
        400 | 413 | 408 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        503 => "overloaded_error",
        _ => "api_error",
    }
}

/// 16 random hex digits, for the ids of answers Keyhold writes.
fn random_suffix() -> String {
    let mut b = [0u8; 8];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_parses_and_offers_every_promised_provider() {
        let ids: Vec<&str> = catalog().iter().map(|p| p.id.as_str()).collect();
        for id in [
            "anthropic",
            "openai",
            "mistral",
            "gemini",
            "deepseek",
            "xai",
            "groq",
            "cerebras",
            "openrouter",
            "together",
            "custom",
            "ollama",
        ] {
            assert!(ids.contains(&id), "{id} missing");
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "duplicate ids");
    }

    #[test]
    fn each_protocol_uses_its_own_auth_and_base_url_form() {
        let anthropic = find("Anthropic").unwrap();
        assert_eq!(anthropic.auth, AuthStyle::XApiKey);
        assert!(!anthropic.default_base_url.as_deref().unwrap().ends_with("/v1"));
        assert_eq!(find("ollama").unwrap().auth, AuthStyle::None);
        for p in catalog().iter().filter(|p| p.protocol == Protocol::OpenAiChat) {
            assert_eq!(p.auth, AuthStyle::Bearer, "{}", p.id);
            if let Some(url) = &p.default_base_url {
                assert!(url.starts_with("https://"), "{}", p.id);
            }
        }
        assert!(find("custom").unwrap().default_base_url.is_none(), "a custom provider needs the user's URL");
    }
}
