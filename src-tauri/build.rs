//! Builds the front-end (ui/ → ui/dist) before Tauri embeds it, so that `cargo build` at the root
//! builds the whole app from a fresh clone. Skipped when ui/dist is newer than every source.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

fn newest(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_dir() {
        std::fs::read_dir(path).ok()?.filter_map(|e| e.ok()).filter_map(|e| newest(&e.path())).max()
    } else {
        meta.modified().ok()
    }
}

fn npm(ui: &Path, args: &[&str]) {
    let status = Command::new("npm").args(args).current_dir(ui).status().unwrap_or_else(|e| {
        panic!("Keyhold's front-end needs Node.js and npm ({e}). Run `bash .ci/setup` to install them.")
    });
    assert!(status.success(), "`npm {}` failed in ui/ (see its output above)", args.join(" "));
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let ui = root.join("ui");
    let sources = ["src", "index.html", "package-lock.json", "vite.config.ts", "tsconfig.json"];
    for s in sources {
        println!("cargo:rerun-if-changed=ui/{s}");
    }
    let built = newest(&ui.join("dist/index.html"));
    let source = sources.iter().filter_map(|s| newest(&ui.join(s))).max();
    if built.is_none() || source > built {
        if !ui.join("node_modules").exists() {
            npm(&ui, &["ci", "--no-audit", "--no-fund"]);
        }
        npm(&ui, &["run", "build"]);
    }
    tauri_build::build()
}
