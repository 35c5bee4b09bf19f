//! Logs: one file per day under `<data dir>/logs/`, and stderr.
//!
//! Nothing secret is ever given to `tracing`: secrets live in types whose `Debug` is redacted, and
//! the canary tests read these files back to prove it.

use std::path::Path;

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

    let file = std::fs::create_dir_all(logs_dir).ok().and_then(|_| {
        tracing_appender::rolling::Builder::new()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix("keyhold")
            .filename_suffix("log")
            .max_log_files(14)
            .build(logs_dir)
            .ok()
    });
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
