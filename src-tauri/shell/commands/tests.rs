//! The commands driven through Tauri's IPC layer (tauri::test's mock runtime: no display needed),
//! with a canary passphrase that must never come back in a reply.

use std::sync::Arc;

use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::WebviewWindow;

use keyhold_core::datadir::DataDir;
use keyhold_core::vault::{kdf::KdfParams, snapshot};
use keyhold_core::workspace::Workspace;

const CANARY: &str = "CANARY-passphrase-e5d1-never-echo";

type Steps = Arc<std::sync::Mutex<Vec<crate::shell::events::PassphraseProgress>>>;

fn app() -> (tempfile::TempDir, tauri::App<MockRuntime>, WebviewWindow<MockRuntime>) {
    let (tmp, app, window, _) = app_recording_steps();
    (tmp, app, window)
}

fn app_recording_steps() -> (tempfile::TempDir, tauri::App<MockRuntime>, WebviewWindow<MockRuntime>, Steps) {
    snapshot::use_fast_encryption_for_tests();
    let steps = Steps::default();
    let kept = Arc::clone(&steps);
    let tmp = tempfile::tempdir().unwrap();
    let ws = Workspace::open_with(DataDir::resolve(Some(tmp.path().to_path_buf())).unwrap(), KdfParams::FAST_FOR_TESTS)
        .unwrap();
    let app = mock_builder()
        .invoke_handler(crate::shell::ipc::<MockRuntime>().invoke_handler())
        .manage(Arc::new(ws))
        .manage(crate::shell::state::ChatSink(Box::new(|_| {})))
        .manage(crate::shell::state::ChatStops::default())
        .manage(crate::shell::state::PassphraseSteps(Arc::new(move |p| kept.lock().unwrap().push(p))))
        .manage(crate::shell::state::OllamaEvents { pull: Box::new(|_| {}), changed: Box::new(|_| {}) })
        .manage(crate::shell::state::SaveDialog(Arc::new(|_| None)))
        .manage(keyhold_core::app::proxy::ProxyHandle::default())
        .manage(crate::shell::state::Environment::default())
        .build(mock_context(noop_assets()))
        .unwrap();
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
    (tmp, app, window, steps)
}

fn call(w: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    get_ipc_response(
        w,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.into(),
        },
    )
    .map(|body| body.deserialize::<Value>().unwrap())
}

#[test]
fn the_first_run_unlock_and_lock_flow_through_ipc_never_echoes_the_passphrase() {
    let (_tmp, _app, w, steps) = app_recording_steps();
    let mut replies = Vec::new();
    let mut record = |r: Result<Value, Value>| {
        let text = match &r {
            Ok(v) | Err(v) => v.to_string(),
        };
        replies.push(text);
        r
    };

    let info = record(call(&w, "workspace_info", json!({}))).unwrap();
    assert_eq!(info["status"], "no_vault");

    let strength = record(call(&w, "passphrase_strength", json!({ "passphrase": CANARY }))).unwrap();
    assert!(strength["level"].is_string());

    let err = record(call(&w, "create_vault", json!({ "passphrase": CANARY, "confirm": "something else entirely" })))
        .unwrap_err();
    assert_eq!(err["kind"], "bad_passphrase");
    assert_eq!(err["message"], "The two passphrases do not match. Type the same passphrase twice.");

    let err = record(call(&w, "create_vault", json!({ "passphrase": "short", "confirm": "short" }))).unwrap_err();
    assert_eq!(err["kind"], "bad_passphrase");

    let info = record(call(&w, "create_vault", json!({ "passphrase": CANARY, "confirm": CANARY }))).unwrap();
    assert_eq!(info["status"], "unlocked");

    let info = record(call(&w, "lock", json!({}))).unwrap();
    assert_eq!(info["status"], "locked");

    let err = record(call(&w, "unlock", json!({ "passphrase": format!("{CANARY}x") }))).unwrap_err();
    assert_eq!(err["kind"], "wrong_passphrase");
    assert_eq!(err["message"], "Wrong passphrase. The vault stays locked and nothing was changed.");

    let info = record(call(&w, "unlock", json!({ "passphrase": CANARY }))).unwrap();
    assert_eq!(info["status"], "unlocked");

    let err = record(call(
        &w,
        "change_passphrase",
        json!({ "current": "wrong old one", "replacement": "new passphrase 1", "confirm": "new passphrase 1", "rotateMaster": false }),
    ))
    .unwrap_err();
    assert_eq!(err["kind"], "wrong_passphrase");
    record(call(
        &w,
        "change_passphrase",
        json!({ "current": CANARY, "replacement": "new passphrase 1", "confirm": "new passphrase 1", "rotateMaster": true }),
    ))
    .unwrap();
    // The Vault page's progress line: each step numbered as it starts, in words. The failed try
    // said its first step only.
    let said: Vec<(u32, u32, String)> = steps.lock().unwrap().iter().map(|p| (p.step, p.of, p.words.clone())).collect();
    assert_eq!(said[0], (1, 2, "Checking the current passphrase".into()));
    let change: Vec<_> = said[1..].iter().map(|(s, o, _)| (*s, *o)).collect();
    assert_eq!(change, [(1, 6), (2, 6), (3, 6), (4, 6), (5, 6), (6, 6)]);
    assert_eq!(said[2].2, "Sealing the vault under the new passphrase");
    assert!(said.iter().all(|(_, _, w)| !w.contains("CANARY")));

    assert!(replies.len() >= 10);
    for reply in &replies {
        assert!(!reply.contains("CANARY"), "a reply echoed the passphrase: {reply}");
    }
}

/// `keys_add`'s `reach`: https (or this machine) only, not marked local.
fn no_reach() -> Value {
    json!({ "allow_insecure_http": false, "marked_local": false })
}

#[test]
fn key_commands_through_ipc_never_return_a_key_even_when_the_provider_rejects_it() {
    const KEY: &str = "sk-sim-CANARY-ipc-key-valid-1111";
    const REJECTED: &str = "sk-sim-CANARY-ipc-key-rejected-2222";
    let sim = tauri::async_runtime::block_on(keyhold_sim::start(
        keyhold_sim::Flavor::OpenAi,
        "127.0.0.1:0".parse().unwrap(),
        vec![KEY.into()],
    ))
    .unwrap();
    let (_tmp, _app, w) = app();
    let mut replies = Vec::new();
    let mut record = |r: Result<Value, Value>| {
        replies.push(match &r {
            Ok(v) | Err(v) => v.to_string(),
        });
        r
    };
    // Locked means locked, even for the list.
    assert_eq!(record(call(&w, "keys_list", json!({}))).unwrap_err()["kind"], "locked");
    record(call(&w, "create_vault", json!({ "passphrase": "ipc keys passphrase", "confirm": "ipc keys passphrase" })))
        .unwrap();

    let base = sim.base_url();
    let saved = record(call(
        &w,
        "keys_add",
        json!({ "provider": "openai", "label": "Good", "baseUrl": base, "secret": KEY, "reach": no_reach() }),
    ))
    .unwrap();
    assert_eq!(saved["key"]["masked"], "sk-…1111");
    let id = saved["key"]["id"].as_str().unwrap().to_string();
    let err = record(call(
        &w,
        "keys_add",
        json!({ "provider": "openai", "label": "good", "baseUrl": null, "secret": KEY, "reach": no_reach() }),
    ))
    .unwrap_err();
    assert_eq!(err["kind"], "bad_key_input");
    let tested = record(call(&w, "keys_test", json!({ "id": id }))).unwrap();
    assert_eq!(tested["verdict"]["verdict"], "valid");
    assert_eq!(tested["key"]["models"].as_array().unwrap().len(), 3);

    let bad = record(call(
        &w,
        "keys_add",
        json!({ "provider": "openai", "label": "Bad", "baseUrl": base, "secret": REJECTED, "reach": no_reach() }),
    ))
    .unwrap();
    let bad_id = bad["key"]["id"].as_str().unwrap().to_string();
    let tested = record(call(&w, "keys_test", json!({ "id": bad_id }))).unwrap();
    assert_eq!(tested["verdict"]["verdict"], "rejected");
    assert_eq!(tested["verdict"]["status"], 401);

    record(call(&w, "keys_rotate", json!({ "id": bad_id, "secret": REJECTED }))).unwrap();
    record(call(&w, "keys_set_default", json!({ "id": bad_id }))).unwrap();
    record(call(&w, "keys_set_active", json!({ "id": id, "active": false }))).unwrap();
    let err = record(call(&w, "keys_test", json!({ "id": id }))).unwrap_err();
    assert_eq!(err["kind"], "key_inactive");
    let list = record(call(&w, "keys_list", json!({}))).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    record(call(&w, "keys_remove", json!({ "id": bad_id }))).unwrap();

    for reply in &replies {
        assert!(!reply.contains("CANARY"), "a reply carried a key: {reply}");
    }
}

#[test]
fn dictionary_and_preview_replies_never_carry_a_term_or_a_hidden_value() {
    const TERM: &str = "CANARY-Operation-Bluebird";
    const SECRET: &str = "ghp_CANARYipc0123456789abcdefghijklmnopq";
    let (_tmp, _app, w) = app();
    let mut replies = Vec::new();
    let mut record = |r: Result<Value, Value>| {
        replies.push(match &r {
            Ok(v) | Err(v) => v.to_string(),
        });
        r
    };
    assert_eq!(record(call(&w, "dictionary_list", json!({}))).unwrap_err()["kind"], "locked");
    record(call(
        &w,
        "create_vault",
        json!({ "passphrase": "ipc privacy passphrase", "confirm": "ipc privacy passphrase" }),
    ))
    .unwrap();
    let list = record(call(&w, "dictionary_add", json!({ "terms": [TERM, ""] }))).unwrap();
    assert_eq!(list[0]["hint"], "C…d, 25 letters");
    let spec = json!({ "name": "careful", "model": "gpt-4o-mini", "key": null, "system_prompt": null, "temperature": null,
        "max_tokens": null, "fallback": [], "budget_usd": null, "when_over": null, "privacy": "pii" });
    record(call(&w, "agents_save", json!({ "id": null, "spec": spec }))).unwrap();
    let preview = record(call(
        &w,
        "privacy_preview",
        json!({ "agent": "careful", "turns": [{ "role": "user", "text": format!("About {TERM}: use {SECRET}") }] }),
    ))
    .unwrap();
    assert_eq!(preview["text"], "About [TERM_1]: use [SECRET_1]");
    assert_eq!(preview["spans"][1], json!({ "kind": "secret", "placeholder": "[SECRET_1]", "start": 20, "end": 30 }));
    let id = list[0]["id"].as_str().unwrap().to_string();
    assert_eq!(record(call(&w, "dictionary_remove", json!({ "id": id }))).unwrap(), json!([]));
    for reply in &replies {
        assert!(!reply.contains("CANARY"), "a reply carried a hidden value: {reply}");
    }
}

#[test]
fn a_running_ollama_shows_its_key_healthy_after_a_status_refresh() {
    let ollama = tauri::async_runtime::block_on(keyhold_sim::start(
        keyhold_sim::Flavor::Ollama,
        "127.0.0.1:0".parse().unwrap(),
        vec![],
    ))
    .unwrap();
    let (_tmp, _app, w) = app();
    call(&w, "create_vault", json!({ "passphrase": "ipc ollama passphrase", "confirm": "ipc ollama passphrase" }))
        .unwrap();
    let saved = call(
        &w,
        "keys_add",
        json!({ "provider": "ollama", "label": "Local", "baseUrl": ollama.base_url(), "secret": "", "reach": no_reach() }),
    )
    .unwrap();
    assert_eq!(saved["key"]["health"], "not_tested");
    let status = call(&w, "ollama_refresh", json!({})).unwrap();
    assert_eq!(status["running"], true, "{status}");
    let keys = call(&w, "keys_list", json!({})).unwrap();
    assert_eq!(keys[0]["health"], "working", "{keys}");
    assert!(keys[0]["last_test"].as_str().unwrap().starts_with("Valid: Ollama answered"), "{keys}");
    let overview = call(&w, "overview", json!({})).unwrap();
    assert_eq!(overview["keys"][0]["health"], "working", "{overview}");
}

#[test]
fn acknowledging_a_change_made_outside_keyhold_needs_the_passphrase_and_clears_the_notice() {
    let (tmp, _app, w) = app();
    call(&w, "create_vault", json!({ "passphrase": CANARY, "confirm": CANARY })).unwrap();
    call(&w, "agents_save", json!({ "id": null, "spec": { "name": "bot", "model": "gpt-4o-mini", "fallback": [] } }))
        .unwrap();
    // Deleted by something other than Keyhold: named until the user resolves it.
    let db = DataDir::resolve(Some(tmp.path().to_path_buf())).unwrap().db_path();
    keyhold_core::tamper::edit_database(&db, "DELETE FROM agents");
    let info = call(&w, "workspace_info", json!({})).unwrap();
    assert_eq!(info["changed_outside"][0], "agent \"bot\" was deleted outside Keyhold", "{info}");
    let wrong = call(&w, "accept_changes", json!({ "passphrase": "not it" })).unwrap_err();
    assert_eq!(wrong["kind"], "wrong_passphrase", "{wrong}");
    assert_eq!(call(&w, "workspace_info", json!({})).unwrap()["changed_outside"].as_array().unwrap().len(), 1);
    let done = call(&w, "accept_changes", json!({ "passphrase": CANARY })).unwrap();
    assert_eq!(done["changed_outside"], json!([]), "{done}");
    assert!(!done.to_string().contains("CANARY") && !wrong.to_string().contains("CANARY"));
}
