//! Passphrase → vault key, with Argon2id, and a check value that tells a wrong passphrase apart
//! from a damaged snapshot without touching the snapshot.

use argon2::{Algorithm, Argon2, Params, Version};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::passphrase::Passphrase;

/// Argon2id cost. Stored in the vault header, so a later release can raise it for new vaults
/// while old ones keep opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

impl KdfParams {
    /// 128 MiB, 7 passes, 1 lane: about 0.5 s on the 2-core reference machine (README,
    /// Performance; 4 passes measured 0.30 s), well above OWASP's Argon2id floor (m ≥ 19 MiB, t ≥ 2).
    pub const DEFAULT: KdfParams = KdfParams { m_kib: 128 * 1024, t: 7, p: 1 };

    /// Cheap parameters for unit tests only: the code path is the same, the cost is not.
    #[cfg(any(test, feature = "test-support"))]
    pub const FAST_FOR_TESTS: KdfParams = KdfParams { m_kib: 1024, t: 1, p: 1 };
}

/// The 32-byte key that encrypts the Stronghold snapshot.
pub type VaultKey = Zeroizing<[u8; 32]>;

#[derive(Debug, thiserror::Error)]
#[error("the vault header has unusable key-derivation settings ({0})")]
pub struct KdfError(String);

pub fn derive(passphrase: &Passphrase, salt: &[u8], params: KdfParams) -> Result<VaultKey, KdfError> {
    let argon_params = Params::new(params.m_kib, params.t, params.p, Some(32)).map_err(|e| KdfError(e.to_string()))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.expose().as_bytes(), salt, key.as_mut())
        .map_err(|e| KdfError(e.to_string()))?;
    Ok(key)
}

/// A value that proves knowledge of the key without revealing it: HMAC-SHA256(key, label).
/// A guesser still pays one Argon2id per guess to compute it.
pub fn check_value(key: &VaultKey) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_ref()).expect("HMAC takes any key length");
    mac.update(b"keyhold/vault-check/v1");
    mac.finalize().into_bytes().into()
}

/// Constant-time comparison of a computed check value with the stored one.
pub fn check_matches(key: &VaultKey, stored: &[u8]) -> bool {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_ref()).expect("HMAC takes any key length");
    mac.update(b"keyhold/vault-check/v1");
    mac.verify_slice(stored).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_passphrase_and_salt_give_the_same_key_and_others_do_not() {
        let p = Passphrase::new("orbit velvet canyon".into());
        let k1 = derive(&p, b"0123456789abcdef", KdfParams::FAST_FOR_TESTS).unwrap();
        let k2 = derive(&p, b"0123456789abcdef", KdfParams::FAST_FOR_TESTS).unwrap();
        let k3 = derive(&p, b"fedcba9876543210", KdfParams::FAST_FOR_TESTS).unwrap();
        let k4 = derive(&Passphrase::new("orbit velvet canyoN".into()), b"0123456789abcdef", KdfParams::FAST_FOR_TESTS)
            .unwrap();
        assert_eq!(*k1, *k2);
        assert_ne!(*k1, *k3);
        assert_ne!(*k1, *k4);
        assert!(check_matches(&k1, &check_value(&k2)));
        assert!(!check_matches(&k1, &check_value(&k4)));
        assert!(!check_matches(&k1, &check_value(&k1)[..31]));
    }

    #[test]
    fn unusable_parameters_are_an_error_not_a_panic() {
        let p = Passphrase::new("orbit velvet canyon".into());
        assert!(derive(&p, b"0123456789abcdef", KdfParams { m_kib: 1, t: 0, p: 0 }).is_err());
        assert!(derive(&p, b"short", KdfParams::FAST_FOR_TESTS).is_err());
    }
}
