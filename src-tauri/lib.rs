//! Keyhold: bring-your-own-key AI desktop app.
//!
//! The app crate has two thin fronts over [`keyhold_core`], which knows nothing of windows (it
//! is its own crate with no tauri dependency, so the compiler holds that line):
//! - [`shell`]: the Tauri app (window, tray, thin commands) that shows the core's state.
//! - [`cli`]: the `keyhold` command line, a second thin front over the same core.

pub mod cli;
pub mod shell;

#[cfg(test)]
mod layering {
    /// The window and the command line hold no database: everything they do is a call into
    /// `keyhold_core::app` (the crate has no rusqlite dependency outside its tests; this also
    /// catches the core's own database module, which its benches need public).
    #[test]
    fn shell_and_cli_hold_no_database_connection() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src-tauri");
        let mut offenders = Vec::new();
        for front in ["shell", "cli"] {
            let mut stack = vec![root.join(front)];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir).unwrap() {
                    let path = entry.unwrap().path();
                    if path.is_dir() {
                        stack.push(path);
                        continue;
                    }
                    let text = std::fs::read_to_string(&path).unwrap();
                    for needle in ["rusqlite", "keyhold_core::db", ".conn()", "with_unlocked("] {
                        if text.contains(needle) {
                            offenders.push(format!("{} names {needle}", path.display()));
                        }
                    }
                }
            }
        }
        assert!(offenders.is_empty(), "{offenders:#?}");
    }
}
