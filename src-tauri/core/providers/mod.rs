//! The provider catalog: data, not code per provider. Adding a provider that speaks a protocol
//! Keyhold knows is a line in `catalog.json`.

pub mod framing;
pub mod probe;

use serde::{Deserialize, Serialize};
use specta::Type;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
pub enum Protocol {
    #[serde(rename = "openai-chat")]
    OpenAiChat,
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
