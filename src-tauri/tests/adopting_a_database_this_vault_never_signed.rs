//! A user (or something acting as them) puts a database beside a new vault: one copied from
//! another machine's Keyhold, or planted. Nothing in it is used until the user has seen what it
//! holds and adopted it with the passphrase (`keyhold vault check --adopt`); then it works.

mod support;

use support::{text, Run};

#[test]
fn a_database_copied_in_before_the_vault_is_created_is_named_and_used_only_after_vault_check_adopt() {
    // Another Keyhold's database, with an agent and a token.
    let mut other = Run::new("other machine passphrase 1");
    assert!(other.keyhold(&["vault", "init"], "").status.success());
    // An agent on the provider's default key (there is none yet: it runs nowhere, but is held).
    let o = other.keyhold(&["agents", "add", "--name", "Copied", "--model", "gpt-4o-mini"], "");
    assert!(o.status.success(), "{}", text(&o));
    assert!(other.keyhold(&["agents", "token", "Copied"], "").status.success());

    // Copied under a data dir with no vault; the user creates one there.
    let mut run = Run::new("this machine passphrase 1");
    std::fs::create_dir_all(run.data()).unwrap();
    std::fs::copy(other.data().join("keyhold.db"), run.data().join("keyhold.db")).unwrap();
    assert!(run.keyhold(&["vault", "init"], "").status.success());

    // `vault check` says the database was never signed by this vault and lists what it holds.
    let o = run.keyhold(&["vault", "check"], "");
    assert!(!o.status.success(), "{}", text(&o));
    let said = text(&o);
    assert!(said.contains("never signed by this vault") && said.contains("\"Copied\""), "{said}");
    assert!(said.contains("--adopt"), "says how to adopt it: {said}");
    // Nothing in it is used meanwhile: its agent cannot chat.
    let o = run.keyhold(&["chat", "Copied"], "hello");
    assert!(!o.status.success(), "{}", text(&o));

    // Adopted, having seen it: `vault check` is clean and names nothing.
    let o = run.keyhold(&["vault", "check", "--adopt"], "");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("\"Copied\""), "what was adopted is named: {}", text(&o));
    let o = run.keyhold(&["vault", "check"], "");
    assert!(o.status.success(), "{}", text(&o));
}
