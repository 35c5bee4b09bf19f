//! The one list of what can go wrong, as a type: every error in the core says which kind it is,
//! the window gets the kind with the message (exported to TypeScript, so the UI switches on it
//! exhaustively), and `keyhold --json` prints it. Each kind is written in snake_case
//! (`wrong_passphrase`), the same text scripts already read.

use serde::{Deserialize, Serialize};
use specta::Type;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    // The vault and the data dir.
    /// First run: there is no vault yet.
    NoVault,
    VaultExists,
    WrongPassphrase,
    /// A new passphrase that is refused (too short, not confirmed).
    BadPassphrase,
    /// The snapshot or header is damaged; left as it was.
    VaultDamaged,
    /// One of the vault's two files is missing.
    VaultIncomplete,
    /// A passphrase change was interrupted.
    InterruptedChange,
    WriteFailed,
    /// Another process writes this data dir.
    AlreadyRunning,
    DataDir,
    Database,
    Locked,
    AlreadyUnlocked,
    // Keys.
    KeyNotFound,
    /// A key row was changed outside Keyhold and does not open.
    KeyTampered,
    KeyInactive,
    BadKeyInput,
    /// A protected record (a key's address, an agent, a token, prices, a setting) does not carry
    /// its tag: it was changed outside Keyhold, and is not used.
    ChangedOutsideKeyhold,
    KeyTestFailed,
    // Agents, prices, usage.
    AgentNotFound,
    BadAgentInput,
    BadPrice,
    BadRange,
    // A model call.
    EmptyPrompt,
    BudgetReached,
    AllStepsFailed,
    /// The provider refused the request itself.
    Refused,
    StreamBroken,
    OfflineNoLocal,
    /// The agent's privacy policy is `block` and the request held something it hides.
    PrivacyBlocked,
    // The desktop and the command line.
    Autostart,
    Export,
    Window,
    Proxy,
    /// A browser origin that is not scheme, host and port.
    BadOrigin,
    OllamaUnavailable,
    /// The command line could not read its input.
    Input,
    NoPassphrase,
    /// A command used the wrong way.
    Usage,
    Cancelled,
    /// A fault in Keyhold itself.
    Internal,
}

impl std::fmt::Display for ErrorKind {
    /// The kind as scripts read it (`wrong_passphrase`): serde's spelling, so there is one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = serde_json::to_value(self).map_err(|_| std::fmt::Error)?;
        f.write_str(v.as_str().ok_or(std::fmt::Error)?)
    }
}

/// An error that knows its kind.
pub trait Kinded: std::error::Error {
    fn kind(&self) -> ErrorKind;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_reads_as_scripts_expect() {
        assert_eq!(ErrorKind::WrongPassphrase.to_string(), "wrong_passphrase");
        assert_eq!(ErrorKind::OllamaUnavailable.to_string(), "ollama_unavailable");
    }
}
