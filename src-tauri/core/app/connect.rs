//! Connecting a tool to the proxy: exactly what each coding agent or client needs, with the
//! proxy's real address and an agent's token (`keyhold connect TOOL`; the Proxy page shows the
//! same), and, with `--write`, that change made in the tool's own config file, every other
//! setting (and comment) in it kept.

use std::path::{Path, PathBuf};

use serde::Serialize;
use specta::Type;

use crate::workspace::{Workspace, WorkspaceError};

/// The tools Keyhold knows how to connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Type)]
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
#[derive(Debug, Clone, Serialize, Type)]
pub struct Connection {
    pub tool: Tool,
    /// The file the text goes in, when it is a file (else the shell's environment).
    pub file: Option<String>,
    pub text: String,
    /// The token's id, to revoke it later (`keyhold agents revoke ID`).
    pub token_id: String,
    #[serde(skip)]
    settings: Settings,
}

/// What every tool's settings are made of.
#[derive(Debug, Clone, Default)]
struct Settings {
    base: String,
    token: String,
    model: String,
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
            Some("~/.codex/config.toml".to_string()),
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
            Some("~/.continue/config.yaml".to_string()),
            format!(
                "models:\n  - name: Keyhold ({agent})\n    provider: openai\n    model: {model}\n    apiBase: {base}/v1\n    apiKey: {token}\n",
                agent = a.name
            ),
        ),
        Tool::OpenWebui => (None, format!("OPENAI_API_BASE_URL={base}/v1\nOPENAI_API_KEY={token}\n")),
    };
    let settings = Settings { base: base.clone(), token: token.to_string(), model: model.to_string() };
    Ok(Connection { tool, file, text, token_id: issued.info.id, settings })
}

/// Why `--write` changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0} keeps its settings where Keyhold does not write them: {1}")]
    NoFile(&'static str, &'static str),
    #[error("Keyhold could not read {path}: {why}. Nothing was changed.")]
    Unreadable { path: String, why: String },
    #[error("{path} is not valid {format} ({why}). Fix it, or move it aside, and run the command again; nothing was changed.")]
    NotParsable { path: String, format: &'static str, why: String },
    #[error("Keyhold could not write {path}: {why}. The file is as it was.")]
    Unwritable { path: String, why: String },
}

/// The file a tool reads its settings from, as the user's environment says (`CODEX_HOME`,
/// `CLAUDE_CONFIG_DIR`, `HOME`). None: the tool has no file Keyhold writes.
pub fn config_path(tool: Tool, env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let home = || env("HOME").map(PathBuf::from);
    match tool {
        Tool::Codex => {
            Some(env("CODEX_HOME").map(PathBuf::from).or_else(|| home().map(|h| h.join(".codex")))?.join("config.toml"))
        }
        Tool::ClaudeCode => Some(
            env("CLAUDE_CONFIG_DIR")
                .map(PathBuf::from)
                .or_else(|| home().map(|h| h.join(".claude")))?
                .join("settings.json"),
        ),
        Tool::Aider => Some(home()?.join(".aider.conf.yml")),
        Tool::Continue | Tool::OpenWebui => None,
    }
}

/// Why a tool's settings are not written for it, when they are not.
pub fn not_written(tool: Tool) -> Option<WriteError> {
    match tool {
        Tool::Continue => Some(WriteError::NoFile(
            "Continue",
            "its config.yaml lists your models with your comments; add the block `keyhold connect continue` prints to its models list",
        )),
        Tool::OpenWebui => Some(WriteError::NoFile(
            "Open WebUI",
            "set what `keyhold connect open-webui` prints in its Admin Settings → Connections, or in its container's environment",
        )),
        _ => None,
    }
}

/// A change `--write` makes: the file, what it holds now (None: it does not exist), what it
/// will hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub path: PathBuf,
    pub before: Option<String>,
    pub after: String,
}

impl Change {
    /// The change as lines removed (`- `) and added (`+ `), with the lines around them; empty
    /// when the file already says all of it.
    pub fn diff(&self) -> String {
        line_diff(self.before.as_deref().unwrap_or(""), &self.after)
    }
}

/// The change that connects `c`'s tool in the file at `path`, keeping everything else in it.
pub fn change(c: &Connection, path: &Path) -> Result<Change, WriteError> {
    let shown = path.display().to_string();
    let before = match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(WriteError::Unreadable { path: shown, why: e.to_string() }),
    };
    let s = &c.settings;
    let text = before.clone().unwrap_or_default();
    let after = match c.tool {
        Tool::Codex => {
            let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
                WriteError::NotParsable { path: shown.clone(), format: "TOML", why: e.message().to_string() }
            })?;
            doc["model"] = toml_edit::value(s.model.as_str());
            doc["model_provider"] = toml_edit::value("keyhold");
            if !doc.contains_table("model_providers") {
                let mut t = toml_edit::Table::new();
                t.set_implicit(true);
                doc["model_providers"] = toml_edit::Item::Table(t);
            }
            let mut p = toml_edit::Table::new();
            p["name"] = toml_edit::value("Keyhold");
            p["base_url"] = toml_edit::value(format!("{}/v1", s.base));
            // In the file, so the tool needs nothing else; the token is Keyhold's, revocable,
            // and held to the agent's budget: never a provider key.
            p["experimental_bearer_token"] = toml_edit::value(s.token.as_str());
            p["wire_api"] = toml_edit::value("responses");
            doc["model_providers"]["keyhold"] = toml_edit::Item::Table(p);
            doc.to_string()
        }
        Tool::ClaudeCode => {
            let mut v: serde_json::Value = if text.trim().is_empty() {
                serde_json::json!({})
            } else {
                serde_json::from_str(&text).map_err(|e| WriteError::NotParsable {
                    path: shown.clone(),
                    format: "JSON",
                    why: e.to_string(),
                })?
            };
            let Some(o) = v.as_object_mut() else {
                return Err(WriteError::NotParsable { path: shown, format: "JSON", why: "it is not an object".into() });
            };
            let env = o.entry("env").or_insert_with(|| serde_json::json!({}));
            let Some(env) = env.as_object_mut() else {
                return Err(WriteError::NotParsable {
                    path: shown,
                    format: "JSON",
                    why: "its \"env\" is not an object".into(),
                });
            };
            env.insert("ANTHROPIC_BASE_URL".into(), serde_json::json!(s.base));
            env.insert("ANTHROPIC_AUTH_TOKEN".into(), serde_json::json!(s.token));
            // A key of its own would be used instead of Keyhold's token.
            env.remove("ANTHROPIC_API_KEY");
            serde_json::to_string_pretty(&v).expect("a JSON value serializes") + "\n"
        }
        Tool::Aider => {
            let wanted = [
                ("openai-api-base", format!("{}/v1", s.base)),
                ("openai-api-key", s.token.clone()),
                ("model", format!("openai/{}", s.model)),
            ];
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            for (key, value) in wanted {
                let line = format!("{key}: {value}");
                match lines.iter().position(|l| l.split(':').next().map(str::trim) == Some(key) && !l.starts_with(' '))
                {
                    Some(i) => lines[i] = line,
                    None => lines.push(line),
                }
            }
            lines.join("\n") + "\n"
        }
        Tool::Continue | Tool::OpenWebui => {
            return Err(not_written(c.tool).expect("these tools have no file Keyhold writes"))
        }
    };
    Ok(Change { path: path.to_path_buf(), before, after })
}

/// Writes a change: to a new file beside it, then renamed over it, so the tool never reads half
/// a file; the file keeps its permissions, and a new one is the user's only (0600: it holds a
/// token).
pub fn write(change: &Change) -> Result<(), WriteError> {
    use std::io::Write;
    let shown = change.path.display().to_string();
    let fail = |e: std::io::Error| WriteError::Unwritable { path: shown.clone(), why: e.to_string() };
    let dir = change.path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(fail)?;
    let tmp = dir.join(format!(
        ".{}.keyhold-{}",
        change.path.file_name().and_then(|n| n.to_str()).unwrap_or("config"),
        std::process::id()
    ));
    let mode = std::fs::metadata(&change.path).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode_for(mode.as_ref().map_or(0o600, |m| m & 0o7777))
            .open(&tmp)?;
        f.write_all(change.after.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &change.path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(fail)
}

/// `OpenOptions::mode`, named for what it is here.
trait ModeFor {
    fn mode_for(&mut self, mode: u32) -> &mut Self;
}

impl ModeFor for std::fs::OpenOptions {
    fn mode_for(&mut self, mode: u32) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, mode)
    }
}

/// Lines removed and added between two texts (a longest common subsequence: config files are
/// small), with one line of context around each change.
fn line_diff(before: &str, after: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            (i, j) = (i + 1, j + 1);
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            ops.push(('+', b[j]));
            j += 1;
        } else {
            ops.push(('-', a[i]));
            i += 1;
        }
    }
    let near = |k: usize| ops[k.saturating_sub(1)..(k + 2).min(ops.len())].iter().any(|(c, _)| *c != ' ');
    let mut out = String::new();
    let mut skipped = false;
    for (k, (c, line)) in ops.iter().enumerate() {
        if *c == ' ' && !near(k) {
            skipped = true;
            continue;
        }
        if skipped && !out.is_empty() {
            out.push_str("  …\n");
        }
        skipped = false;
        out.push_str(&format!("{c} {line}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codex() -> Connection {
        Connection {
            tool: Tool::Codex,
            file: None,
            text: String::new(),
            token_id: "t".into(),
            settings: Settings {
                base: "http://127.0.0.1:11500".into(),
                token: "kh_canary_token".into(),
                model: "gpt-5".into(),
            },
        }
    }

    #[test]
    fn codex_config_gets_the_provider_and_keeps_every_other_setting_and_comment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let mine = "# my settings\napproval_policy = \"never\"\nmodel = \"o3\"\n\n[model_providers.other]\nname = \"Other\"\nbase_url = \"https://x\"\n\n[mcp_servers.docs]\ncommand = \"docs-mcp\"\n";
        std::fs::write(&path, mine).unwrap();
        let c = change(&codex(), &path).unwrap();
        let doc: toml_edit::DocumentMut = c.after.parse().unwrap();
        assert_eq!(doc["model"].as_str(), Some("gpt-5"));
        assert_eq!(doc["model_provider"].as_str(), Some("keyhold"));
        assert_eq!(doc["model_providers"]["keyhold"]["wire_api"].as_str(), Some("responses"));
        assert_eq!(doc["model_providers"]["keyhold"]["base_url"].as_str(), Some("http://127.0.0.1:11500/v1"));
        assert_eq!(doc["model_providers"]["other"]["name"].as_str(), Some("Other"));
        assert_eq!(doc["mcp_servers"]["docs"]["command"].as_str(), Some("docs-mcp"));
        assert_eq!(doc["approval_policy"].as_str(), Some("never"));
        assert!(c.after.starts_with("# my settings"), "comments stay: {}", c.after);
        let d = c.diff();
        assert!(d.contains("- model = \"o3\"") && d.contains("+ model = \"gpt-5\""), "{d}");
        write(&c).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), c.after);
        // Written again, nothing changes.
        let again = change(&codex(), &path).unwrap();
        assert_eq!(again.after, c.after);
        assert!(again.diff().lines().all(|l| !l.starts_with(['+', '-'])), "{}", again.diff());
    }

    #[test]
    fn a_new_file_is_the_users_only_and_a_broken_one_is_left_alone_with_the_reason() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("settings.json");
        let c = Connection { tool: Tool::ClaudeCode, ..codex() };
        let ch = change(&c, &path).unwrap();
        assert_eq!(ch.before, None);
        write(&ch).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["env"]["ANTHROPIC_AUTH_TOKEN"], "kh_canary_token");
        // The user's own settings and a key of theirs: the settings stay, the key goes.
        std::fs::write(&path, r#"{"theme":"dark","env":{"ANTHROPIC_API_KEY":"sk-ant-mine","DEBUG":"1"},"permissions":{"allow":["Bash(ls)"]}}"#).unwrap();
        let v: serde_json::Value = serde_json::from_str(&change(&c, &path).unwrap().after).unwrap();
        assert_eq!((v["theme"].as_str(), v["env"]["DEBUG"].as_str()), (Some("dark"), Some("1")));
        assert!(v["env"].get("ANTHROPIC_API_KEY").is_none());
        assert_eq!(v["permissions"]["allow"][0], "Bash(ls)");
        std::fs::write(&path, "{ not json").unwrap();
        let e = change(&c, &path).unwrap_err().to_string();
        assert!(e.contains("is not valid JSON") && e.contains("nothing was changed"), "{e}");
        assert!(!e.contains("kh_canary_token"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{ not json");
    }

    #[test]
    fn each_tool_finds_its_file_where_its_environment_says() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(config_path(Tool::Codex, env(&[("HOME", "/h")])), Some(PathBuf::from("/h/.codex/config.toml")));
        assert_eq!(
            config_path(Tool::Codex, env(&[("HOME", "/h"), ("CODEX_HOME", "/c")])),
            Some(PathBuf::from("/c/config.toml"))
        );
        assert_eq!(
            config_path(Tool::ClaudeCode, env(&[("HOME", "/h")])),
            Some(PathBuf::from("/h/.claude/settings.json"))
        );
        assert_eq!(config_path(Tool::Aider, env(&[("HOME", "/h")])), Some(PathBuf::from("/h/.aider.conf.yml")));
        assert_eq!(config_path(Tool::OpenWebui, env(&[("HOME", "/h")])), None);
    }
}
