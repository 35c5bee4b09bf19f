//! Authenticated configuration: what decides where a key goes, who may use it and what may be
//! spent is bound under the vault's master secret, so editing the database by hand (or by any
//! process running as the user) cannot change it.
//!
//! Each protected record — a key row's destination and state, an agent with its chain and
//! budget, a proxy token, the price overrides as a whole, the offline switch, the proxy's allowed
//! origins — carries `HMAC-SHA256(K_config, record)`, where
//! `K_config = HKDF-SHA256(master, "keyhold/config-mac/v1")`. A record is a length-prefixed
//! list of its fields after a tag naming its table and id, so no field can be moved to another
//! record or another position. Writing a record needs the master secret, which only an unlocked
//! Keyhold holds: that is the one rule that makes every change need the passphrase, in the
//! window and the command line alike. A record that fails is refused with [`Tampered`], which
//! names it, and nothing is sent for it.
//!
//! Proxy tokens are stored as `HMAC-SHA256(K_token, token)`, where `K_token` is a random key kept
//! in the vault snapshot beside the master secret (it survives a master-secret rotation, so
//! issued tokens keep working), and the token row's tag binds that digest to its agent: a row
//! inserted with a digest of a token of one's choosing does not authenticate.

use crate::db::Cached;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::seal::MasterSecret;

const CONFIG_INFO: &[u8] = b"keyhold/config-mac/v1";
const MASTER_ID_INFO: &[u8] = b"keyhold/master-id/v1";

type HmacSha256 = Hmac<Sha256>;

/// What only an unlocked Keyhold holds: the master secret (to seal and open keys), the key that
/// tags configuration records, and the proxy-token key. Every function that changes something
/// protected takes one, so "a change needs the passphrase" is not a check each front must
/// remember but something no code path can skip. Cheap to make (two HMACs); made where needed and
/// dropped (zeroized) right after.
pub struct Unlocked<'a> {
    master: &'a MasterSecret,
    token_key: &'a MasterSecret,
    mac: Zeroizing<[u8; 32]>,
    id: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Unlocked<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unlocked([redacted])")
    }
}

impl<'a> Unlocked<'a> {
    pub fn new(master: &'a MasterSecret, token_key: &'a MasterSecret) -> Self {
        let hk = Hkdf::<Sha256>::new(None, master.expose());
        let expand = |info: &[u8]| {
            let mut k = Zeroizing::new([0u8; 32]);
            hk.expand(info, k.as_mut()).expect("32-byte HKDF output");
            k
        };
        Unlocked { master, token_key, mac: expand(CONFIG_INFO), id: expand(MASTER_ID_INFO) }
    }

    /// The master secret, for sealing and opening key rows.
    pub fn master(&self) -> &MasterSecret {
        self.master
    }

    /// The tag of a record, as stored in its row's `mac` column.
    pub fn tag(&self, record: &Record) -> Vec<u8> {
        let mut m = HmacSha256::new_from_slice(self.mac.as_ref()).expect("any key length");
        m.update(&record.0);
        m.finalize().into_bytes().to_vec()
    }

    /// Whether `stored` is the tag of `record` (constant time).
    pub fn verify(&self, record: &Record, stored: Option<&[u8]>) -> bool {
        let Some(stored) = stored else { return false };
        let mut m = HmacSha256::new_from_slice(self.mac.as_ref()).expect("any key length");
        m.update(&record.0);
        m.verify_slice(stored).is_ok()
    }

    /// What a proxy token is stored as: hex `HMAC(K_token, token)`.
    pub fn token_digest(&self, token: &str) -> String {
        let mut m = HmacSha256::new_from_slice(self.token_key.expose()).expect("any key length");
        m.update(token.as_bytes());
        m.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A public fingerprint of the master secret, stored in the database so Keyhold can tell which
    /// master secret the rows are under (a master rotation interrupted half-way is finished by the
    /// next unlock). Reveals nothing about the secret.
    pub fn master_id(&self) -> String {
        self.id[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// One protected record, encoded for its tag: a tag naming what it is, then each field with its
/// type and length, so ("ab","c") and ("a","bc") never encode alike.
pub struct Record(Vec<u8>);

impl Record {
    pub fn new(table: &str, id: &str) -> Self {
        let mut r = Record(Vec::with_capacity(128));
        r.0.extend_from_slice(b"keyhold/record/v1");
        r.text(table).text(id)
    }

    /// The encoded record, for a tag computed over more than the record (a ledger row's chain).
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn text(mut self, s: &str) -> Self {
        self.0.push(b's');
        self.0.extend_from_slice(&(s.len() as u64).to_be_bytes());
        self.0.extend_from_slice(s.as_bytes());
        self
    }

    pub fn opt_text(mut self, s: Option<&str>) -> Self {
        match s {
            Some(s) => self.text(s),
            None => {
                self.0.push(b'n');
                self
            }
        }
    }

    pub fn int(mut self, n: i64) -> Self {
        self.0.push(b'i');
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }

    pub fn opt_int(mut self, n: Option<i64>) -> Self {
        match n {
            Some(n) => self.int(n),
            None => {
                self.0.push(b'n');
                self
            }
        }
    }

    pub fn flag(self, b: bool) -> Self {
        self.int(b as i64)
    }

    /// A float by its exact bits (a temperature).
    pub fn opt_float(mut self, f: Option<f64>) -> Self {
        match f {
            Some(f) => {
                self.0.push(b'f');
                self.0.extend_from_slice(&f.to_bits().to_be_bytes());
                self
            }
            None => {
                self.0.push(b'n');
                self
            }
        }
    }
}

/// A protected record that does not carry its tag: it was written, inserted or changed by
/// something other than an unlocked Keyhold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} was changed outside Keyhold: it no longer carries the signature Keyhold gave it under your vault, so Keyhold will not use it and sent nothing for it. {remedy}")]
pub struct Tampered {
    /// e.g. `The key "work"`, `The agent "Writer"`.
    pub what: String,
    /// What the user can do: save it again in Keyhold, or remove it.
    pub remedy: String,
}

impl Tampered {
    pub fn new(what: impl Into<String>, remedy: impl Into<String>) -> Self {
        Tampered { what: what.into(), remedy: remedy.into() }
    }
}

impl crate::error::Kinded for Tampered {
    fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::ChangedOutsideKeyhold
    }
}

/// A protected setting: its value with its tag, written only by an unlocked Keyhold.
pub fn set_setting(conn: &rusqlite::Connection, u: &Unlocked, key: &str, value: &str) -> rusqlite::Result<()> {
    let tag = u.tag(&setting_record(key, value));
    conn.execute(
        "INSERT INTO settings (key, value, mac) VALUES (?1, ?2, ?3)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, mac = excluded.mac",
        rusqlite::params![key, value, tag],
    )
    .map(|_| ())
}

/// A protected setting's value, if its tag holds. `Ok(None)`: not set. `Err(())`: the row is
/// there but its value or tag was changed outside Keyhold.
pub fn get_setting(
    conn: &rusqlite::Connection,
    u: &Unlocked,
    key: &str,
) -> rusqlite::Result<Result<Option<String>, ()>> {
    use rusqlite::OptionalExtension;
    let row: Option<(String, Option<Vec<u8>>)> = conn
        .cached_row("SELECT value, mac FROM settings WHERE key = ?1", [key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match row {
        None => Ok(None),
        Some((value, mac)) if u.verify(&setting_record(key, &value), mac.as_deref()) => Ok(Some(value)),
        Some(_) => Err(()),
    })
}

fn setting_record(key: &str, value: &str) -> Record {
    Record::new("settings", key).text(value)
}

/// The settings whose tags are checked (the rest — window size, proxy port, times — decide
/// nothing about keys or money).
pub const PROTECTED_SETTINGS: &[(&str, &str)] = &[
    ("offline", "offline mode"),
    ("proxy.allowed_origins", "the proxy's allowed browser origins"),
    ("privacy.payload_log_days", "the outbound payload log"),
    ("privacy.phone_region", "the region for phone numbers"),
];

/// One unlocked authority shared by a test process, for unit tests that work on a bare
/// database (a workspace's tests unlock a real vault instead).
#[cfg(any(test, feature = "test-support"))]
pub fn for_tests() -> Unlocked<'static> {
    static SECRETS: std::sync::OnceLock<(MasterSecret, MasterSecret)> = std::sync::OnceLock::new();
    let (m, t) = SECRETS.get_or_init(|| (MasterSecret::generate(), MasterSecret::generate()));
    Unlocked::new(m, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(a: &str, b: &str) -> Record {
        Record::new("t", "1").text(a).text(b)
    }

    #[test]
    fn a_tag_verifies_only_its_own_record_under_its_own_master() {
        let (m, t) = (MasterSecret::generate(), MasterSecret::generate());
        let k = Unlocked::new(&m, &t);
        let tag = k.tag(&rec("ab", "c"));
        assert!(k.verify(&rec("ab", "c"), Some(&tag)));
        assert!(!k.verify(&rec("a", "bc"), Some(&tag)), "field boundaries are part of the record");
        assert!(!k.verify(&Record::new("t", "2").text("ab").text("c"), Some(&tag)), "the id is bound");
        assert!(!k.verify(&Record::new("u", "1").text("ab").text("c"), Some(&tag)), "the table is bound");
        assert!(!k.verify(&rec("ab", "c"), None), "a missing tag fails");
        assert!(!k.verify(&rec("ab", "c"), Some(&tag[..31])), "a short tag fails");
        let m2 = MasterSecret::generate();
        let other = Unlocked::new(&m2, &t);
        assert!(!other.verify(&rec("ab", "c"), Some(&tag)), "another vault's master does not verify it");
        assert!(!k.verify(&Record::new("t", "1").opt_text(None).text("c"), Some(&tag)));
        assert_ne!(k.tag(&Record::new("t", "1").opt_int(None)), k.tag(&Record::new("t", "1").int(0)));
    }

    #[test]
    fn token_digests_need_the_master_secret_and_master_ids_differ() {
        let (m1, m2, t1, t2) =
            (MasterSecret::generate(), MasterSecret::generate(), MasterSecret::generate(), MasterSecret::generate());
        let a = Unlocked::new(&m1, &t1);
        let b = Unlocked::new(&m2, &t2);
        assert_eq!(a.token_digest("kh-x"), a.token_digest("kh-x"));
        assert_ne!(a.token_digest("kh-x"), b.token_digest("kh-x"));
        use sha2::Digest;
        let bare: String = Sha256::digest(b"kh-x").iter().map(|b| format!("{b:02x}")).collect();
        assert_ne!(a.token_digest("kh-x"), bare);
        assert_ne!(a.master_id(), b.master_id());
        assert_eq!(a.token_digest("kh-x"), Unlocked::new(&m2, &t1).token_digest("kh-x"), "tokens outlive a rotation");
        assert_eq!(format!("{a:?}"), "Unlocked([redacted])");
    }
}
