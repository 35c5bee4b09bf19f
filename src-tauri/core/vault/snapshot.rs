//! The Stronghold snapshot that holds the workspace master secret.

use std::path::Path;

use iota_stronghold::{KeyProvider, SnapshotPath, Stronghold};
use zeroize::Zeroizing;

use super::kdf::VaultKey;
use crate::seal::MasterSecret;

const CLIENT_PATH: &[u8] = b"keyhold";
const MASTER_RECORD: &[u8] = b"workspace-master-secret/v1";

/// Why a snapshot could not be read. Stronghold reports most failures as text; none of it
/// contains secrets (it never sees the passphrase, only the derived key, which it does not print).
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{0}")]
    Unreadable(String),
    #[error("it opened but holds no Keyhold master secret")]
    NoMasterSecret,
}

fn key_provider(key: &VaultKey) -> Result<KeyProvider, SnapshotError> {
    KeyProvider::try_from(Zeroizing::new(key.to_vec())).map_err(|e| SnapshotError::Unreadable(e.to_string()))
}

/// Writes a new snapshot holding `master`, encrypted under `key`. Stronghold writes to a sibling
/// temporary file and renames it over `path`, so an interrupted write leaves the old file whole.
pub fn write(path: &Path, key: &VaultKey, master: &MasterSecret) -> Result<(), SnapshotError> {
    let stronghold = Stronghold::default();
    let client = stronghold.create_client(CLIENT_PATH).map_err(|e| SnapshotError::Unreadable(e.to_string()))?;
    client
        .store()
        .insert(MASTER_RECORD.to_vec(), master.expose().to_vec(), None)
        .map_err(|e| SnapshotError::Unreadable(e.to_string()))?;
    stronghold
        .commit_with_keyprovider(&SnapshotPath::from_path(path), &key_provider(key)?)
        .map_err(|e| SnapshotError::Unreadable(e.to_string()))
}

/// Reads the master secret back. Only this function ever sees it leave Stronghold.
pub fn read(path: &Path, key: &VaultKey) -> Result<MasterSecret, SnapshotError> {
    let stronghold = Stronghold::default();
    let client = stronghold
        .load_client_from_snapshot(CLIENT_PATH, &key_provider(key)?, &SnapshotPath::from_path(path))
        .map_err(|e| SnapshotError::Unreadable(e.to_string()))?;
    let bytes = Zeroizing::new(
        client
            .store()
            .get(MASTER_RECORD)
            .map_err(|e| SnapshotError::Unreadable(e.to_string()))?
            .ok_or(SnapshotError::NoMasterSecret)?,
    );
    MasterSecret::from_slice(&bytes).ok_or(SnapshotError::NoMasterSecret)
}

/// Lowers Stronghold's own scrypt cost for unit tests, which create many vaults. Production keeps
/// Stronghold's default: the snapshot key is already Argon2id-stretched, the scrypt layer is extra.
#[cfg(any(test, feature = "test-support"))]
pub fn use_fast_encryption_for_tests() {
    let _ = iota_stronghold::engine::snapshot::try_set_encrypt_work_factor(1);
}
