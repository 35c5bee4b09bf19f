//! The configuration manifest: which signed records exist and which tag each holds, kept in the
//! vault snapshot where a database edit cannot reach it. A record's tag proves Keyhold wrote it
//! once; the manifest proves it is the one Keyhold wrote last. Without it, an older signed row
//! written back (a revoked token's `revoked_at = NULL` with its earlier tag), a deleted row
//! brought back, or a row deleted would all verify.
//!
//! Every change Keyhold makes updates the manifest with exactly what that change touched (the
//! rows that differ between before and after it), so a difference made outside Keyhold stays a
//! difference until the user resolves it (re-saves or removes the item, or accepts the database
//! as it is with `keyhold vault check --accept`).

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

/// One signed record: its table, its id, its tag (hex), and the name a user knows it by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub tag: String,
    pub name: String,
}

/// Every signed record, by (table, id).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest(pub BTreeMap<(String, String), Entry>);

/// The settings whose rows are part of the manifest: the protected ones, and the two tables
/// signed as a whole (their tag is a settings row).
const SETTINGS: &[(&str, &str)] = &[
    ("offline", "offline mode"),
    ("proxy.allowed_origins", "the proxy's allowed browser origins"),
    ("privacy.payload_log_days", "the outbound payload log"),
    ("privacy.phone_region", "the region for phone numbers"),
    ("integrity.dictionary", "the privacy dictionary"),
    ("integrity.price_overrides", "your price overrides"),
];

/// How offline mode "on" stands in the manifest (it has no tag).
pub const OFFLINE_ON: &str = "on";

/// The manifest's key of offline mode.
pub fn offline_key() -> (String, String) {
    ("setting".to_string(), "offline".to_string())
}

/// Bytes as lower-case hex: how the manifest (and the ledger's mark) writes a tag.
pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// True when the database holds something a user would have to recognize before Keyhold uses
/// it: a key, an agent, a proxy token, a dictionary term or a price override (a fresh database
/// holds none; the tags of its empty tables do not count).
pub fn database_holds_anything(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM provider_keys) OR EXISTS (SELECT 1 FROM agents)
             OR EXISTS (SELECT 1 FROM agent_tokens) OR EXISTS (SELECT 1 FROM dictionary_terms)
             OR EXISTS (SELECT 1 FROM price_overrides)",
        [],
        |r| r.get(0),
    )
}

impl Manifest {
    /// The manifest of what the database holds now.
    pub fn read(conn: &Connection) -> rusqlite::Result<Manifest> {
        let mut out = BTreeMap::new();
        let mut add = |table: &str, sql: &str| -> rusqlite::Result<()> {
            let mut stmt = conn.prepare_cached(sql)?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<Vec<u8>>>(1)?, r.get::<_, String>(2)?))
            })?;
            for row in rows {
                let (id, tag, name) = row?;
                let tag = tag.as_deref().map_or_else(|| "unsigned".to_string(), hex);
                out.insert((table.to_string(), id), Entry { tag, name });
            }
            Ok(())
        };
        add("key", "SELECT id, mac, label FROM provider_keys")?;
        add("agent", "SELECT id, mac, name FROM agents")?;
        add(
            "token",
            "SELECT t.id, t.mac, t.label || ' of agent ' || COALESCE(a.name, '?') FROM agent_tokens t
             LEFT JOIN agents a ON a.id = t.agent_id",
        )?;
        let mut stmt = conn.prepare_cached("SELECT key, value, mac FROM settings WHERE key = ?1")?;
        for (key, name) in SETTINGS {
            let row = stmt
                .query_row([key], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<Vec<u8>>>(2)?))
                })
                .map(Some)
                .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })?;
            let Some((key, value, tag)) = row else { continue };
            // Offline mode "on" is written unsigned (it needs no passphrase: it only keeps data
            // here) and is always obeyed: the manifest notes it as "on"; "off" by its tag.
            let tag = if key == "offline" && value == "on" {
                OFFLINE_ON.to_string()
            } else {
                tag.as_deref().map_or_else(|| "unsigned".to_string(), hex)
            };
            out.insert(("setting".to_string(), key), Entry { tag, name: name.to_string() });
        }
        Ok(Manifest(out))
    }

    /// What a database never signed by this vault holds, for the user to look over before
    /// adopting it: a first line saying so, then each record by the name the user knows it by.
    pub fn never_signed_lines(&self) -> Vec<String> {
        let mut out = vec![
            "this database was never signed by this vault (an older version's, a copy, or planted): nothing in it \
             is used until you adopt it, in the window or with `keyhold vault check --adopt`. Adopt it only if \
             you recognize everything below"
                .to_string(),
        ];
        for ((table, id), e) in &self.0 {
            if table == "setting" && (id == "offline" || e.tag == OFFLINE_ON) {
                continue;
            }
            out.push(format!("{table} \"{}\" is in it", e.name));
        }
        out
    }

    /// Applies what one change of Keyhold's own did (`before` → `after`) to this manifest.
    pub fn apply(&mut self, before: &Manifest, after: &Manifest) {
        for (k, v) in &after.0 {
            if before.0.get(k) != Some(v) {
                self.0.insert(k.clone(), v.clone());
            }
        }
        for k in before.0.keys() {
            if !after.0.contains_key(k) {
                self.0.remove(k);
            }
        }
    }

    /// How the database differs from this manifest, in words, one line per record.
    pub fn differences(&self, now: &Manifest) -> Vec<String> {
        let mut out = Vec::new();
        for ((table, id), e) in &now.0 {
            // Offline mode on is never a difference: it only keeps data here.
            if (table.clone(), id.clone()) == offline_key() && e.tag == OFFLINE_ON {
                continue;
            }
            match self.0.get(&(table.clone(), id.clone())) {
                None => out.push(format!("{table} \"{}\" was added or brought back outside Keyhold", e.name)),
                Some(saved) if saved.tag != e.tag => {
                    out.push(format!("{table} \"{}\" was replaced by an earlier or altered copy", e.name))
                }
                Some(_) => {}
            }
        }
        for ((table, id), e) in &self.0 {
            if !now.0.contains_key(&(table.clone(), id.clone())) {
                out.push(format!("{table} \"{}\" was deleted outside Keyhold", e.name));
            }
        }
        out
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let list: Vec<(&(String, String), &Entry)> = self.0.iter().collect();
        serde_json::to_vec(&list).expect("a manifest serializes")
    }

    pub fn from_bytes(b: &[u8]) -> Option<Manifest> {
        let list: Vec<((String, String), Entry)> = serde_json::from_slice(b).ok()?;
        Some(Manifest(list.into_iter().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(rows: &[(&str, &str, &str)]) -> Manifest {
        Manifest(
            rows.iter()
                .map(|(t, id, tag)| {
                    ((t.to_string(), id.to_string()), Entry { tag: tag.to_string(), name: id.to_string() })
                })
                .collect(),
        )
    }

    #[test]
    fn a_replayed_a_resurrected_and_a_deleted_record_are_each_named() {
        let saved = m(&[("token", "t1", "bb"), ("key", "k1", "cc")]);
        let now = m(&[("token", "t1", "aa"), ("agent", "a9", "dd")]);
        let d = saved.differences(&now);
        assert_eq!(d.len(), 3, "{d:?}");
        assert!(d.iter().any(|l| l.contains("token \"t1\" was replaced by an earlier or altered copy")));
        assert!(d.iter().any(|l| l.contains("agent \"a9\" was added or brought back")));
        assert!(d.iter().any(|l| l.contains("key \"k1\" was deleted")));
        assert_eq!(Manifest::from_bytes(&saved.to_bytes()), Some(saved));
    }

    #[test]
    fn keyholds_own_change_moves_the_manifest_and_a_foreign_one_stays_a_difference() {
        let mut saved = m(&[("token", "t1", "bb"), ("key", "k1", "cc")]);
        // The database was tampered with (k1 replayed), then Keyhold revoked t1.
        let before = m(&[("token", "t1", "bb"), ("key", "k1", "old")]);
        let after = m(&[("token", "t1", "revoked"), ("key", "k1", "old")]);
        saved.apply(&before, &after);
        assert_eq!(saved.0[&("token".into(), "t1".into())].tag, "revoked");
        assert_eq!(saved.differences(&after), ["key \"k1\" was replaced by an earlier or altered copy"]);
    }
}
