//! How the CLI answers: plain text for people, JSON (`--json`) for scripts.

use serde_json::{json, Value};

pub struct Output {
    pub json: bool,
}

/// A failed command: a stable kind for scripts and a message for people.
#[derive(Debug)]
pub struct Failure {
    pub kind: String,
    pub message: String,
}

impl Failure {
    pub fn from_message(kind: &str, message: String) -> Self {
        Failure { kind: kind.into(), message }
    }

    /// A failure whose answer was already printed (a `--json` report): exit 1, print nothing more.
    pub fn quiet() -> Self {
        Failure { kind: String::new(), message: String::new() }
    }
}

impl Output {
    pub fn success(&self, text: &str, value: Value) {
        if self.json {
            println!("{value}");
        } else {
            println!("{text}");
        }
    }

    /// Prints the failure and returns the exit code (1).
    pub fn fail(&self, f: &Failure) -> i32 {
        if f.kind.is_empty() {
            return 1;
        }
        if self.json {
            println!("{}", json!({ "ok": false, "error": { "kind": f.kind, "message": f.message } }));
        }
        eprintln!("keyhold: {}", f.message);
        1
    }
}
