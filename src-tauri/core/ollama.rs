//! Local Ollama: is it there, which version, which models are installed and which are loaded.
//! The model list goes through ollama-rs; version and loaded models are plain GETs it does not
//! offer.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use specta::Type;

pub const DEFAULT_URL: &str = "http://127.0.0.1:11434";

#[derive(Debug, Clone, Serialize, Type, PartialEq)]
pub struct LocalModel {
    pub name: String,
    /// Bytes on disk, as a number a UI can format (exact up to 2^53).
    #[specta(type = specta_typescript::Number)]
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Type, PartialEq)]
pub struct OllamaStatus {
    pub url: String,
    pub running: bool,
    pub version: Option<String>,
    pub models: Vec<LocalModel>,
    /// Models loaded in memory right now.
    pub loaded: Vec<String>,
    /// When not running: what is wrong and what to do, in a sentence.
    pub problem: Option<String>,
}

fn down(url: &str, problem: String) -> OllamaStatus {
    OllamaStatus {
        url: url.into(),
        running: false,
        version: None,
        models: Vec::new(),
        loaded: Vec::new(),
        problem: Some(problem),
    }
}

/// The user's Ollama key: their default one, else any (None: they have not added one).
pub fn users_key(conn: &rusqlite::Connection) -> Option<crate::keys::KeySummary> {
    crate::keys::list(conn).ok()?.into_iter().filter(|k| k.provider == "ollama").max_by_key(|k| k.is_default)
}

/// Where the user's Ollama answers: their key's address, else Ollama's default.
pub fn address_of(key: Option<&crate::keys::KeySummary>) -> String {
    key.and_then(|k| k.base_url.clone()).unwrap_or_else(|| DEFAULT_URL.into())
}

/// Looks at the Ollama at `url`. Never fails: what goes wrong is the status's `problem`.
pub async fn status(url: &str) -> OllamaStatus {
    let trimmed = url.trim().trim_end_matches('/');
    let parsed = match reqwest::Url::parse(&format!("{trimmed}/")) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => u,
        _ => return down(url, format!("\"{url}\" is not a URL: give Ollama's address, like {DEFAULT_URL}.")),
    };
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(3)).build() {
        Ok(c) => c,
        Err(e) => return down(url, e.to_string()),
    };
    let version = match client.get(format!("{trimmed}/api/version")).send().await {
        Err(_) => {
            return down(trimmed, format!(
                "No Ollama answers at {trimmed}. Install it from ollama.com, or start it with `ollama serve`; local fallback steps need it."
            ))
        }
        Ok(r) => match r.json::<Value>().await.ok().and_then(|v| v.get("version").and_then(Value::as_str).map(str::to_string)) {
            Some(v) => v,
            None => return down(trimmed, format!("Something answers at {trimmed}, but it is not Ollama (no version at /api/version). Check the address.")),
        },
    };
    let ollama = ollama_rs::Ollama::from_url(parsed);
    let models = match ollama.list_local_models().await {
        Ok(list) => list.into_iter().map(|m| LocalModel { name: m.name, size: m.size }).collect(),
        Err(e) => return down(trimmed, format!("Ollama {version} at {trimmed} did not list its models ({e}).")),
    };
    let loaded = match client.get(format!("{trimmed}/api/ps")).send().await {
        Ok(r) => r
            .json::<Value>()
            .await
            .ok()
            .and_then(|v| v.get("models").and_then(Value::as_array).cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|m| m.get("name").and_then(Value::as_str).map(str::to_string))
            .collect(),
        Err(_) => Vec::new(),
    };
    OllamaStatus { url: trimmed.into(), running: true, version: Some(version), models, loaded, problem: None }
}

/// Where a pull is, for a progress bar.
#[derive(Debug, Clone, Serialize, Type, PartialEq)]
pub struct PullProgress {
    pub model: String,
    /// Ollama's words ("pulling manifest", "pulling a80c4f17acd5", "success").
    pub status: String,
    #[specta(type = Option<specta_typescript::Number>)]
    pub completed: Option<u64>,
    #[specta(type = Option<specta_typescript::Number>)]
    pub total: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("\"{0}\" is not a model name: use a name from ollama.com/library, like llama3.2:1b.")]
    BadName(String),
    #[error("Ollama could not pull {model}: {detail}.")]
    PullFailed { model: String, detail: String },
    #[error("Ollama could not remove {model}: {detail}.")]
    RemoveFailed { model: String, detail: String },
    #[error("\"{0}\" is not Ollama's address.")]
    BadUrl(String),
}

impl crate::error::Kinded for ModelError {
    fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::Usage
    }
}

fn client(url: &str) -> Result<ollama_rs::Ollama, ModelError> {
    let trimmed = url.trim().trim_end_matches('/');
    reqwest::Url::parse(&format!("{trimmed}/"))
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .map(ollama_rs::Ollama::from_url)
        .ok_or_else(|| ModelError::BadUrl(url.into()))
}

/// Ollama's own words for what went wrong, or what a user can check when it did not answer.
fn words(url: &str, e: ollama_rs::error::OllamaError) -> String {
    use ollama_rs::error::OllamaError;
    match e {
        OllamaError::InternalError(e) => e.message,
        // Ollama answers a refusal with a JSON body: its "error" field says why.
        OllamaError::Other(body) => serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
            .unwrap_or(body),
        OllamaError::ReqwestError(e) if e.is_connect() || e.is_timeout() => {
            format!("no Ollama answers at {url} (start it with `ollama serve`)")
        }
        OllamaError::ReqwestError(e) => format!("the connection to {url} failed ({e})"),
        other => other.to_string(),
    }
}

fn valid_name(model: &str) -> bool {
    !model.is_empty()
        && model.len() <= 200
        && model.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '/'))
}

/// Pulls `model` through ollama-rs, telling `progress` each step Ollama reports. Ends when
/// Ollama says "success"; its error otherwise, in its own words.
pub async fn pull(url: &str, model: &str, mut progress: impl FnMut(PullProgress)) -> Result<(), ModelError> {
    use futures_util::StreamExt;
    let model = model.trim();
    if !valid_name(model) {
        return Err(ModelError::BadName(model.into()));
    }
    let failed = |detail: String| ModelError::PullFailed { model: model.into(), detail };
    let mut stream = client(url)?.pull_model_stream(model.into(), false).await.map_err(|e| failed(words(url, e)))?;
    let mut done = false;
    while let Some(step) = stream.next().await {
        let step = step.map_err(|e| failed(words(url, e)))?;
        done |= step.message == "success";
        progress(PullProgress {
            model: model.into(),
            status: step.message,
            completed: step.completed,
            total: step.total,
        });
    }
    if done {
        Ok(())
    } else {
        Err(failed("the download ended before Ollama said it succeeded".into()))
    }
}

/// Removes an installed model.
pub async fn remove(url: &str, model: &str) -> Result<(), ModelError> {
    client(url)?
        .delete_model(model.into())
        .await
        .map_err(|e| ModelError::RemoveFailed { model: model.into(), detail: words(url, e) })
}

/// Whether Ollama serves `model` from elsewhere: its cloud models (`gpt-oss:120b-cloud`,
/// `qwen3-coder:480b-cloud`, a `…:cloud` tag) run on ollama.com, not on this machine.
pub fn served_remotely(model: &str) -> bool {
    let tag = model.rsplit_once(':').map_or(model, |(_, t)| t);
    tag == "cloud" || tag.ends_with("-cloud") || model.ends_with("-cloud")
}

/// Where the Ollama at `url` serves `model` from, when not this machine: the `remote_host` of
/// its `/api/show` (its cloud models, and copies of them under any name, `ollama cp
/// gpt-oss:120b-cloud big`). Asked at most once a minute per address and model. An Ollama that
/// does not answer within 2 s is taken at the model's name ([`served_remotely`]): the chat
/// request that would follow fails there the same way.
pub async fn remote_host(url: &str, model: &str) -> Option<String> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    use std::time::Instant;
    type Seen = HashMap<(String, String), (Instant, Option<String>)>;
    static SEEN: OnceLock<Mutex<Seen>> = OnceLock::new();
    let seen = SEEN.get_or_init(Default::default);
    let key = (url.trim().trim_end_matches('/').to_string(), model.to_string());
    if let Some((at, host)) = seen.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        if at.elapsed() < Duration::from_secs(60) {
            return host.clone();
        }
    }
    let asked = async {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().ok()?;
        let resp = client.post(format!("{}/api/show", key.0)).json(&serde_json::json!({ "model": model })).send().await;
        let v: Value = resp.ok()?.json().await.ok()?;
        v.get("remote_host").and_then(Value::as_str).filter(|h| !h.is_empty()).map(str::to_string)
    }
    .await;
    seen.lock().unwrap_or_else(|p| p.into_inner()).insert(key, (Instant::now(), asked.clone()));
    asked
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyhold_sim::{self as sim, Behavior, Flavor};

    #[tokio::test]
    async fn a_model_is_pulled_with_progress_shows_as_installed_and_can_be_removed() {
        let s = sim::start(Flavor::Ollama, "127.0.0.1:0".parse().unwrap(), vec![]).await.unwrap();
        let mut seen = Vec::new();
        pull(&s.base_url(), "gemma2:2b", |p| seen.push(p)).await.unwrap();
        assert_eq!(seen.first().unwrap().status, "pulling manifest");
        assert_eq!(seen.last().unwrap().status, "success");
        let last_bytes = seen.iter().rev().find_map(|p| p.completed.zip(p.total)).unwrap();
        assert_eq!(last_bytes.0, last_bytes.1, "the bar reaches the end");
        assert!(status(&s.base_url()).await.models.iter().any(|m| m.name == "gemma2:2b"));
        remove(&s.base_url(), "gemma2:2b").await.unwrap();
        assert!(!status(&s.base_url()).await.models.iter().any(|m| m.name == "gemma2:2b"));
        // Ollama's own refusals come back in its words.
        let e = pull(&s.base_url(), "no-such-model:7b", |_| {}).await.unwrap_err().to_string();
        assert!(e.contains("file does not exist"), "{e}");
        let e = remove(&s.base_url(), "gemma2:2b").await.unwrap_err().to_string();
        assert_eq!(e, "Ollama could not remove gemma2:2b: model 'gemma2:2b' not found.");
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let e = pull(&format!("http://{closed}"), "gemma2:2b", |_| {}).await.unwrap_err().to_string();
        assert!(e.contains("no Ollama answers at http://"), "{e}");
        assert!(matches!(pull(&s.base_url(), "llama3; rm -rf", |_| {}).await, Err(ModelError::BadName(_))));
    }

    #[tokio::test]
    async fn a_running_ollama_reports_its_version_models_and_loaded_models() {
        let s = sim::start(Flavor::Ollama, "127.0.0.1:0".parse().unwrap(), vec![]).await.unwrap();
        let st = status(&s.base_url()).await;
        assert!(st.running, "{st:?}");
        assert_eq!(st.version.as_deref(), Some("0.12.6"));
        assert_eq!(st.models.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["llama3.2:1b", "qwen2.5:0.5b"]);
        assert_eq!(st.loaded, ["llama3.2:1b"]);
    }

    #[tokio::test]
    async fn no_ollama_something_else_or_no_url_each_say_what_to_do() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let st = status(&format!("http://{closed}")).await;
        assert!(!st.running);
        assert!(st.problem.unwrap().contains("ollama serve"));
        let other = sim::start(Flavor::OpenAi, "127.0.0.1:0".parse().unwrap(), vec![]).await.unwrap();
        let st = status(&format!("http://{}", other.addr)).await;
        assert!(st.problem.unwrap().contains("it is not Ollama"));
        let st = status("localhost 11434").await;
        assert!(st.problem.unwrap().contains("is not a URL"));
        let s = sim::start(Flavor::Ollama, "127.0.0.1:0".parse().unwrap(), vec![]).await.unwrap();
        s.set_behavior(vec![Behavior { garbage: Some(true), times: Some(1), ..Default::default() }]);
        assert!(!status(&s.base_url()).await.running);
    }
}
