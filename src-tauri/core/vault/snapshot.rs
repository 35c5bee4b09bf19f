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
    /// Read back: the snapshot was written with the old second stretch and should be rewritten.
    pub stretched: bool,
    /// The configuration manifest (`crate::manifest`): which signed records exist and their
    /// tags, where a database edit cannot reach it. None in snapshots written before it.
    pub manifest: Option<Vec<u8>>,
    /// The ledger's mark (`ledger::chain::Mark`): the last chained row Keyhold wrote, so rows
    /// deleted from the end of the ledger are seen. None in snapshots written before it.
    pub ledger: Option<Vec<u8>>,
}

const PENDING_RECORD: &[u8] = b"workspace-master-secret/pending";
const CONFIG_RECORD: &[u8] = b"config-integrity/v1";
/// Present in snapshots written without the second stretch (see [`SNAPSHOT_WORK_FACTOR`]).
const FORMAT_RECORD: &[u8] = b"snapshot-format/unstretched-v2";
const MANIFEST_RECORD: &[u8] = b"config-manifest/v1";
const LEDGER_RECORD: &[u8] = b"ledger-mark/v1";

/// The work factor of Stronghold's own age/scrypt layer when it writes a snapshot: none. The
/// snapshot key is already Argon2id-stretched (128 MiB, 7 passes) from the passphrase into 256
/// bits; stretching those 256 bits again with scrypt (age's default, 2^18 and 256 MiB here)
/// adds a second of time and half a gigabyte of memory to every unlock and no resistance to
/// guessing: a guess is tested against the header's check value at Argon2id's cost alone,
/// never against the snapshot. Stronghold's documentation of
/// `encrypt_content_with_work_factor` says keys made strong before they reach it can use zero.
/// Snapshots written with the old factor still open (decryption accepts up to age's
/// recommended maximum) and are rewritten at this one by the next unlock.
pub const SNAPSHOT_WORK_FACTOR: u8 = 0;

/// Writes a new snapshot holding `contents`, encrypted under `key`. Stronghold writes to a sibling
/// temporary file and renames it over `path`, so an interrupted write leaves the old file whole.
pub fn write(path: &Path, key: &VaultKey, contents: &Contents) -> Result<(), SnapshotError> {
    write_with_work_factor(path, key, contents, SNAPSHOT_WORK_FACTOR)
}

/// [`write`] at a chosen work factor (tests write the old format with it).
pub fn write_with_work_factor(
    path: &Path,
    key: &VaultKey,
    contents: &Contents,
    work_factor: u8,
) -> Result<(), SnapshotError> {
    // Stronghold reads its encryption work factor from a process-wide setting.
    iota_stronghold::engine::snapshot::try_set_encrypt_work_factor(work_factor)
        .map_err(|e| SnapshotError::Unreadable(e.to_string()))?;
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
    if work_factor == SNAPSHOT_WORK_FACTOR {
        put(FORMAT_RECORD, vec![1])?;
    }
    if let Some(m) = &contents.manifest {
        put(MANIFEST_RECORD, m.clone())?;
    }
    if let Some(m) = &contents.ledger {
        put(LEDGER_RECORD, m.clone())?;
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
    let stretched = get(FORMAT_RECORD)?.is_none();
    let manifest = get(MANIFEST_RECORD)?.map(|m| m.to_vec());
    let ledger = get(LEDGER_RECORD)?.map(|m| m.to_vec());
    Ok(Contents { master, pending, token_key, stretched, manifest, ledger })
}

/// Kept for the tests that call it: snapshots are written without a second stretch everywhere
/// now (see [`SNAPSHOT_WORK_FACTOR`]), so there is nothing left to lower.
#[cfg(any(test, feature = "test-support"))]
pub fn use_fast_encryption_for_tests() {}
