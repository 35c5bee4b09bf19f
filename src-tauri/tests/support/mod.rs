//! Shared by the integration tests: the canary checks over a data dir.

use std::path::{Path, PathBuf};

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Fails if any file under `dir` holds `needle` in clear.
pub fn assert_no_file_holds(dir: &Path, needle: &[u8]) {
    for f in files_under(dir) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{f:?} holds a secret in clear");
    }
}
