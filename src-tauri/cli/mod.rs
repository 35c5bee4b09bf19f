//! The `keyhold` command line: the same binary opens the window when run bare, and does
//! scripted work with subcommands (names and shapes fixed in DESIGN.md, "Command line").

mod agents;
mod input;
mod keys;
mod ollama;
mod output;
mod place;
mod privacy;
pub mod remote;
pub mod term;
mod terminal;

use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, Subcommand};
use serde_json::json;

use keyhold_core::datadir::DataDir;
use keyhold_core::error::{ErrorKind, Kinded};
use keyhold_core::logging;
use output::{Failure, Output};
use place::Place;

#[derive(Debug, Parser)]
#[command(
    name = "keyhold",
    version,
    about = "Keyhold: your own AI provider keys in an encrypted vault, metered locally.",
    long_about = "Keyhold: your own AI provider keys in an encrypted vault, metered locally.\n\n\
                  Run without a command to open the app (window and tray). Secrets are never taken\n\
                  from arguments: give the passphrase with --passphrase-file FILE (- reads standard\n\
                  input), or type it at the prompt on a terminal."
)]
pub struct Cli {
    /// Where Keyhold keeps its vault, database and logs.
    #[arg(long, global = true, env = "KEYHOLD_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Read the vault passphrase from FILE ("-" for standard input) instead of prompting.
    #[arg(long, global = true, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Print machine-readable JSON on standard output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, check and re-key the encrypted vault.
    Vault {
        #[command(subcommand)]
        command: VaultCommand,
    },
    /// Add, list, rotate, (de)activate and remove provider keys. Keys are read from standard
    /// input (or a hidden prompt), never from arguments, and are only ever shown masked.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Create, list, show and remove agents.
    Agents {
        #[command(subcommand)]
        command: agents::AgentsCommand,
    },
    /// Chat with an agent: prompt on standard input, answer streamed to standard output.
    Chat {
        /// The agent's name.
        agent: String,
    },
    /// What a coding agent or client needs to use your keys through the proxy: the proxy's
    /// address and a new token for the agent (issued now; it needs the passphrase).
    Connect {
        #[arg(value_enum)]
        tool: ConnectTool,
        /// The agent the tool runs as (default: the only agent, if there is one).
        #[arg(long, value_name = "A")]
        agent: Option<String>,
        /// The proxy's address, when it is not on its saved port (`serve --port P`).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Make the change in the tool's own config file (shown first; other settings kept).
        #[arg(long)]
        write: bool,
        /// With --write: do not ask before writing.
        #[arg(long, requires = "write")]
        yes: bool,
        /// The tool's config file (default: where the tool's environment says).
        #[arg(long, value_name = "PATH", requires = "write")]
        config_file: Option<std::path::PathBuf>,
    },
    /// The local proxy alone, headless, until Ctrl-C.
    Serve {
        /// Port on 127.0.0.1 (default: the saved one, else 11500).
        #[arg(long)]
        port: Option<u16>,
    },
    /// Local Ollama: is it running, which models are installed and loaded.
    Ollama {
        #[command(subcommand)]
        command: ollama::OllamaCommand,
    },
    /// Offline mode: every agent runs on its local step only; nothing leaves the machine.
    Offline {
        #[arg(value_enum)]
        mode: OfflineArg,
    },
    /// What a cloud model would receive: the text on standard input with the policy applied
    /// (the agent's, or --policy; default secrets).
    Redact {
        #[arg(long, value_name = "A")]
        agent: Option<String>,
        #[arg(long, value_enum)]
        policy: Option<privacy::PolicyArg>,
    },
    /// Your dictionary: names and terms the pii and block policies hide, sealed in the vault.
    Dictionary {
        #[command(subcommand)]
        command: privacy::DictionaryCommand,
    },
    /// The region whose national phone numbers (written without +country code) are hidden
    /// without a context word: shows it, or sets it to a country code (DE, US …), `system` (the
    /// locale's, the default) or `none`.
    PhoneRegion {
        #[arg(value_name = "REGION")]
        region: Option<String>,
    },
    /// Whether a Keyhold (the app, or `keyhold serve`) is running on this data dir, and whether
    /// it is locked. Commands typed while one runs are run by it.
    Status,
    /// Model prices (USD per million tokens).
    Prices {
        #[command(subcommand)]
        command: agents::PricesCommand,
    },
    /// The ledger: one row per attempt. Works while the app is running.
    Usage {
        #[arg(long)]
        agent: Option<String>,
        /// First local day to include (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Last local day to include (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: agents::Format,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ConnectTool {
    ClaudeCode,
    Codex,
    Aider,
    Continue,
    OpenWebui,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum OfflineArg {
    On,
    Off,
    Status,
}

#[derive(Debug, Subcommand)]
enum VaultCommand {
    /// Create the vault; refuses if one exists.
    Init,
    /// Unlock the vault, open every stored key, and report; exits non-zero if anything fails.
    Check {
        /// Take the database as it is now as Keyhold's configuration (after you have seen what
        /// `vault check` names and made those changes yourself). `--adopt` says the same of a
        /// database this vault never signed.
        #[arg(long, visible_alias = "adopt")]
        accept: bool,
    },
    /// Change the vault passphrase (the current one is required).
    ChangePassphrase {
        /// Read the new passphrase from FILE ("-" for standard input); else prompt twice.
        #[arg(long, value_name = "FILE")]
        new_passphrase_file: Option<PathBuf>,
        /// Also replace the vault's master secret: every stored key is re-sealed and every
        /// setting re-signed, so an old copy of the vault with the old passphrase opens nothing
        /// current. Use it when an old passphrase or vault file may have leaked.
        #[arg(long)]
        rotate_master: bool,
    },
}

/// Entry point of the binary; returns the process exit code.
pub fn main() -> i32 {
    crate::shell::state::mark_start();
    let cli = Cli::parse();
    let out = Output { json: cli.json };
    let dir = match DataDir::resolve(cli.data_dir.clone()) {
        Ok(d) => d,
        Err(e) => return out.fail(&Failure::from_message(ErrorKind::DataDir, e.to_string())),
    };
    // A command typed while Keyhold runs is run by that Keyhold (the window and `serve` are
    // Keyholds of their own).
    if cli.command.as_ref().is_some_and(|c| !matches!(c, Command::Serve { .. })) {
        let mut args: Vec<String> = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
        // `connect --write` writes the tool's file where this shell's environment puts it, not
        // the running app's (CODEX_HOME, CLAUDE_CONFIG_DIR), and relative to where the user is.
        if let Some(Command::Connect { tool, write: true, config_file, .. }) = &cli.command {
            let path = match config_file {
                Some(p) => std::env::current_dir().map(|d| d.join(p)).ok(),
                None => keyhold_core::app::connect::config_path(tool.tool(), |k| std::env::var(k).ok()),
            };
            if let Some(p) = path {
                args.retain(|a| a != "--config-file" && !a.starts_with("--config-file="));
                if let Some(i) =
                    config_file.as_ref().and_then(|f| args.iter().position(|a| std::path::Path::new(a) == f))
                {
                    args.remove(i);
                }
                args.extend(["--config-file".to_string(), p.display().to_string()]);
            }
        }
        if let Some(code) = remote::run_on_running(&dir, args) {
            return code;
        }
    }
    let stderr_level = if cli.command.is_none() { "info" } else { "warn" };
    let _logs = logging::init(&dir.logs_dir(), stderr_level);
    match run(&cli, Place::own(dir), &out) {
        Ok(()) => 0,
        Err(f) => out.fail(&f),
    }
}

/// Runs a command inside the running Keyhold for a terminal on its socket; its exit code.
pub(crate) fn run_here(args: impl Iterator<Item = String>, host: &remote::Host) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            crate::err!("{}", e.render());
            return e.exit_code();
        }
    };
    let out = Output { json: cli.json };
    match run(&cli, Place::Running(host), &out) {
        Ok(()) => 0,
        Err(f) => out.fail(&f),
    }
}

fn run(cli: &Cli, place: Place<'_>, out: &Output) -> Result<(), Failure> {
    let Some(command) = &cli.command else {
        let Place::Own { dir, .. } = place else { unreachable!("the window is never run over the socket") };
        return crate::shell::app::run(dir)
            .map_err(|e| Failure::from_message(ErrorKind::Window, format!("Could not start the Keyhold window: {e}")));
    };
    let dir = place.dir().clone();
    match command {
        Command::Vault { command: VaultCommand::Init } => {
            let workspace = place.workspace()?;
            let (p, confirm) = input::new_passphrase(cli.passphrase_file.as_deref(), "New vault passphrase: ")?;
            let started = Instant::now();
            workspace.create_vault(&p, confirm.as_ref())?;
            let info = workspace.info();
            out.success(
                &format!(
                    "Vault created in {} ({:.1} s). Keyhold is ready.",
                    info.data_dir,
                    started.elapsed().as_secs_f64()
                ),
                json!({ "ok": true, "data_dir": info.data_dir, "created_at": info.vault_created_at }),
            );
        }
        Command::Vault { command: VaultCommand::Check { accept: true } } => {
            let ws = place.unlocked(cli.passphrase_file.as_deref(), "Accepting the configuration")?;
            let taken = ws.accept_configuration()?;
            let text = if taken.is_empty() {
                "Nothing to accept: the database is the configuration Keyhold saved.".to_string()
            } else {
                format!("Accepted as Keyhold's configuration now:\n  - {}", taken.join("\n  - "))
            };
            out.success(&text, json!({ "ok": true, "accepted": taken }));
        }
        Command::Vault { command: VaultCommand::Check { accept: false } } => {
            let p = input::passphrase(cli.passphrase_file.as_deref(), "Vault passphrase: ")?;
            let report = keyhold_core::app::vault::check(&dir, &p)?;
            let value = json!({ "ok": report.keys_failed.is_empty() && report.changed_outside.is_empty(),
                                "data_dir": dir.path().display().to_string(),
                                "unlock_ms": report.unlock_ms, "keys_total": report.keys_total,
                                "keys_failed": report.keys_failed, "changed_outside": report.changed_outside,
                                "configuration_tagged": report.configuration_tagged,
                                "never_signed": report.never_signed });
            if report.never_signed {
                return Err(Failure::from_message(
                    ErrorKind::ChangedOutsideKeyhold,
                    format!(
                        "The vault opened, but {}:\n  - {}",
                        report.changed_outside[0],
                        report.changed_outside[1..].join("\n  - ")
                    ),
                ));
            }
            if !report.changed_outside.is_empty() {
                return Err(Failure::from_message(
                    ErrorKind::ChangedOutsideKeyhold,
                    format!(
                        "The vault opened, but {} record(s) were changed outside Keyhold and will not be used:\n  - {}",
                        report.changed_outside.len(),
                        report.changed_outside.join("\n  - ")
                    ),
                ));
            }
            if !report.keys_failed.is_empty() {
                // One JSON object per command: the failure object names the keys in its message.
                return Err(Failure::from_message(
            ErrorKind::KeyTampered,
                    format!(
                        "The vault opened, but {} of {} stored key(s) do not open: {}. Replace them with `keyhold keys rotate`.",
                        report.keys_failed.len(),
                        report.keys_total,
                        report.keys_failed.join(", ")
                    ),
                ));
            }
            out.success(
                &format!(
                    "Vault OK: unlocked in {:.2} s. {} provider key(s) stored, all of them open.{}",
                    report.unlock_ms as f64 / 1000.0,
                    report.keys_total,
                    if report.configuration_tagged {
                        " Every key address, agent, token, price and protected setting carries its signature."
                    } else {
                        " The configuration is not signed yet: the next unlock (the app, or any change) signs it."
                    }
                ),
                value,
            );
        }
        Command::Vault { command: VaultCommand::ChangePassphrase { new_passphrase_file, rotate_master } } => {
            if cli.passphrase_file.as_deref() == Some(std::path::Path::new("-"))
                && new_passphrase_file.as_deref() == Some(std::path::Path::new("-"))
            {
                return Err(Failure::from_message(
                    ErrorKind::Usage,
                    "Only one of --passphrase-file and --new-passphrase-file can read standard input.".into(),
                ));
            }
            let workspace = place.workspace()?;
            let old = input::passphrase(cli.passphrase_file.as_deref(), "Current vault passphrase: ")?;
            let (new, confirm) = input::new_passphrase(new_passphrase_file.as_deref(), "New vault passphrase: ")?;
            workspace.change_passphrase(&old, &new, confirm.as_ref())?;
            if *rotate_master {
                place.unlock(&workspace, &new)?;
                workspace.rotate_master(&new)?;
                out.success(
                    "Passphrase changed and master secret replaced: every key was re-sealed and every setting re-signed. Use the new passphrase from now on.",
                    json!({ "ok": true, "rotated_master": true }),
                );
            } else {
                out.success("Passphrase changed. Use the new one from now on.", json!({ "ok": true }));
            }
        }
        Command::Keys { command } => keys::run(command, cli.passphrase_file.as_deref(), &place, out)?,
        Command::Agents { command } => agents::agents(command, cli.passphrase_file.as_deref(), &place, out)?,
        Command::Chat { agent } => agents::chat(agent, cli.passphrase_file.as_deref(), &place, out)?,
        Command::Prices { command } => agents::prices(command, cli.passphrase_file.as_deref(), &place, out)?,
        Command::Redact { agent, policy } => {
            privacy::redact(agent.as_deref(), *policy, cli.passphrase_file.as_deref(), &place, out)?
        }
        Command::Dictionary { command } => privacy::dictionary(command, cli.passphrase_file.as_deref(), &place, out)?,
        Command::PhoneRegion { region } => {
            privacy::phone_region(region.as_deref(), cli.passphrase_file.as_deref(), &place, out)?
        }
        Command::Ollama { command } => ollama::run(command, &place, out)?,
        Command::Status => status(&place, out)?,
        Command::Connect { tool, agent, url, write, yes, config_file } => {
            let write = write.then_some(Write { yes: *yes, file: config_file.as_deref() });
            connect(*tool, agent.as_deref(), url.as_deref(), write, cli.passphrase_file.as_deref(), &place, out)?
        }
        Command::Offline { mode } => {
            // Turning offline mode on keeps data on the machine and needs nothing; turning it off
            // lets data leave again, and needs the passphrase.
            let ws = match mode {
                OfflineArg::Off => place.unlocked(cli.passphrase_file.as_deref(), "Turning offline mode off")?,
                _ => place.workspace()?,
            };
            if let OfflineArg::On | OfflineArg::Off = mode {
                ws.set_offline(matches!(mode, OfflineArg::On))?;
            }
            let on = ws.offline();
            out.success(
                if on {
                    "Offline mode is on: agents run on their local steps only, nothing leaves this machine."
                } else {
                    "Offline mode is off."
                },
                json!({ "ok": true, "offline": on }),
            );
        }
        Command::Serve { port } => {
            if let Some(h) = place.host() {
                return Err(Failure::from_message(
                    ErrorKind::AlreadyRunning,
                    format!("{} already holds this data dir, with its own proxy: use that one.", h.front_name()),
                ));
            }
            agents::serve(*port, cli.passphrase_file.as_deref(), dir, out)?
        }
        Command::Usage { agent, since, until, format } => {
            let format = if cli.json { agents::Format::Json } else { *format };
            agents::usage(agent.as_deref(), since.as_deref(), until.as_deref(), format, dir)?
        }
    }
    Ok(())
}

/// `connect --write`: whether to ask, and the file (resolved where the user typed).
struct Write<'a> {
    yes: bool,
    file: Option<&'a std::path::Path>,
}

impl ConnectTool {
    fn tool(self) -> keyhold_core::app::connect::Tool {
        use keyhold_core::app::connect::Tool;
        match self {
            ConnectTool::ClaudeCode => Tool::ClaudeCode,
            ConnectTool::Codex => Tool::Codex,
            ConnectTool::Aider => Tool::Aider,
            ConnectTool::Continue => Tool::Continue,
            ConnectTool::OpenWebui => Tool::OpenWebui,
        }
    }
}

/// `keyhold connect TOOL`: the tool's settings, with a token issued for it now.
fn connect(
    tool: ConnectTool,
    agent: Option<&str>,
    url: Option<&str>,
    write: Option<Write<'_>>,
    passphrase_file: Option<&std::path::Path>,
    place: &Place<'_>,
    out: &Output,
) -> Result<(), Failure> {
    use keyhold_core::app::connect;
    let tool = tool.tool();
    // A file that cannot be written is said before a token is issued for it.
    let target = match &write {
        Some(w) => Some(
            match w
                .file
                .map(std::path::Path::to_path_buf)
                .or_else(|| connect::config_path(tool, |k| std::env::var(k).ok()))
            {
                Some(p) => p,
                None => {
                    let why = connect::not_written(tool).map_or_else(
                    || format!("HOME is not set, so Keyhold cannot tell where {} keeps its settings: give the file with --config-file.", tool.name()),
                    |e| e.to_string(),
                );
                    return Err(Failure::from_message(ErrorKind::Usage, why));
                }
            },
        ),
        None => None,
    };
    let agent = match agent {
        Some(a) => a.to_string(),
        None => {
            let cards = keyhold_core::app::agents::cards(&*place.workspace()?)?;
            match cards.as_slice() {
                [only] => only.agent.name.clone(),
                [] => {
                    return Err(Failure::from_message(
                        ErrorKind::AgentNotFound,
                        "No agents yet: create one with `keyhold agents add --name N --model M`, then connect the tool to it.".into(),
                    ))
                }
                _ => {
                    return Err(Failure::from_message(
                        ErrorKind::Usage,
                        format!(
                            "Say which agent {} runs as: --agent A (one of {}).",
                            tool.name(),
                            cards.iter().map(|c| c.agent.name.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    ))
                }
            }
        }
    };
    let ws = place.unlocked(passphrase_file, "Issuing a token for a tool")?;
    let c = connect::connect(&ws, tool, &agent, url)?;
    if let (Some(w), Some(path)) = (write, target) {
        return write_connection(&ws, &c, &agent, w.yes, &path, out);
    }
    let head = match &c.file {
        Some(f) => format!("# {} runs as agent {agent}. In {f}:\n", tool.name()),
        None => format!("# {} runs as agent {agent}. In its shell:\n", tool.name()),
    };
    out.success(
        &format!(
            "{head}{}# The token is shown only now (id {}; revoke it with `keyhold agents revoke {}`). The proxy must be running: the app's Proxy page, or `keyhold serve`.",
            c.text, c.token_id, c.token_id
        ),
        json!({ "ok": true, "tool": c.tool, "agent": agent, "file": c.file, "text": c.text, "token_id": c.token_id }),
    );
    Ok(())
}

/// `connect --write`: shows the change, asks (unless --yes), writes it; on no or on any error,
/// the token just issued is revoked again, so nothing is left behind.
fn write_connection(
    ws: &keyhold_core::workspace::Workspace,
    c: &keyhold_core::app::connect::Connection,
    agent: &str,
    yes: bool,
    path: &std::path::Path,
    out: &Output,
) -> Result<(), Failure> {
    use keyhold_core::app::connect;
    let revoke = || {
        let _ = keyhold_core::app::agents::revoke_token(ws, &c.token_id);
    };
    let change = match connect::change(c, path) {
        Ok(ch) => ch,
        Err(e) => {
            revoke();
            return Err(Failure::from_message(ErrorKind::WriteFailed, e.to_string()));
        }
    };
    let shown = path.display();
    let diff = change.diff();
    if !out.json {
        let what = if change.before.is_some() { "change" } else { "create" };
        crate::err!("{} runs as agent {agent}. Keyhold will {what} {shown}:\n{diff}", c.tool.name());
    }
    if !yes {
        if !term::stdin_is_terminal() {
            revoke();
            return Err(Failure::from_message(
                ErrorKind::Usage,
                format!("Writing {shown} needs confirmation: add --yes (nothing was written)."),
            ));
        }
        crate::err!("Write it? [y/N]");
        let answer =
            term::with(|t| t.read_line()).map_err(|e| Failure::from_message(ErrorKind::Input, e.to_string()))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            revoke();
            return Err(Failure::from_message(ErrorKind::Cancelled, format!("Nothing was written to {shown}.")));
        }
    }
    if let Err(e) = connect::write(&change) {
        revoke();
        return Err(Failure::from_message(ErrorKind::WriteFailed, e.to_string()));
    }
    out.success(
        &format!(
            "Wrote {shown}: {} now uses Keyhold as agent {agent} (token id {}; revoke it with `keyhold agents revoke {}`). The proxy must be running: the app's Proxy page, or `keyhold serve`.",
            c.tool.name(), c.token_id, c.token_id
        ),
        json!({ "ok": true, "tool": c.tool, "agent": agent, "written": shown.to_string(), "diff": diff, "token_id": c.token_id }),
    );
    Ok(())
}

/// `keyhold status`: which Keyhold answered, and its vault's state.
fn status(place: &Place<'_>, out: &Output) -> Result<(), Failure> {
    let dir = place.dir();
    let data_dir = dir.path().display().to_string();
    match place.host() {
        Some(h) => {
            let vault = h.workspace.status();
            let state = match vault {
                keyhold_core::workspace::VaultStatus::Unlocked => "unlocked",
                keyhold_core::workspace::VaultStatus::Locked => "locked",
                keyhold_core::workspace::VaultStatus::NoVault => "without a vault yet",
            };
            let pid = std::process::id();
            out.success(
                &format!(
                    "{} is running (pid {pid}) on {data_dir}, {state}. Commands typed here are run by it.",
                    match h.front {
                        remote::Front::App => "The Keyhold app",
                        remote::Front::Serve => "`keyhold serve`",
                    }
                ),
                json!({ "ok": true, "running": true, "front": h.front, "pid": pid, "vault": vault, "data_dir": data_dir }),
            );
        }
        None => {
            // Not through `place.workspace()`: asking must not take the writer lock for long.
            let vault = if dir.vault_paths().exists() { "locked" } else { "no_vault" };
            match dir.lock_for_writing() {
                Ok(lock) => {
                    drop(lock);
                    out.success(
                        &format!(
                            "No Keyhold is running on {data_dir}. {} Commands run on their own.",
                            if vault == "locked" {
                                "Its vault is there."
                            } else {
                                "It has no vault yet: `keyhold vault init`."
                            }
                        ),
                        json!({ "ok": true, "running": false, "vault": vault, "data_dir": data_dir }),
                    );
                }
                Err(e) => {
                    return Err(Failure::from_message(
                        ErrorKind::AlreadyRunning,
                        format!(
                            "{e} It does not answer on {}: it may be an older Keyhold, or still starting.",
                            remote::socket_path(dir).display()
                        ),
                    ))
                }
            }
        }
    }
    Ok(())
}

/// Every core error knows its kind: `?` turns it into the CLI's answer.
impl<E: Kinded> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::from_message(e.kind(), e.to_string())
    }
}
