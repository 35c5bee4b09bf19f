//! What can go wrong with the workspace, each with its kind for the fronts.

use crate::datadir::DataDirError;
use crate::db::DbError;
use crate::error::{ErrorKind, Kinded};
use crate::integrity::Tampered;
use crate::keys::KeyError;
use crate::passphrase;
use crate::vault::VaultError;

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("Keyhold is locked. Unlock it with your passphrase first.")]
    Locked,
    #[error("Keyhold's configuration was changed outside Keyhold since it last saved it: {}. Nothing is sent until this is resolved: re-save or remove the named items in Keyhold, or, if you made these changes yourself, accept the database as it is with `keyhold vault check --accept`.", lines.join("; "))]
    ConfigurationChanged { lines: Vec<String> },
    #[error("Keyhold is already unlocked.")]
    AlreadyUnlocked,
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Agents(#[from] crate::agents::AgentError),
    #[error(transparent)]
    Prices(#[from] crate::prices::PriceError),
    #[error(transparent)]
    Dictionary(#[from] crate::privacy::dictionary::DictionaryError),
    #[error(transparent)]
    Outbound(#[from] crate::privacy::outbound::OutboundError),
    #[error(transparent)]
    Region(#[from] crate::privacy::region::RegionError),
    #[error(transparent)]
    Conversation(#[from] crate::conversations::ConversationError),
    #[error("{}", changed_sentence(.0))]
    Changed(Vec<Tampered>),
    #[error("Turning offline mode off needs the passphrase: unlock Keyhold first. (Turning it on never does.)")]
    OfflineOffNeedsUnlock,
    #[error("Could not save {what} in Keyhold's database: {source}")]
    Save { what: &'static str, source: rusqlite::Error },
    #[error("Could not listen on 127.0.0.1:{port}: {detail}. Choose another port.")]
    Listen { port: u16, detail: String },
    #[error("\"{0}\" is not an origin: give scheme, host and port only, like http://localhost:5173.")]
    BadOrigin(String),
    #[error(transparent)]
    Usage(#[from] crate::usage::UsageError),
    #[error(transparent)]
    Sealing(crate::sealing::SealingError),
    #[error(transparent)]
    Export(#[from] crate::usage::ExportError),
}

fn changed_sentence(list: &[Tampered]) -> String {
    list.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
}

impl From<crate::sealing::SealingError> for WorkspaceError {
    fn from(e: crate::sealing::SealingError) -> Self {
        // A record changed outside Keyhold reads the same wherever it was found.
        match e {
            crate::sealing::SealingError::Changed(bad) => WorkspaceError::Changed(bad),
            other => WorkspaceError::Sealing(other),
        }
    }
}

impl From<Tampered> for WorkspaceError {
    fn from(t: Tampered) -> Self {
        WorkspaceError::Changed(vec![t])
    }
}

impl From<passphrase::PassphraseError> for WorkspaceError {
    fn from(e: passphrase::PassphraseError) -> Self {
        WorkspaceError::Vault(e.into())
    }
}

impl Kinded for WorkspaceError {
    fn kind(&self) -> ErrorKind {
        match self {
            WorkspaceError::Vault(v) => v.kind(),
            WorkspaceError::DataDir(d) => d.kind(),
            WorkspaceError::Db(_) | WorkspaceError::Save { .. } => ErrorKind::Database,
            WorkspaceError::Locked => ErrorKind::Locked,
            WorkspaceError::AlreadyUnlocked => ErrorKind::AlreadyUnlocked,
            WorkspaceError::Agents(a) => a.kind(),
            WorkspaceError::Keys(k) => k.kind(),
            WorkspaceError::Prices(p) => p.kind(),
            WorkspaceError::Dictionary(d) => d.kind(),
            WorkspaceError::Outbound(o) => o.kind(),
            WorkspaceError::Region(r) => r.kind(),
            WorkspaceError::Conversation(c) => c.kind(),
            WorkspaceError::Changed(_) | WorkspaceError::ConfigurationChanged { .. } => {
                ErrorKind::ChangedOutsideKeyhold
            }
            WorkspaceError::OfflineOffNeedsUnlock => ErrorKind::Locked,
            WorkspaceError::Listen { .. } => ErrorKind::Proxy,
            WorkspaceError::BadOrigin(_) => ErrorKind::BadOrigin,
            WorkspaceError::Usage(e) => e.kind(),
            WorkspaceError::Sealing(e) => e.kind(),
            WorkspaceError::Export(e) => e.kind(),
        }
    }
}
