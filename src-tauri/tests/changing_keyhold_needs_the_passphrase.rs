//! A process running as the user, without the passphrase, tries every change from the command
//! line: each is refused with a message that says the passphrase is needed, and nothing changes.
//! Then it edits the database by hand: the next use of the key is refused, `vault check` names
//! the record, and the simulator that would have received the key receives nothing.

mod support;

use support::{text, Run};

const KEY: &str = "sk-cli-tamper-CANARY-openai-key";

/// What `agents list`, `keys list` and `agents tokens` print (standard output only).
fn listed(run: &mut Run) -> String {
    [&["--json", "agents", "list"][..], &["--json", "keys", "list"], &["--json", "agents", "tokens"]]
        .iter()
        .map(|args| String::from_utf8_lossy(&run.keyhold(args, "").stdout).into_owned())
        .collect()
}

#[test]
fn every_change_from_the_command_line_without_the_passphrase_is_refused_and_changes_nothing() {
    let mut run = Run::new("cli change passphrase 1");
    assert!(run.keyhold(&["vault", "init"], "").status.success());
    let o = run.keyhold(&["keys", "add", "--provider", "openai", "--label", "work"], KEY);
    assert!(o.status.success(), "{}", text(&o));
    let o = run.keyhold(
        &["agents", "add", "--name", "bot", "--model", "gpt-4o-mini", "--key", "work", "--budget-usd", "1"],
        "",
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = run.keyhold(&["--json", "agents", "token", "bot"], "");
    assert!(o.status.success(), "{}", text(&o));
    let token_id =
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["info"]["id"].as_str().unwrap().to_string();
    assert!(run.keyhold(&["offline", "on"], "").status.success(), "turning offline mode on needs nothing");
    let before = listed(&mut run);

    let changes: Vec<Vec<&str>> = vec![
        vec!["agents", "add", "--name", "evil", "--model", "gpt-4o-mini", "--key", "work"],
        vec!["agents", "token", "bot"],
        vec!["agents", "revoke", &token_id],
        vec!["agents", "remove", "bot"],
        vec!["prices", "set", "gpt-4o-mini", "--input", "0", "--output", "0"],
        vec!["prices", "remove", "gpt-4o-mini"],
        vec!["keys", "add", "--provider", "openai", "--label", "other"],
        vec!["keys", "default", "work"],
        vec!["keys", "deactivate", "work"],
        vec!["keys", "activate", "work"],
        vec!["keys", "rotate", "work"],
        vec!["keys", "remove", "work", "--yes"],
        vec!["offline", "off"],
    ];
    for args in &changes {
        let o = run.keyhold_without_passphrase(args, "sk-some-new-key-value");
        assert_eq!(o.status.code(), Some(1), "{args:?} was not refused: {}", text(&o));
        assert!(text(&o).contains("needs the vault passphrase"), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("Nothing was changed"), "{args:?}: {}", text(&o));
    }
    let after = listed(&mut run);
    assert_eq!(before, after, "a refused change changed something");
    let o = run.keyhold_without_passphrase(&["--json", "offline", "status"], "");
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"offline\":true"), "{}", text(&o));
    for t in &run.seen {
        assert!(!t.contains("CANARY"), "a key came back: {t}");
    }
}

#[test]
fn a_key_address_edited_in_the_database_sends_the_key_nowhere_and_vault_check_names_it() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let addr = "127.0.0.1:0".parse().unwrap();
    let provider = runtime.block_on(keyhold_sim::start(keyhold_sim::Flavor::OpenAi, addr, vec![KEY.into()])).unwrap();
    let attacker = runtime.block_on(keyhold_sim::start(keyhold_sim::Flavor::OpenAi, addr, vec![])).unwrap();
    let mut run = Run::new("cli tamper passphrase 2");
    assert!(run.keyhold(&["vault", "init"], "").status.success());
    let o = run
        .keyhold(&["keys", "add", "--provider", "openai", "--label", "work", "--base-url", &provider.base_url()], KEY);
    assert!(o.status.success(), "{}", text(&o));
    assert!(run.keyhold(&["keys", "test", "work"], "").status.success());
    assert_eq!(provider.requests().len(), 1);

    // One line, as in the report: the key's address now points at another server.
    let db = rusqlite::Connection::open(run.data().join("keyhold.db")).unwrap();
    db.execute("UPDATE provider_keys SET base_url = ?1", [attacker.base_url()]).unwrap();
    drop(db);

    let o = run.keyhold(&["keys", "test", "work"], "");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("The key \"work\" was changed outside Keyhold"), "{}", text(&o));
    let o = run.keyhold(&["--json", "vault", "check"], "");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "changed_outside_keyhold", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("The key \"work\""), "{v}");
    assert!(attacker.requests().is_empty(), "the key reached the address written into the database");
    assert_eq!(provider.requests().len(), 1);
    for t in &run.seen {
        assert!(!t.contains("CANARY"), "a key came back: {t}");
    }
}

#[test]
fn a_cloud_key_over_plain_http_to_another_machine_needs_an_explicit_yes() {
    let mut run = Run::new("cli http passphrase 3");
    assert!(run.keyhold(&["vault", "init"], "").status.success());
    let args = ["keys", "add", "--provider", "openai", "--label", "lan", "--base-url", "http://192.168.1.20:4000/v1"];
    let o = run.keyhold(&args, KEY);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("plain http:// to another machine"), "{}", text(&o));
    assert!(text(&o).contains("--allow-insecure-http"), "{}", text(&o));
    let mut allowed = args.to_vec();
    allowed.push("--allow-insecure-http");
    let o = run.keyhold(&allowed, KEY);
    assert!(o.status.success(), "{}", text(&o));
    let o = run.keyhold(&["--json", "keys", "list"], "");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["keys"][0]["allow_insecure_http"], true);
    assert_eq!(v["keys"][0]["local"], false);
    // A key-less Ollama on the LAN counts as local only when the user says so.
    let o = run.keyhold(
        &[
            "--json",
            "keys",
            "add",
            "--provider",
            "ollama",
            "--label",
            "lan-ollama",
            "--base-url",
            "http://192.168.1.30:11434",
        ],
        "",
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["key"]["local"], false);
    let o = run.keyhold(
        &[
            "--json",
            "keys",
            "add",
            "--provider",
            "ollama",
            "--label",
            "lan-ollama-2",
            "--base-url",
            "http://192.168.1.30:11435",
            "--local",
        ],
        "",
    );
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["key"]["local"], true, "{}", text(&o));
}
