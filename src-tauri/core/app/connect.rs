//! Connecting a tool to the proxy: exactly what each coding agent or client needs, with the
//! proxy's real address and an agent's token (`keyhold connect TOOL`; the Proxy page can show
//! the same).

use serde::Serialize;

use crate::workspace::{Workspace, WorkspaceError};

/// The tools Keyhold knows how to connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    ClaudeCode,
    Codex,
    Aider,
    Continue,
    OpenWebui,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::ClaudeCode => "Claude Code",
            Tool::Codex => "Codex",
            Tool::Aider => "Aider",
            Tool::Continue => "Continue",
            Tool::OpenWebui => "Open WebUI",
        }
    }
}

/// What to put where for one tool.
#[derive(Debug, Clone, Serialize)]
pub struct Connection {
    pub tool: Tool,
    /// The file the text goes in, when it is a file (else the shell's environment).
    pub file: Option<&'static str>,
    pub text: String,
    /// The token's id, to revoke it later (`keyhold agents revoke ID`).
    pub token_id: String,
}

/// The proxy's address: the port it runs on (or will, when started).
pub fn address(ws: &Workspace) -> String {
    format!("http://127.0.0.1:{}", crate::proxy::config::load(&ws.conn()).port)
}

/// Issues a token for `agent` (labelled with the tool) and writes what `tool` needs, for the
/// proxy at `url` (default: [`address`]).
pub fn connect(ws: &Workspace, tool: Tool, agent: &str, url: Option<&str>) -> Result<Connection, WorkspaceError> {
    let a = super::agents::find(ws, agent)?;
    let issued = super::agents::issue_token(ws, &a.name, Some(tool.name()))?;
    let base = url.map_or_else(|| address(ws), |u| u.trim_end_matches('/').trim_end_matches("/v1").to_string());
    let (base, token, model) = (base, issued.token.as_str(), a.model.as_str());
    let (file, text) = match tool {
        Tool::ClaudeCode => (
            None,
            format!("export ANTHROPIC_BASE_URL={base}\nexport ANTHROPIC_AUTH_TOKEN={token}\nunset ANTHROPIC_API_KEY\n"),
        ),
        Tool::Codex => (
            Some("~/.codex/config.toml"),
            format!(
                "model = \"{model}\"\nmodel_provider = \"keyhold\"\n\n[model_providers.keyhold]\nname = \"Keyhold\"\n\
                 base_url = \"{base}/v1\"\nenv_key = \"KEYHOLD_TOKEN\"\nwire_api = \"responses\"\n\n\
                 # and in your shell:\n# export KEYHOLD_TOKEN={token}\n"
            ),
        ),
        Tool::Aider => (
            None,
            format!("export OPENAI_API_BASE={base}/v1\nexport OPENAI_API_KEY={token}\n# then: aider --model openai/{model}\n"),
        ),
        Tool::Continue => (
            Some("~/.continue/config.yaml"),
            format!(
                "models:\n  - name: Keyhold ({agent})\n    provider: openai\n    model: {model}\n    apiBase: {base}/v1\n    apiKey: {token}\n",
                agent = a.name
            ),
        ),
        Tool::OpenWebui => (None, format!("OPENAI_API_BASE_URL={base}/v1\nOPENAI_API_KEY={token}\n")),
    };
    Ok(Connection { tool, file, text, token_id: issued.info.id })
}
