//! Key rows on a real SQLite file.

use super::*;
use crate::db;

const CANARY: &str = "sk-ant-api03-CANARY-keyrow-5b1e-9xQ2";

fn setup() -> (tempfile::TempDir, Connection, Unlocked<'static>) {
    let dir = tempfile::tempdir().unwrap();
    let conn = db::open(&dir.path().join("keyhold.db")).unwrap();
    (dir, conn, crate::integrity::for_tests())
}

/// `add` with the default reach (https, not marked local).
fn add(
    conn: &Connection,
    u: &Unlocked,
    provider: &str,
    label: &str,
    base_url: Option<&str>,
    secret: Option<Zeroizing<String>>,
) -> Result<Saved, KeyError> {
    super::add(conn, u, provider, label, base_url, secret, Reach::default())
}

fn z(s: &str) -> Option<Zeroizing<String>> {
    Some(Zeroizing::new(s.to_string()))
}

#[test]
fn a_key_is_stored_sealed_shown_masked_and_opened_only_for_a_request() {
    let (dir, conn, m) = setup();
    let saved = add(&conn, &m, "anthropic", "Work", None, z(&format!("  {CANARY}\n"))).unwrap();
    assert_eq!(saved.key.masked, "sk-ant-…9xQ2");
    assert!(saved.key.is_default, "the first key of a provider is its default");
    assert_eq!(saved.warnings, vec!["Removed spaces or line breaks around the pasted key.".to_string()]);
    assert_eq!(open_secret(&conn, &m, "work").unwrap().unwrap().as_str(), CANARY);
    assert!(!format!("{:?}", list(&conn).unwrap()).contains("CANARY"));
    drop(conn);
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap();
        assert!(!bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()), "the key is in clear on disk");
    }
}

#[test]
fn bad_input_is_refused_and_stores_nothing() {
    let (_d, conn, m) = setup();
    assert!(matches!(add(&conn, &m, "openai", "A", None, z("  \n")), Err(KeyError::EmptySecret)));
    assert!(matches!(add(&conn, &m, "openai", " ", None, z("sk-x")), Err(KeyError::EmptyLabel)));
    assert!(matches!(add(&conn, &m, "nope", "A", None, z("sk-x")), Err(KeyError::UnknownProvider(..))));
    assert!(matches!(add(&conn, &m, "openai", "A", Some("ftp://x"), z("sk-x")), Err(KeyError::BadBaseUrl { .. })));
    assert!(matches!(
        add(&conn, &m, "openai", "A", Some("https://u:p@host/v1"), z("sk-x")),
        Err(KeyError::BadBaseUrl { .. })
    ));
    assert!(matches!(add(&conn, &m, "custom", "A", None, z("sk-x")), Err(KeyError::BaseUrlRequired(_))));
    assert!(matches!(add(&conn, &m, "ollama", "A", None, z("sk-x")), Err(KeyError::NoKeyExpected(_))));
    assert!(list(&conn).unwrap().is_empty());
    add(&conn, &m, "openai", "Main", None, z("sk-proj-abcdefghijklmnop")).unwrap();
    assert!(matches!(add(&conn, &m, "mistral", "main", None, z("abc")), Err(KeyError::DuplicateLabel(_))));
    assert_eq!(list(&conn).unwrap().len(), 1);
}

#[test]
fn an_unusual_shape_warns_but_is_kept() {
    let (_d, conn, m) = setup();
    let saved = add(&conn, &m, "openai", "Odd", None, z("not-a-usual-openai-key-1234")).unwrap();
    assert!(saved.warnings[0].contains("usually start with \"sk-\""), "{:?}", saved.warnings);
    assert_eq!(saved.key.masked, "…1234");
}

#[test]
fn rotation_keeps_id_and_label_and_replaces_the_secret() {
    let (_d, conn, m) = setup();
    let first =
        add(&conn, &m, "openai", "Main", Some("http://127.0.0.1:9/v1/"), z("sk-old-aaaaaaaaaaaaaaaa")).unwrap().key;
    assert_eq!(first.base_url.as_deref(), Some("http://127.0.0.1:9/v1"));
    let rotated = rotate(&conn, &m, "Main", Zeroizing::new("sk-new-bbbbbbbbbbbbZZZZ".into())).unwrap().key;
    assert_eq!((rotated.id.as_str(), rotated.label.as_str()), (first.id.as_str(), "Main"));
    assert_eq!(rotated.masked, "sk-…ZZZZ");
    assert!(rotated.rotated_at.is_some());
    assert_eq!(open_secret(&conn, &m, &first.id).unwrap().unwrap().as_str(), "sk-new-bbbbbbbbbbbbZZZZ");
}

#[test]
fn a_deactivated_key_is_never_opened_and_defaults_are_one_per_provider() {
    let (_d, mut conn, m) = setup();
    add(&conn, &m, "openai", "A", None, z("sk-aaaaaaaaaaaaaaaa")).unwrap();
    add(&conn, &m, "openai", "B", None, z("sk-bbbbbbbbbbbbbbbb")).unwrap();
    assert!(!find(&conn, "B").unwrap().is_default);
    set_default(&mut conn, &m, "B").unwrap();
    assert!(!find(&conn, "A").unwrap().is_default);
    assert!(find(&conn, "B").unwrap().is_default);
    set_active(&conn, &m, "A", false).unwrap();
    assert!(matches!(open_secret(&conn, &m, "A"), Err(KeyError::Inactive(_))));
    assert!(matches!(set_default(&mut conn, &m, "A"), Err(KeyError::Inactive(_))));
    set_active(&conn, &m, "A", true).unwrap();
    assert!(open_secret(&conn, &m, "A").is_ok());
    remove(&conn, &m, "A").unwrap();
    assert!(matches!(find(&conn, "A"), Err(KeyError::NotFound(_))));
}

#[test]
fn a_tampered_or_swapped_row_fails_alone() {
    let (_d, conn, m) = setup();
    let a = add(&conn, &m, "openai", "A", None, z("sk-aaaaaaaaaaaaaaaa")).unwrap().key;
    add(&conn, &m, "openai", "B", None, z("sk-bbbbbbbbbbbbbbbb")).unwrap();
    add(&conn, &m, "ollama", "Local", None, None).unwrap();
    // Copy B's ciphertext into A: A must not open as B's key.
    conn.execute(
        "UPDATE provider_keys SET (salt, nonce, ciphertext) = (SELECT salt, nonce, ciphertext FROM provider_keys WHERE label = 'B') WHERE id = ?1",
        [&a.id],
    )
    .unwrap();
    let err = open_secret(&conn, &m, "A").unwrap_err();
    assert!(err.to_string().contains("\"A\" does not open"), "{err}");
    assert_eq!(open_secret(&conn, &m, "B").unwrap().unwrap().as_str(), "sk-bbbbbbbbbbbbbbbb");
    assert!(open_secret(&conn, &m, "Local").unwrap().is_none());
    let (total, failed) = check_all(&conn, &m).unwrap();
    assert_eq!((total, failed), (3, vec!["A".to_string()]));
    assert!(changed(&conn, &m).unwrap().is_empty(), "the swap moved sealed bytes only; the tagged fields are intact");
}

#[test]
fn masks_never_show_most_of_a_key() {
    let p = crate::providers::find("anthropic").unwrap();
    assert_eq!(mask("sk-ant-api03-abcdefghij9xQ2", p), "sk-ant-…9xQ2");
    assert_eq!(mask("short", p), "…rt");
    assert_eq!(mask("x", p), "…x");
}

#[test]
fn a_base_url_error_never_echoes_the_credentials_pasted_into_it() {
    let e = normalize_base_url("https://user:sk-canary-pass-0001@api.example.com/v1").unwrap_err().to_string();
    assert!(!e.contains("sk-canary-pass-0001") && !e.contains("user:"), "{e}");
    assert!(e.contains("https://[credentials removed]@api.example.com/v1"), "{e}");
    let e = normalize_base_url("ftp://me:secret-canary@host").unwrap_err().to_string();
    assert!(!e.contains("secret-canary"), "{e}");
}

#[test]
fn the_model_list_is_signed_and_a_row_tagged_before_it_was_is_upgraded_once_from_its_saved_tag() {
    let (_dir, conn, u) = setup();
    let k = add(&conn, &u, "openai", "Work", None, z("sk-proj-0123456789abcdef0123456789abcdef")).unwrap().key;
    let valid = crate::providers::probe::Verdict::Valid { models: vec!["gpt-4o-mini".into()] };
    record_test(&conn, Some(&u), &k.id, &valid, "Valid").unwrap();
    verify(&conn, &u, &find(&conn, "work").unwrap()).unwrap();
    // Another program moves a model into the list: the row no longer verifies.
    conn.execute("UPDATE provider_keys SET models = '[\"gpt-4o-mini\",\"o3\"]' WHERE id = ?1", [&k.id]).unwrap();
    assert!(matches!(verify(&conn, &u, &find(&conn, "work").unwrap()), Err(KeyError::Changed(_))));
    // A test while locked records the verdict and leaves the (signed) list alone.
    conn.execute("UPDATE provider_keys SET models = '[\"gpt-4o-mini\"]' WHERE id = ?1", [&k.id]).unwrap();
    let more = crate::providers::probe::Verdict::Valid { models: vec!["gpt-4o-mini".into(), "o3".into()] };
    assert_eq!(record_test(&conn, None, &k.id, &more, "Valid").unwrap().models, ["gpt-4o-mini"]);

    // A row from the version before: its tag covers no model list.
    let old = u.tag(&record_v1(&find(&conn, "work").unwrap()));
    conn.execute("UPDATE provider_keys SET mac = ?2 WHERE id = ?1", params![k.id, old]).unwrap();
    let hex = crate::manifest::hex(&old);
    // Not the tag the snapshot saved (an older one written back): not upgraded.
    assert!(upgrade_tags(&conn, &u, &|_| Some("00".into())).unwrap().is_empty());
    // The saved one: tagged again with its list, once.
    assert_eq!(upgrade_tags(&conn, &u, &|_| Some(hex.clone())).unwrap().len(), 1);
    verify(&conn, &u, &find(&conn, "work").unwrap()).unwrap();
    assert!(upgrade_tags(&conn, &u, &|_| Some(hex.clone())).unwrap().is_empty());
}

#[test]
fn labels_swapped_outside_keyhold_make_rotate_and_remove_by_label_refuse_and_hit_no_other_key() {
    let (_dir, conn, u) = setup();
    let work = add(&conn, &u, "openai", "Work", None, z("sk-proj-0123456789abcdef0123456789abcdef")).unwrap().key;
    let home = add(&conn, &u, "openai", "Home", None, z("sk-proj-fedcba9876543210fedcba9876543210")).unwrap().key;
    // Another program swaps the two labels.
    conn.execute_batch(&format!(
        "UPDATE provider_keys SET label = 'tmp' WHERE id = '{w}';
         UPDATE provider_keys SET label = 'Work' WHERE id = '{h}';
         UPDATE provider_keys SET label = 'Home' WHERE id = '{w}';",
        w = work.id,
        h = home.id
    ))
    .unwrap();
    let fresh = Zeroizing::new("sk-proj-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_string());
    assert!(matches!(rotate(&conn, &u, "Work", fresh), Err(KeyError::Changed(_))), "the wrong key was rotated");
    let err = remove(&conn, &u, "Work").unwrap_err();
    assert!(matches!(err, KeyError::LabelUnsure { .. }), "{err}");
    assert!(err.to_string().contains(&format!("keyhold keys remove {}", home.id)), "{err}");
    assert_eq!(list(&conn).unwrap().len(), 2, "nothing was removed");
    // By its id, the user's way out.
    assert_eq!(remove(&conn, &u, &home.id).unwrap().id, home.id);
}

#[test]
fn an_address_pasted_with_the_openai_compatible_ending_is_kept_as_the_api_keyhold_speaks() {
    // Ollama's docs give http://localhost:11434/v1 for OpenAI clients; Keyhold speaks Ollama's
    // own API at the root, so /v1/api/tags would be a 404 and a working Ollama "unexpected".
    let (_d, conn, u) = setup();
    let saved = add(&conn, &u, "ollama", "mine", Some("http://localhost:11434/v1/"), None).unwrap();
    assert_eq!(saved.key.base_url.as_deref(), Some("http://localhost:11434"));
    assert!(saved.warnings.iter().any(|w| w.contains("/v1")), "{:?}", saved.warnings);
    let saved = add(&conn, &u, "ollama", "api", Some("http://127.0.0.1:11434/api"), None).unwrap();
    assert_eq!(saved.key.base_url.as_deref(), Some("http://127.0.0.1:11434"));
    // Anthropic's paths carry /v1 themselves.
    let saved = add(&conn, &u, "anthropic", "ant", Some("https://api.anthropic.com/v1"), z(CANARY)).unwrap();
    assert_eq!(saved.key.base_url.as_deref(), Some("https://api.anthropic.com"));
    // An OpenAI-compatible address keeps its /v1: it is part of the API's root there.
    let saved = add(&conn, &u, "custom", "gw", Some("https://gw.example.com/v1"), z("sk-test-1")).unwrap();
    assert_eq!(saved.key.base_url.as_deref(), Some("https://gw.example.com/v1"));
    assert!(saved.warnings.iter().all(|w| !w.contains("/v1")));
}
