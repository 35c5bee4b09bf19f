//! Row sealing: how one secret (a provider key) is stored in a database row.
//!
//! Each row gets its own AES-256-GCM key, `HKDF-SHA256(master, row salt, "keyhold/provider-key/v1")`,
//! a random 96-bit nonce on every write, and the row's id and provider as associated data. So a
//! ciphertext copied into another row does not open, and a tampered row fails alone.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;
use zeroize::Zeroizing;

const ROW_KEY_INFO: &[u8] = b"keyhold/provider-key/v1";
pub const SALT_LEN: usize = 16;
pub const NONCE_LEN: usize = 12;

/// The workspace master secret: 256 random bits that live in the Stronghold vault and, while
/// Keyhold is unlocked, in this zeroizing box. Dropping it is what "locked" means.
pub struct MasterSecret(SecretBox<[u8; 32]>);

impl MasterSecret {
    pub fn generate() -> Self {
        let mut bytes = Box::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        MasterSecret(SecretBox::new(bytes))
    }

    /// Wraps bytes read back from the vault. Anything but 32 bytes means the vault is not ours.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(MasterSecret(SecretBox::new(Box::new(arr))))
    }

    pub(crate) fn expose(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }

    /// A second copy, for writing the same secret into a new snapshot. Deliberately not `Clone`:
    /// copies of a secret should be rare and visible.
    pub(crate) fn copy(&self) -> Self {
        MasterSecret(SecretBox::new(Box::new(*self.0.expose_secret())))
    }
}

impl std::fmt::Debug for MasterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterSecret([redacted])")
    }
}

/// What binds a ciphertext to its row. Both parts are authenticated, neither is secret.
#[derive(Debug, Clone, Copy)]
pub struct RowBinding<'a> {
    pub row_id: &'a str,
    pub provider: &'a str,
}

impl RowBinding<'_> {
    fn associated_data(&self) -> Vec<u8> {
        // Length-prefixed, so ("ab","c") and ("a","bc") cannot collide.
        let mut ad = Vec::with_capacity(16 + self.row_id.len() + self.provider.len());
        ad.extend_from_slice(b"keyhold/row/v1");
        for part in [self.row_id, self.provider] {
            ad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            ad.extend_from_slice(part.as_bytes());
        }
        ad
    }
}

/// A sealed secret as stored: three columns of one row.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub salt: [u8; SALT_LEN],
    pub nonce: [u8; NONCE_LEN],
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.ciphertext.len())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// Wrong row, wrong master secret, or changed bytes: AES-GCM cannot tell which, and neither
    /// should we guess. The caller names the row.
    #[error("the stored secret does not open: it was changed, moved from another row, or sealed under another vault")]
    DoesNotOpen,
    #[error("the stored secret is malformed ({0})")]
    Malformed(&'static str),
}

fn row_cipher(master: &MasterSecret, salt: &[u8; SALT_LEN]) -> Aes256Gcm {
    let hk = Hkdf::<Sha256>::new(Some(salt), master.expose());
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
    hk.expand(ROW_KEY_INFO, key.as_mut()).expect("32-byte HKDF output");
    Aes256Gcm::new_from_slice(key.as_ref()).expect("32-byte AES key")
}

/// Seals `plaintext` for one row, with a fresh salt and nonce every time.
pub fn seal(master: &MasterSecret, row: RowBinding<'_>, plaintext: &[u8]) -> Sealed {
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let aad = row.associated_data();
    let ciphertext = row_cipher(master, &salt)
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: &aad })
        .expect("AES-GCM encryption of an in-memory buffer does not fail");
    Sealed { salt, nonce, ciphertext }
}

/// Opens a sealed row into zeroizing memory, to be held only for the moment it is needed.
pub fn open(master: &MasterSecret, row: RowBinding<'_>, sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>, SealError> {
    if sealed.ciphertext.len() < 16 {
        return Err(SealError::Malformed("shorter than an authentication tag"));
    }
    let aad = row.associated_data();
    row_cipher(master, &sealed.salt)
        .decrypt(Nonce::from_slice(&sealed.nonce), Payload { msg: &sealed.ciphertext, aad: &aad })
        .map(Zeroizing::new)
        .map_err(|_| SealError::DoesNotOpen)
}

impl Sealed {
    /// Rebuilds from database columns, refusing wrong lengths instead of panicking.
    pub fn from_parts(salt: &[u8], nonce: &[u8], ciphertext: Vec<u8>) -> Result<Self, SealError> {
        Ok(Sealed {
            salt: salt.try_into().map_err(|_| SealError::Malformed("salt is not 16 bytes"))?,
            nonce: nonce.try_into().map_err(|_| SealError::Malformed("nonce is not 12 bytes"))?,
            ciphertext,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &[u8] = b"sk-ant-api03-CANARY-7f3e9b1c-do-not-leak";

    fn row<'a>(id: &'a str, provider: &'a str) -> RowBinding<'a> {
        RowBinding { row_id: id, provider }
    }

    #[test]
    fn a_sealed_secret_opens_in_its_own_row() {
        let m = MasterSecret::generate();
        let s = seal(&m, row("k1", "anthropic"), CANARY);
        assert_eq!(open(&m, row("k1", "anthropic"), &s).unwrap().as_slice(), CANARY);
        assert!(!s.ciphertext.windows(CANARY.len()).any(|w| w == CANARY));
    }

    #[test]
    fn every_write_gets_a_fresh_salt_and_nonce() {
        let m = MasterSecret::generate();
        let a = seal(&m, row("k1", "openai"), CANARY);
        let b = seal(&m, row("k1", "openai"), CANARY);
        assert_ne!(a.salt, b.salt);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn a_ciphertext_moved_to_another_row_or_provider_does_not_open() {
        let m = MasterSecret::generate();
        let s = seal(&m, row("k1", "openai"), CANARY);
        assert_eq!(open(&m, row("k2", "openai"), &s), Err(SealError::DoesNotOpen));
        assert_eq!(open(&m, row("k1", "anthropic"), &s), Err(SealError::DoesNotOpen));
        // the length prefix keeps id/provider boundaries apart
        assert_eq!(open(&m, row("k1o", "penai"), &s), Err(SealError::DoesNotOpen));
    }

    #[test]
    fn a_tampered_or_foreign_row_does_not_open() {
        let m = MasterSecret::generate();
        let s = seal(&m, row("k1", "openai"), CANARY);
        for i in [0, s.ciphertext.len() / 2, s.ciphertext.len() - 1] {
            let mut t = s.clone();
            t.ciphertext[i] ^= 0x01;
            assert_eq!(open(&m, row("k1", "openai"), &t), Err(SealError::DoesNotOpen), "byte {i}");
        }
        let mut t = s.clone();
        t.salt[0] ^= 1;
        assert_eq!(open(&m, row("k1", "openai"), &t), Err(SealError::DoesNotOpen));
        let mut t = s.clone();
        t.nonce[0] ^= 1;
        assert_eq!(open(&m, row("k1", "openai"), &t), Err(SealError::DoesNotOpen));
        let other = MasterSecret::generate();
        assert_eq!(open(&other, row("k1", "openai"), &s), Err(SealError::DoesNotOpen));
        let short = Sealed { ciphertext: vec![1, 2, 3], ..s };
        assert!(matches!(open(&m, row("k1", "openai"), &short), Err(SealError::Malformed(_))));
    }

    #[test]
    fn parts_of_the_wrong_length_are_refused() {
        assert!(Sealed::from_parts(&[0; 15], &[0; 12], vec![]).is_err());
        assert!(Sealed::from_parts(&[0; 16], &[0; 11], vec![]).is_err());
        assert!(Sealed::from_parts(&[0; 16], &[0; 12], vec![0; 20]).is_ok());
    }

    #[test]
    fn debug_of_secrets_shows_none_of_their_bytes() {
        // What a derived Debug would print: the bytes as a list, e.g. "[12, 201, 7, 88".
        let prefix = |bytes: &[u8]| format!("{:?}", &bytes[..4]).trim_end_matches(']').to_string();
        let m = MasterSecret::generate();
        for shown in [format!("{m:?}"), format!("{m:#?}")] {
            assert!(!shown.contains(&prefix(m.expose())), "{shown}");
        }
        let s = seal(&m, row("k1", "openai"), CANARY);
        for shown in [format!("{s:?}"), format!("{s:#?}")] {
            for part in [&s.salt[..], &s.nonce[..], &s.ciphertext[..]] {
                assert!(!shown.contains(&prefix(part)), "{shown}");
            }
        }
    }
}
