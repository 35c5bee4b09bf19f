//! A user keeps Keyhold running (`keyhold serve` here; the app answers on the same socket) and
//! scripts it from other terminals: every command is run by the running Keyhold, the passphrase
//! rules do not change, two terminals at once work, and another user is refused at the socket.

mod support;

use std::process::{Child, Command, Output, Stdio};

use keyhold_sim::{self as sim, Flavor};
use support::{text, Run};

const KEY: &str = "sk-sim-while-running-0001";
const PASSPHRASE: &str = "while running passphrase 7";

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `keyhold serve` on the run's data dir, ready (its JSON line read); killed on drop.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(run: &Run) -> Serving {
    let (child, info) = run.serve();
    assert_eq!(info["ok"], true, "{info}");
    Serving(child)
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("not JSON: {}", text(o)))
}

#[test]
fn a_user_scripts_keyhold_from_a_terminal_while_it_runs() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let openai = rt.block_on(sim::start(Flavor::OpenAi, "127.0.0.1:0".parse().unwrap(), vec![KEY.into()])).unwrap();
    let mut run = Run::new(PASSPHRASE);
    assert!(run.keyhold(&["vault", "init"], "").status.success());
    let o = run.keyhold(&["--json", "status"], "");
    assert_eq!(json(&o)["running"], false, "{}", text(&o));

    let _serving = serve(&run);
    let o = run.keyhold(&["--json", "status"], "");
    let s = json(&o);
    assert_eq!(
        (s["running"].clone(), s["front"].clone(), s["vault"].clone()),
        (true.into(), "serve".into(), "unlocked".into()),
        "{s}"
    );

    // Changes, each with the passphrase, each run by the running Keyhold.
    let o =
        run.keyhold(&["keys", "add", "--provider", "openai", "--label", "oa", "--base-url", &openai.base_url()], KEY);
    assert!(o.status.success(), "{}", text(&o));
    let o = run.keyhold(&["keys", "test", "oa"], "");
    assert!(o.status.success() && out(&o).contains("Valid"), "{}", text(&o));
    let o = run.keyhold(&["agents", "add", "--name", "bot", "--model", "gpt-4o-mini", "--key", "oa"], "");
    assert!(o.status.success(), "{}", text(&o));
    let o = run.keyhold(&["agents", "edit", "bot", "--max-tokens", "300"], "");
    assert!(o.status.success(), "{}", text(&o));
    let o = run.keyhold(&["--json", "agents", "show", "bot"], "");
    assert_eq!(json(&o)["agent"]["max_tokens"], 300, "{}", text(&o));
    let o = run.keyhold(&["prices", "set", "gpt-4o-mini", "--input", "1", "--output", "2"], "");
    assert!(o.status.success(), "{}", text(&o));
    // A tool's settings, with a token issued for it now (the only agent is the default).
    let o = run.keyhold(&["connect", "claude-code"], "");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        out(&o).contains("export ANTHROPIC_AUTH_TOKEN=kh-") && out(&o).contains("ANTHROPIC_BASE_URL=http://127.0.0.1:"),
        "{}",
        text(&o)
    );
    let o = run.keyhold(&["--json", "agents", "tokens", "bot"], "");
    assert!(json(&o)["tokens"].as_array().unwrap().iter().any(|t| t["label"] == "Claude Code"), "{}", text(&o));

    // `connect --write` edits the tool's own file where this terminal's environment puts it
    // (not the running Keyhold's), keeping the user's settings.
    let codex_home = run.dir.path().join("codex-home");
    std::fs::create_dir(&codex_home).unwrap();
    std::fs::write(codex_home.join("config.toml"), "# mine\napproval_policy = \"on-request\"\n").unwrap();
    run.envs.push(("CODEX_HOME".into(), codex_home.display().to_string()));
    let active = |run: &mut Run| {
        let all = json(&run.keyhold(&["--json", "agents", "tokens", "bot"], ""));
        all["tokens"].as_array().unwrap().iter().filter(|t| t["revoked_at"].is_null()).count()
    };
    let tokens_before = active(&mut run);
    let o = run.keyhold(&["connect", "codex", "--write"], "");
    assert!(!o.status.success() && text(&o).contains("needs confirmation: add --yes"), "{}", text(&o));
    assert_eq!(active(&mut run), tokens_before, "a refused write leaves no usable token behind");
    let o = run.keyhold(&["connect", "codex", "--write", "--yes"], "");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("+ wire_api = \"responses\""), "the change is shown: {}", text(&o));
    let written = std::fs::read_to_string(codex_home.join("config.toml")).unwrap();
    assert!(written.starts_with("# mine\napproval_policy = \"on-request\""), "{written}");
    assert!(
        written.contains("[model_providers.keyhold]") && written.contains("experimental_bearer_token = \"kh-"),
        "{written}"
    );
    let o = run.keyhold(&["connect", "continue", "--write", "--yes"], "");
    assert!(!o.status.success() && text(&o).contains("add the block"), "{}", text(&o));

    // Chat streams through the running Keyhold; two terminals at once.
    let o = run.keyhold(&["chat", "bot"], "hello");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(out(&o), format!("{}\n", sim::ANSWER));
    let pass = run.dir.path().join("pass");
    let both: Vec<Child> = (0..2)
        .map(|_| {
            let mut c = Command::new(env!("CARGO_BIN_EXE_keyhold"))
                .args(["--passphrase-file", pass.to_str().unwrap(), "chat", "bot"])
                .env("KEYHOLD_DATA_DIR", run.data())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"at the same time").unwrap();
            c
        })
        .collect();
    for c in both {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(out(&o), format!("{}\n", sim::ANSWER));
    }
    let o = run.keyhold(&["usage", "--format", "json"], "");
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.len(), 3, "{}", text(&o));

    // Reading and hiding, as on their own.
    let o = run.keyhold(&["redact", "--policy", "pii"], "write to jane.doe@example.com");
    assert!(out(&o).contains("write to [EMAIL_1]"), "{}", text(&o));
    let o = run.keyhold(&["dictionary", "list"], "");
    assert!(o.status.success(), "{}", text(&o));
    let o = run.keyhold(&["--json", "offline", "status"], "");
    assert_eq!(json(&o)["offline"], false, "{}", text(&o));

    // Without the passphrase, or with a wrong one, a change is refused as before.
    let o = run.keyhold_without_passphrase(&["--json", "agents", "add", "--name", "x", "--model", "gpt-4o-mini"], "");
    assert!(!o.status.success());
    assert_eq!(json(&o)["error"]["kind"], "no_passphrase", "{}", text(&o));
    assert!(text(&o).contains("Adding an agent needs the vault passphrase"), "{}", text(&o));
    std::fs::write(run.dir.path().join("wrong"), "not the passphrase").unwrap();
    let wrong = run.dir.path().join("wrong");
    let o = run.keyhold_without_passphrase(
        &[
            "--json",
            "--passphrase-file",
            wrong.to_str().unwrap(),
            "agents",
            "add",
            "--name",
            "x",
            "--model",
            "gpt-4o-mini",
        ],
        "",
    );
    assert_eq!(json(&o)["error"]["kind"], "wrong_passphrase", "{}", text(&o));
    let o = run.keyhold_without_passphrase(&["--json", "offline", "off"], "");
    assert_eq!(json(&o)["error"]["kind"], "no_passphrase", "{}", text(&o));
    let o = run.keyhold(&["--json", "agents", "list"], "");
    assert_eq!(json(&o)["agents"].as_array().unwrap().len(), 1, "nothing was added: {}", text(&o));

    // A second serve is told who holds the data dir.
    let o = run.keyhold(&["serve", "--port", "0"], "");
    assert!(!o.status.success() && text(&o).contains("already"), "{}", text(&o));

    // The key and the passphrase went nowhere in clear.
    for seen in &run.seen {
        assert!(!seen.contains(KEY) && !seen.contains(PASSPHRASE), "{seen}");
    }
    support::assert_no_file_holds(&run.data(), KEY.as_bytes());
    support::assert_no_file_holds(&run.data(), PASSPHRASE.as_bytes());
}

#[test]
fn with_keyhold_gone_the_command_line_opens_the_data_dir_itself_again() {
    let mut run = Run::new(PASSPHRASE);
    assert!(run.keyhold(&["vault", "init"], "").status.success());
    let mut serving = serve(&run);
    // Killed: its socket file stays behind, and answers nobody.
    serving.0.kill().unwrap();
    serving.0.wait().unwrap();
    assert!(run.data().join("keyhold.sock").exists());
    let o = run.keyhold(&["--json", "status"], "");
    assert_eq!(json(&o)["running"], false, "{}", text(&o));
    let o = run.keyhold(&["agents", "token", "nobody"], "");
    assert!(text(&o).contains("nobody"), "a command ran on its own: {}", text(&o));
    // And a new serve takes the socket over.
    let _again = serve(&run);
    let o = run.keyhold(&["--json", "status"], "");
    assert_eq!(json(&o)["running"], true, "{}", text(&o));
}

/// Needs root (to run the command line as another user); says so and passes trivially otherwise.
#[test]
fn a_command_from_another_user_is_refused_at_the_socket() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: running a command as another user needs root here");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let mut run = Run::new(PASSPHRASE);
    assert!(run.keyhold(&["vault", "init"], "").status.success());
    let _serving = serve(&run);
    // Open the way to the socket as a careless user might (the data dir is 0700, the socket
    // 0600): only the peer check is left between another user and the running Keyhold.
    let open = |p: &std::path::Path, mode| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    open(run.dir.path(), 0o755);
    open(&run.data(), 0o755);
    open(&run.data().join("keyhold.sock"), 0o666);
    // The binary where another user can run it.
    let bin = run.dir.path().join("keyhold");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_keyhold"), &bin).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_keyhold"), &bin).unwrap();
    }
    open(&bin, 0o755);
    let o = Command::new(&bin)
        .args(["status"])
        .env("KEYHOLD_DATA_DIR", run.data())
        .env("HOME", "/tmp")
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("belongs to another user"), "{}", text(&o));
}
