//! Shared by the integration tests: running the real binary on a data dir of its own, and the
//! canary checks over that dir.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A user's terminal: a temporary data dir, a passphrase file, and every output seen so far.
pub struct Run {
    pub dir: tempfile::TempDir,
    pub seen: Vec<String>,
    /// The terminal's own environment, beyond the data dir and log level.
    pub envs: Vec<(String, String)>,
}

impl Run {
    /// A fresh run whose passphrase file holds `passphrase`.
    pub fn new(passphrase: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pass"), passphrase).unwrap();
        Run { dir, seen: Vec::new(), envs: Vec::new() }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs `keyhold --passphrase-file PASS ARGS` with `stdin`, logs at debug level.
    pub fn keyhold(&mut self, args: &[&str], stdin: &str) -> Output {
        let pass = self.dir.path().join("pass");
        self.spawn(&[&["--passphrase-file", pass.to_str().unwrap()][..], args].concat(), stdin)
    }

    /// Runs `keyhold ARGS` with no passphrase anywhere: no --passphrase-file, and standard input
    /// (`stdin`) is not a terminal, so it cannot be asked for.
    pub fn keyhold_without_passphrase(&mut self, args: &[&str], stdin: &str) -> Output {
        self.spawn(args, stdin)
    }

    /// Starts `keyhold --json serve --port 0` on this run's data dir: the process, and the JSON
    /// line it prints once it listens.
    pub fn serve(&self) -> (std::process::Child, serde_json::Value) {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(env!("CARGO_BIN_EXE_keyhold"))
            .args([
                "--passphrase-file",
                self.dir.path().join("pass").to_str().unwrap(),
                "--json",
                "serve",
                "--port",
                "0",
            ])
            .env("KEYHOLD_DATA_DIR", self.data())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let info = serde_json::from_str(&line).unwrap_or_else(|_| panic!("serve said {line:?}"));
        (child, info)
    }

    fn spawn(&mut self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_keyhold"))
            .args(args)
            .env("KEYHOLD_DATA_DIR", self.data())
            .env("KEYHOLD_LOG", "debug")
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        self.seen.push(String::from_utf8_lossy(&out.stdout).into_owned());
        self.seen.push(String::from_utf8_lossy(&out.stderr).into_owned());
        out
    }
}

/// Standard output and standard error together.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Every file under `dir`, recursively (a running Keyhold's socket is not a file).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else if p.is_file() {
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

/// Fails unless every file under `dir` is 0600 and every folder (itself included) 0700.
pub fn assert_owner_only(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir), 0o700, "{dir:?}");
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            assert_owner_only(&p);
        } else {
            assert_eq!(mode(&p), 0o600, "{p:?} can be read by others");
        }
    }
}
