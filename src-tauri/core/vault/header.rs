//! `vault.header.json`: what is needed before the snapshot can be opened (Argon2id salt and
//! cost, and a check value), kept beside the snapshot because it cannot live inside it.
//!
//! A header holds one key slot, or two while a passphrase change is under way: the new slot is
//! written (marked pending) before the snapshot is replaced, and the old one removed after. A
//! crash at any point leaves a header and snapshot that one of the two passphrases opens.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::{Deserialize, Serialize};

use super::kdf::KdfParams;

const FORMAT: &str = "keyhold-vault-header";
const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Slot {
    pub kdf: String,
    #[serde(flatten)]
    pub params: KdfParams,
    #[serde(with = "b64")]
    pub salt: Vec<u8>,
    #[serde(with = "b64")]
    pub check: Vec<u8>,
    /// True while this slot's snapshot may not have been written yet.
    #[serde(default)]
    pub pending: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub slots: Vec<Slot>,
}

impl Header {
    pub fn new(slots: Vec<Slot>) -> Self {
        Header { format: FORMAT.into(), version: VERSION, slots }
    }

    pub fn read(path: &Path) -> Result<Header, HeaderError> {
        let bytes = std::fs::read(path).map_err(|source| HeaderError::Io { path: path.into(), source })?;
        let header: Header = serde_json::from_slice(&bytes)
            .map_err(|e| HeaderError::Malformed { path: path.into(), detail: e.to_string() })?;
        if header.format != FORMAT {
            return Err(HeaderError::Malformed { path: path.into(), detail: "not a Keyhold vault header".into() });
        }
        if header.version != VERSION {
            return Err(HeaderError::Malformed {
                path: path.into(),
                detail: format!("version {} is not known to this Keyhold (expects {VERSION})", header.version),
            });
        }
        if header.slots.is_empty() || header.slots.len() > 2 || header.slots.iter().any(|s| s.kdf != "argon2id") {
            return Err(HeaderError::Malformed { path: path.into(), detail: "no usable key slot".into() });
        }
        Ok(header)
    }

    /// Writes through a temporary file, fsync and rename, so the header on disk is always whole.
    pub fn write(&self, path: &Path) -> Result<(), HeaderError> {
        let json = serde_json::to_vec_pretty(self).expect("a header serializes");
        write_atomically(path, &json).map_err(|source| HeaderError::Io { path: path.into(), source })
    }
}

pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = tmp_path(path);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            // Persist the rename itself; failure here only weakens durability, not correctness.
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".tmp");
    PathBuf::from(s)
}

#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("could not read or write the vault header {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the vault header {path} is damaged ({detail})")]
    Malformed { path: PathBuf, detail: String },
}

mod b64 {
    use super::*;
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(v))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        B64.decode(s.as_bytes()).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot() -> Slot {
        Slot {
            kdf: "argon2id".into(),
            params: KdfParams::DEFAULT,
            salt: vec![1; 16],
            check: vec![2; 32],
            pending: false,
        }
    }

    #[test]
    fn a_header_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.header.json");
        let h = Header::new(vec![slot()]);
        h.write(&path).unwrap();
        assert_eq!(Header::read(&path).unwrap(), h);
        assert!(!tmp_path(&path).exists());
    }

    #[test]
    fn damaged_headers_are_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.header.json");
        for bad in [&b"{\"format\":"[..], b"{}", b"{\"format\":\"other\",\"version\":1,\"slots\":[]}", b""] {
            std::fs::write(&path, bad).unwrap();
            let err = Header::read(&path).unwrap_err();
            assert!(matches!(err, HeaderError::Malformed { .. }), "{err}");
        }
        let mut h = Header::new(vec![slot()]);
        h.version = 9;
        h.write(&path).unwrap();
        assert!(Header::read(&path).unwrap_err().to_string().contains("version 9"));
    }
}
