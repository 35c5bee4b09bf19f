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

/// What a snapshot holds: the master secret; during a master-secret rotation, the next one; and
/// the proxy-token key, whose presence also says that the configuration in the database is
/// authenticated under the master (see [`crate::integrity`]). That mark lives here, under the
/// passphrase, and not in the database, so deleting something from the database cannot make
/// Keyhold adopt rows it never wrote.
pub struct Contents {
    pub master: MasterSecret,
    pub pending: Option<MasterSecret>,
    pub token_key: Option<MasterSecret>,
}

const PENDING_RECORD: &[u8] = b"workspace-master-secret/pending";
const CONFIG_RECORD: &[u8] = b"config-integrity/v1";

/// Writes a new snapshot holding `contents`, encrypted under `key`. Stronghold writes to a sibling
/// temporary file and renames it over `path`, so an interrupted write leaves the old file whole.
pub fn write(path: &Path, key: &VaultKey, contents: &Contents) -> Result<(), SnapshotError> {
    let stronghold = Stronghold::default();
    let client = stronghold.create_client(CLIENT_PATH).map_err(|e| SnapshotError::Unreadable(e.to_string()))?;
    let store = client.store();
    let put =
        |k: &[u8], v: Vec<u8>| store.insert(k.to_vec(), v, None).map_err(|e| SnapshotError::Unreadable(e.to_string()));
    put(MASTER_RECORD, contents.master.expose().to_vec())?;
    if let Some(p) = &contents.pending {
        put(PENDING_RECORD, p.expose().to_vec())?;
    }
    if let Some(t) = &contents.token_key {
        put(CONFIG_RECORD, t.expose().to_vec())?;
    }
    stronghold
        .commit_with_keyprovider(&SnapshotPath::from_path(path), &key_provider(key)?)
        .map_err(|e| SnapshotError::Unreadable(e.to_string()))
}

/// Reads the contents back. Only this function ever sees a master secret leave Stronghold.
pub fn read(path: &Path, key: &VaultKey) -> Result<Contents, SnapshotError> {
    let stronghold = Stronghold::default();
    let client = stronghold
        .load_client_from_snapshot(CLIENT_PATH, &key_provider(key)?, &SnapshotPath::from_path(path))
        .map_err(|e| SnapshotError::Unreadable(e.to_string()))?;
    let store = client.store();
    let get =
        |k: &[u8]| store.get(k).map(|v| v.map(Zeroizing::new)).map_err(|e| SnapshotError::Unreadable(e.to_string()));
    let bytes = get(MASTER_RECORD)?.ok_or(SnapshotError::NoMasterSecret)?;
    let master = MasterSecret::from_slice(&bytes).ok_or(SnapshotError::NoMasterSecret)?;
    let pending = match get(PENDING_RECORD)? {
        Some(b) => Some(MasterSecret::from_slice(&b).ok_or(SnapshotError::NoMasterSecret)?),
        None => None,
    };
    let token_key = match get(CONFIG_RECORD)? {
        Some(b) => Some(MasterSecret::from_slice(&b).ok_or(SnapshotError::NoMasterSecret)?),
        None => None,
    };
    Ok(Contents { master, pending, token_key })
}

/// Lowers Stronghold's own scrypt cost for unit tests, which create many vaults. Production keeps
/// Stronghold's default: the snapshot key is already Argon2id-stretched, the scrypt layer is extra.
#[cfg(any(test, feature = "test-support"))]
pub fn use_fast_encryption_for_tests() {
    let _ = iota_stronghold::engine::snapshot::try_set_encrypt_work_factor(1);
}
