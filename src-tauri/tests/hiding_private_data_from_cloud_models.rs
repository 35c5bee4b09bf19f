//! A user keeps private data from cloud models from a terminal: checks what a model would
//! receive with `keyhold redact`, keeps a dictionary of names, chats with a pii agent whose
//! provider echoes what it received, and exports the ledger. The planted secret and the
//! dictionary term appear nowhere in clear: not in what the simulated provider received, not in
//! the database, the logs, the export or any output other than the user's own answer.

mod support;

use keyhold_sim::{self as sim, Behavior, Flavor};
use support::{text, Run};

const KEY: &str = "sk-sim-privacy-openai-key-0001";
const SECRET: &str = "ghp_CANARYsecret0123456789abcdefghijklmn";
const TERM: &str = "Operation Bluebird";
const EMAIL: &str = "elena.petrova@example.org";

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn redact_shows_what_a_model_would_receive_as_text_or_json() {
    let mut run = Run::new("redact passphrase 1");
    assert!(run.keyhold(&["vault", "init"], "").status.success());
    let input = format!("Token {SECRET}, mail {EMAIL}, card 4111-1111-1111-1111.");
    // The default policy hides secrets only.
    let o = run.keyhold_without_passphrase(&["redact"], &input);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(stdout(&o).trim(), format!("Token [SECRET_1], mail {EMAIL}, card 4111-1111-1111-1111."));
    // pii, as JSON: the shape scripts read.
    let o = run.keyhold_without_passphrase(&["--json", "redact", "--policy", "pii"], &input);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["text"], "Token [SECRET_1], mail [EMAIL_1], card [CARD_1].");
    assert_eq!(v["findings"][0], serde_json::json!({ "kind": "secret", "value": SECRET, "placeholder": "[SECRET_1]" }));
    assert_eq!(v["findings"][2]["kind"], "payment_card");
    assert!(
        text(&o).contains("dictionary was not applied"),
        "without the passphrase, it says the dictionary was left out"
    );
    // With the passphrase, the dictionary applies.
    assert!(run.keyhold(&["dictionary", "add"], &format!("{TERM}\n\n")).status.success());
    let o = run.keyhold(&["redact", "--policy", "pii"], &format!("About {TERM}."));
    assert_eq!(stdout(&o).trim(), "About [TERM_1].", "{}", text(&o));
    let o = run.keyhold(&["redact", "--agent", "nobody"], "x");
    assert!(text(&o).contains("No agent called \"nobody\""), "{}", text(&o));
    let o = run.keyhold_without_passphrase(&["redact", "--agent", "a", "--policy", "pii"], "x");
    assert!(text(&o).contains("not both"), "{}", text(&o));
}

#[test]
fn a_pii_agent_keeps_secrets_and_names_from_the_cloud_and_nothing_private_is_left_in_clear() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let openai = rt.block_on(sim::start(Flavor::OpenAi, "127.0.0.1:0".parse().unwrap(), vec![KEY.into()])).unwrap();
    let mut run = Run::new("privacy passphrase 2");
    assert!(run.keyhold(&["vault", "init"], "").status.success());
    let o =
        run.keyhold(&["keys", "add", "--provider", "openai", "--label", "oa", "--base-url", &openai.base_url()], KEY);
    assert!(o.status.success(), "{}", text(&o));
    let o = run.keyhold(&["agents", "add", "--name", "Clerk", "--model", "gpt-4o-mini", "--key", "oa"], "");
    assert!(o.status.success(), "{}", text(&o));
    let o = run.keyhold(&["--json", "agents", "show", "Clerk"], "");
    assert!(stdout(&o).contains("\"privacy\":\"secrets\""), "new agents hide secrets: {}", stdout(&o));
    let o = run.keyhold(&["agents", "edit", "Clerk", "--privacy", "pii"], "");
    assert!(o.status.success(), "{}", text(&o));
    // What its tool calls get back: the user's values (never a secret) unless told otherwise.
    let o = run.keyhold(&["--json", "agents", "show", "Clerk"], "");
    assert!(stdout(&o).contains("\"tool_values\":\"restore\""), "{}", stdout(&o));
    assert!(run.keyhold(&["agents", "edit", "Clerk", "--tool-values", "placeholders"], "").status.success());
    let o = run.keyhold(&["--json", "agents", "show", "Clerk"], "");
    assert!(stdout(&o).contains("\"tool_values\":\"placeholders\""), "{}", stdout(&o));
    let o = run.keyhold(&["agents", "edit", "Clerk", "--tool-values", "everything"], "");
    assert!(!o.status.success() && text(&o).contains("restore") && text(&o).contains("placeholders"), "{}", text(&o));
    assert!(run.keyhold(&["dictionary", "add"], &format!("{TERM}\n")).status.success());
    let o = run.keyhold(&["dictionary", "list"], "");
    assert!(stdout(&o).contains("O…d, 18 letters"), "{}", stdout(&o));

    openai.set_behavior(vec![Behavior { echo: Some(true), ..Default::default() }]);
    let prompt = format!("Ask {EMAIL} about {TERM}; use {SECRET}.");
    let o = run.keyhold(&["chat", "Clerk"], &prompt);
    assert!(o.status.success(), "{}", text(&o));
    // The model echoed placeholders; the user reads their own values.
    assert_eq!(stdout(&o).trim(), prompt);
    let received = openai.requests().last().unwrap().body.as_ref().unwrap().to_string();
    assert!(received.contains("Ask [EMAIL_1] about [TERM_1]; use [SECRET_1]."), "{received}");
    for v in [SECRET, TERM, EMAIL] {
        assert!(!received.contains(v), "{v} reached the provider");
    }

    // A national phone number with no word such as "call" before it is hidden once the user's
    // region is set (the default is the system locale's country).
    let o = run.keyhold(&["phone-region", "Narnia"], "");
    assert!(!o.status.success() && text(&o).contains("\"Narnia\" is not a country code"), "{}", text(&o));
    let o = run.keyhold(&["phone-region", "us"], "");
    assert!(o.status.success() && stdout(&o).contains("Phone numbers: US"), "{}", text(&o));
    let o = run.keyhold(&["--json", "phone-region"], "");
    assert!(stdout(&o).contains("\"choice\":\"US\""), "{}", stdout(&o));
    let o = run.keyhold(&["chat", "Clerk"], "Ping Dana at (415) 247-9263 today.");
    assert_eq!(stdout(&o).trim(), "Ping Dana at (415) 247-9263 today.", "{}", text(&o));
    let received = openai.requests().last().unwrap().body.as_ref().unwrap().to_string();
    assert!(received.contains("Ping Dana at [PHONE_1] today.") && !received.contains("247-9263"), "{received}");

    let o = run.keyhold(&["usage", "--format", "csv"], "");
    let csv = stdout(&o);
    assert!(csv.lines().nth(1).unwrap().ends_with("secret:1 email:1 custom:1,"), "{csv}");
    // Nothing private in clear anywhere Keyhold wrote, nor in any output but the answer itself.
    for needle in [SECRET.as_bytes(), TERM.as_bytes()] {
        support::assert_no_file_holds(&run.data(), needle);
    }
    let chat_output = stdout(&o);
    for t in run.seen.iter().filter(|t| !t.contains(&prompt) && **t != chat_output) {
        assert!(!t.contains(SECRET) && !t.contains(TERM), "a private value came back: {t}");
    }
}
