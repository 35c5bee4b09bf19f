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

/// Writes or removes the autostart entry for the running binary.
pub fn set(on: bool) -> Result<(), String> {
    let path = file().ok_or("no home directory to write the autostart entry in")?;
    if !on {
        return match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("Could not remove {}: {e}", path.display())),
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("Could not find Keyhold's own program: {e}"))?;
    let entry = format!(
        "[Desktop Entry]\nType=Application\nName=Keyhold\nComment=Your own AI keys, in an encrypted vault\nExec=\"{}\"\nIcon=keyhold\nTerminal=false\nX-GNOME-Autostart-enabled=true\n",
        exe.display()
    );
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("Could not create {}: {e}", dir.display()))?;
    }
    std::fs::write(&path, entry).map_err(|e| format!("Could not write {}: {e}", path.display()))
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
