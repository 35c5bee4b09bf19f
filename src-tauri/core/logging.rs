//! Logs: `<data dir>/logs/keyhold.log`, rotated by size, and stderr.
//!
//! The log is capped: when `keyhold.log` would pass [`MAX_FILE_BYTES`] it becomes `keyhold.log.1`
//! (the older ones move up, [`KEPT_FILES`] are kept), so a busy proxy can never fill the disk —
//! at most 6 × 5 MiB. Per-request lines are at debug level and off by default. Files are created
//! owner-only (0600), like everything in the data dir.
//!
//! Nothing secret is ever given to `tracing`: secrets live in types whose `Debug` is redacted, and
//! the canary tests read these files back to prove it.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer};

/// Flushes the log file when dropped: keep it alive until the process ends.
pub struct LogGuard {
    _file: Option<tracing_appender::non_blocking::WorkerGuard>,
}

/// `stderr_default` is the stderr level when `KEYHOLD_LOG` is unset: the CLI keeps stderr for
/// warnings, the app shows info. `KEYHOLD_LOG` (an `EnvFilter` string) sets both.
pub fn init(logs_dir: &Path, stderr_default: &str) -> LogGuard {
    let env = std::env::var("KEYHOLD_LOG").ok();
    // Tauri and WebKit are chatty at debug; their noise is not ours to keep.
    let quiet_deps = ",tao=warn,wry=warn,tauri=info,hyper=info,reqwest=info";
    let file_filter = EnvFilter::new(env.clone().unwrap_or_else(|| "info".into()) + quiet_deps);
    let stderr_filter = EnvFilter::new(env.unwrap_or_else(|| stderr_default.into()) + quiet_deps);

    let file = std::fs::create_dir_all(logs_dir).ok().and_then(|_| SizeCapped::open(logs_dir, MAX_FILE_BYTES).ok());
    let (file_layer, guard) = match file {
        Some(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            (Some(fmt::layer().with_ansi(false).with_writer(writer).with_filter(file_filter)), Some(guard))
        }
        None => (None, None),
    };
    let stderr_layer = fmt::layer().with_writer(std::io::stderr).with_target(false).with_filter(stderr_filter);
    // A second init (tests, or the CLI starting the app) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(file_layer).with(stderr_layer).try_init();
    if guard.is_none() {
        tracing::warn!(dir = %logs_dir.display(), "could not open the log directory; logging to stderr only");
    }
    LogGuard { _file: guard }
}

/// Largest size of one log file before it is rotated.
pub const MAX_FILE_BYTES: u64 = 5 * 1024 * 1024;
/// Rotated files kept besides the current one (`keyhold.log.1` … `keyhold.log.5`).
pub const KEPT_FILES: usize = 5;
const FILE_NAME: &str = "keyhold.log";

/// A log file that rotates itself by size: the whole log never passes
/// `(KEPT_FILES + 1) × max_bytes`.
pub struct SizeCapped {
    dir: PathBuf,
    max_bytes: u64,
    file: File,
    written: u64,
}

impl SizeCapped {
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Self> {
        let file = open_owner_only(&dir.join(FILE_NAME))?;
        let written = file.metadata()?.len();
        Ok(SizeCapped { dir: dir.to_path_buf(), max_bytes, file, written })
    }

    fn rotate(&mut self) -> io::Result<()> {
        let name = |n: usize| self.dir.join(format!("{FILE_NAME}.{n}"));
        let _ = std::fs::remove_file(name(KEPT_FILES));
        for n in (1..KEPT_FILES).rev() {
            let _ = std::fs::rename(name(n), name(n + 1));
        }
        std::fs::rename(self.dir.join(FILE_NAME), name(1))?;
        self.file = open_owner_only(&self.dir.join(FILE_NAME))?;
        self.written = 0;
        Ok(())
    }
}

impl Write for SizeCapped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written > 0 && self.written + buf.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn open_owner_only(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_rotates_by_size_and_never_grows_past_its_cap() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = SizeCapped::open(dir.path(), 1000).unwrap();
        let line = [b'x'; 99].iter().chain(b"\n").copied().collect::<Vec<u8>>();
        for _ in 0..1000 {
            log.write_all(&line).unwrap();
        }
        log.flush().unwrap();
        let mut names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        let expected: Vec<String> = std::iter::once(FILE_NAME.to_string())
            .chain((1..=KEPT_FILES).map(|n| format!("{FILE_NAME}.{n}")))
            .collect();
        assert_eq!(names, expected);
        let total: u64 = names.iter().map(|n| std::fs::metadata(dir.path().join(n)).unwrap().len()).sum();
        assert!(total <= 1000 * (KEPT_FILES as u64 + 1), "{total} bytes kept");
        for n in &names {
            let len = std::fs::metadata(dir.path().join(n)).unwrap().len();
            assert!(len <= 1000, "{n} is {len} bytes");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(dir.path().join(n)).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{n}");
            }
        }
    }
}
