//! `keyhold ollama status | pull MODEL | remove MODEL`: the local Ollama, as the Local models
//! page shows and manages it. Nothing here is a secret, so nothing needs the passphrase.

use clap::Subcommand;
use serde_json::json;

use keyhold_core::datadir::DataDir;
use keyhold_core::error::ErrorKind;
use keyhold_core::ollama;

use super::output::{Failure, Output};
use super::place::Place;

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

pub fn run(command: &OllamaCommand, place: &Place<'_>, out: &Output) -> Result<(), Failure> {
    let dir = place.dir();
    match command {
        OllamaCommand::Status { url } => status(&address(url, dir), place, out),
        OllamaCommand::Pull { model, url } => {
            let url = address(url, dir);
            let mut last_shown = String::new();
            place.block_on(ollama::pull(&url, model, |p| {
                // One line per step (and per tenth of a download), not per chunk.
                let line = match (p.completed, p.total) {
                    (Some(c), Some(t)) if t > 0 => format!("{}: {} {} %", p.model, p.status, c * 100 / t / 10 * 10),
                    _ => format!("{}: {}", p.model, p.status),
                };
                if line != last_shown {
                    crate::errln!("{line}");
                    last_shown = line;
                }
            }))??;
            out.success(
                &format!("{model} is installed: use it as a local step (local:{model})."),
                json!({ "ok": true, "model": model }),
            );
            Ok(())
        }
        OllamaCommand::Remove { model, url } => {
            place.block_on(ollama::remove(&address(url, dir), model))??;
            out.success(&format!("{model} was removed."), json!({ "ok": true, "model": model }));
            Ok(())
        }
    }
}

/// The address given, else that of the user's Ollama key (reading the database needs no lock),
/// else Ollama's default.
fn address(url: &Option<String>, dir: &DataDir) -> String {
    keyhold_core::app::local::address_in(dir, url.as_deref())
}

fn status(url: &str, place: &Place<'_>, out: &Output) -> Result<(), Failure> {
    let st = place.block_on(ollama::status(url))?;
    if out.json {
        crate::outln!("{}", serde_json::to_string(&st).expect("status serializes"));
    } else if st.running {
        crate::outln!("Ollama {} is running at {}.", st.version.as_deref().unwrap_or("?"), st.url);
        crate::outln!(
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
        crate::outln!("Loaded now: {}", if st.loaded.is_empty() { "none".into() } else { st.loaded.join(", ") });
    }
    match st.problem {
        Some(p) => Err(Failure::from_message(ErrorKind::OllamaUnavailable, p)),
        None => Ok(()),
    }
}
