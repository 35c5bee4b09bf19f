//! `keyhold ollama status | pull MODEL | remove MODEL`: the local Ollama, as the Local models
//! page shows and manages it. Nothing here is a secret, so nothing needs the passphrase.

use std::io::Write;

use clap::Subcommand;
use serde_json::json;

use keyhold_core::datadir::DataDir;
use keyhold_core::error::ErrorKind;
use keyhold_core::ollama;

use super::output::{Failure, Output};

#[derive(Debug, Subcommand)]
pub enum OllamaCommand {
    /// Report version, installed models and loaded models.
    Status {
        /// Default: the address of your Ollama key, else http://127.0.0.1:11434.
        #[arg(long)]
        url: Option<String>,
    },
    /// Download a model from the Ollama library (progress on standard error).
    Pull {
        /// A name from ollama.com/library, e.g. llama3.2:1b.
        model: String,
        #[arg(long)]
        url: Option<String>,
    },
    /// Remove an installed model.
    Remove {
        model: String,
        #[arg(long)]
        url: Option<String>,
    },
}

pub fn run(command: &OllamaCommand, dir: &DataDir, out: &Output) -> Result<(), Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::from_message(ErrorKind::Internal, format!("Could not start the network runtime: {e}")))?;
    match command {
        OllamaCommand::Status { url } => status(&address(url, dir), &runtime, out),
        OllamaCommand::Pull { model, url } => {
            let url = address(url, dir);
            let mut last_shown = String::new();
            runtime.block_on(ollama::pull(&url, model, |p| {
                // One line per step (and per tenth of a download), not per chunk.
                let line = match (p.completed, p.total) {
                    (Some(c), Some(t)) if t > 0 => format!("{}: {} {} %", p.model, p.status, c * 100 / t / 10 * 10),
                    _ => format!("{}: {}", p.model, p.status),
                };
                if line != last_shown {
                    let _ = writeln!(std::io::stderr(), "{line}");
                    last_shown = line;
                }
            }))?;
            out.success(
                &format!("{model} is installed: use it as a local step (local:{model})."),
                json!({ "ok": true, "model": model }),
            );
            Ok(())
        }
        OllamaCommand::Remove { model, url } => {
            runtime.block_on(ollama::remove(&address(url, dir), model))?;
            out.success(&format!("{model} was removed."), json!({ "ok": true, "model": model }));
            Ok(())
        }
    }
}

/// The address given, else that of the user's Ollama key (reading the database needs no lock),
/// else Ollama's default.
fn address(url: &Option<String>, dir: &DataDir) -> String {
    url.clone().unwrap_or_else(|| {
        let key = keyhold_core::db::open(&dir.db_path()).ok().and_then(|c| ollama::users_key(&c));
        ollama::address_of(key.as_ref())
    })
}

fn status(url: &str, runtime: &tokio::runtime::Runtime, out: &Output) -> Result<(), Failure> {
    let st = runtime.block_on(ollama::status(url));
    if out.json {
        println!("{}", serde_json::to_string(&st).expect("status serializes"));
    } else if st.running {
        println!("Ollama {} is running at {}.", st.version.as_deref().unwrap_or("?"), st.url);
        println!(
            "Installed models: {}",
            if st.models.is_empty() {
                "none (keyhold ollama pull MODEL)".into()
            } else {
                st.models
                    .iter()
                    .map(|m| format!("{} ({:.1} GB)", m.name, m.size as f64 / 1e9))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
        println!("Loaded now: {}", if st.loaded.is_empty() { "none".into() } else { st.loaded.join(", ") });
    }
    match st.problem {
        Some(p) => Err(Failure::from_message(ErrorKind::OllamaUnavailable, p)),
        None => Ok(()),
    }
}
