//! A user manages their local models from a terminal: `keyhold ollama pull` shows Ollama's
//! progress and installs the model, `status` lists it, `remove` takes it away, and a name the
//! library does not have is refused in Ollama's own words. The Ollama is the in-repo simulator,
//! found through the user's Ollama key.

mod support;

use keyhold_sim::{self as sim, Flavor};
use support::Run;

#[test]
fn a_user_pulls_lists_and_removes_a_local_model() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ollama = rt.block_on(sim::start(Flavor::Ollama, "127.0.0.1:0".parse().unwrap(), vec![])).unwrap();
    let mut run = Run::new("local models passphrase");
    assert!(run.keyhold(&["vault", "init"], "").status.success());
    let url = ollama.base_url();
    assert!(run
        .keyhold(&["keys", "add", "--provider", "ollama", "--label", "mine", "--base-url", &url], "")
        .status
        .success());

    let o = run.keyhold(&["ollama", "pull", "gemma2:2b"], "");
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{stderr}");
    assert!(stdout.contains("gemma2:2b is installed"), "{stdout}");
    assert!(stderr.contains("gemma2:2b: pulling manifest") && stderr.contains("100 %"), "{stderr}");
    let status = String::from_utf8_lossy(&run.keyhold(&["ollama", "status"], "").stdout).into_owned();
    assert!(status.contains("gemma2:2b (1.3 GB)"), "{status}");

    let o = run.keyhold(&["--json", "ollama", "remove", "gemma2:2b"], "");
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((v["ok"].as_bool(), v["model"].as_str()), (Some(true), Some("gemma2:2b")));
    let status = String::from_utf8_lossy(&run.keyhold(&["ollama", "status"], "").stdout).into_owned();
    assert!(!status.contains("gemma2:2b"), "{status}");

    let o = run.keyhold(&["ollama", "pull", "no-such-model:7b"], "");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("could not pull no-such-model:7b: pull model manifest: file does not exist"));
    let o = run.keyhold(&["ollama", "remove", "gemma2:2b"], "");
    assert!(String::from_utf8_lossy(&o.stderr).contains("could not remove gemma2:2b"));
}
