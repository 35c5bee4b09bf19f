//! The configuration as a whole under the master secret: tagging every protected record (when a
//! database written before tags is adopted, and when the master secret is rotated), checking
//! every one (`keyhold vault check`), and re-sealing every key under a new master.
//!
//! Each table knows its own record ([`crate::keys`], [`crate::agents`], [`crate::agents::tokens`],
//! [`crate::prices`], the protected settings in [`crate::integrity`]); this module only walks
//! them, in one transaction, so a change is all or nothing.

use rusqlite::{params, Connection};

use crate::agents::{self, tokens};
use crate::integrity::{self, Tampered, Unlocked, PROTECTED_SETTINGS};
use crate::keys;
use crate::prices;
use crate::seal::{self, RowBinding, Sealed};

/// Why the configuration could not be tagged, checked or re-sealed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum SealingError {
    /// Records that do not hold under the authority they were written with: nothing was changed.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "))]
    Changed(Vec<Tampered>),
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
    #[error(transparent)]
    Agents(#[from] agents::AgentError),
    #[error("Could not save the configuration's tags in Keyhold's database: {0}")]
    Save(#[from] rusqlite::Error),
}

impl crate::error::Kinded for SealingError {
    fn kind(&self) -> crate::error::ErrorKind {
        match self {
            SealingError::Changed(_) => crate::error::ErrorKind::ChangedOutsideKeyhold,
            SealingError::Keys(e) => e.kind(),
            SealingError::Agents(e) => e.kind(),
            SealingError::Save(_) => crate::error::ErrorKind::Database,
        }
    }
}

/// Where the database says which master secret its records are under (a public fingerprint).
pub const MASTER_ID: &str = "integrity.master_id";

fn tampered_setting(key: &str, what: &str) -> Tampered {
    Tampered::new(
        format!("The setting for {what} ({key})"),
        "Set it again in Keyhold; until then Keyhold keeps to the safe side (offline mode on, no browser origin allowed).",
    )
}

/// Tags every protected record as it is now, under `u`, in one transaction.
///
/// `verified: None` adopts a database written before tags existed (trust on first use, at the
/// moment the user proves the passphrase). `Some(old)` first checks every record under the
/// authority it was written with and refuses the whole change, listing what failed, so a
/// rotation never launders a row changed outside Keyhold.
pub(crate) fn retag_everything(
    conn: &mut Connection,
    u: &Unlocked,
    verified: Option<&Unlocked>,
) -> Result<(), SealingError> {
    // IMMEDIATE: the writer lock first. A deferred transaction that reads, then writes after
    // another connection (the background usage rollup) committed, fails with SQLITE_BUSY_SNAPSHOT,
    // which no busy timeout waits out.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db)?;
    retag_in(&tx, u, verified)?;
    tx.commit().map_err(db)
}

/// [`retag_everything`]'s body, on a transaction the caller commits.
fn retag_in(tx: &Connection, u: &Unlocked, verified: Option<&Unlocked>) -> Result<(), SealingError> {
    let mut bad = keys::retag_all(tx, u, verified)?;
    bad.extend(agents::retag_all(tx, u, verified)?);
    bad.extend(tokens::retag_all(tx, u, verified)?);
    if let Some(old) = verified {
        if let Err(prices::PriceError::Changed(t)) = prices::verify(tx, old) {
            bad.push(t);
        }
    }
    prices::retag(tx, u).map_err(db)?;
    // A rotation re-sealed (and re-signed) the dictionary before; an adoption signs it here.
    if verified.is_none() {
        crate::privacy::dictionary::retag(tx, u).map_err(db)?;
    }
    for (key, what) in PROTECTED_SETTINGS {
        let value = match verified {
            Some(old) => match integrity::get_setting(tx, old, key).map_err(db)? {
                Ok(v) => v,
                Err(()) => {
                    bad.push(tampered_setting(key, what));
                    continue;
                }
            },
            None => crate::db::get_setting(tx, key).map_err(db)?,
        };
        // A database from before tags has no offline row when offline mode was never used:
        // that meant "off", and is written so, tagged.
        let value = value.or_else(|| (*key == "offline").then(|| "off".to_string()));
        if let Some(v) = value {
            integrity::set_setting(tx, u, key, &v).map_err(db)?;
        }
    }
    if !bad.is_empty() {
        return Err(SealingError::Changed(bad));
    }
    tx.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![MASTER_ID, u.master_id()],
    )
    .map_err(db)?;
    Ok(())
}

/// Every protected record whose tag fails, named (for `keyhold vault check`).
pub fn check_everything(conn: &Connection, u: &Unlocked) -> Result<Vec<Tampered>, SealingError> {
    let mut bad = keys::changed(conn, u)?;
    bad.extend(agents::check_all(conn, u)?);
    bad.extend(tokens::check_all(conn, u)?);
    if let Err(prices::PriceError::Changed(t)) = prices::verify(conn, u) {
        bad.push(t);
    }
    bad.extend(crate::privacy::dictionary::check(conn, u));
    for (key, what) in PROTECTED_SETTINGS {
        let plain = crate::db::get_setting(conn, key).map_err(db)?;
        // Offline mode "on" is written without a tag (it needs no passphrase: it only keeps data
        // on this machine) and is always obeyed: not a change outside Keyhold.
        if *key == "offline" && plain.as_deref() == Some("on") {
            continue;
        }
        if integrity::get_setting(conn, u, key).map_err(db)?.is_err() {
            bad.push(tampered_setting(key, what));
        }
        if *key == "offline" && plain.is_none() {
            bad.push(tampered_setting(key, what));
        }
    }
    Ok(bad)
}

/// Re-seals every stored key from `old` to `new`, then retags everything under `new` (checked
/// under `old` first), in one transaction: the rotation's database half.
pub(crate) fn rotate(conn: &mut Connection, old: &Unlocked, new: &Unlocked) -> Result<(), SealingError> {
    {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db)?;
        type Row = (String, String, Vec<u8>, Vec<u8>, Vec<u8>);
        let rows: Vec<Row> = {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT id, provider, salt, nonce, ciphertext FROM provider_keys WHERE ciphertext IS NOT NULL",
                )
                .map_err(db)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
                .map_err(db)?
                .collect::<Result<_, _>>()
                .map_err(db)?;
            rows
        };
        let mut bad = Vec::new();
        for (id, provider, salt, nonce, ct) in rows {
            let binding = RowBinding { row_id: &id, provider: &provider };
            let opened =
                Sealed::from_parts(&salt, &nonce, ct).ok().and_then(|s| seal::open(old.master(), binding, &s).ok());
            let Some(plain) = opened else {
                bad.push(Tampered::new(format!("The stored key {id}"), "Replace it with `keyhold keys rotate`."));
                continue;
            };
            let s = seal::seal(new.master(), binding, &plain);
            tx.execute(
                "UPDATE provider_keys SET salt = ?2, nonce = ?3, ciphertext = ?4 WHERE id = ?1",
                params![id, s.salt.to_vec(), s.nonce.to_vec(), s.ciphertext],
            )
            .map_err(db)?;
        }
        if !bad.is_empty() {
            return Err(SealingError::Changed(bad));
        }
        crate::privacy::dictionary::reseal(&tx, old, new).map_err(|e| match e {
            crate::privacy::dictionary::DictionaryError::Changed(t) => SealingError::Changed(vec![t]),
            other => SealingError::Changed(vec![Tampered::new(other.to_string(), "Remove it and add the term again.")]),
        })?;
        crate::privacy::outbound::reseal(&tx, old, new).map_err(db)?;
        crate::conversations::reseal(&tx, old, new).map_err(db)?;
        retag_in(&tx, new, Some(old))?;
        tx.commit().map_err(db)?;
    }
    Ok(())
}

fn db(source: rusqlite::Error) -> SealingError {
    SealingError::Save(source)
}

/// Which of two master secrets the database's records are under, by its stored fingerprint.
pub(crate) fn is_current(conn: &Connection, candidate: &Unlocked) -> bool {
    crate::db::get_setting(conn, MASTER_ID).ok().flatten().as_deref() == Some(candidate.master_id().as_str())
}

#[cfg(test)]
mod tests;
