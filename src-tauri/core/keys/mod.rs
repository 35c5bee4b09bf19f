//! Provider keys: one SQLite row each, the secret sealed per row (see [`crate::seal`]).
//! A key is shown only masked, can be replaced, deactivated, reactivated or deleted, and is never
//! handed back except to the code that sends a request, in zeroizing memory.

mod shape;

use crate::db::Cached;
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use specta::Type;
use zeroize::Zeroizing;

use crate::integrity::{Record, Tampered, Unlocked};
use crate::providers::probe::Verdict;
use crate::providers::{self, AuthStyle, Provider};
use crate::seal::{self, MasterSecret, RowBinding, Sealed};
pub use shape::{mask, prepare_secret, Prepared};

/// A key as everyone but the request path sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Type)]
pub struct KeySummary {
    pub id: String,
    pub provider: String,
    pub label: String,
    pub base_url: Option<String>,
    /// e.g. `sk-ant-…9xQ2`; empty for a local Ollama (no key).
    pub masked: String,
    pub active: bool,
    pub is_default: bool,
    pub created_at: String,
    pub rotated_at: Option<String>,
    /// Models seen by the last successful test (cached; a new test refreshes them).
    pub models: Vec<String>,
    pub models_fetched_at: Option<String>,
    /// The last test's verdict, as the sentence shown to the user.
    pub last_test: Option<String>,
    /// How the key stands, from its state and its last test (the Overview adds its last call).
    pub health: KeyHealth,
    pub last_tested_at: Option<String>,
    /// The user allowed this key over plain `http://` to a host that is not this machine (a
    /// gateway on their own network). Off unless asked for: the key would travel in clear.
    pub allow_insecure_http: bool,
    /// The user counts this server as local although it is not on this machine (an Ollama on
    /// their own network): offline mode may use it and its calls cost nothing.
    pub marked_local: bool,
    /// Whether calls on this key stay local: a key-less model server (Ollama) whose address is
    /// this machine (loopback), or that the user marked local. Never by the provider's name alone.
    pub local: bool,
}

/// A key's health at a glance: a kind for the window and the command line to show, never a
/// sentence to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum KeyHealth {
    /// Its last test succeeded (a local server answered).
    Working,
    /// The provider refused it when tested (401/403).
    Rejected,
    /// The provider could not be reached when tested.
    Unreachable,
    RateLimited,
    /// The provider answered the test in a way Keyhold did not expect (a wrong base URL, say).
    Unexpected,
    NotTested,
    /// Deactivated by the user: it is sent nowhere.
    Deactivated,
    /// The provider refused it on a real call, after its last replacement and its last good test.
    RefusedInUse,
}

impl KeyHealth {
    /// From a stored verdict kind (`Verdict::kind`).
    fn from_verdict(active: bool, verdict: Option<&str>) -> KeyHealth {
        if !active {
            return KeyHealth::Deactivated;
        }
        match verdict {
            None => KeyHealth::NotTested,
            Some("valid") => KeyHealth::Working,
            Some("rejected") => KeyHealth::Rejected,
            Some("unreachable") => KeyHealth::Unreachable,
            Some("rate_limited") => KeyHealth::RateLimited,
            Some(_) => KeyHealth::Unexpected,
        }
    }

    /// A few words, as the window shows them.
    pub fn words(self) -> &'static str {
        match self {
            KeyHealth::Working => "working",
            KeyHealth::Rejected => "rejected",
            KeyHealth::Unreachable => "unreachable",
            KeyHealth::RateLimited => "rate limited",
            KeyHealth::Unexpected => "unexpected reply",
            KeyHealth::NotTested => "not tested",
            KeyHealth::Deactivated => "deactivated",
            KeyHealth::RefusedInUse => "refused on its last call",
        }
    }
}

/// How a key may be reached, beyond its address: both off unless the user asks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, Type)]
pub struct Reach {
    pub allow_insecure_http: bool,
    pub marked_local: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("Unknown provider \"{0}\". Known providers: {1}.")]
    UnknownProvider(String, String),
    #[error("No key called \"{0}\" (give a key's id or label; `keyhold keys list` shows them).")]
    NotFound(String),
    #[error("A key labelled \"{0}\" already exists. Choose another label.")]
    DuplicateLabel(String),
    #[error("Give the key a label.")]
    EmptyLabel,
    #[error("The key is empty. Paste the key from the provider's console.")]
    EmptySecret,
    #[error("{0} does not use a key: give its address with --base-url.")]
    NoKeyExpected(String),
    #[error("The base URL \"{url}\" is not usable: {why}.")]
    BadBaseUrl { url: String, why: String },
    #[error("{0} needs a base URL (the address of the OpenAI-compatible server, ending in /v1).")]
    BaseUrlRequired(String),
    #[error("The stored key \"{label}\" does not open: its row was changed or copied from another row. Replace it with `keyhold keys rotate {label}`; your other keys are not affected.")]
    Tampered { label: String },
    #[error("The key \"{0}\" is deactivated. Reactivate it first.")]
    Inactive(String),
    #[error("The key labelled \"{label}\" was changed outside Keyhold, so that label may be another key's. Check `keyhold keys list`, then remove it by its id: `keyhold keys remove {id}`.")]
    LabelUnsure { label: String, id: String },
    #[error("The base URL \"{url}\" is plain http:// to another machine: the key would travel in clear. Use https://, or, for a gateway on your own network, allow it explicitly with --allow-insecure-http.")]
    InsecureHttp { url: String },
    #[error("{0} takes a key and bills for it, so it cannot be marked local: only a key-less model server (Ollama) on your own network can.")]
    NotLocal(String),
    #[error(transparent)]
    Changed(#[from] Tampered),
    #[error("Database error: {0}")]
    Db(#[from] rusqlite::Error),
}

impl crate::error::Kinded for KeyError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            KeyError::NotFound(_) => ErrorKind::KeyNotFound,
            KeyError::Tampered { .. } => ErrorKind::KeyTampered,
            KeyError::Inactive(_) => ErrorKind::KeyInactive,
            KeyError::Changed(_) | KeyError::LabelUnsure { .. } => ErrorKind::ChangedOutsideKeyhold,
            KeyError::Db(_) => ErrorKind::Database,
            _ => ErrorKind::BadKeyInput,
        }
    }
}

/// What `add` and `rotate` report: the stored key, and things worth a second look.
#[derive(Debug, Clone, Serialize, Type)]
pub struct Saved {
    pub key: KeySummary,
    pub warnings: Vec<String>,
}

/// The catalog entry for `id`, or an error that lists the known providers.
pub fn provider(id: &str) -> Result<&'static Provider, KeyError> {
    providers::find(id).ok_or_else(|| {
        let known: Vec<&str> = providers::catalog().iter().map(|p| p.id.as_str()).collect();
        KeyError::UnknownProvider(id.into(), known.join(", "))
    })
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn new_id() -> String {
    let mut b = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("k_{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>())
}

/// A URL as it may be shown: any `user:password@` before the host replaced, so an error never
/// echoes credentials someone pasted into it.
fn without_credentials(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_string() };
    let rest = &url[scheme_end..];
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => format!("{}[credentials removed]@{}", &url[..scheme_end], &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// Checks a base URL (parsed by the WHATWG URL standard): http(s), a host, no credentials,
/// query or fragment; trailing slashes dropped.
pub fn normalize_base_url(url: &str) -> Result<String, KeyError> {
    let bad = |why: &str| KeyError::BadBaseUrl { url: without_credentials(url), why: why.into() };
    let trimmed = url.trim().trim_end_matches('/');
    if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
        return Err(bad("it must start with http:// or https://"));
    }
    if trimmed.contains(char::is_whitespace) {
        return Err(bad("it contains spaces, a query or a fragment"));
    }
    let parsed = url::Url::parse(trimmed).map_err(|e| bad(&format!("it is not a URL ({e})")))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host name"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("credentials in the URL would be stored in clear; put the key in the key field"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("it contains spaces, a query or a fragment"));
    }
    Ok(trimmed.to_string())
}

/// The address Keyhold calls for `p`, from one a user pasted: a provider whose own paths begin
/// with `/v1` (Anthropic) or `/api` (Ollama) is called at its root, so an address copied from an
/// OpenAI-compatibility page (Ollama's `http://localhost:11434/v1`) is not a 404 that makes a
/// working server look broken. The note says what was dropped.
fn api_root(p: &Provider, url: &str) -> (String, Option<String>) {
    let (api, endings): (&str, &[&str]) = match p.protocol {
        providers::Protocol::Ollama => ("Ollama", &["/v1", "/api"]),
        providers::Protocol::AnthropicMessages => ("Anthropic", &["/v1"]),
        _ => return (url.to_string(), None),
    };
    for end in endings {
        if let Some(root) = url.strip_suffix(end).filter(|r| r.contains("://") && !r.ends_with('/')) {
            let note = format!(
                "Keyhold speaks {api}'s own API at {root}, so the \"{end}\" ending was dropped from the address."
            );
            return (root.to_string(), Some(note));
        }
    }
    (url.to_string(), None)
}

/// Whether `url`'s host is this machine: `localhost`, 127.0.0.0/8 or `[::1]`.
pub fn is_loopback(url: &str) -> bool {
    match url::Url::parse(url).ok().as_ref().and_then(url::Url::host) {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A key goes over plain http only to this machine, unless the user allowed it for this key.
fn check_transport(p: &Provider, base_url: &str, reach: Reach) -> Result<(), KeyError> {
    let cloud_key = p.auth != AuthStyle::None;
    if cloud_key && base_url.starts_with("http://") && !is_loopback(base_url) && !reach.allow_insecure_http {
        return Err(KeyError::InsecureHttp { url: base_url.into() });
    }
    Ok(())
}

const COLUMNS: &str = "id, provider, label, base_url, masked, active, is_default, created_at, rotated_at, \
                       models, models_fetched_at, last_test, last_tested_at, allow_insecure_http, marked_local, \
                       last_verdict";

fn summary(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeySummary> {
    let provider: String = row.get(1)?;
    let base_url: Option<String> = row.get(3)?;
    let marked_local: bool = row.get(14)?;
    let catalog = providers::find(&provider);
    let address = base_url.clone().or_else(|| catalog.and_then(|p| p.default_base_url.clone()));
    // Local means a model server on this machine that takes no key (Ollama): the provider's kind
    // is necessary but never enough — its address must be loopback, or marked local by the user.
    // A keyed provider is billed wherever it answers from (a gateway on localhost may forward to
    // the cloud).
    let keyless = catalog.is_some_and(|p| p.auth == AuthStyle::None);
    let local = keyless && (marked_local || address.as_deref().is_some_and(is_loopback));
    Ok(KeySummary {
        id: row.get(0)?,
        provider,
        label: row.get(2)?,
        base_url,
        masked: row.get(4)?,
        active: row.get(5)?,
        is_default: row.get(6)?,
        created_at: row.get(7)?,
        rotated_at: row.get(8)?,
        models: row.get::<_, Option<String>>(9)?.and_then(|j| serde_json::from_str(&j).ok()).unwrap_or_default(),
        models_fetched_at: row.get(10)?,
        last_test: row.get(11)?,
        health: KeyHealth::from_verdict(row.get(5)?, row.get::<_, Option<String>>(15)?.as_deref()),
        last_tested_at: row.get(12)?,
        allow_insecure_http: row.get(13)?,
        marked_local,
        local,
    })
}

/// What a key row's tag covers: everything that decides where its secret goes and whether it
/// is used — its provider, address, state, default flag, transport consents, the models it
/// listed at its last test (they decide which key serves an agent on its provider's default
/// key), and its label (what `rotate`, `remove` and agents' chains find it by). (The secret is
/// sealed with the row's id and provider as associated data; test results are display only.)
fn record(k: &KeySummary) -> Record {
    let r = record_v1(k).text("label").text(&k.label).text("models").int(k.models.len() as i64);
    k.models.iter().fold(r, |r, m| r.text(m))
}

/// The tag's cover before the model list was in it: accepted once, at the unlock that upgrades
/// the row ([`upgrade_tags`]), and only for the tag the vault snapshot saved last.
fn record_v1(k: &KeySummary) -> Record {
    Record::new("provider_keys", &k.id)
        .text(&k.provider)
        .opt_text(k.base_url.as_deref())
        .flag(k.active)
        .flag(k.is_default)
        .flag(k.allow_insecure_http)
        .flag(k.marked_local)
}

/// Key rows tagged before the model list was covered, whose tag is the one the snapshot saved
/// last (`saved`: the key's id → its saved tag), are tagged again with their list as it is:
/// once, at the first unlock of this version. Returns the ids and new tags.
pub(crate) fn upgrade_tags(
    conn: &Connection,
    u: &Unlocked,
    saved: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Vec<u8>)>, KeyError> {
    let mut upgraded = Vec::new();
    for k in list(conn)? {
        let mac: Option<Vec<u8>> =
            conn.cached_row("SELECT mac FROM provider_keys WHERE id = ?1", [&k.id], |r| r.get(0))?;
        let Some(mac) = mac else { continue };
        let saved_now = saved(&k.id) == Some(crate::manifest::hex(&mac));
        if u.verify(&record(&k), Some(&mac)) || !u.verify(&record_v1(&k), Some(&mac)) || !saved_now {
            continue;
        }
        let tag = u.tag(&record(&k));
        conn.execute("UPDATE provider_keys SET mac = ?2 WHERE id = ?1", params![k.id, tag])?;
        upgraded.push((k.id, tag));
    }
    Ok(upgraded)
}

/// Tags the key row `id` as it now is.
fn sign(conn: &Connection, u: &Unlocked, id: &str) -> Result<KeySummary, KeyError> {
    let k = find(conn, id)?;
    conn.execute("UPDATE provider_keys SET mac = ?2 WHERE id = ?1", params![k.id, u.tag(&record(&k))])?;
    Ok(k)
}

/// Checks a key row's tag: refused, naming the key, if anything it covers was changed outside
/// Keyhold.
pub fn verify(conn: &Connection, u: &Unlocked, k: &KeySummary) -> Result<(), KeyError> {
    let mac: Option<Vec<u8>> = conn.cached_row("SELECT mac FROM provider_keys WHERE id = ?1", [&k.id], |r| r.get(0))?;
    if u.verify(&record(k), mac.as_deref()) {
        Ok(())
    } else {
        Err(tampered_key(k).into())
    }
}

fn tampered_key(k: &KeySummary) -> Tampered {
    Tampered::new(
        format!("The key \"{}\"", k.label),
        format!("Check its address and state in Keyhold and save it again (`keyhold keys remove {}` and add it anew), or restore the database from a backup.", k.label),
    )
}

/// Tags every key row as it is now (`verified`: only after checking each under that earlier
/// authority, for a master-secret rotation; `None`: adopting a database written before tags).
pub(crate) fn retag_all(
    conn: &Connection,
    u: &Unlocked,
    verified: Option<&Unlocked>,
) -> Result<Vec<Tampered>, KeyError> {
    let mut bad = Vec::new();
    for k in list(conn)? {
        if let Some(old) = verified {
            if let Err(KeyError::Changed(t)) = verify(conn, old, &k) {
                bad.push(t);
                continue;
            }
        }
        sign(conn, u, &k.id)?;
    }
    Ok(bad)
}

pub fn list(conn: &Connection) -> Result<Vec<KeySummary>, KeyError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM provider_keys ORDER BY provider, label"))?;
    let rows = stmt.query_map([], summary)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Finds a key by id or (case-insensitive) label.
pub fn find(conn: &Connection, id_or_label: &str) -> Result<KeySummary, KeyError> {
    conn.cached_row(
        &format!("SELECT {COLUMNS} FROM provider_keys WHERE id = ?1 OR label = ?1 COLLATE NOCASE"),
        [id_or_label],
        summary,
    )
    .optional()?
    .ok_or_else(|| KeyError::NotFound(id_or_label.into()))
}

/// Adds a key. Nothing is stored unless everything checks out.
pub fn add(
    conn: &Connection,
    u: &Unlocked,
    provider_id: &str,
    label: &str,
    base_url: Option<&str>,
    secret: Option<Zeroizing<String>>,
    reach: Reach,
) -> Result<Saved, KeyError> {
    let p = provider(provider_id)?;
    let label = label.trim();
    if label.is_empty() {
        return Err(KeyError::EmptyLabel);
    }
    let mut notes = Vec::new();
    let base_url = match base_url {
        Some(u) => {
            let url = normalize_base_url(u)?;
            let (root, note) = api_root(p, &url);
            notes.extend(note);
            Some(root)
        }
        None if p.default_base_url.is_none() => return Err(KeyError::BaseUrlRequired(p.name.clone())),
        None => None,
    };
    if let Some(url) = base_url.as_deref().or(p.default_base_url.as_deref()) {
        check_transport(p, url, reach)?;
    }
    if reach.marked_local && p.auth != AuthStyle::None {
        return Err(KeyError::NotLocal(p.name.clone()));
    }
    if find(conn, label).is_ok() {
        return Err(KeyError::DuplicateLabel(label.into()));
    }
    let id = new_id();
    let (sealed, masked, mut warnings) = seal_secret(u.master(), p, &id, secret)?;
    warnings.extend(notes);
    let first_of_provider: bool =
        conn.cached_row("SELECT COUNT(*) = 0 FROM provider_keys WHERE provider = ?1", [&p.id], |r| r.get(0))?;
    conn.execute(
        "INSERT INTO provider_keys (id, provider, label, base_url, salt, nonce, ciphertext, masked, active, is_default, created_at,
           allow_insecure_http, marked_local)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?10, ?11, ?12)",
        params![
            id,
            p.id,
            label,
            base_url,
            sealed.as_ref().map(|s| s.salt.to_vec()),
            sealed.as_ref().map(|s| s.nonce.to_vec()),
            sealed.as_ref().map(|s| s.ciphertext.clone()),
            masked,
            // The first key of a provider becomes its default: one key, nothing to choose.
            first_of_provider,
            now(),
            reach.allow_insecure_http,
            reach.marked_local
        ],
    )
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
            KeyError::DuplicateLabel(label.into())
        }
        e => e.into(),
    })?;
    Ok(Saved { key: sign(conn, u, &id)?, warnings })
}

fn seal_secret(
    master: &MasterSecret,
    p: &Provider,
    id: &str,
    secret: Option<Zeroizing<String>>,
) -> Result<(Option<Sealed>, String, Vec<String>), KeyError> {
    match (p.auth, secret) {
        (AuthStyle::None, None) => Ok((None, String::new(), Vec::new())),
        (AuthStyle::None, Some(s)) if s.trim().is_empty() => Ok((None, String::new(), Vec::new())),
        (AuthStyle::None, Some(_)) => Err(KeyError::NoKeyExpected(p.name.clone())),
        (_, None) => Err(KeyError::EmptySecret),
        (_, Some(raw)) => {
            let Prepared { secret, warnings } = prepare_secret(&raw, p)?;
            let sealed = seal::seal(master, RowBinding { row_id: id, provider: &p.id }, secret.as_bytes());
            Ok((Some(sealed), mask(&secret, p), warnings))
        }
    }
}

/// Replaces a key's secret in place: same id, label and every agent's reference.
pub fn rotate(conn: &Connection, u: &Unlocked, k: &str, secret: Zeroizing<String>) -> Result<Saved, KeyError> {
    let key = find(conn, k)?;
    verify(conn, u, &key)?;
    let p = provider(&key.provider)?;
    let (sealed, masked, warnings) = seal_secret(u.master(), p, &key.id, Some(secret))?;
    let sealed = sealed.ok_or_else(|| KeyError::NoKeyExpected(p.name.clone()))?;
    conn.execute(
        "UPDATE provider_keys SET salt = ?2, nonce = ?3, ciphertext = ?4, masked = ?5, rotated_at = ?6 WHERE id = ?1",
        params![key.id, sealed.salt.to_vec(), sealed.nonce.to_vec(), sealed.ciphertext, masked, now()],
    )?;
    Ok(Saved { key: find(conn, &key.id)?, warnings })
}

/// Deactivating is always allowed (it only stops a key); reactivating checks the row first, so a
/// row changed outside Keyhold is not blessed by it.
pub fn set_active(conn: &Connection, u: &Unlocked, k: &str, active: bool) -> Result<KeySummary, KeyError> {
    let key = find(conn, k)?;
    if active {
        verify(conn, u, &key)?;
    }
    conn.execute("UPDATE provider_keys SET active = ?2 WHERE id = ?1", params![key.id, active])?;
    sign(conn, u, &key.id)
}

/// Makes `k` its provider's default, in one transaction with unsetting the previous one.
pub fn set_default(conn: &mut Connection, u: &Unlocked, k: &str) -> Result<KeySummary, KeyError> {
    let key = find(conn, k)?;
    if !key.active {
        return Err(KeyError::Inactive(key.label));
    }
    verify(conn, u, &key)?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let others: Vec<String> = {
        let mut stmt = tx.prepare_cached("SELECT id FROM provider_keys WHERE provider = ?1 AND is_default = 1")?;
        let ids = stmt.query_map([&key.provider], |r| r.get(0))?.collect::<Result<_, _>>()?;
        ids
    };
    tx.execute("UPDATE provider_keys SET is_default = 0 WHERE provider = ?1", [&key.provider])?;
    tx.execute("UPDATE provider_keys SET is_default = 1 WHERE id = ?1", [&key.id])?;
    for id in others.iter().chain(std::iter::once(&key.id)) {
        sign(&tx, u, id)?;
    }
    tx.commit()?;
    find(conn, &key.id)
}

/// Deletes a key. Needs the unlocked vault like every other change, though it only takes away.
/// A row changed outside Keyhold is removed by its id only: its label may be another key's.
pub fn remove(conn: &Connection, u: &Unlocked, k: &str) -> Result<KeySummary, KeyError> {
    let key = find(conn, k)?;
    if key.id != k && verify(conn, u, &key).is_err() {
        return Err(KeyError::LabelUnsure { label: key.label, id: key.id });
    }
    conn.execute("DELETE FROM provider_keys WHERE id = ?1", [&key.id])?;
    Ok(key)
}

/// Opens a key for the moment of one request. A deactivated key, or a row changed outside
/// Keyhold, is never opened.
pub fn open_secret(conn: &Connection, u: &Unlocked, k: &str) -> Result<Option<Zeroizing<String>>, KeyError> {
    let key = find(conn, k)?;
    verify(conn, u, &key)?;
    if !key.active {
        return Err(KeyError::Inactive(key.label));
    }
    open_row(conn, u.master(), &key)
}

/// Opens a row only to see that it opens (`keyhold vault check` on a database from before tags).
pub fn open_row_for_check(conn: &Connection, master: &MasterSecret, key: &KeySummary) -> Result<(), KeyError> {
    open_row(conn, master, key).map(drop)
}

/// A sealed row's salt, nonce and ciphertext, each missing on a row that was tampered with.
type SealedColumns = (Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);

fn open_row(conn: &Connection, master: &MasterSecret, key: &KeySummary) -> Result<Option<Zeroizing<String>>, KeyError> {
    let (salt, nonce, ct): SealedColumns =
        conn.cached_row("SELECT salt, nonce, ciphertext FROM provider_keys WHERE id = ?1", [&key.id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    let tampered = || KeyError::Tampered { label: key.label.clone() };
    let (Some(salt), Some(nonce), Some(ct)) = (salt, nonce, ct) else {
        return Ok(None);
    };
    let sealed = Sealed::from_parts(&salt, &nonce, ct).map_err(|_| tampered())?;
    let bytes =
        seal::open(master, RowBinding { row_id: &key.id, provider: &key.provider }, &sealed).map_err(|_| tampered())?;
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| tampered())?;
    Ok(Some(Zeroizing::new(text)))
}

/// Records a test's verdict (its kind and its sentence); a valid one also refreshes the cached
/// model list, signed with the row (`u`: unlocked; while locked the list is left as it was: it
/// routes, so it is never written unsigned).
pub fn record_test(
    conn: &Connection,
    u: Option<&Unlocked>,
    id: &str,
    verdict: &Verdict,
    sentence: &str,
) -> Result<KeySummary, KeyError> {
    let at = now();
    conn.execute(
        "UPDATE provider_keys SET last_test = ?2, last_tested_at = ?3, last_verdict = ?4 WHERE id = ?1",
        params![id, sentence, at, verdict.kind()],
    )?;
    if let (Verdict::Valid { models }, Some(u)) = (verdict, u) {
        let before = find(conn, id)?;
        if before.models != *models {
            // Only a row that verifies now is re-signed with its new list.
            verify(conn, u, &before)?;
        }
        let json = serde_json::to_string(models).expect("a list of strings serializes");
        conn.execute(
            "UPDATE provider_keys SET models = ?2, models_fetched_at = ?3 WHERE id = ?1",
            params![id, json, at],
        )?;
        if before.models != *models {
            return sign(conn, u, id);
        }
    }
    find(conn, id)
}

/// What a request (or a test) needs to reach the provider with this key.
pub struct Endpoint {
    pub key: KeySummary,
    pub provider: &'static Provider,
    pub base_url: String,
    pub secret: Option<Zeroizing<String>>,
}

/// Resolves a key for one call: its row's tag checked, active, its base URL (https unless this
/// machine or allowed), and the secret opened just now.
pub fn endpoint(conn: &Connection, u: &Unlocked, k: &str) -> Result<Endpoint, KeyError> {
    let key = find(conn, k)?;
    verify(conn, u, &key)?;
    if !key.active {
        return Err(KeyError::Inactive(key.label));
    }
    let provider = provider(&key.provider)?;
    let base_url = key
        .base_url
        .clone()
        .or_else(|| provider.default_base_url.clone())
        .ok_or_else(|| KeyError::BaseUrlRequired(provider.name.clone()))?;
    check_transport(provider, &base_url, Reach { allow_insecure_http: key.allow_insecure_http, marked_local: false })?;
    let secret = open_row(conn, u.master(), &key)?;
    Ok(Endpoint { key, provider, base_url, secret })
}

/// Opens every stored key (for `keyhold vault check`): how many there are, and which do not open.
pub fn check_all(conn: &Connection, u: &Unlocked) -> Result<(usize, Vec<String>), KeyError> {
    let keys = list(conn)?;
    let failed = keys.iter().filter(|k| open_row(conn, u.master(), k).is_err()).map(|k| k.label.clone()).collect();
    Ok((keys.len(), failed))
}

/// Every key row whose tag fails, checked without opening any secret (this runs at each unlock).
pub fn changed(conn: &Connection, u: &Unlocked) -> Result<Vec<Tampered>, KeyError> {
    Ok(list(conn)?.iter().filter(|k| verify(conn, u, k).is_err()).map(tampered_key).collect())
}

#[cfg(test)]
mod tests;
