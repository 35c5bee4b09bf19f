//! How the CLI answers: plain text for people, JSON (`--json`) for scripts.

use keyhold_core::error::ErrorKind;
use serde_json::{json, Value};

pub struct Output {
    pub json: bool,
}

/// A failed command: a stable kind for scripts and a message for people. No kind: the answer
/// was already printed.
#[derive(Debug)]
pub struct Failure {
    pub kind: Option<ErrorKind>,
    pub message: String,
}

impl Failure {
    pub fn from_message(kind: ErrorKind, message: String) -> Self {
        Failure { kind: Some(kind), message }
    }

    /// A failure whose answer was already printed (a `--json` report): exit 1, print nothing more.
    pub fn quiet() -> Self {
        Failure { kind: None, message: String::new() }
    }
}

impl Output {
    pub fn success(&self, text: &str, value: Value) {
        if self.json {
            crate::outln!("{value}");
        } else {
            crate::outln!("{text}");
        }
    }

    /// Prints the failure and returns the exit code (1).
    pub fn fail(&self, f: &Failure) -> i32 {
        let Some(kind) = f.kind else { return 1 };
        if self.json {
            crate::outln!("{}", json!({ "ok": false, "error": { "kind": kind, "message": f.message } }));
        }
        crate::errln!("keyhold: {}", f.message);
        1
    }
}
