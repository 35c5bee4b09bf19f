//! The vault: a Stronghold snapshot holding the workspace master secret, opened by a passphrase.
//!
//! Files, both in the data dir:
//! - `vault.stronghold`: the snapshot, encrypted under a key derived from the passphrase.
//! - `vault.header.json`: the Argon2id salt and cost, and a check value (see [`kdf`]).
//!
//! Nothing here ever replaces an existing vault: a wrong passphrase, a damaged header or a
//! damaged snapshot is reported and the files are left exactly as they were.

pub mod header;
pub mod kdf;
pub mod snapshot;

use std::path::{Path, PathBuf};

use rand::RngCore;

use crate::passphrase::{self, Passphrase, PassphraseError};
use crate::seal::MasterSecret;
use header::{Header, HeaderError, Slot};
use kdf::{KdfParams, VaultKey};
pub use snapshot::Contents;

pub const SNAPSHOT_FILE: &str = "vault.stronghold";
pub const HEADER_FILE: &str = "vault.header.json";

#[derive(Debug, Clone)]
pub struct VaultPaths {
    pub snapshot: PathBuf,
    pub header: PathBuf,
}

impl VaultPaths {
    pub fn in_dir(dir: &Path) -> Self {
        VaultPaths { snapshot: dir.join(SNAPSHOT_FILE), header: dir.join(HEADER_FILE) }
    }

    /// Whether a vault has been created here (both files, or either: a half vault is still not
    /// "no vault", and must not be offered a first-run screen that would overwrite it).
    pub fn exists(&self) -> bool {
        self.snapshot.exists() || self.header.exists()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("No vault has been created in {dir} yet. Run `keyhold vault init`, or open Keyhold to create one.")]
    NotCreated { dir: PathBuf },
    #[error(
        "A vault already exists in {dir}. Keyhold never overwrites a vault; unlock it, or choose another --data-dir."
    )]
    AlreadyExists { dir: PathBuf },
    #[error("Wrong passphrase. The vault stays locked and nothing was changed.")]
    WrongPassphrase,
    /// A wrong passphrase given to confirm a change while the vault is open: it stays open.
    #[error("That is not the vault's current passphrase. Nothing was changed.")]
    NotTheCurrentPassphrase,
    #[error("The vault file {path} is damaged or truncated and cannot be opened ({detail}). It was left untouched: restore it from a backup.")]
    CorruptSnapshot { path: PathBuf, detail: String },
    #[error("The vault file {path} is missing, but its header is present. Restore {path} from a backup; Keyhold will not create a new vault over the old one.")]
    SnapshotMissing { path: PathBuf },
    #[error("The vault header {path} is missing, but the vault file is present. Restore {path} from a backup.")]
    HeaderMissing { path: PathBuf },
    #[error("A passphrase change was interrupted before it finished. The vault opens with the {which} passphrase; nothing was lost.")]
    InterruptedChange { which: &'static str },
    #[error(transparent)]
    Header(#[from] HeaderError),
    #[error(transparent)]
    Passphrase(#[from] PassphraseError),
    #[error("Could not write the vault file {path}: {detail}. The previous vault file, if any, is unchanged.")]
    WriteFailed { path: PathBuf, detail: String },
}

impl crate::error::Kinded for VaultError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            VaultError::NotCreated { .. } => ErrorKind::NoVault,
            VaultError::AlreadyExists { .. } => ErrorKind::VaultExists,
            VaultError::WrongPassphrase | VaultError::NotTheCurrentPassphrase => ErrorKind::WrongPassphrase,
            VaultError::CorruptSnapshot { .. } | VaultError::Header(_) => ErrorKind::VaultDamaged,
            VaultError::SnapshotMissing { .. } | VaultError::HeaderMissing { .. } => ErrorKind::VaultIncomplete,
            VaultError::InterruptedChange { .. } => ErrorKind::InterruptedChange,
            VaultError::Passphrase(_) => ErrorKind::BadPassphrase,
            VaultError::WriteFailed { .. } => ErrorKind::WriteFailed,
        }
    }
}

/// A freshly opened vault. `settled_header` is set when an interrupted passphrase change was
/// found; whoever holds the data dir's writer lock writes it to finish the change. `key` is the
/// snapshot key the passphrase derived, kept (zeroizing) so the holder of the writer lock can
/// rewrite the snapshot without asking again (marking the configuration sealed, finishing a
/// master-secret rotation).
pub struct Opened {
    pub contents: Contents,
    pub settled_header: Option<Header>,
    pub key: VaultKey,
}

impl Opened {
    pub fn master(&self) -> &MasterSecret {
        &self.contents.master
    }
}

pub(crate) fn new_slot(passphrase: &Passphrase, params: KdfParams) -> Result<(Slot, VaultKey), VaultError> {
    let mut salt = vec![0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let key = kdf::derive(passphrase, &salt, params)
        .map_err(|e| HeaderError::Malformed { path: PathBuf::from(HEADER_FILE), detail: e.to_string() })?;
    let slot = Slot { kdf: "argon2id".into(), params, check: kdf::check_value(&key).to_vec(), salt, pending: false };
    Ok((slot, key))
}

/// Creates a new vault with a fresh master secret. Refuses if any vault file exists.
pub fn create(paths: &VaultPaths, passphrase: &Passphrase, params: KdfParams) -> Result<Opened, VaultError> {
    passphrase::check_new(passphrase, None)?;
    if paths.exists() {
        return Err(VaultError::AlreadyExists { dir: parent(&paths.snapshot) });
    }
    let (slot, key) = new_slot(passphrase, params)?;
    let master = MasterSecret::generate();
    // A new vault's configuration is authenticated from the first row on.
    let contents = Contents {
        master,
        pending: None,
        token_key: Some(MasterSecret::generate()),
        stretched: false,
        manifest: None,
        ledger: None,
    };
    write_snapshot(&paths.snapshot, &key, &contents)?;
    if let Err(e) = Header::new(vec![slot]).write(&paths.header) {
        // The snapshot we just wrote is useless without its header and holds nothing yet.
        let _ = std::fs::remove_file(&paths.snapshot);
        return Err(e.into());
    }
    Ok(Opened { contents, settled_header: None, key })
}

/// Opens the vault with a passphrase. Reads only; never writes.
pub fn open(paths: &VaultPaths, passphrase: &Passphrase) -> Result<Opened, VaultError> {
    match (paths.header.exists(), paths.snapshot.exists()) {
        (false, false) => return Err(VaultError::NotCreated { dir: parent(&paths.snapshot) }),
        (false, true) => return Err(VaultError::HeaderMissing { path: paths.header.clone() }),
        (true, false) => return Err(VaultError::SnapshotMissing { path: paths.snapshot.clone() }),
        (true, true) => {}
    }
    let header = Header::read(&paths.header)?;
    let mut matched = None;
    for (i, slot) in header.slots.iter().enumerate() {
        let key = kdf::derive(passphrase, &slot.salt, slot.params)
            .map_err(|e| HeaderError::Malformed { path: paths.header.clone(), detail: e.to_string() })?;
        if kdf::check_matches(&key, &slot.check) {
            matched = Some((i, key));
            break;
        }
    }
    let (index, key) = matched.ok_or(VaultError::WrongPassphrase)?;
    match snapshot::read(&paths.snapshot, &key) {
        Ok(contents) => {
            let settled_header = (header.slots.len() > 1).then(|| {
                let mut slot = header.slots[index].clone();
                slot.pending = false;
                Header::new(vec![slot])
            });
            Ok(Opened { contents, settled_header, key })
        }
        Err(_) if header.slots.len() > 1 => {
            Err(VaultError::InterruptedChange { which: if index == 0 { "previous" } else { "new" } })
        }
        Err(e) => Err(VaultError::CorruptSnapshot { path: paths.snapshot.clone(), detail: e.to_string() }),
    }
}

/// Changes the passphrase: re-encrypts the snapshot only; the master secret, and so every sealed
/// row, stays the same. Crash-safe through the header's pending slot.
/// Opens the vault to confirm a change asked for while it is open (a passphrase change, a
/// rotation, a terminal's command): a wrong passphrase says so without claiming it "stays locked".
pub fn open_to_confirm(paths: &VaultPaths, passphrase: &Passphrase) -> Result<Opened, VaultError> {
    open(paths, passphrase).map_err(|e| match e {
        VaultError::WrongPassphrase => VaultError::NotTheCurrentPassphrase,
        e => e,
    })
}

pub fn change_passphrase(
    paths: &VaultPaths,
    old: &Passphrase,
    new: &Passphrase,
    params: KdfParams,
) -> Result<VaultKey, VaultError> {
    change_passphrase_reporting(paths, old, new, params, &|_| {})
}

/// A step of a long vault operation (each takes about a second: a key derivation, a snapshot
/// written), for the window's progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum VaultStep {
    /// The current passphrase is checked (a key derivation and the snapshot read).
    CheckingPassphrase,
    /// The snapshot is sealed again under the new passphrase (a key derivation and a write).
    SealingUnderNewPassphrase,
    /// A new master secret is written into the snapshot beside the old one.
    WritingNewSecret,
    /// Every sealed key, conversation and signed record moves to the new secret.
    ResealingRecords,
    /// The snapshot keeps the new secret only.
    RetiringOldSecret,
}

impl VaultStep {
    /// How many steps a passphrase change says ([`change_passphrase_reporting`]).
    pub const IN_A_CHANGE: u32 = 2;
    /// How many steps a master-secret rotation says (`Workspace::rotate_master_reporting`).
    pub const IN_A_ROTATION: u32 = 4;

    pub fn words(self) -> &'static str {
        match self {
            VaultStep::CheckingPassphrase => "Checking the current passphrase",
            VaultStep::SealingUnderNewPassphrase => "Sealing the vault under the new passphrase",
            VaultStep::WritingNewSecret => "Writing a new master secret beside the old one",
            VaultStep::ResealingRecords => "Sealing your keys, conversations and records again under it",
            VaultStep::RetiringOldSecret => "Retiring the old master secret",
        }
    }
}

/// [`change_passphrase`], saying each step as it starts.
pub fn change_passphrase_reporting(
    paths: &VaultPaths,
    old: &Passphrase,
    new: &Passphrase,
    params: KdfParams,
    progress: &dyn Fn(VaultStep),
) -> Result<VaultKey, VaultError> {
    passphrase::check_new(new, None)?;
    if old.expose() == new.expose() {
        return Err(PassphraseError::Unchanged.into());
    }
    progress(VaultStep::CheckingPassphrase);
    let opened = open_to_confirm(paths, old)?;
    let current = Header::read(&paths.header)?;
    let old_slot = match opened.settled_header {
        Some(h) => h.slots[0].clone(),
        None => current.slots[0].clone(),
    };
    progress(VaultStep::SealingUnderNewPassphrase);
    let (mut slot, key) = new_slot(new, params)?;
    slot.pending = true;
    Header::new(vec![slot.clone(), old_slot]).write(&paths.header)?;
    write_snapshot(&paths.snapshot, &key, &opened.contents)?;
    slot.pending = false;
    Header::new(vec![slot]).write(&paths.header)?;
    // The new snapshot key: whoever keeps the configuration manifest rewrites with it now.
    Ok(key)
}

/// Rewrites the snapshot in place under the same key (the same passphrase): to mark the
/// configuration sealed, or to move a master-secret rotation forward. Atomic (see
/// [`snapshot::write`]). Only the holder of the writer lock calls this.
pub fn rewrite(paths: &VaultPaths, key: &VaultKey, contents: &Contents) -> Result<(), VaultError> {
    write_snapshot(&paths.snapshot, key, contents)
}

fn write_snapshot(path: &Path, key: &VaultKey, contents: &Contents) -> Result<(), VaultError> {
    snapshot::write(path, key, contents)
        .map_err(|e| VaultError::WriteFailed { path: path.into(), detail: e.to_string() })
}

fn parent(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

#[cfg(test)]
mod tests;
