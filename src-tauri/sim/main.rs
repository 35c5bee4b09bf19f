//! Runs the provider simulators on their own, for manual tries and benchmarks.
//!
//! ```text
//! keyhold-sim [--port-base P] [--key KEY]...
//! ```
//! OpenAI on P, Anthropic on P+1, Ollama on P+2 (default P = 18080; 0 picks three free ports).
//! Accepted keys: the --key values, else `sk-sim-openai` (OpenAI) and `sk-ant-sim-anthropic`
//! (Anthropic). Prints one "NAME URL" line per simulator, then serves until Ctrl-C.

use std::net::SocketAddr;

use keyhold_sim::{self as sim, Flavor};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut base: u16 = 18080;
    let mut keys = Vec::new();
    let mut i = 0;
    while i < args.len() {
        match (args[i].as_str(), args.get(i + 1)) {
            ("--port-base", Some(v)) => base = v.parse().unwrap_or_else(|_| fail("--port-base takes a port number")),
            ("--key", Some(v)) => keys.push(v.clone()),
            ("-h" | "--help", _) => {
                println!("keyhold-sim [--port-base P] [--key KEY]...\nOpenAI on P, Anthropic on P+1, Ollama on P+2 (default 18080).");
                return;
            }
            (other, _) => fail(&format!("unknown argument {other}")),
        }
        i += 2;
    }
    let keys_for = |default: &str| if keys.is_empty() { vec![default.to_string()] } else { keys.clone() };
    for (flavor, offset, default_key, name) in [
        (Flavor::OpenAi, 0, "sk-sim-openai", "OpenAI"),
        (Flavor::Anthropic, 1, "sk-ant-sim-anthropic", "Anthropic"),
        (Flavor::Ollama, 2, "", "Ollama"),
    ] {
        let port = if base == 0 { 0 } else { base + offset };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        match sim::start(flavor, addr, keys_for(default_key)).await {
            Ok(r) => println!("{name:<10} {}", r.base_url()),
            Err(e) => fail(&format!("could not listen on {addr}: {e}")),
        }
    }
    println!("Ctrl-C to stop.");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
}

fn fail(msg: &str) -> ! {
    eprintln!("keyhold-sim: {msg}");
    std::process::exit(2)
}
