//! Start at login, the freedesktop way: a `.desktop` file in `$XDG_CONFIG_HOME/autostart`.
//!
//! Kept by hand on purpose: tauri-plugin-autostart 2.7 (auto-launch 0.6) always writes to
//! `$HOME/.config/autostart`, ignoring `XDG_CONFIG_HOME`, and leaves the `Exec=` path unquoted,
//! so a program path with a space does not start. The spec asks for both.

use std::path::PathBuf;

fn file() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".config"),
    };
    Some(base.join("autostart").join("keyhold.desktop"))
}

pub fn enabled() -> bool {
    file().is_some_and(|f| f.exists())
}

#[derive(Debug, thiserror::Error)]
pub enum AutostartError {
    #[error("There is no home folder to write the autostart entry in.")]
    NoHome,
    #[error("Could not find Keyhold's own program: {0}")]
    NoProgram(std::io::Error),
    #[error("Could not {what} {path}: {source}")]
    File { what: &'static str, path: PathBuf, source: std::io::Error },
}

impl crate::error::Kinded for AutostartError {
    fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::Autostart
    }
}

/// Writes or removes the autostart entry for the running binary.
pub fn set(on: bool) -> Result<(), AutostartError> {
    let path = file().ok_or(AutostartError::NoHome)?;
    let failed = |what, path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| AutostartError::File { what, path, source }
    };
    if !on {
        return match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(failed("remove", &path)(e)),
        };
    }
    let exe = std::env::current_exe().map_err(AutostartError::NoProgram)?;
    let entry = format!(
        "[Desktop Entry]\nType=Application\nName=Keyhold\nComment=Your own AI keys, in an encrypted vault\nExec=\"{}\"\nIcon=keyhold\nTerminal=false\nX-GNOME-Autostart-enabled=true\n",
        exe.display()
    );
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(failed("create", dir))?;
    }
    std::fs::write(&path, entry).map_err(failed("write", &path))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_autostart_entry_is_written_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        // Only this test reads XDG_CONFIG_HOME.
        std::env::set_var("XDG_CONFIG_HOME", dir.path());
        super::set(true).unwrap();
        assert!(super::enabled());
        let text = std::fs::read_to_string(dir.path().join("autostart/keyhold.desktop")).unwrap();
        assert!(text.contains("Exec=") && text.contains("Name=Keyhold"));
        super::set(false).unwrap();
        assert!(!super::enabled());
        super::set(false).unwrap();
    }
}
