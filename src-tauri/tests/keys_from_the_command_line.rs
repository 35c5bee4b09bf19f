//! A user managing provider keys from a terminal: the real binary, a real vault and database.
//! The canary key must never come back: not in any output, not in clear in any file.

mod support;

use support::{text, Run};

const CANARY: &str = "sk-ant-api03-CANARY-cli-key-44aa-9xQ2";

#[test]
fn a_user_adds_lists_rotates_deactivates_and_removes_keys_and_never_sees_one_again() {
    let mut run = Run::new("keys test passphrase 1");
    assert!(run.keyhold(&["vault", "init"], "").status.success());

    let o = run.keyhold(&["keys", "add", "--provider", "anthropic", "--label", "Work"], &format!("{CANARY}\n"));
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Added Work (anthropic, sk-ant-…9xQ2)"), "{}", text(&o));
    assert!(text(&o).contains("Removed spaces or line breaks"), "{}", text(&o));

    let o = run.keyhold(&["keys", "add", "--provider", "openai", "--label", "work"], "sk-other-key-123456");
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("A key labelled \"work\" already exists"), "{}", text(&o));
    let o = run.keyhold(&["keys", "add", "--provider", "openai", "--label", "Empty"], "  \n");
    assert!(text(&o).contains("The key is empty"), "{}", text(&o));
    let o = run.keyhold(
        &["keys", "add", "--provider", "openai", "--label", "Bad URL", "--base-url", "localhost:8080"],
        "sk-x",
    );
    assert!(text(&o).contains("must start with http:// or https://"), "{}", text(&o));
    let o = run.keyhold(
        &["keys", "add", "--provider", "ollama", "--label", "Local", "--base-url", "http://127.0.0.1:11434"],
        "",
    );
    assert!(o.status.success(), "{}", text(&o));

    let o = run.keyhold(&["--json", "keys", "list"], "");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let keys = v["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["masked"], "sk-ant-…9xQ2");
    assert_eq!(keys[0]["is_default"], true);

    let o = run.keyhold(&["keys", "rotate", "Work"], "sk-ant-api03-CANARY-rotated-key-77ZZ");
    assert!(text(&o).contains("sk-ant-…77ZZ"), "{}", text(&o));
    assert!(run.keyhold(&["keys", "deactivate", "Work"], "").status.success());
    let o = run.keyhold(&["--json", "keys", "list"], "");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["keys"][0]["active"], false);
    assert!(run.keyhold(&["keys", "activate", "Work"], "").status.success());

    let o = run.keyhold(&["vault", "check"], "");
    assert!(text(&o).contains("2 provider key(s) stored, all of them open"), "{}", text(&o));

    let o = run.keyhold(&["keys", "remove", "Work"], "");
    assert!(text(&o).contains("add --yes"), "{}", text(&o));
    assert!(run.keyhold(&["keys", "remove", "Work", "--yes"], "").status.success());
    let o = run.keyhold(&["keys", "default", "Work"], "");
    assert!(text(&o).contains("No key called \"Work\""), "{}", text(&o));

    for t in &run.seen {
        assert!(!t.contains("CANARY"), "a key came back: {t}");
    }
    support::assert_no_file_holds(&run.data(), b"CANARY-");
}

/// The canary key is accepted by a simulated Anthropic; a second canary is rejected by it.
#[test]
fn testing_keys_against_a_provider_says_valid_or_rejected_and_never_shows_the_key() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(keyhold_sim::start(
            keyhold_sim::Flavor::Anthropic,
            "127.0.0.1:0".parse().unwrap(),
            vec![CANARY.into()],
        ))
        .unwrap();
    let base = sim.base_url();
    let mut run = Run::new("keys test passphrase 3");
    assert!(run.keyhold(&["vault", "init"], "").status.success());
    assert!(run
        .keyhold(&["keys", "add", "--provider", "anthropic", "--label", "Good", "--base-url", &base], CANARY)
        .status
        .success());
    let rejected = "sk-ant-api03-CANARY-rejected-0000";
    assert!(run
        .keyhold(&["keys", "add", "--provider", "anthropic", "--label", "Bad", "--base-url", &base], rejected)
        .status
        .success());

    let o = run.keyhold(&["keys", "test", "Good"], "");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "Good: Valid: Anthropic accepted the key (2 models).");
    let o = run.keyhold(&["keys", "models", "Good"], "");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "claude-sonnet-4-5\nclaude-haiku-4-5\n");

    let o = run.keyhold(&["keys", "test", "Bad"], "");
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("Bad: Rejected by Anthropic (401): invalid x-api-key"), "{}", text(&o));
    let o = run.keyhold(&["--json", "keys", "test", "Bad"], "");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"]["verdict"], "rejected");

    // A deactivated key is refused before anything is sent.
    let sent = sim.requests().len();
    assert!(run.keyhold(&["keys", "deactivate", "Good"], "").status.success());
    let o = run.keyhold(&["keys", "test", "Good"], "");
    assert!(text(&o).contains("is deactivated"), "{}", text(&o));
    assert_eq!(sim.requests().len(), sent, "a deactivated key reached the provider");

    for t in &run.seen {
        assert!(!t.contains("CANARY"), "a key came back: {t}");
    }
    support::assert_no_file_holds(&run.data(), b"CANARY-");
}

#[test]
fn a_tampered_key_row_is_named_by_vault_check_and_the_others_still_open() {
    let mut run = Run::new("keys test passphrase 2");
    assert!(run.keyhold(&["vault", "init"], "").status.success());
    assert!(run
        .keyhold(&["keys", "add", "--provider", "openai", "--label", "A"], "sk-aaaaaaaaaaaaaaaaaaaa")
        .status
        .success());
    assert!(run
        .keyhold(&["keys", "add", "--provider", "openai", "--label", "B"], "sk-bbbbbbbbbbbbbbbbbbbb")
        .status
        .success());
    let conn = rusqlite::Connection::open(run.data().join("keyhold.db")).unwrap();
    conn.execute("UPDATE provider_keys SET ciphertext = (SELECT ciphertext FROM provider_keys WHERE label = 'B') WHERE label = 'A'", [])
        .unwrap();
    drop(conn);
    let o = run.keyhold(&["vault", "check"], "");
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("1 of 2 stored key(s) do not open: A."), "{}", text(&o));
}
