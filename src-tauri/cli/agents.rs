//! `keyhold agents …`, `keyhold chat`, `keyhold prices …`, `keyhold usage`.

use std::io::Write;
use std::path::Path;

use chrono::NaiveDate;
use clap::{Subcommand, ValueEnum};
use serde_json::json;

use super::output::{Failure, Output};
use super::place::Place;
use super::term;
use keyhold_core::agents::{AgentCard, AgentSpec, Fetched, WhenOver};
use keyhold_core::app::{self, usage::ExportFormat};
use keyhold_core::datadir::DataDir;
use keyhold_core::error::{ErrorKind, Kinded};
use keyhold_core::money::Money;
use keyhold_core::prices::Override;
use keyhold_core::providers::canonical::{Role, Turn};
use keyhold_core::router;
use keyhold_core::workspace::Workspace;

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Create an agent.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        model: String,
        /// A key's id or label; default: the default key of the model's provider.
        #[arg(long)]
        key: Option<String>,
        /// A fallback step KEY:MODEL, in order; `local:MODEL` is the local Ollama.
        #[arg(long = "fallback", value_name = "K:MODEL")]
        fallback: Vec<String>,
        /// Daily budget in USD, per your local day.
        #[arg(long, value_name = "X", allow_hyphen_values = true)]
        budget_usd: Option<String>,
        /// When the budget is reached: continue on local steps only, or refuse.
        #[arg(long, value_enum, default_value = "local")]
        when_over: WhenOverArg,
        #[arg(long, value_name = "TEXT")]
        system: Option<String>,
        #[arg(long)]
        temperature: Option<f32>,
        #[arg(long)]
        max_tokens: Option<u32>,
        /// What its cloud steps are not sent: off, secrets (the default), pii, or block.
        #[arg(long, value_enum)]
        privacy: Option<super::privacy::PolicyArg>,
        /// What a tool call the model writes gets back of the values the policy replaced:
        /// restore (the default; secrets never) or placeholders (none).
        #[arg(long, value_enum)]
        tool_values: Option<super::privacy::ToolValuesArg>,
        /// Under its budget, a request that has the provider fetch a document, image or file
        /// (by URL or id): reserve the model's context window (the default) or refuse it.
        #[arg(long, value_enum)]
        fetched: Option<FetchedArg>,
    },
    /// Change an agent: only the settings given change.
    Edit {
        agent: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        key: Option<String>,
        /// Replaces the whole chain when given (repeat for several steps).
        #[arg(long = "fallback", value_name = "K:MODEL")]
        fallback: Vec<String>,
        /// Remove every fallback step.
        #[arg(long, conflicts_with = "fallback")]
        no_fallback: bool,
        /// Daily budget in USD; "none" removes it.
        #[arg(long, value_name = "X", allow_hyphen_values = true)]
        budget_usd: Option<String>,
        #[arg(long, value_enum)]
        when_over: Option<WhenOverArg>,
        #[arg(long, value_name = "TEXT")]
        system: Option<String>,
        #[arg(long)]
        max_tokens: Option<u32>,
        #[arg(long, value_enum)]
        privacy: Option<super::privacy::PolicyArg>,
        #[arg(long, value_enum)]
        tool_values: Option<super::privacy::ToolValuesArg>,
        #[arg(long, value_enum)]
        fetched: Option<FetchedArg>,
    },
    /// List agents with today's spend.
    List,
    /// Show one agent.
    Show { agent: String },
    /// Delete an agent (its ledger rows stay).
    Remove { agent: String },
    /// Issue a local proxy token for the agent; it is printed once.
    Token {
        agent: String,
        #[arg(long)]
        label: Option<String>,
    },
    /// List local proxy tokens (never their values).
    Tokens { agent: Option<String> },
    /// Revoke a local proxy token by its id; it stops working at once.
    Revoke { token_id: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum WhenOverArg {
    Local,
    Refuse,
}

/// What a paid step under a budget does with input the provider fetches.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FetchedArg {
    /// Reserve the model's whole context window for it.
    Reserve,
    /// Refuse the step: nothing of unknown cost is sent under a budget.
    Refuse,
}

impl From<FetchedArg> for Fetched {
    fn from(f: FetchedArg) -> Fetched {
        match f {
            FetchedArg::Reserve => Fetched::Reserve,
            FetchedArg::Refuse => Fetched::Refuse,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum PricesCommand {
    /// Every known price (USD per million tokens): your overrides, then the price file.
    List,
    /// Set your own price for a model (USD per million tokens).
    Set {
        model: String,
        #[arg(long)]
        input: String,
        #[arg(long)]
        output: String,
        /// Default: the input price (no cache discount assumed).
        #[arg(long)]
        cache_read: Option<String>,
        /// Default: the input price.
        #[arg(long)]
        cache_write: Option<String>,
    },
    /// Remove your own price for a model: the price file's applies again.
    Remove { model: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// An agent's card (the window's, from core) as the command line shows it.
fn describe(c: &AgentCard) -> serde_json::Value {
    let a = &c.agent;
    json!({
        "name": a.name, "model": a.model,
        "key": c.key_label.clone().unwrap_or_else(|| "provider default".into()),
        "fallback": c.fallback_labels,
        "budget_usd": c.budget_usd, "budget_state": c.budget_state, "when_over": a.when_over,
        "spent_today_usd": c.spent_today_usd, "system": a.system_prompt, "temperature": a.temperature,
        "max_tokens": a.max_tokens, "privacy": a.privacy, "tool_values": a.tool_values, "fetched": a.fetched,
    })
}

pub fn agents(
    command: &AgentsCommand,
    passphrase_file: Option<&Path>,
    place: &Place<'_>,
    out: &Output,
) -> Result<(), Failure> {
    let action = match command {
        AgentsCommand::Add { .. } => Some("Adding an agent"),
        AgentsCommand::Edit { .. } => Some("Changing an agent"),
        AgentsCommand::Remove { .. } => Some("Deleting an agent"),
        AgentsCommand::Token { .. } => Some("Issuing a proxy token"),
        AgentsCommand::Revoke { .. } => Some("Revoking a proxy token"),
        AgentsCommand::List | AgentsCommand::Show { .. } | AgentsCommand::Tokens { .. } => None,
    };
    let ws = match action {
        Some(action) => place.unlocked(passphrase_file, action)?,
        None => place.workspace()?,
    };
    match command {
        AgentsCommand::Add {
            name,
            model,
            key,
            fallback,
            budget_usd,
            when_over,
            system,
            temperature,
            max_tokens,
            privacy,
            tool_values,
            fetched,
        } => {
            let spec = AgentSpec {
                name: name.clone(),
                model: model.clone(),
                key: key.clone(),
                system_prompt: system.clone(),
                temperature: *temperature,
                max_tokens: *max_tokens,
                fallback: fallback.clone(),
                budget_usd: budget_usd.clone(),
                when_over: Some(match when_over {
                    WhenOverArg::Local => WhenOver::Local,
                    WhenOverArg::Refuse => WhenOver::Refuse,
                }),
                privacy: privacy.map(Into::into),
                tool_values: tool_values.map(Into::into),
                fetched: fetched.map(Into::into),
            };
            let saved = app::agents::save(&ws, None, &spec)?;
            for w in &saved.warnings {
                crate::errln!("keyhold: note: {w}");
            }
            let value = describe(&app::agents::card(&ws, &saved.agent.id)?);
            out.success(
                &format!("Added agent {}.", saved.agent.name),
                json!({ "ok": true, "agent": value, "warnings": saved.warnings }),
            );
        }
        AgentsCommand::Edit {
            agent,
            name,
            model,
            key,
            fallback,
            no_fallback,
            budget_usd,
            when_over,
            system,
            max_tokens,
            privacy,
            tool_values,
            fetched,
        } => {
            let edit = app::agents::AgentEdit {
                name: name.clone(),
                model: model.clone(),
                key: key.clone(),
                fallback: if *no_fallback {
                    Some(Vec::new())
                } else {
                    (!fallback.is_empty()).then(|| fallback.clone())
                },
                budget_usd: budget_usd.as_deref().map(|b| (b != "none").then(|| b.to_string())),
                when_over: when_over.map(|w| match w {
                    WhenOverArg::Local => WhenOver::Local,
                    WhenOverArg::Refuse => WhenOver::Refuse,
                }),
                system_prompt: system.clone(),
                max_tokens: *max_tokens,
                privacy: privacy.map(Into::into),
                tool_values: tool_values.map(Into::into),
                fetched: fetched.map(Into::into),
            };
            let saved = app::agents::edit(&ws, agent, edit)?;
            for w in &saved.warnings {
                crate::errln!("keyhold: note: {w}");
            }
            let value = describe(&app::agents::card(&ws, &saved.agent.id)?);
            out.success(&format!("Saved agent {}.", saved.agent.name), json!({ "ok": true, "agent": value }));
        }
        AgentsCommand::List => {
            let rows: Vec<serde_json::Value> = app::agents::cards(&ws)?.iter().map(describe).collect();
            if out.json {
                crate::outln!("{}", json!({ "ok": true, "agents": rows }));
            } else if rows.is_empty() {
                crate::outln!("No agents yet. Create one with: keyhold agents add --name N --model M");
            } else {
                crate::outln!("{:<20} {:<26} {:<16} {:>12} {:>12}", "NAME", "MODEL", "KEY", "TODAY USD", "BUDGET USD");
                for r in rows {
                    crate::outln!(
                        "{:<20} {:<26} {:<16} {:>12} {:>12}",
                        r["name"].as_str().unwrap_or(""),
                        r["model"].as_str().unwrap_or(""),
                        r["key"].as_str().unwrap_or(""),
                        r["spent_today_usd"].as_str().unwrap_or(""),
                        r["budget_usd"].as_str().unwrap_or("none")
                    );
                }
            }
        }
        AgentsCommand::Show { agent } => {
            let v = describe(&app::agents::card(&ws, agent)?);
            if out.json {
                crate::outln!("{}", json!({ "ok": true, "agent": v }));
            } else {
                for (k, val) in v.as_object().into_iter().flatten() {
                    let shown = match val {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Null => "—".into(),
                        other => other.to_string(),
                    };
                    crate::outln!("{k:<16} {shown}");
                }
            }
        }
        AgentsCommand::Token { agent, label } => {
            let issued = app::agents::issue_token(&ws, agent, label.as_deref())?;
            if out.json {
                crate::outln!("{}", json!({ "ok": true, "token": issued.token, "info": issued.info }));
            } else {
                crate::outln!("{}", issued.token);
                crate::errln!("keyhold: token {} for agent {} ({}). It is shown only now: store it where your tool reads its API key.", issued.info.id, issued.info.agent, issued.info.label);
            }
        }
        AgentsCommand::Tokens { agent } => {
            let list = app::agents::tokens(&ws, agent.as_deref())?;
            if out.json {
                crate::outln!("{}", json!({ "ok": true, "tokens": list }));
            } else {
                crate::outln!("{:<16} {:<20} {:<16} {:<12} {:<22} STATE", "ID", "AGENT", "LABEL", "TOKEN", "CREATED");
                for t in list {
                    crate::outln!(
                        "{:<16} {:<20} {:<16} {:<12} {:<22} {}",
                        t.id,
                        t.agent,
                        t.label,
                        t.hint,
                        t.created_at,
                        t.revoked_at.map(|r| format!("revoked {r}")).unwrap_or_else(|| "active".into())
                    );
                }
            }
        }
        AgentsCommand::Revoke { token_id } => {
            let t = app::agents::revoke_token(&ws, token_id)?;
            out.success(&format!("Revoked {} ({}, agent {}).", t.id, t.label, t.agent), json!({ "ok": true }));
        }
        AgentsCommand::Remove { agent } => {
            let a = app::agents::remove(&ws, agent)?;
            out.success(&format!("Deleted agent {}. Its ledger rows are kept.", a.name), json!({ "ok": true }));
        }
    }
    Ok(())
}

pub fn chat(agent: &str, passphrase_file: Option<&Path>, place: &Place<'_>, out: &Output) -> Result<(), Failure> {
    if passphrase_file == Some(Path::new("-")) {
        return Err(Failure::from_message(
            ErrorKind::Usage,
            "The prompt is read from standard input, so the passphrase cannot be: use --passphrase-file FILE.".into(),
        ));
    }
    let ws = place.workspace()?;
    app::agents::find(&ws, agent)?;
    let p = super::input::passphrase(passphrase_file, "Vault passphrase: ")?;
    place.unlock(&ws, &p)?;
    let a = app::chat::agent(&ws, agent)?;
    if term::stdin_is_terminal() {
        crate::errln!("Type your message, then Ctrl-D.");
    }
    let prompt = term::with(|t| t.read_stdin())
        .map_err(|e| Failure::from_message(ErrorKind::Input, format!("Could not read the prompt: {e}")))?;
    let turns = vec![Turn::new(Role::User, prompt.trim_end().to_string())];
    let json = out.json;
    // On a terminal, the answer is shown as text only: no escape sequence in it drives the
    // terminal. Piped, it goes out as the model wrote it.
    let screen = term::stdout_is_terminal().then(super::terminal::TerminalFilter::default);
    let mut sink = Stdout { answer: String::new(), screen, json };
    let result = place.block_on(app::chat::send(&ws, &a, turns, &mut sink))?;
    let answer = sink.answer;
    match result {
        Ok(reply) => {
            if json {
                crate::outln!("{}", json!({ "ok": true, "answer": answer, "reply": reply }));
            } else {
                crate::outln!();
                for f in &reply.earlier {
                    crate::errln!(
                        "keyhold: step {} ({} {}) failed: {} – {}",
                        f.step,
                        f.provider,
                        f.model,
                        f.outcome,
                        f.detail
                    );
                }
                let t = reply.tokens;
                crate::errln!(
                    "keyhold: answered by {} {} (step {}{}) · in {} · out {} · cache read {} · cache write {} · {}{}",
                    reply.provider,
                    reply.model,
                    reply.step,
                    if reply.local { ", local" } else { "" },
                    t.input,
                    t.output,
                    t.cache_read,
                    t.cache_write,
                    reply.cost_usd.map(|c| format!("${c}")).unwrap_or_else(|| "cost unknown (no price)".into()),
                    if reply.estimated { " (estimated)" } else { "" }
                );
            }
            Ok(())
        }
        Err(e) => {
            if !answer.is_empty() && !json {
                crate::outln!();
            }
            Err(Failure::from_message(e.kind(), e.to_string()))
        }
    }
}

/// `keyhold chat`'s end of an answer: standard output, as it arrives. A reader that went away
/// (a closed pipe) stops the answer, and with it the provider's stream.
struct Stdout {
    answer: String,
    screen: Option<super::terminal::TerminalFilter>,
    json: bool,
}

impl router::AnswerSink for Stdout {
    fn text(&mut self, t: &str) -> router::Flow {
        self.answer.push_str(t);
        if self.json {
            return router::Flow::Continue;
        }
        let shown = match self.screen.as_mut() {
            Some(f) => std::borrow::Cow::Owned(f.filter(t)),
            None => std::borrow::Cow::Borrowed(t),
        };
        match term::out(&shown) {
            Ok(()) => router::Flow::Continue,
            Err(_) => router::Flow::Stop,
        }
    }
}

pub fn prices(
    command: &PricesCommand,
    passphrase_file: Option<&Path>,
    place: &Place<'_>,
    out: &Output,
) -> Result<(), Failure> {
    match command {
        PricesCommand::List => {
            let list = app::prices::list(&*place.workspace()?)?;
            if out.json {
                crate::outln!(
                    "{}",
                    json!({ "ok": true, "prices": list.iter().map(|e| json!({
                    "model": e.model, "provider": e.provider, "source": e.source,
                    "input": e.price.input, "output": e.price.output,
                    "cache_read": e.price.cache_read, "cache_write": e.price.cache_write })).collect::<Vec<_>>() })
                );
            } else {
                crate::outln!(
                    "{:<40} {:<11} {:>8} {:>8} {:>11} {:>12}  SOURCE",
                    "MODEL",
                    "PROVIDER",
                    "INPUT",
                    "OUTPUT",
                    "CACHE READ",
                    "CACHE WRITE"
                );
                for e in list {
                    crate::outln!(
                        "{:<40} {:<11} {:>8} {:>8} {:>11} {:>12}  {}",
                        e.model,
                        e.provider.as_deref().unwrap_or("any"),
                        e.price.input.to_string(),
                        e.price.output.to_string(),
                        e.price.cache_read.to_string(),
                        e.price.cache_write.to_string(),
                        e.source
                    );
                }
                crate::outln!("USD per million tokens. Your provider's invoice is the authority.");
            }
        }
        PricesCommand::Set { model, input, output, cache_read, cache_write } => {
            let price = Override::from_text(input, output, cache_read.as_deref(), cache_write.as_deref())?;
            let ws = place.unlocked(passphrase_file, "Setting a price")?;
            app::prices::set(&ws, model, price)?;
            out.success(&format!("Price for {model} set."), json!({ "ok": true }));
        }
        PricesCommand::Remove { model } => {
            let ws = place.unlocked(passphrase_file, "Removing a price")?;
            let removed = app::prices::remove(&ws, model)?;
            let said = if removed {
                format!("Your price for {model} is removed; the price file's applies again.")
            } else {
                format!("You had set no price for {model}; nothing changed.")
            };
            out.success(&said, json!({ "ok": true, "removed": removed }));
        }
    }
    Ok(())
}

fn day(text: &str, what: &str) -> Result<NaiveDate, Failure> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        Failure::from_message(ErrorKind::Usage, format!("{what} \"{text}\" is not a date: use YYYY-MM-DD."))
    })
}

pub fn usage(
    agent: Option<&str>,
    since: Option<&str>,
    until: Option<&str>,
    format: Format,
    dir: DataDir,
) -> Result<(), Failure> {
    let since = since.map(|s| day(s, "--since")).transpose()?;
    let until = until.map(|s| day(s, "--until")).transpose()?;
    if let (Some(s), Some(u)) = (since, until) {
        if u < s {
            return Err(Failure::from_message(
                ErrorKind::Usage,
                format!("--until {u} is before --since {s}: the end must not come before the start."),
            ));
        }
    }
    // Reading only: no writer lock, so this works beside any Keyhold.
    let selection = app::usage::Selection { agent: agent.map(str::to_string), since, until };
    let rows = app::usage::rows_in(&dir, &selection)?;
    match format {
        Format::Csv => crate::out!("{}", ExportFormat::Csv.render(&rows, false)),
        Format::Json => crate::outln!("{}", ExportFormat::Json.render(&rows, false)),
        Format::Table => {
            if rows.is_empty() {
                crate::outln!("No usage recorded for this selection.");
                return Ok(());
            }
            crate::outln!(
                "{:<24} {:<14} {:<5} {:>4} {:<10} {:<22} {:<12} {:>7} {:>7} {:>7} {:>7} {:>14}",
                "TIME",
                "AGENT",
                "MODE",
                "STEP",
                "PROVIDER",
                "MODEL",
                "OUTCOME",
                "IN",
                "OUT",
                "C.READ",
                "C.WRITE",
                "COST USD"
            );
            let total: Money = rows.iter().filter_map(|r| r.cost_usd).sum();
            let unknown = rows.iter().filter(|r| r.cost_usd.is_none()).count();
            for r in &rows {
                crate::outln!(
                    "{:<24} {:<14} {:<5} {:>4} {:<10} {:<22} {:<12} {:>7} {:>7} {:>7} {:>7} {:>14}",
                    r.time,
                    r.agent,
                    r.mode,
                    r.step,
                    r.provider,
                    r.model,
                    r.outcome,
                    r.input_tokens,
                    r.output_tokens,
                    r.cache_read_tokens,
                    r.cache_write_tokens,
                    r.cost_usd.map_or_else(|| "unknown".to_string(), |c| c.to_string())
                );
            }
            crate::outln!("{} attempts, {} USD{}. Counted on this machine at the configured prices; the provider's invoice is the authority.",
                rows.len(), total, if unknown > 0 { format!(" plus {unknown} of unknown price") } else { String::new() });
        }
    }
    Ok(())
}

/// `keyhold serve`: the proxy alone, headless, until Ctrl-C.
pub fn serve(port: Option<u16>, passphrase_file: Option<&Path>, dir: DataDir, out: &Output) -> Result<(), Failure> {
    let ws = std::sync::Arc::new(Workspace::open(dir)?);
    // Loaded while the vault unlocks: a client's first cut stream is estimated without waiting.
    keyhold_core::providers::upstream::warm_tokenizer();
    let p = super::input::passphrase(passphrase_file, "Vault passphrase: ")?;
    ws.unlock(&p)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::from_message(ErrorKind::Internal, format!("Could not start the network runtime: {e}")))?;
    runtime.block_on(async {
        // Not remembered: the app's "run the proxy at launch" is the app's.
        let proxy = app::proxy::ProxyHandle::default();
        let addr = app::proxy::start(&ws, &proxy, port, false).await.map_err(|e| {
            Failure::from_message(e.kind(), format!("{e} (--port chooses it)"))
        })?;
        // Commands typed in other terminals are run by this Keyhold from now on.
        let host = super::remote::Host {
            workspace: std::sync::Arc::clone(&ws),
            runtime: tokio::runtime::Handle::current(),
            front: super::remote::Front::Serve,
        };
        let _socket = match super::remote::listen(host) {
            Ok(l) => Some(l),
            Err(e) => {
                crate::errln!("keyhold: note: other commands cannot reach this Keyhold ({e}); they will say it is running.");
                None
            }
        };
        out.success(
            &format!(
                "Keyhold proxy on http://{addr}\n  OpenAI SDK:    base_url=\"http://{addr}/v1\"\n  Anthropic SDK: base_url=\"http://{addr}\"\n  API key: an agent's local token (keyhold agents token AGENT)\nCtrl-C to stop."
            ),
            json!({ "ok": true, "address": format!("http://{addr}"), "openai_base_url": format!("http://{addr}/v1"), "anthropic_base_url": format!("http://{addr}") }),
        );
        let _ = std::io::stdout().flush();
        let _ = tokio::signal::ctrl_c().await;
        app::proxy::shut_down(&proxy).await;
        // The vault snapshot takes where the ledger ends before the process goes.
        ws.keep_ledger_mark();
        crate::errln!("keyhold: proxy stopped.");
        Ok(())
    })
}
