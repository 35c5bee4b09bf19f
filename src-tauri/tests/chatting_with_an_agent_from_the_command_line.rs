//! A user scripts agents from a terminal: keys on simulated providers, an agent with a fallback
//! chain, `keyhold chat` streaming the answer, and `keyhold usage` exporting what it cost.

mod support;

use std::process::Output;

use keyhold_sim::{self as sim, Behavior, Flavor};
use support::Run;

const OPENAI_KEY: &str = "sk-sim-cli-chat-openai";
const ANTHROPIC_KEY: &str = "sk-ant-sim-cli-chat";

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

struct Sims {
    openai: sim::Running,
    anthropic: sim::Running,
    ollama: sim::Running,
}

/// A new vault with a key on each simulated provider: an (Anthropic), oa (OpenAI), local.
fn a_vault_with_three_providers() -> (tokio::runtime::Runtime, Sims, Run) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = "127.0.0.1:0".parse().unwrap();
    let openai = rt.block_on(sim::start(Flavor::OpenAi, addr, vec![OPENAI_KEY.into()])).unwrap();
    let anthropic = rt.block_on(sim::start(Flavor::Anthropic, addr, vec![ANTHROPIC_KEY.into()])).unwrap();
    let ollama = rt.block_on(sim::start(Flavor::Ollama, addr, vec![])).unwrap();
    let mut run = Run::new("chat test passphrase");
    assert!(run.keyhold(&["vault", "init"], "").status.success());
    for (provider, label, url, key) in [
        ("anthropic", "an", anthropic.base_url(), ANTHROPIC_KEY),
        ("openai", "oa", openai.base_url(), OPENAI_KEY),
        ("ollama", "local", ollama.base_url(), ""),
    ] {
        let o = run.keyhold(&["keys", "add", "--provider", provider, "--label", label, "--base-url", &url], key);
        assert!(o.status.success(), "{}", err(&o));
    }
    (rt, Sims { openai, anthropic, ollama }, run)
}

#[test]
fn a_user_chats_with_an_agent_that_falls_back_and_exports_the_ledger() {
    let (_rt, Sims { openai, anthropic, ollama }, mut run) = a_vault_with_three_providers();
    let o = run.keyhold(
        &[
            "agents",
            "add",
            "--name",
            "Writer",
            "--model",
            "claude-haiku-4-5",
            "--key",
            "an",
            "--fallback",
            "oa:gpt-4o-mini",
            "--fallback",
            "local:llama3.2:1b",
            "--budget-usd",
            "5",
            "--system",
            "Be brief.",
        ],
        "",
    );
    assert!(o.status.success(), "{}", err(&o));
    let o = run.keyhold(
        &["agents", "add", "--name", "Broke", "--model", "gpt-4o-mini", "--key", "oa", "--budget-usd", "zero"],
        "",
    );
    assert!(err(&o).contains("must be a positive amount of USD"), "{}", err(&o));

    // The first step answers 500: the second answers, and the user is told.
    anthropic.set_behavior(vec![Behavior { status: Some(500), times: Some(1), ..Default::default() }]);
    let o = run.keyhold(&["chat", "Writer"], "Say hello cache-me now");
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), format!("{}\n", sim::ANSWER));
    assert!(err(&o).contains("step 0 (anthropic claude-haiku-4-5) failed: http_500"), "{}", err(&o));
    assert!(err(&o).contains("answered by openai gpt-4o-mini (step 1)"), "{}", err(&o));

    // Every step down: a non-zero exit and a message that names each failure.
    anthropic.set_behavior(vec![Behavior { status: Some(529), times: Some(1), ..Default::default() }]);
    openai.set_behavior(vec![Behavior { status: Some(503), times: Some(1), ..Default::default() }]);
    ollama.set_behavior(vec![Behavior { status: Some(500), times: Some(1), ..Default::default() }]);
    let o = run.keyhold(&["chat", "Writer"], "anyone there?");
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("Every step of Writer's chain failed"), "{}", err(&o));
    assert!(err(&o).contains("http_529") && err(&o).contains("http_503"), "{}", err(&o));

    let o = run.keyhold(&["chat", "Writer"], "   \n");
    assert!(err(&o).contains("The prompt is empty"), "{}", err(&o));
    let o = run.keyhold(&["chat", "Nobody"], "hi");
    assert!(err(&o).contains("No agent called \"Nobody\""), "{}", err(&o));

    // The export: the DESIGN.md columns, one row per attempt, and totals that add up.
    let o = run.keyhold(&["usage", "--format", "csv"], "");
    let csv = out(&o);
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), "time,agent,mode,step,provider,key_label,model,outcome,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,cost_usd,estimated,latency_ms,ttft_ms,local,redacted,tools");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 5, "{csv}");
    let ok: Vec<&Vec<&str>> = rows.iter().filter(|r| r[7] == "ok").collect();
    assert_eq!(ok.len(), 1);
    // 6 prompt words ("Be brief." + 4), 3 of them cached; gpt-4o-mini: (3×0.15 + 8×0.60 + 3×0.075)/1e6
    assert_eq!(&ok[0][8..13], &["3", "8", "3", "0", "0.000005475"]);
    let o = run.keyhold(&["--json", "usage", "--agent", "writer"], "");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 5);
    let o = run.keyhold(&["usage", "--since", "2026-12-02", "--until", "2026-12-01"], "");
    assert!(err(&o).contains("before --since"), "{}", err(&o));
    // After init, keys, a chat and an export, everything Keyhold wrote is the user's alone.
    support::assert_owner_only(&run.data());
}

#[test]
fn a_user_chats_in_german_japanese_and_emoji_while_the_provider_cuts_its_writes_anywhere() {
    const NON_ASCII: &str = "Grüße aus 東京 🦊 café";
    let (_rt, Sims { openai, anthropic, ollama }, mut run) = a_vault_with_three_providers();
    for (name, model, key) in
        [("De", "claude-haiku-4-5", "an"), ("Ja", "gpt-4o-mini", "oa"), ("Lo", "llama3.2:1b", "local")]
    {
        let o = run.keyhold(&["agents", "add", "--name", name, "--model", model, "--key", key], "");
        assert!(o.status.success(), "{}", err(&o));
    }
    for (agent, sim, crlf) in [
        ("De", &anthropic, false),
        ("De", &anthropic, true),
        ("Ja", &openai, false),
        ("Ja", &openai, true),
        ("Lo", &ollama, false),
    ] {
        sim.set_behavior(vec![Behavior {
            answer: Some(NON_ASCII.into()),
            split_writes: Some(true),
            crlf: Some(crlf),
            ..Default::default()
        }]);
        let o = run.keyhold(&["chat", agent], "Hallo");
        assert!(o.status.success(), "{}", err(&o));
        assert_eq!(out(&o), format!("{NON_ASCII}\n"), "{agent} (crlf {crlf})");
    }
}
