//! Local proxy tokens: what another tool presents to run as an agent. A token is 32 random bytes,
//! shown once; only its SHA-256 is stored (the token has full entropy, so a fast hash is right).

use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};
use specta::Type;

use super::{find, Agent, AgentError};

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
#[derive(Debug, Clone, Serialize, Type)]
pub struct Issued {
    pub info: TokenInfo,
    pub token: String,
}

fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn issue(conn: &Connection, agent: &str, label: Option<&str>) -> Result<Issued, AgentError> {
    let a = find(conn, agent)?;
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let token = format!("{PREFIX}{}", raw.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let mut idb = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut idb);
    let id = format!("t_{}", idb.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let hint = format!("{PREFIX}…{}", &token[token.len() - 4..]);
    let label = label.map(str::trim).filter(|l| !l.is_empty()).unwrap_or("token").to_string();
    conn.execute(
        "INSERT INTO agent_tokens (id, agent_id, label, hash, hint, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, a.id, label, hash(&token), hint, now()],
    )?;
    let info = list(conn, Some(&a.name))?.into_iter().find(|t| t.id == id).expect("the token was just written");
    Ok(Issued { info, token })
}

pub fn list(conn: &Connection, agent: Option<&str>) -> Result<Vec<TokenInfo>, AgentError> {
    let agent_id = agent.map(|a| find(conn, a)).transpose()?.map(|a| a.id);
    let mut stmt = conn.prepare(
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
pub fn revoke(conn: &Connection, id: &str) -> Result<TokenInfo, AgentError> {
    let n = conn
        .execute("UPDATE agent_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL", params![id, now()])?;
    if n == 0 {
        return Err(AgentError::NotFound(format!("token {id}")));
    }
    list(conn, None)?.into_iter().find(|t| t.id == id).ok_or_else(|| AgentError::NotFound(id.into()))
}

/// The agent a presented token runs as, if the token is known and not revoked.
pub fn authenticate(conn: &Connection, presented: &str) -> Result<Option<Agent>, AgentError> {
    let agent_id: Option<String> = conn
        .query_row(
            "SELECT agent_id FROM agent_tokens WHERE hash = ?1 AND revoked_at IS NULL",
            [hash(presented.trim())],
            |r| r.get(0),
        )
        .optional()?;
    agent_id.map(|id| find(conn, &id)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_shown_once_stored_hashed_and_stops_working_when_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::open(&dir.path().join("k.db")).unwrap();
        let spec = super::super::AgentSpec { name: "Bot".into(), model: "gpt-4o-mini".into(), ..Default::default() };
        super::super::add(&mut conn, &spec).unwrap();
        let issued = issue(&conn, "bot", Some("editor")).unwrap();
        assert!(issued.token.starts_with("kh-") && issued.token.len() == 67);
        assert_eq!(issued.info.hint, format!("kh-…{}", &issued.token[63..]));
        let stored: String = conn.query_row("SELECT hash FROM agent_tokens", [], |r| r.get(0)).unwrap();
        assert!(!stored.contains(&issued.token[3..]));
        assert_eq!(authenticate(&conn, &issued.token).unwrap().unwrap().name, "Bot");
        assert!(authenticate(&conn, "kh-wrong").unwrap().is_none());
        revoke(&conn, &issued.info.id).unwrap();
        assert!(authenticate(&conn, &issued.token).unwrap().is_none());
        assert!(revoke(&conn, &issued.info.id).is_err(), "revoking twice says so");
    }
}
