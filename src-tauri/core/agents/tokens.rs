//! Local proxy tokens: what another tool presents to run as an agent. A token is 32 random bytes,
//! shown once; only `HMAC(K_token, token)` is stored (see [`crate::integrity`]), and the row's tag
//! binds that digest to its agent and its revocation. Tokens issued before tags existed were
//! stored as a bare SHA-256 (`scheme` 'sha256'); they keep working, their digest now bound by the
//! row's tag, so neither kind can be forged by inserting a row.

use crate::db::Cached;
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};
use specta::Type;

use super::{find, Agent, AgentError};
use crate::integrity::{Record, Tampered, Unlocked};

pub const PREFIX: &str = "kh-";

#[derive(Debug, Clone, Serialize, Type)]
pub struct TokenInfo {
    pub id: String,
    pub agent: String,
    pub label: String,
    /// `kh-…a1b2`: enough to tell tokens apart, not to use one.
    pub hint: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// A freshly issued token: the only time its value exists outside the caller.
#[derive(Clone, Serialize, Type)]
pub struct Issued {
    pub info: TokenInfo,
    pub token: String,
}

/// Never the token itself: a debug line or a panic message may end up in a log.
impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").field("info", &self.info).field("token", &"[redacted]").finish()
    }
}

/// The digest tokens issued before tags were stored as.
fn legacy_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// What a token row's tag covers: the digest, its scheme, the agent it runs as, and whether it
/// was revoked.
fn record(id: &str, agent_id: &str, scheme: &str, hash: &str, revoked_at: Option<&str>) -> Record {
    Record::new("agent_tokens", id).text(agent_id).text(scheme).text(hash).opt_text(revoked_at)
}

fn sign(conn: &Connection, u: &Unlocked, id: &str) -> Result<(), AgentError> {
    let (agent_id, scheme, hash, revoked): (String, String, String, Option<String>) =
        conn.cached_row("SELECT agent_id, scheme, hash, revoked_at FROM agent_tokens WHERE id = ?1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
    let tag = u.tag(&record(id, &agent_id, &scheme, &hash, revoked.as_deref()));
    conn.execute("UPDATE agent_tokens SET mac = ?2 WHERE id = ?1", params![id, tag])?;
    Ok(())
}

type TokenRow = (String, String, String, String, Option<String>, Option<Vec<u8>>);

fn rows(conn: &Connection) -> rusqlite::Result<Vec<TokenRow>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, agent_id, scheme, hash, revoked_at, mac FROM agent_tokens ORDER BY id")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?;
    rows.collect()
}

fn tampered_token(id: &str) -> Tampered {
    Tampered::new(
        format!("The proxy token {id}"),
        format!("Revoke it (`keyhold agents revoke {id}`) and issue a new one."),
    )
}

/// Tags every token row as it is now; see [`crate::keys::retag_all`].
pub(crate) fn retag_all(
    conn: &Connection,
    u: &Unlocked,
    verified: Option<&Unlocked>,
) -> Result<Vec<Tampered>, AgentError> {
    let mut bad = Vec::new();
    for (id, agent_id, scheme, hash, revoked, mac) in rows(conn)? {
        if let Some(old) = verified {
            if !old.verify(&record(&id, &agent_id, &scheme, &hash, revoked.as_deref()), mac.as_deref()) {
                bad.push(tampered_token(&id));
                continue;
            }
        }
        sign(conn, u, &id)?;
    }
    Ok(bad)
}

/// Every token row whose tag fails (for `keyhold vault check`).
pub fn check_all(conn: &Connection, u: &Unlocked) -> Result<Vec<Tampered>, AgentError> {
    Ok(rows(conn)?
        .into_iter()
        .filter(|(id, a, s, h, r, mac)| !u.verify(&record(id, a, s, h, r.as_deref()), mac.as_deref()))
        .map(|(id, ..)| tampered_token(&id))
        .collect())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn issue(conn: &Connection, u: &Unlocked, agent: &str, label: Option<&str>) -> Result<Issued, AgentError> {
    let a = find(conn, agent)?;
    super::verify(conn, u, &a)?;
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = format!("{PREFIX}{}", raw.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let mut idb = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut idb);
    let id = format!("t_{}", idb.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let hint = format!("{PREFIX}…{}", &token[token.len() - 4..]);
    let label = label.map(str::trim).filter(|l| !l.is_empty()).unwrap_or("token").to_string();
    conn.execute(
        "INSERT INTO agent_tokens (id, agent_id, label, scheme, hash, hint, created_at) VALUES (?1, ?2, ?3, 'hmac', ?4, ?5, ?6)",
        params![id, a.id, label, u.token_digest(&token), hint, now()],
    )?;
    sign(conn, u, &id)?;
    let info = list(conn, Some(&a.name))?.into_iter().find(|t| t.id == id).expect("the token was just written");
    Ok(Issued { info, token })
}

pub fn list(conn: &Connection, agent: Option<&str>) -> Result<Vec<TokenInfo>, AgentError> {
    let agent_id = agent.map(|a| find(conn, a)).transpose()?.map(|a| a.id);
    let mut stmt = conn.prepare_cached(
        "SELECT t.id, a.name, t.label, t.hint, t.created_at, t.revoked_at FROM agent_tokens t JOIN agents a ON a.id = t.agent_id
         WHERE (?1 IS NULL OR t.agent_id = ?1) ORDER BY a.name, t.created_at",
    )?;
    let rows = stmt.query_map([agent_id], |r| {
        Ok(TokenInfo {
            id: r.get(0)?,
            agent: r.get(1)?,
            label: r.get(2)?,
            hint: r.get(3)?,
            created_at: r.get(4)?,
            revoked_at: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Revokes a token by id; it stops working with the next request.
pub fn revoke(conn: &Connection, u: &Unlocked, id: &str) -> Result<TokenInfo, AgentError> {
    let n = conn
        .execute("UPDATE agent_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL", params![id, now()])?;
    if n == 0 {
        return Err(AgentError::NotFound(format!("token {id}")));
    }
    sign(conn, u, id)?;
    list(conn, None)?.into_iter().find(|t| t.id == id).ok_or_else(|| AgentError::NotFound(id.into()))
}

/// The agent a presented token runs as, if the token is known, not revoked, and its row and its
/// agent carry their tags. A row that fails its tag is refused with [`AgentError::Changed`].
pub fn authenticate(conn: &Connection, u: &Unlocked, presented: &str) -> Result<Option<Agent>, AgentError> {
    let presented = presented.trim();
    let (digest, legacy) = (u.token_digest(presented), legacy_hash(presented));
    type Found = (String, String, String, String, Option<Vec<u8>>);
    let row: Option<Found> = conn
        .prepare_cached(
            "SELECT id, agent_id, scheme, hash, mac FROM agent_tokens
             WHERE revoked_at IS NULL AND ((scheme = 'hmac' AND hash = ?1) OR (scheme = 'sha256' AND hash = ?2))",
        )?
        .query_row([&digest, &legacy], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .optional()?;
    let Some((id, agent_id, scheme, hash, mac)) = row else { return Ok(None) };
    if !u.verify(&record(&id, &agent_id, &scheme, &hash, None), mac.as_deref()) {
        return Err(tampered_token(&id).into());
    }
    let agent = find(conn, &agent_id)?;
    super::verify(conn, u, &agent)?;
    Ok(Some(agent))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::seal::MasterSecret;

    fn setup() -> (tempfile::TempDir, Connection, MasterSecret, MasterSecret) {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::open(&dir.path().join("k.db")).unwrap();
        let (m, t) = (MasterSecret::generate(), MasterSecret::generate());
        let spec = super::super::AgentSpec { name: "Bot".into(), model: "gpt-4o-mini".into(), ..Default::default() };
        super::super::add(&mut conn, &Unlocked::new(&m, &t), &spec).unwrap();
        (dir, conn, m, t)
    }

    #[test]
    fn a_token_is_shown_once_stored_as_an_hmac_and_stops_working_when_revoked() {
        let (_d, conn, m, t) = setup();
        let u = Unlocked::new(&m, &t);
        let issued = issue(&conn, &u, "bot", Some("editor")).unwrap();
        assert!(issued.token.starts_with("kh-") && issued.token.len() == 67);
        assert_eq!(issued.info.hint, format!("kh-…{}", &issued.token[63..]));
        let stored: String = conn.query_row("SELECT hash FROM agent_tokens", [], |r| r.get(0)).unwrap();
        assert!(!stored.contains(&issued.token[3..]));
        assert_ne!(stored, legacy_hash(&issued.token), "not a bare hash anyone can compute");
        assert_eq!(authenticate(&conn, &u, &issued.token).unwrap().unwrap().name, "Bot");
        assert!(authenticate(&conn, &u, "kh-wrong").unwrap().is_none());
        revoke(&conn, &u, &issued.info.id).unwrap();
        assert!(authenticate(&conn, &u, &issued.token).unwrap().is_none());
        assert!(revoke(&conn, &u, &issued.info.id).is_err(), "revoking twice says so");
    }

    #[test]
    fn a_token_row_written_outside_keyhold_does_not_authenticate() {
        let (_d, conn, m, t) = setup();
        let u = Unlocked::new(&m, &t);
        let real = issue(&conn, &u, "bot", None).unwrap();
        let agent_id: String = conn.query_row("SELECT id FROM agents", [], |r| r.get(0)).unwrap();
        // A forged row with the bare SHA-256 of a token of the attacker's choosing (the 0.1 scheme),
        // and one with a digest copied from the real row.
        let chosen = "kh-chosen-by-the-attacker";
        conn.execute(
            "INSERT INTO agent_tokens (id, agent_id, label, scheme, hash, hint, created_at) VALUES ('t_forged', ?1, 'x', 'sha256', ?2, 'kh-…', '2026-01-01')",
            params![agent_id, legacy_hash(chosen)],
        )
        .unwrap();
        let err = authenticate(&conn, &u, chosen).unwrap_err();
        assert!(err.to_string().contains("The proxy token t_forged was changed outside Keyhold"), "{err}");
        // Un-revoking by hand fails too.
        revoke(&conn, &u, &real.info.id).unwrap();
        conn.execute("UPDATE agent_tokens SET revoked_at = NULL WHERE id = ?1", [&real.info.id]).unwrap();
        assert!(matches!(authenticate(&conn, &u, &real.token), Err(AgentError::Changed(_))));
        let listed = check_all(&conn, &u).unwrap();
        assert_eq!(listed.len(), 2, "{listed:?}");
    }
}

#[cfg(test)]
mod debug_tests {
    #[test]
    fn an_issued_tokens_debug_form_holds_no_token() {
        let issued = super::Issued {
            info: super::TokenInfo {
                id: "t1".into(),
                agent: "a".into(),
                label: "l".into(),
                hint: "kh-…0001".into(),
                created_at: String::new(),
                revoked_at: None,
            },
            token: "kh-canary-token-value".into(),
        };
        assert!(!format!("{issued:?}").contains("canary"));
    }
}
