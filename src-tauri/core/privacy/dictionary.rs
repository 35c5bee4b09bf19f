//! The user's dictionary: names and terms to hide from cloud models (client names, project code
//! names, people). As sensitive as the keys, so each term is sealed like a key row, and the
//! list as a whole is signed (a term deleted by hand shows as surely as one added). A term is
//! never shown again in full, nor stored in any form but sealed: lists, made while unlocked,
//! carry a hint (`A…s, 13 letters`).

use crate::db::Cached;
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use specta::Type;
use zeroize::Zeroizing;

use crate::integrity::{Record, Tampered, Unlocked};
use crate::seal::{self, RowBinding, Sealed};

const TABLE_TAG: &str = "integrity.dictionary";
const BINDING: &str = "dictionary";

#[derive(Debug, Clone, Serialize, Type)]
pub struct TermInfo {
    pub id: String,
    /// First and last letter and the length: enough to tell terms apart.
    pub hint: String,
    pub created_at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DictionaryError {
    #[error("Give at least one term (one per line).")]
    Empty,
    #[error("No dictionary term with the id {0} (`keyhold dictionary list` shows them).")]
    NotFound(String),
    #[error("The stored dictionary term {0} does not open: it was changed or copied from another row. Remove it and add the term again.")]
    DoesNotOpen(String),
    #[error(transparent)]
    Changed(#[from] Tampered),
    #[error(transparent)]
    Region(#[from] super::region::RegionError),
    #[error("Database error: {0}")]
    Db(#[from] rusqlite::Error),
}

impl crate::error::Kinded for DictionaryError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            DictionaryError::Empty => ErrorKind::Usage,
            DictionaryError::NotFound(_) => ErrorKind::Usage,
            DictionaryError::DoesNotOpen(_) | DictionaryError::Changed(_) => ErrorKind::ChangedOutsideKeyhold,
            DictionaryError::Region(r) => r.kind(),
            DictionaryError::Db(_) => ErrorKind::Database,
        }
    }
}

fn hint(term: &str) -> String {
    let chars: Vec<char> = term.chars().collect();
    match chars.len() {
        0 => String::new(),
        1 | 2 => format!("{}…, {} letters", chars[0], chars.len()),
        n => format!("{}…{}, {n} letters", chars[0], chars[n - 1]),
    }
}

fn ids(conn: &Connection) -> rusqlite::Result<Vec<(String, Vec<u8>)>> {
    let mut stmt = conn.prepare_cached("SELECT id, ciphertext FROM dictionary_terms ORDER BY id")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

fn table_record(rows: &[(String, Vec<u8>)]) -> Record {
    rows.iter().fold(Record::new("dictionary_terms", "all").int(rows.len() as i64), |r, (id, ct)| {
        r.text(id).text(&ct.iter().map(|b| format!("{b:02x}")).collect::<String>())
    })
}

fn verify(conn: &Connection, u: &Unlocked) -> Result<(), DictionaryError> {
    let rows = ids(conn)?;
    let mac: Option<Vec<u8>> =
        conn.cached_row("SELECT mac FROM settings WHERE key = ?1", [TABLE_TAG], |r| r.get(0)).optional()?.flatten();
    if (rows.is_empty() && mac.is_none()) || u.verify(&table_record(&rows), mac.as_deref()) {
        Ok(())
    } else {
        Err(Tampered::new(
            "Your dictionary",
            "Check it on the Privacy page (`keyhold dictionary list`), remove what you do not recognise and add your terms again.",
        )
        .into())
    }
}

pub(crate) fn retag(conn: &Connection, u: &Unlocked) -> rusqlite::Result<()> {
    let tag = u.tag(&table_record(&ids(conn)?));
    conn.execute(
        "INSERT INTO settings (key, value, mac) VALUES (?1, '', ?2) ON CONFLICT(key) DO UPDATE SET mac = excluded.mac",
        params![TABLE_TAG, tag],
    )
    .map(drop)
}

/// Adds terms (blank lines ignored, duplicates of each other kept once).
pub fn add(conn: &mut Connection, u: &Unlocked, terms: &[Zeroizing<String>]) -> Result<Vec<TermInfo>, DictionaryError> {
    let mut terms: Vec<&str> = terms.iter().map(|t| t.trim()).filter(|t| !t.is_empty()).collect();
    terms.dedup();
    if terms.is_empty() {
        return Err(DictionaryError::Empty);
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    verify(&tx, u)?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut added = Vec::new();
    for term in terms {
        let mut b = [0u8; 6];
        rand::rngs::OsRng.fill_bytes(&mut b);
        let id = format!("d_{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>());
        let sealed = seal::seal(u.master(), RowBinding { row_id: &id, provider: BINDING }, term.as_bytes());
        let info = TermInfo { id: id.clone(), hint: hint(term), created_at: now.clone() };
        tx.execute(
            "INSERT INTO dictionary_terms (id, salt, nonce, ciphertext, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, sealed.salt.to_vec(), sealed.nonce.to_vec(), sealed.ciphertext, now],
        )?;
        added.push(info);
    }
    retag(&tx, u)?;
    tx.commit()?;
    Ok(added)
}

/// The terms' hints (no term in full), oldest first.
pub fn list(conn: &Connection, u: &Unlocked) -> Result<Vec<TermInfo>, DictionaryError> {
    verify(conn, u)?;
    let mut stmt = conn.prepare_cached("SELECT id, created_at FROM dictionary_terms")?;
    let created: std::collections::HashMap<String, String> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for row in sealed_rows(conn)? {
        let (id, term) = open_row(u, row)?;
        let created_at = created.get(&id).cloned().unwrap_or_default();
        out.push(TermInfo { hint: hint(&term), id, created_at });
    }
    out.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
    Ok(out)
}

pub fn remove(conn: &mut Connection, u: &Unlocked, id: &str) -> Result<(), DictionaryError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    verify(&tx, u)?;
    if tx.execute("DELETE FROM dictionary_terms WHERE id = ?1", [id])? == 0 {
        return Err(DictionaryError::NotFound(id.into()));
    }
    retag(&tx, u)?;
    tx.commit()?;
    Ok(())
}

type SealedRow = (String, Vec<u8>, Vec<u8>, Vec<u8>);

fn sealed_rows(conn: &Connection) -> rusqlite::Result<Vec<SealedRow>> {
    let mut stmt = conn.prepare_cached("SELECT id, salt, nonce, ciphertext FROM dictionary_terms ORDER BY id")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    rows.collect()
}

fn open_row(u: &Unlocked, (id, salt, nonce, ct): SealedRow) -> Result<(String, Zeroizing<String>), DictionaryError> {
    let sealed = Sealed::from_parts(&salt, &nonce, ct).map_err(|_| DictionaryError::DoesNotOpen(id.clone()))?;
    let bytes = seal::open(u.master(), RowBinding { row_id: &id, provider: BINDING }, &sealed)
        .map_err(|_| DictionaryError::DoesNotOpen(id.clone()))?;
    let term = String::from_utf8(bytes.to_vec()).map_err(|_| DictionaryError::DoesNotOpen(id.clone()))?;
    Ok((id, Zeroizing::new(term)))
}

/// Every term, opened for one call, in zeroizing memory.
/// The dictionary `policy` redacts with: the user's terms when it uses them, else none. Every
/// redaction (a call, a count, an embedding, the previews) starts here.
///
/// With it comes the user's phone region (pii and block: see [`super::region`]).
pub(crate) fn for_policy(
    conn: &Connection,
    u: &Unlocked,
    policy: super::Policy,
) -> Result<(super::Dictionary, Option<super::Region>), DictionaryError> {
    if !policy.uses_dictionary() {
        return Ok((super::Dictionary::default(), None));
    }
    let terms = load(conn, u)?;
    let region = super::region::choice(conn, u)?.region();
    Ok((super::Dictionary::new(&terms), region))
}

pub fn load(conn: &Connection, u: &Unlocked) -> Result<Vec<Zeroizing<String>>, DictionaryError> {
    verify(conn, u)?;
    sealed_rows(conn)?.into_iter().map(|row| open_row(u, row).map(|(_, t)| t)).collect()
}

/// Re-seals every term from `old` to `new` (a master-secret rotation), checked under `old` first.
pub(crate) fn reseal(conn: &Connection, old: &Unlocked, new: &Unlocked) -> Result<(), DictionaryError> {
    verify(conn, old)?;
    for row in sealed_rows(conn)? {
        let (id, term) = open_row(old, row)?;
        let s = seal::seal(new.master(), RowBinding { row_id: &id, provider: BINDING }, term.as_bytes());
        conn.execute(
            "UPDATE dictionary_terms SET salt = ?2, nonce = ?3, ciphertext = ?4 WHERE id = ?1",
            params![id, s.salt.to_vec(), s.nonce.to_vec(), s.ciphertext],
        )?;
    }
    retag(conn, new)?;
    Ok(())
}

/// Whether the dictionary's signature holds (for `keyhold vault check`).
pub fn check(conn: &Connection, u: &Unlocked) -> Option<Tampered> {
    match verify(conn, u) {
        Err(DictionaryError::Changed(t)) => Some(t),
        _ => None,
    }
}
