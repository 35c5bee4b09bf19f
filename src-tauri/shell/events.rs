//! Events the core's state changes become for the window.

use serde::{Deserialize, Serialize};
use specta::Type;

use keyhold_core::workspace::VaultStatus;

/// The vault was created, unlocked or locked (from the window, the tray, or a timer).
#[derive(Debug, Clone, Serialize, Deserialize, Type, tauri_specta::Event)]
pub struct VaultChanged {
    pub status: VaultStatus,
}

/// A piece of an agent's answer, as it arrives (agent mode).
#[derive(Debug, Clone, Serialize, Deserialize, Type, tauri_specta::Event)]
pub struct ChatDelta {
    pub chat_id: String,
    pub text: String,
}

/// The ledger got a row: usage views refresh.
#[derive(Debug, Clone, Serialize, Deserialize, Type, tauri_specta::Event)]
pub struct LedgerChanged {
    pub revision: u32,
}

/// Keys, agents, tokens, prices or settings may have changed outside the window (a command from a
/// terminal, run by the app): the open page reads them again.
#[derive(Debug, Clone, Serialize, Deserialize, Type, tauri_specta::Event)]
pub struct ConfigurationChanged {
    pub revision: u32,
}

/// The local Ollama was looked at.
#[derive(Debug, Clone, Serialize, Type, tauri_specta::Event)]
pub struct OllamaChanged {
    pub status: keyhold_core::ollama::OllamaStatus,
}

/// Offline mode was switched (from the window, the tray, or the CLI).
#[derive(Debug, Clone, Serialize, Deserialize, Type, tauri_specta::Event)]
pub struct OfflineChanged {
    pub on: bool,
}

/// A passphrase change or master-secret rotation started its next step (each takes about a
/// second): the Vault page's progress line.
#[derive(Debug, Clone, Serialize, Deserialize, Type, tauri_specta::Event)]
pub struct PassphraseProgress {
    /// 1-based.
    pub step: u32,
    pub of: u32,
    pub words: String,
}

/// A model pull moved on (Local models page's progress bar).
#[derive(Debug, Clone, Serialize, Type, tauri_specta::Event)]
pub struct OllamaPull {
    pub progress: keyhold_core::ollama::PullProgress,
}

/// Something asked from the tray could not be done (the proxy's port taken, offline mode turned
/// off while locked): the window opens and says why, in the words a command's error uses.
#[derive(Debug, Clone, Serialize, Type, tauri_specta::Event)]
pub struct TrayFailed {
    /// What the user asked for ("Turning the proxy on").
    pub action: String,
    pub error: crate::shell::error::CommandError,
}
