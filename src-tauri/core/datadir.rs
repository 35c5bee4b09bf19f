//! The data dir: where Keyhold keeps its files, and the lock that lets one process write it.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::vault::VaultPaths;

/// The Tauri bundle identifier: the default data dir matches Tauri's `app_data_dir()` on Linux.
pub const APP_ID: &str = "app.keyhold.desktop";
const LOCK_FILE: &str = "keyhold.lock";
pub const DB_FILE: &str = "keyhold.db";

#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error(
        "Keyhold is already running (pid {pid}) with the data dir {dir}. Quit it first, or use another --data-dir."
    )]
    AlreadyRunning { pid: String, dir: PathBuf },
    #[error("Could not create the data dir {dir}: {source}. Choose another with --data-dir or KEYHOLD_DATA_DIR.")]
    Create { dir: PathBuf, source: std::io::Error },
    #[error("Could not use the lock file {path}: {source}")]
    Lock { path: PathBuf, source: std::io::Error },
    #[error("No data dir given and no home directory found: set --data-dir or KEYHOLD_DATA_DIR.")]
    NoHome,
    #[error("Keyhold cannot make {path} private to you (it is {mode:o}, and setting {wanted:o} did not hold{why}). The vault and the ledger must not be readable by other users: choose a data dir on a file system with Unix permissions (--data-dir or KEYHOLD_DATA_DIR).")]
    NotPrivate { path: PathBuf, mode: u32, wanted: u32, why: String },
}

impl crate::error::Kinded for DataDirError {
    fn kind(&self) -> crate::error::ErrorKind {
        match self {
            DataDirError::AlreadyRunning { .. } => crate::error::ErrorKind::AlreadyRunning,
            _ => crate::error::ErrorKind::DataDir,
        }
    }
}

impl DataDir {
    /// `explicit` comes from `--data-dir` / `KEYHOLD_DATA_DIR`; otherwise the XDG data home.
    pub fn resolve(explicit: Option<PathBuf>) -> Result<DataDir, DataDirError> {
        let root = match explicit {
            Some(dir) => dir,
            None => default_location().ok_or(DataDirError::NoHome)?,
        };
        Ok(DataDir { root })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Creates the dir if missing and makes it and everything in it the user's alone: folders
    /// 0700, files 0600 (files a 0.1 Keyhold wrote with the default umask are tightened). Fails
    /// loudly, naming the path, where the file system does not keep those modes.
    pub fn ensure(&self) -> Result<(), DataDirError> {
        std::fs::create_dir_all(&self.root)
            .map_err(|source| DataDirError::Create { dir: self.root.clone(), source })?;
        #[cfg(unix)]
        make_private(&self.root, 0o700)?;
        #[cfg(unix)]
        for dir in [self.root.clone(), self.logs_dir()] {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let Ok(kind) = entry.file_type() else { continue };
                if kind.is_file() {
                    make_private(&entry.path(), 0o600)?;
                } else if kind.is_dir() {
                    make_private(&entry.path(), 0o700)?;
                }
            }
        }
        Ok(())
    }

    pub fn vault_paths(&self) -> VaultPaths {
        VaultPaths::in_dir(&self.root)
    }

    pub fn db_path(&self) -> PathBuf {
        self.root.join(DB_FILE)
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// Takes the writer lock, or says which process holds it. The lock is an OS file lock, so it
    /// is released when the holder exits, crash included: no stale lock to clean up by hand.
    pub fn lock_for_writing(&self) -> Result<WriterLock, DataDirError> {
        self.ensure()?;
        let path = self.root.join(LOCK_FILE);
        let lock_err = |source| DataDirError::Lock { path: path.clone(), source };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(lock_err)?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0).map_err(lock_err)?;
                file.rewind().map_err(lock_err)?;
                write!(file, "{}", std::process::id()).map_err(lock_err)?;
                file.flush().map_err(lock_err)?;
                Ok(WriterLock { _file: file })
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                Err(DataDirError::AlreadyRunning {
                    pid: if pid.is_empty() { "unknown".into() } else { pid.into() },
                    dir: self.root.clone(),
                })
            }
            Err(std::fs::TryLockError::Error(source)) => Err(lock_err(source)),
        }
    }
}

/// Sets `path` to `wanted` unless it is already no more open than that, then checks it held.
#[cfg(unix)]
fn make_private(path: &Path, wanted: u32) -> Result<(), DataDirError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
    let before = mode(path).unwrap_or(0);
    if before & 0o077 == 0 {
        return Ok(());
    }
    let set = std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted));
    let after = mode(path).unwrap_or(before);
    if after & 0o077 != 0 {
        let why = set.err().map(|e| format!(": {e}")).unwrap_or_default();
        return Err(DataDirError::NotPrivate { path: path.into(), mode: after, wanted, why });
    }
    Ok(())
}

/// Held for as long as this process writes the data dir; released on drop or exit.
#[derive(Debug)]
pub struct WriterLock {
    _file: std::fs::File,
}

fn default_location() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".local/share"),
    };
    Some(base.join(APP_ID))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_data_dir_is_created_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::resolve(Some(tmp.path().join("a/b/c"))).unwrap();
        dir.ensure().unwrap();
        assert!(dir.path().is_dir());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777, 0o700);
        }
    }

    #[cfg(unix)]
    #[test]
    fn files_an_older_keyhold_left_readable_by_others_are_made_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::resolve(Some(tmp.path().join("data"))).unwrap();
        std::fs::create_dir_all(dir.logs_dir()).unwrap();
        for (p, m) in [(dir.path().to_path_buf(), 0o755), (dir.logs_dir(), 0o755)] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).unwrap();
        }
        for f in [dir.db_path(), dir.path().join("vault.stronghold"), dir.logs_dir().join("keyhold.log")] {
            std::fs::write(&f, b"x").unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        dir.ensure().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dir.path()), 0o700);
        assert_eq!(mode(&dir.logs_dir()), 0o700);
        for f in [dir.db_path(), dir.path().join("vault.stronghold"), dir.logs_dir().join("keyhold.log")] {
            assert_eq!(mode(&f), 0o600, "{f:?}");
        }
    }

    #[test]
    fn a_second_writer_is_told_who_holds_the_data_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::resolve(Some(tmp.path().to_path_buf())).unwrap();
        let held = dir.lock_for_writing().unwrap();
        let err = dir.lock_for_writing().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "Keyhold is already running (pid {}) with the data dir {}. Quit it first, or use another --data-dir.",
                std::process::id(),
                tmp.path().display()
            )
        );
        drop(held);
        assert!(dir.lock_for_writing().is_ok(), "the lock is free once its holder is gone");
    }
}
