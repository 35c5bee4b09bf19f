//! Chat history: the window's conversations, each with one agent. A conversation is as private as
//! the keys, so its title and every line are sealed like a key row (AES-256-GCM under a key
//! derived from the master secret, bound to the row's id); the database holds only the agent,
//! the times and the ciphertext. A master rotation re-seals them.

use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use specta::Type;

use crate::integrity::Unlocked;
use crate::seal::{self, RowBinding, Sealed};

const BINDING: &str = "conversation";
/// How much of the first message names a conversation in the list.
const TITLE_CHARS: usize = 60;

/// One line of a conversation, as the window shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Type)]
pub struct SavedLine {
    /// "user" or "assistant".
    pub role: String,
    pub text: String,
    /// The reply's bill and route, as the window received it (JSON), for assistant lines.
    pub reply_json: Option<String>,
    /// Why the answer failed, when it did.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct ConversationInfo {
    pub id: String,
    pub title: String,
    /// True when the user named it (the title no longer follows the first message).
    pub renamed: bool,
    /// The agent it is with (its id; `app::chat` lists the name beside it).
    pub agent_id: String,
    /// RFC 3339, UTC.
    pub updated_at: String,
    pub lines: u32,
    /// For a search: the first line that matched, cut around the match.
    pub snippet: Option<String>,
}

/// Which conversations a list holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter<'a> {
    /// Only this agent's (its id); every agent's when None.
    pub agent_id: Option<&'a str>,
    /// Only those whose title or any line holds this text (case and accents as typed are
    /// ignored for ASCII letters; the rest matched as written, after lower-casing).
    pub query: Option<&'a str>,
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct Conversation {
    pub info: ConversationInfo,
    pub lines: Vec<SavedLine>,
}

#[derive(Serialize, Deserialize)]
struct Content {
    title: String,
    /// The user named it: a later save keeps the title.
    #[serde(default)]
    renamed: bool,
    lines: Vec<SavedLine>,
}

impl Content {
    fn info(&self, id: String, agent_id: String, updated_at: String) -> ConversationInfo {
        ConversationInfo {
            id,
            title: self.title.clone(),
            renamed: self.renamed,
            agent_id,
            updated_at,
            lines: self.lines.len() as u32,
            snippet: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    #[error("No conversation with the id {0}: it may have been deleted.")]
    NotFound(String),
    #[error("A conversation does not open: it was changed outside Keyhold.")]
    DoesNotOpen,
    #[error("A conversation's name cannot be empty.")]
    EmptyName,
    #[error("Database error: {0}")]
    Db(#[from] rusqlite::Error),
}

impl crate::error::Kinded for ConversationError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            ConversationError::NotFound(_) | ConversationError::EmptyName => ErrorKind::Usage,
            ConversationError::DoesNotOpen => ErrorKind::ChangedOutsideKeyhold,
            ConversationError::Db(_) => ErrorKind::Database,
        }
    }
}

fn title_of(lines: &[SavedLine]) -> String {
    let first = lines.iter().find(|l| l.role == "user").map_or("", |l| l.text.trim());
    let one_line = first.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > TITLE_CHARS {
        format!("{}…", one_line.chars().take(TITLE_CHARS - 1).collect::<String>())
    } else if one_line.is_empty() {
        "New conversation".into()
    } else {
        one_line
    }
}

/// What a conversation's seal is bound to: its id and its agent's, so a row moved to another
/// agent does not open there.
fn binding_id(id: &str, agent_id: &str) -> String {
    format!("{id}\u{1f}{agent_id}")
}

fn seal_content(u: &Unlocked, id: &str, agent_id: &str, content: &Content) -> Sealed {
    let json = zeroize::Zeroizing::new(serde_json::to_vec(content).expect("strings serialize"));
    seal::seal(u.master(), RowBinding { row_id: &binding_id(id, agent_id), provider: BINDING }, &json)
}

/// A stored row: its agent, salt, nonce, ciphertext, and when it was last saved.
type StoredRow = (String, Vec<u8>, Vec<u8>, Vec<u8>, String);

/// A stored conversation opened: its content, its agent's id, and when it was last saved.
fn open_content(conn: &Connection, u: &Unlocked, id: &str) -> Result<(Content, String, String), ConversationError> {
    let row: Option<StoredRow> = conn
        .prepare_cached("SELECT agent_id, salt, nonce, ciphertext, updated_at FROM conversations WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .optional()?;
    let (agent_id, salt, nonce, ct, updated_at) = row.ok_or_else(|| ConversationError::NotFound(id.into()))?;
    let sealed = Sealed::from_parts(&salt, &nonce, ct).map_err(|_| ConversationError::DoesNotOpen)?;
    let bytes =
        match seal::open(u.master(), RowBinding { row_id: &binding_id(id, &agent_id), provider: BINDING }, &sealed) {
            Ok(b) => b,
            Err(_) => {
                // Sealed before the agent was bound: opened by its id alone once, and sealed again
                // bound to its agent at once.
                let b = seal::open(u.master(), RowBinding { row_id: id, provider: BINDING }, &sealed)
                    .map_err(|_| ConversationError::DoesNotOpen)?;
                let content: Content = serde_json::from_slice(&b).map_err(|_| ConversationError::DoesNotOpen)?;
                let s = seal_content(u, id, &agent_id, &content);
                // Best effort (a read may run where the database is busy): tried again at the
                // next open.
                let _ = conn.execute(
                    "UPDATE conversations SET salt = ?2, nonce = ?3, ciphertext = ?4 WHERE id = ?1",
                    params![id, s.salt.to_vec(), s.nonce.to_vec(), s.ciphertext],
                );
                b
            }
        };
    let content = serde_json::from_slice(&bytes).map_err(|_| ConversationError::DoesNotOpen)?;
    Ok((content, agent_id, updated_at))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Saves a conversation of `agent_id` (a new one when `id` is None) and returns its summary.
pub fn save(
    conn: &Connection,
    u: &Unlocked,
    agent_id: &str,
    id: Option<&str>,
    lines: Vec<SavedLine>,
) -> Result<ConversationInfo, ConversationError> {
    let id = match id.filter(|i| !i.is_empty()) {
        Some(i) => i.to_string(),
        None => {
            let mut b = [0u8; 8];
            rand::rngs::OsRng.fill_bytes(&mut b);
            format!("c_{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>())
        }
    };
    let now = now();
    // A title the user gave stays; otherwise it follows the first message.
    let kept = match open_content(conn, u, &id) {
        Ok((c, owner, _)) if c.renamed && owner == agent_id => Some(c.title),
        _ => None,
    };
    let content = match kept {
        Some(title) => Content { title, renamed: true, lines },
        None => Content { title: title_of(&lines), renamed: false, lines },
    };
    let s = seal_content(u, &id, agent_id, &content);
    conn.execute(
        "INSERT INTO conversations (id, agent_id, created_at, updated_at, salt, nonce, ciphertext)
         VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET updated_at = ?3, salt = ?4, nonce = ?5, ciphertext = ?6
         WHERE agent_id = ?2",
        params![id, agent_id, now, s.salt.to_vec(), s.nonce.to_vec(), s.ciphertext],
    )?;
    Ok(content.info(id, agent_id.to_string(), now))
}

/// Names a conversation: the name stays through later saves.
pub fn rename(conn: &Connection, u: &Unlocked, id: &str, title: &str) -> Result<ConversationInfo, ConversationError> {
    let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
    if title.is_empty() {
        return Err(ConversationError::EmptyName);
    }
    let (mut content, agent_id, updated_at) = open_content(conn, u, id)?;
    content.title = title.chars().take(200).collect();
    content.renamed = true;
    let s = seal_content(u, id, &agent_id, &content);
    conn.execute(
        "UPDATE conversations SET salt = ?2, nonce = ?3, ciphertext = ?4 WHERE id = ?1",
        params![id, s.salt.to_vec(), s.nonce.to_vec(), s.ciphertext],
    )?;
    Ok(content.info(id.into(), agent_id, updated_at))
}

/// Where `needle` (lower-cased) is in `text`, cut to about 80 characters around it.
fn snippet(text: &str, needle: &str) -> Option<String> {
    let lower = text.to_lowercase();
    // Lower-casing can change lengths outside ASCII: the match is looked up in characters.
    let at = lower.find(needle)?;
    let chars_before = lower[..at].chars().count();
    let chars: Vec<char> = text.chars().collect();
    let start = chars_before.saturating_sub(30);
    let end = (chars_before + needle.chars().count() + 50).min(chars.len());
    let body: String = chars[start..end].iter().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" ");
    Some(format!("{}{body}{}", if start > 0 { "…" } else { "" }, if end < chars.len() { "…" } else { "" }))
}

/// Conversations, newest first: one agent's or all, those a search finds. One that does not
/// open is listed as such rather than hiding the others (a search skips it: it has no text).
pub fn list(conn: &Connection, u: &Unlocked, filter: Filter<'_>) -> Result<Vec<ConversationInfo>, ConversationError> {
    let rows: Vec<(String, String)> = conn
        .prepare_cached(
            "SELECT id, agent_id FROM conversations WHERE ?1 IS NULL OR agent_id = ?1 ORDER BY updated_at DESC, rowid DESC",
        )?
        .query_map([filter.agent_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let needle = filter.query.map(|q| q.trim().to_lowercase()).filter(|q| !q.is_empty());
    let mut out = Vec::with_capacity(rows.len());
    for (id, agent_id) in rows {
        match open_content(conn, u, &id) {
            Ok((c, agent_id, updated_at)) => {
                let mut info = c.info(id, agent_id, updated_at);
                if let Some(n) = &needle {
                    let found = if c.title.to_lowercase().contains(n.as_str()) {
                        Some(None)
                    } else {
                        c.lines.iter().find_map(|l| snippet(&l.text, n)).map(Some)
                    };
                    match found {
                        Some(s) => info.snippet = s,
                        None => continue,
                    }
                }
                out.push(info)
            }
            Err(ConversationError::DoesNotOpen) if needle.is_none() => out.push(ConversationInfo {
                id,
                title: "(changed outside Keyhold: does not open)".into(),
                renamed: false,
                agent_id,
                updated_at: String::new(),
                lines: 0,
                snippet: None,
            }),
            Err(ConversationError::DoesNotOpen) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

pub fn open(conn: &Connection, u: &Unlocked, id: &str) -> Result<Conversation, ConversationError> {
    let (c, agent_id, updated_at) = open_content(conn, u, id)?;
    Ok(Conversation { info: c.info(id.into(), agent_id, updated_at), lines: c.lines })
}

pub fn remove(conn: &Connection, id: &str) -> Result<(), ConversationError> {
    match conn.execute("DELETE FROM conversations WHERE id = ?1", [id])? {
        0 => Err(ConversationError::NotFound(id.into())),
        _ => Ok(()),
    }
}

/// Removes every conversation of an agent (the agent is being deleted).
pub fn remove_for_agent(conn: &Connection, agent_id: &str) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM conversations WHERE agent_id = ?1", [agent_id])
}

/// Re-seals every conversation from `old` to `new` (a master rotation). One that does not open
/// is left as it is: it is the user's own record, and may open again from a backup.
pub(crate) fn reseal(conn: &Connection, old: &Unlocked, new: &Unlocked) -> rusqlite::Result<()> {
    let ids: Vec<(String, String)> = conn
        .prepare("SELECT id, agent_id FROM conversations")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (id, agent_id) in ids {
        if let Ok((content, _, _)) = open_content(conn, old, &id) {
            let s = seal_content(new, &id, &agent_id, &content);
            conn.execute(
                "UPDATE conversations SET salt = ?2, nonce = ?3, ciphertext = ?4 WHERE id = ?1",
                params![id, s.salt.to_vec(), s.nonce.to_vec(), s.ciphertext],
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "canary-conversation-7f3a9 ünïcödé";

    fn line(role: &str, text: &str) -> SavedLine {
        SavedLine { role: role.into(), text: text.into(), reply_json: None, error: None }
    }

    fn of(agent_id: &str) -> Filter<'_> {
        Filter { agent_id: Some(agent_id), query: None }
    }

    #[test]
    fn one_list_across_agents_searches_titles_and_lines_and_a_name_given_stays() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::open(&dir.path().join("s.db")).unwrap();
        let u = crate::integrity::for_tests();
        let a = save(
            &conn,
            &u,
            "a_1",
            None,
            vec![line("user", "Plan the Lisbon trip"), line("assistant", "Day one: Alfama")],
        )
        .unwrap();
        let b = save(
            &conn,
            &u,
            "a_2",
            None,
            vec![line("user", "Fix the Rust build"), line("assistant", "Run cargo check ÜBER")],
        )
        .unwrap();
        let all = list(&conn, &u, Filter::default()).unwrap();
        assert_eq!(
            all.iter().map(|c| c.agent_id.as_str()).collect::<Vec<_>>(),
            ["a_2", "a_1"],
            "newest first, every agent"
        );
        let by_title = list(&conn, &u, Filter { agent_id: None, query: Some("lisbon") }).unwrap();
        assert_eq!(by_title.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [a.id.as_str()]);
        assert_eq!(by_title[0].snippet, None, "a title match needs no snippet");
        let by_line = list(&conn, &u, Filter { agent_id: None, query: Some("  über ") }).unwrap();
        assert_eq!(by_line.len(), 1);
        assert_eq!(by_line[0].id, b.id);
        assert_eq!(by_line[0].snippet.as_deref(), Some("Run cargo check ÜBER"));
        assert!(list(&conn, &u, Filter { agent_id: Some("a_1"), query: Some("cargo") }).unwrap().is_empty());

        let named = rename(&conn, &u, &a.id, "  Lisbon,\n in May ").unwrap();
        assert_eq!((named.title.as_str(), named.renamed), ("Lisbon, in May", true));
        // The next answer saves the conversation again: the name stays.
        let more =
            vec![line("user", "Plan the Lisbon trip"), line("assistant", "Day one"), line("user", "and day two?")];
        assert_eq!(save(&conn, &u, "a_1", Some(&a.id), more).unwrap().title, "Lisbon, in May");
        assert_eq!(open(&conn, &u, &a.id).unwrap().info.title, "Lisbon, in May");
        assert!(matches!(rename(&conn, &u, &a.id, " \t"), Err(ConversationError::EmptyName)));
        assert!(matches!(rename(&conn, &u, "c_gone", "x"), Err(ConversationError::NotFound(_))));
        // Not in the file in clear either.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        let file = std::fs::read(dir.path().join("s.db")).unwrap();
        assert!(!file.windows(14).any(|w| w == b"Lisbon, in May"));
    }

    #[test]
    fn a_conversation_comes_back_whole_and_is_not_in_the_file_in_clear() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.db");
        let conn = crate::db::open(&path).unwrap();
        let u = crate::integrity::for_tests();
        let lines = vec![line("user", &format!("Tell me about {CANARY}")), line("assistant", CANARY)];
        let info = save(&conn, &u, "a_1", None, lines.clone()).unwrap();
        assert_eq!(info.lines, 2);
        assert!(info.title.starts_with("Tell me about canary"));
        let more = [lines.clone(), vec![line("user", "and then?")]].concat();
        save(&conn, &u, "a_1", Some(&info.id), more.clone()).unwrap();
        assert_eq!(open(&conn, &u, &info.id).unwrap().lines, more);
        assert_eq!(list(&conn, &u, of("a_1")).unwrap().len(), 1);
        assert!(list(&conn, &u, of("a_2")).unwrap().is_empty(), "kept per agent");
        // Another agent cannot overwrite it by reusing its id.
        save(&conn, &u, "a_2", Some(&info.id), vec![line("user", "x")]).unwrap();
        assert_eq!(open(&conn, &u, &info.id).unwrap().lines, more);
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        let file = std::fs::read(&path).unwrap();
        assert!(!file.windows(12).any(|w| w == &CANARY.as_bytes()[..12]), "no conversation text in clear");
        remove(&conn, &info.id).unwrap();
        assert!(matches!(open(&conn, &u, &info.id), Err(ConversationError::NotFound(_))));
    }

    #[test]
    fn a_conversation_changed_outside_keyhold_does_not_open_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::open(&dir.path().join("k.db")).unwrap();
        let u = crate::integrity::for_tests();
        let a = save(&conn, &u, "a_1", None, vec![line("user", "first")]).unwrap();
        let b = save(&conn, &u, "a_1", None, vec![line("user", "second")]).unwrap();
        conn.execute(
            "UPDATE conversations SET ciphertext = (SELECT ciphertext FROM conversations WHERE id = ?1) WHERE id = ?2",
            [&a.id, &b.id],
        )
        .unwrap();
        assert!(matches!(open(&conn, &u, &b.id), Err(ConversationError::DoesNotOpen)));
        let titles: Vec<String> = list(&conn, &u, of("a_1")).unwrap().into_iter().map(|c| c.title).collect();
        assert!(titles.contains(&"first".to_string()) && titles.iter().any(|t| t.contains("does not open")));
    }

    #[test]
    fn a_conversation_moved_to_another_agent_does_not_open_there() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::open(&dir.path().join("m.db")).unwrap();
        let u = crate::integrity::for_tests();
        let info = save(&conn, &u, "a_1", None, vec![line("user", CANARY)]).unwrap();
        assert!(open(&conn, &u, &info.id).is_ok());
        conn.execute("UPDATE conversations SET agent_id = 'a_2' WHERE id = ?1", [&info.id]).unwrap();
        assert!(matches!(open(&conn, &u, &info.id), Err(ConversationError::DoesNotOpen)));
    }
}
