//! A user scripting the vault from a terminal: the real `keyhold` binary, a real data dir, real
//! Stronghold snapshots and SQLite file, logs at debug level; and a canary passphrase that must
//! never appear in any output or any file.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use keyhold_core::datadir::DataDir;

const CANARY: &str = "CANARY-cli-passphrase-8c2f-orbit";
const NEW_CANARY: &str = "CANARY-cli-newpass-31d7-velvet";

struct Run {
    dir: tempfile::TempDir,
    seen: Vec<String>,
}

impl Run {
    fn new() -> Self {
        Run { dir: tempfile::tempdir().unwrap(), seen: Vec::new() }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn file(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }

    fn keyhold(&mut self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyhold"));
        cmd.args(args)
            .env("KEYHOLD_DATA_DIR", self.data())
            .env("KEYHOLD_LOG", "debug")
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(text) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        self.seen.push(String::from_utf8_lossy(&out.stdout).into_owned());
        self.seen.push(String::from_utf8_lossy(&out.stderr).into_owned());
        out
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_user_creates_checks_and_rekeys_the_vault_from_a_terminal_and_the_passphrase_never_leaks() {
    let mut run = Run::new();
    let pass = run.file("pass", &format!("{CANARY}\n"));
    let new_pass = run.file("new-pass", NEW_CANARY);
    let wrong = run.file("wrong", "a wrong passphrase here");
    let short = run.file("short", "tiny");
    let pass_s = pass.to_str().unwrap();

    // No passphrase source and no terminal: say how to give one.
    let o = run.keyhold(&["vault", "init"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--passphrase-file"), "{}", stderr(&o));

    let o = run.keyhold(&["--passphrase-file", short.to_str().unwrap(), "vault", "init"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("too short: use at least 10 characters"), "{}", stderr(&o));
    assert!(!run.data().join("vault.stronghold").exists());

    // The data dir does not exist yet: it is created.
    let o = run.keyhold(&["--passphrase-file", pass_s, "vault", "init"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("Vault created in"), "{}", stdout(&o));

    let o = run.keyhold(&["--passphrase-file", pass_s, "vault", "init"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("A vault already exists"), "{}", stderr(&o));

    // Standard input works as a source, and --json gives a machine-readable answer.
    let o = run.keyhold(&["--json", "--passphrase-file", "-", "vault", "check"], Some(CANARY));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["keys_total"], 0);
    assert!(v["unlock_ms"].as_u64().unwrap() > 0);

    let before: Vec<(PathBuf, Vec<u8>)> = ["vault.stronghold", "vault.header.json"]
        .iter()
        .map(|f| (run.data().join(f), std::fs::read(run.data().join(f)).unwrap()))
        .collect();
    let o = run.keyhold(&["--json", "--passphrase-file", wrong.to_str().unwrap(), "vault", "check"], None);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["error"]["kind"], "wrong_passphrase");
    assert_eq!(
        stderr(&o).lines().last().unwrap(),
        "keyhold: Wrong passphrase. The vault stays locked and nothing was changed."
    );
    for (path, bytes) in &before {
        assert_eq!(&std::fs::read(path).unwrap(), bytes, "a wrong passphrase changed {path:?}");
    }

    // Change the passphrase: old one required, then only the new one opens.
    let o = run.keyhold(
        &[
            "--passphrase-file",
            wrong.to_str().unwrap(),
            "vault",
            "change-passphrase",
            "--new-passphrase-file",
            new_pass.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    let o = run.keyhold(
        &[
            "--passphrase-file",
            pass_s,
            "vault",
            "change-passphrase",
            "--new-passphrase-file",
            new_pass.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!run.keyhold(&["--passphrase-file", pass_s, "vault", "check"], None).status.success());
    assert!(run.keyhold(&["--passphrase-file", new_pass.to_str().unwrap(), "vault", "check"], None).status.success());

    // A second writer is refused while another process holds the data dir; reading still works.
    let held = DataDir::resolve(Some(run.data())).unwrap().lock_for_writing().unwrap();
    let o = run.keyhold(
        &[
            "--passphrase-file",
            new_pass.to_str().unwrap(),
            "vault",
            "change-passphrase",
            "--new-passphrase-file",
            pass_s,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(&format!("Keyhold is already running (pid {})", std::process::id())), "{}", stderr(&o));
    assert!(run.keyhold(&["--passphrase-file", new_pass.to_str().unwrap(), "vault", "check"], None).status.success());
    drop(held);

    // The canary is nowhere: not in any output, not in any file (logs at debug, db, vault).
    for text in &run.seen {
        assert!(!text.contains("CANARY"), "output leaked a passphrase: {text}");
    }
    let files = support::files_under(&run.data());
    assert!(files.iter().any(|f| f.extension().is_some_and(|e| e == "log")), "logs were written: {files:?}");
    assert!(files.iter().any(|f| f.ends_with("keyhold.db")));
    for canary in [CANARY, NEW_CANARY] {
        support::assert_no_file_holds(&run.data(), canary.as_bytes());
    }
}

#[test]
fn a_damaged_vault_file_is_reported_and_never_replaced() {
    let mut run = Run::new();
    let pass = run.file("pass", CANARY);
    let pass_s = pass.to_str().unwrap();
    assert!(run.keyhold(&["--passphrase-file", pass_s, "vault", "init"], None).status.success());
    let snapshot = run.data().join("vault.stronghold");
    let whole = std::fs::read(&snapshot).unwrap();
    let truncated = &whole[..whole.len() / 2];
    std::fs::write(&snapshot, truncated).unwrap();

    let o = run.keyhold(&["--passphrase-file", pass_s, "vault", "check"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is damaged or truncated"), "{}", stderr(&o));
    let o = run.keyhold(&["--passphrase-file", pass_s, "vault", "init"], None);
    assert!(stderr(&o).contains("A vault already exists"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&snapshot).unwrap(), truncated, "the damaged file must be left as it was");

    // A database that is not one is named, and left alone too.
    let db = run.data().join("keyhold.db");
    std::fs::remove_file(run.data().join("keyhold.db-wal")).ok();
    std::fs::remove_file(run.data().join("keyhold.db-shm")).ok();
    let junk = b"not a database, just text that is long enough to be read as a header".repeat(10);
    std::fs::write(&db, &junk).unwrap();
    let new = run.file("new", "another passphrase 99");
    let o = run.keyhold(
        &["--passphrase-file", pass_s, "vault", "change-passphrase", "--new-passphrase-file", new.to_str().unwrap()],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is damaged or is not a Keyhold database"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&db).unwrap(), junk);
}

#[test]
fn every_file_keyhold_writes_is_the_users_alone() {
    use std::os::unix::fs::PermissionsExt;
    // The test runner's umask lets the group and others read: Keyhold must not rely on it.
    let mut run = support::Run::new(CANARY);
    assert!(run.keyhold(&["vault", "init"], "").status.success());
    let o = run.keyhold(&["keys", "add", "--provider", "openai", "--label", "work"], "sk-proj-private-file-check-0001");
    assert!(o.status.success(), "{}", support::text(&o));
    assert!(run.keyhold(&["usage", "--format", "csv"], "").status.success());
    let data = run.data();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    let files = support::files_under(&data);
    assert!(files.iter().any(|f| f.ends_with("vault.stronghold")) && files.iter().any(|f| f.ends_with("keyhold.db")));
    for f in files {
        assert_eq!(mode(&f) & 0o077, 0, "{} is readable by others: {:o}", f.display(), mode(&f));
    }
}

/// `kill -9` lands on a passphrase change (with a master-secret rotation) at moments spread
/// over its whole run. Every time, the vault opens with the old or the new passphrase, every
/// key still opens, nothing was changed outside Keyhold, and the next open leaves no
/// half-written file behind.
#[test]
fn a_passphrase_change_killed_at_any_moment_loses_nothing_and_leaves_nothing() {
    let mut run = Run::new();
    let passes = [run.file("a", CANARY), run.file("b", NEW_CANARY)];
    let pass = |i: usize| passes[i % 2].to_str().unwrap().to_string();
    assert!(run.keyhold(&["--passphrase-file", &pass(0), "vault", "init"], None).status.success());
    let o = run.keyhold(
        &["--passphrase-file", &pass(0), "keys", "add", "--provider", "openai", "--label", "k"],
        Some("sk-kill-test-key-000111"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mut current = 0;
    for delay_ms in [30, 400, 1000, 1800, 2800] {
        let (old, new) = (pass(current), pass(current + 1));
        let mut child = Command::new(env!("CARGO_BIN_EXE_keyhold"))
            .args([
                "--passphrase-file",
                &old,
                "vault",
                "change-passphrase",
                "--new-passphrase-file",
                &new,
                "--rotate-master",
            ])
            .env("KEYHOLD_DATA_DIR", run.data())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // Whichever passphrase now opens the vault, it opens everything.
        let opened = [&old, &new]
            .into_iter()
            .position(|p| run.keyhold(&["--passphrase-file", p, "--json", "vault", "check"], None).status.success());
        let Some(which) = opened else {
            panic!("after a kill at {delay_ms} ms neither passphrase opens the vault with every key and record intact")
        };
        if which == 1 {
            current += 1;
        }
        // The next writer's open and unlock settle whatever the kill left.
        let o = run.keyhold(&["--passphrase-file", &pass(current), "keys", "default", "k"], None);
        assert!(o.status.success(), "after a kill at {delay_ms} ms: {}", stderr(&o));
        let leftovers: Vec<String> = std::fs::read_dir(run.data())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("vault.stronghold.") || n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "after a kill at {delay_ms} ms: {leftovers:?}");
        let o = run.keyhold(&["--passphrase-file", &pass(current), "--json", "vault", "check"], None);
        assert!(o.status.success(), "after a kill at {delay_ms} ms: {}", stdout(&o));
    }
    for t in &run.seen {
        assert!(!t.contains("CANARY"), "a passphrase came back: {t}");
    }
}

#[test]
fn a_revoked_token_written_back_by_another_program_is_named_by_vault_check_until_the_user_accepts() {
    let mut run = Run::new();
    let pass = run.file("pass", CANARY);
    let p = pass.to_str().unwrap();
    assert!(run.keyhold(&["--passphrase-file", p, "vault", "init"], None).status.success());
    let o = run.keyhold(&["--passphrase-file", p, "agents", "add", "--name", "bot", "--model", "gpt-4o-mini"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run.keyhold(&["--passphrase-file", p, "--json", "agents", "token", "bot", "--label", "editor"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let db = DataDir::resolve(Some(run.data())).unwrap().db_path();
    let other = rusqlite::Connection::open(&db).unwrap();
    let (id, mac): (String, Vec<u8>) =
        other.query_row("SELECT id, mac FROM agent_tokens", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    let o = run.keyhold(&["--passphrase-file", p, "agents", "revoke", &id], None);
    assert!(o.status.success(), "{}", stderr(&o));
    // The token's earlier row, tag and all, written back.
    other
        .execute("UPDATE agent_tokens SET revoked_at = NULL, mac = ?1 WHERE id = ?2", rusqlite::params![mac, id])
        .unwrap();
    let o = run.keyhold(&["--passphrase-file", p, "vault", "check"], None);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("token \"editor of agent bot\" was replaced by an earlier or altered copy"),
        "{}",
        stderr(&o)
    );
    // The user says they did it: accepted, named once more, and the check is clean.
    let o = run.keyhold(&["--passphrase-file", p, "vault", "check", "--accept"], None);
    assert!(
        o.status.success() && stdout(&o).contains("Accepted as Keyhold's configuration"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let o = run.keyhold(&["--passphrase-file", p, "vault", "check"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(run.seen.iter().all(|s| !s.contains(CANARY)));
}
