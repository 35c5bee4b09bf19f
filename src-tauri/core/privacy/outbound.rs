//! The outbound payload log: optionally (off by default), the exact request body each cloud
//! step received, after redaction, so the user can check what a provider really got. Each body
//! is sealed like a key row; entries older than the retention the user chose are removed. The
//! retention is a signed setting (see [`crate::integrity`]).

use rand::RngCore;
use rusqlite::{params, Connection};
use serde::Serialize;
use specta::Type;

use crate::integrity::{self, Unlocked};
use crate::seal::{self, RowBinding, Sealed};

const SETTING: &str = "privacy.payload_log_days";
const BINDING: &str = "outbound-payload";
/// The longest retention offered.
pub const MAX_DAYS: u32 = 90;

#[derive(Debug, Clone, Serialize, Type)]
pub struct PayloadInfo {
    pub id: String,
    /// RFC 3339, UTC.
    pub at: String,
    pub agent: String,
    pub provider: String,
    pub model: String,
    pub bytes: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("Keep the log between 0 (off) and {MAX_DAYS} days (got {0}).")]
    BadRetention(u32),
    #[error("No logged request with the id {0}: it may have passed its retention.")]
    NotFound(String),
    #[error("The logged request {0} does not open: it was changed outside Keyhold.")]
    DoesNotOpen(String),
    #[error(transparent)]
    Changed(#[from] integrity::Tampered),
    #[error("Database error: {0}")]
    Db(#[from] rusqlite::Error),
}

impl crate::error::Kinded for OutboundError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            OutboundError::BadRetention(_) | OutboundError::NotFound(_) => ErrorKind::Usage,
            OutboundError::DoesNotOpen(_) | OutboundError::Changed(_) => ErrorKind::ChangedOutsideKeyhold,
            OutboundError::Db(_) => ErrorKind::Database,
        }
    }
}

/// Days kept; 0: the log is off (the default, and what a setting changed by hand reads as).
pub fn retention(conn: &Connection, u: &Unlocked) -> Result<u32, OutboundError> {
    match integrity::get_setting(conn, u, SETTING)? {
        Ok(v) => Ok(v.and_then(|d| d.parse().ok()).unwrap_or(0)),
        Err(()) => Err(integrity::Tampered::new(
            "The setting for the outbound payload log",
            "Choose how long to keep it again on the Privacy page.",
        )
        .into()),
    }
}

/// Sets the retention (0 turns the log off and removes every entry).
pub fn set_retention(conn: &Connection, u: &Unlocked, days: u32) -> Result<(), OutboundError> {
    if days > MAX_DAYS {
        return Err(OutboundError::BadRetention(days));
    }
    integrity::set_setting(conn, u, SETTING, &days.to_string())?;
    purge(conn, days)?;
    Ok(())
}

/// Removes entries older than `days` (all of them for 0).
pub fn purge(conn: &Connection, days: u32) -> rusqlite::Result<usize> {
    let cutoff = chrono::Utc::now() - chrono::Duration::days(days.into());
    conn.execute(
        "DELETE FROM outbound_payloads WHERE ?1 = 0 OR at < ?2",
        params![days, cutoff.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)],
    )
}

/// Keeps one request body as it left the machine.
pub fn record(
    conn: &Connection,
    u: &Unlocked,
    days: u32,
    agent: &str,
    provider: &str,
    model: &str,
    body: &str,
) -> Result<(), OutboundError> {
    let mut b = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut b);
    let id = format!("o_{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>());
    let sealed = seal::seal(u.master(), RowBinding { row_id: &id, provider: BINDING }, body.as_bytes());
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    conn.execute(
        "INSERT INTO outbound_payloads (id, at, agent, provider, model, bytes, salt, nonce, ciphertext)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            id,
            at,
            agent,
            provider,
            model,
            body.len() as i64,
            sealed.salt.to_vec(),
            sealed.nonce.to_vec(),
            sealed.ciphertext
        ],
    )?;
    purge(conn, days)?;
    Ok(())
}

/// The newest entries first (no bodies).
pub fn list(conn: &Connection, limit: u32) -> Result<Vec<PayloadInfo>, OutboundError> {
    let mut stmt = conn
        .prepare("SELECT id, at, agent, provider, model, bytes FROM outbound_payloads ORDER BY at DESC, id LIMIT ?1")?;
    let rows = stmt.query_map([limit], |r| {
        Ok(PayloadInfo {
            id: r.get(0)?,
            at: r.get(1)?,
            agent: r.get(2)?,
            provider: r.get(3)?,
            model: r.get(4)?,
            bytes: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One entry's body, exactly as it was sent (the user's own view, on request).
pub fn open(conn: &Connection, u: &Unlocked, id: &str) -> Result<String, OutboundError> {
    let row: Option<(Vec<u8>, Vec<u8>, Vec<u8>)> = {
        use rusqlite::OptionalExtension;
        conn.query_row("SELECT salt, nonce, ciphertext FROM outbound_payloads WHERE id = ?1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?
    };
    let (salt, nonce, ct) = row.ok_or_else(|| OutboundError::NotFound(id.into()))?;
    let bad = || OutboundError::DoesNotOpen(id.into());
    let sealed = Sealed::from_parts(&salt, &nonce, ct).map_err(|_| bad())?;
    let bytes = seal::open(u.master(), RowBinding { row_id: id, provider: BINDING }, &sealed).map_err(|_| bad())?;
    String::from_utf8(bytes.to_vec()).map_err(|_| bad())
}

/// Re-seals every entry from `old` to `new` (a master-secret rotation); an entry that does not
/// open is dropped (it is a copy of something sent, not the user's only record of anything).
pub(crate) fn reseal(conn: &Connection, old: &Unlocked, new: &Unlocked) -> rusqlite::Result<()> {
    let ids: Vec<String> = {
        let mut stmt = conn.prepare("SELECT id FROM outbound_payloads")?;
        let ids = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        ids
    };
    for id in ids {
        match open(conn, old, &id) {
            Ok(body) => {
                let s = seal::seal(new.master(), RowBinding { row_id: &id, provider: BINDING }, body.as_bytes());
                conn.execute(
                    "UPDATE outbound_payloads SET salt = ?2, nonce = ?3, ciphertext = ?4 WHERE id = ?1",
                    params![id, s.salt.to_vec(), s.nonce.to_vec(), s.ciphertext],
                )?;
            }
            Err(_) => {
                conn.execute("DELETE FROM outbound_payloads WHERE id = ?1", [&id])?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_off_by_default_sealed_when_on_and_trimmed_to_its_retention() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::open(&dir.path().join("k.db")).unwrap();
        let u = crate::integrity::for_tests();
        assert_eq!(retention(&conn, &u).unwrap(), 0);
        assert!(matches!(set_retention(&conn, &u, 91), Err(OutboundError::BadRetention(91))));
        set_retention(&conn, &u, 7).unwrap();
        let body = r#"{"messages":[{"role":"user","content":"mail [EMAIL_1] about CANARY-plan"}]}"#;
        record(&conn, &u, 7, "bot", "openai", "gpt-4o-mini", body).unwrap();
        let listed = list(&conn, 10).unwrap();
        assert_eq!((listed.len(), listed[0].bytes as usize), (1, body.len()));
        assert_eq!(open(&conn, &u, &listed[0].id).unwrap(), body);
        drop(conn);
        for f in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            assert!(!bytes.windows(11).any(|w| w == b"CANARY-plan"), "a logged body is in clear on disk");
        }
        let conn = crate::db::open(&dir.path().join("k.db")).unwrap();
        // Turning it off removes what was kept; a hand edit of the setting is refused.
        set_retention(&conn, &u, 0).unwrap();
        assert!(list(&conn, 10).unwrap().is_empty());
        conn.execute("UPDATE settings SET value = '90' WHERE key = ?1", [SETTING]).unwrap();
        assert!(matches!(retention(&conn, &u), Err(OutboundError::Changed(_))));
    }
}
