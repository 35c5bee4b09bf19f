//! Agents: a model on a key, a system prompt, an ordered fallback chain, a daily budget.

mod card;
pub mod tokens;

pub use card::{cards, AgentCard};

use crate::db::Cached;
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use specta::Type;

use crate::integrity::{Record, Tampered, Unlocked};
use crate::keys::{self, KeyError, KeySummary};
use crate::money::Money;
use crate::prices;
use crate::privacy::{Policy, ToolValues};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "lowercase")]
pub enum WhenOver {
    /// Continue on free local steps only.
    Local,
    /// Refuse the call.
    Refuse,
}

/// What a paid step under a daily budget does with a request that has the provider fetch input
/// Keyhold cannot see (a document or image by URL, a file by id): its size is unknown until billed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "lowercase")]
pub enum Fetched {
    /// Reserve the model's whole context window for it (the most it can bill).
    #[default]
    Reserve,
    /// Refuse the step: nothing whose cost is unknown is sent while a budget holds.
    Refuse,
}

impl Fetched {
    pub fn parse(text: &str) -> Option<Fetched> {
        match text {
            "reserve" => Some(Fetched::Reserve),
            "refuse" => Some(Fetched::Refuse),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Fetched::Reserve => "reserve",
            Fetched::Refuse => "refuse",
        }
    }
}

/// A fallback step as stored: a key (id) and a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Step {
    pub key_id: String,
    pub model: String,
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub model: String,
    /// None: the workspace default key of the model's provider.
    pub key_id: Option<String>,
    pub system_prompt: Option<String>,
    pub temperature: Option<f32>,
    pub max_tokens: u32,
    pub fallback: Vec<Step>,
    /// Daily budget, per the user's local day; None = no budget.
    pub budget: Option<Money>,
    pub when_over: WhenOver,
    /// What its cloud steps are not sent (see [`crate::privacy`]).
    pub privacy: Policy,
    /// What its tool calls get back of the values the policy replaced (secrets never).
    pub tool_values: ToolValues,
    /// What a paid step under its budget does with input the provider fetches.
    pub fetched: Fetched,
    pub created_at: String,
}

/// What the user gives to create or edit an agent. Keys and fallback steps are given as a key's
/// id or label; `local` (or `ollama`) in a step names the default Ollama key.
#[derive(Debug, Clone, Default, Deserialize, Type)]
pub struct AgentSpec {
    pub name: String,
    pub model: String,
    pub key: Option<String>,
    pub system_prompt: Option<String>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    /// "K:MODEL" — the first colon splits, so `local:llama3.2:1b` works.
    pub fallback: Vec<String>,
    /// USD, as typed ("2.50").
    pub budget_usd: Option<String>,
    pub when_over: Option<WhenOver>,
    /// None: `secrets` for a new agent, unchanged for an edit.
    pub privacy: Option<Policy>,
    /// None: `restore` for a new agent, unchanged for an edit.
    pub tool_values: Option<ToolValues>,
    /// None: `reserve` for a new agent, unchanged for an edit.
    pub fetched: Option<Fetched>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("Give the agent a name.")]
    EmptyName,
    #[error("Give the agent a model.")]
    EmptyModel,
    #[error("An agent called \"{0}\" already exists. Choose another name.")]
    DuplicateName(String),
    #[error("No agent called \"{0}\" (`keyhold agents list` shows them).")]
    NotFound(String),
    #[error("The fallback step \"{0}\" is not KEY:MODEL (for example `local:llama3.2:1b` or `work:gpt-4o-mini`).")]
    BadStep(String),
    #[error("No local Ollama is set up for the step \"{0}\": add one with `keyhold keys add --provider ollama --label local --base-url http://127.0.0.1:11434`.")]
    NoLocal(String),
    #[error("The daily budget must be a positive amount of USD, like 2.50 (got \"{0}\").")]
    BadBudget(String),
    #[error("The temperature must be between 0 and 2 (got {0}).")]
    BadTemperature(f32),
    #[error("Max tokens must be between 1 and 1000000 (got {0}).")]
    BadMaxTokens(u32),
    #[error("Keyhold cannot tell which provider serves \"{0}\": give a key with --key, or test a key that lists this model.")]
    UnknownModelProvider(String),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Changed(#[from] Tampered),
    #[error("Database error: {0}")]
    Db(#[from] rusqlite::Error),
}

impl crate::error::Kinded for AgentError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            AgentError::NotFound(_) => ErrorKind::AgentNotFound,
            AgentError::Db(_) => ErrorKind::Database,
            AgentError::Key(k) => k.kind(),
            AgentError::Changed(_) => ErrorKind::ChangedOutsideKeyhold,
            _ => ErrorKind::BadAgentInput,
        }
    }
}

/// Saved agent and things worth a second look (a model the key's provider does not list).
#[derive(Debug, Clone, Serialize, Type)]
pub struct SavedAgent {
    pub agent: Agent,
    pub warnings: Vec<String>,
}

pub const DEFAULT_MAX_TOKENS: u32 = 1024;

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn new_id() -> String {
    let mut b = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("a_{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>())
}

/// The key a step names: an id or label, or `local`/`ollama` for the Ollama default.
fn step_key(conn: &Connection, name: &str, step_text: &str) -> Result<KeySummary, AgentError> {
    match keys::find(conn, name) {
        Ok(k) => Ok(k),
        Err(KeyError::NotFound(_)) if name.eq_ignore_ascii_case("local") || name.eq_ignore_ascii_case("ollama") => {
            let all = keys::list(conn)?;
            all.iter()
                .filter(|k| k.provider == "ollama")
                .max_by_key(|k| k.is_default)
                .cloned()
                .ok_or_else(|| AgentError::NoLocal(step_text.into()))
        }
        Err(e) => Err(e.into()),
    }
}

/// The provider serving `model`: from a key that lists it, else from the price file.
pub fn provider_for_model(conn: &Connection, model: &str) -> Result<Option<String>, AgentError> {
    let listed = keys::list(conn)?.into_iter().find(|k| k.models.iter().any(|m| m == model)).map(|k| k.provider);
    Ok(listed.or_else(|| prices::provider_of(model).map(str::to_string)))
}

fn model_warning(key: &KeySummary, model: &str) -> Option<String> {
    (!key.models.is_empty() && !key.models.iter().any(|m| m == model)).then(|| {
        format!(
            "{} ({}) did not list \"{model}\" at its last test. It lists: {}.",
            key.label,
            key.provider,
            key.models.join(", ")
        )
    })
}

struct Checked {
    key_id: Option<String>,
    steps: Vec<Step>,
    budget: Option<Money>,
    max_tokens: u32,
    warnings: Vec<String>,
}

fn check(conn: &Connection, spec: &AgentSpec) -> Result<Checked, AgentError> {
    if spec.name.trim().is_empty() {
        return Err(AgentError::EmptyName);
    }
    if spec.model.trim().is_empty() {
        return Err(AgentError::EmptyModel);
    }
    if let Some(t) = spec.temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err(AgentError::BadTemperature(t));
        }
    }
    let max_tokens = spec.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if max_tokens == 0 || max_tokens > 1_000_000 {
        return Err(AgentError::BadMaxTokens(max_tokens));
    }
    let budget = match spec.budget_usd.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => match Money::parse(b) {
            Ok(n) if n > Money::ZERO => Some(n),
            _ => return Err(AgentError::BadBudget(b.into())),
        },
    };
    let mut warnings = Vec::new();
    let key_id = match spec.key.as_deref().filter(|k| !k.trim().is_empty()) {
        Some(k) => {
            let key = keys::find(conn, k)?;
            warnings.extend(model_warning(&key, spec.model.trim()));
            Some(key.id)
        }
        None => {
            if provider_for_model(conn, spec.model.trim())?.is_none() {
                return Err(AgentError::UnknownModelProvider(spec.model.trim().into()));
            }
            None
        }
    };
    let mut steps = Vec::new();
    for text in &spec.fallback {
        let (k, model) = text
            .split_once(':')
            .filter(|(k, m)| !k.trim().is_empty() && !m.trim().is_empty())
            .ok_or_else(|| AgentError::BadStep(text.clone()))?;
        let key = step_key(conn, k.trim(), text)?;
        warnings.extend(model_warning(&key, model.trim()));
        steps.push(Step { key_id: key.id, model: model.trim().to_string() });
    }
    Ok(Checked { key_id, steps, budget, max_tokens, warnings })
}

fn write_steps(conn: &Connection, id: &str, steps: &[Step]) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM agent_steps WHERE agent_id = ?1", [id])?;
    for (i, s) in steps.iter().enumerate() {
        conn.execute(
            "INSERT INTO agent_steps (agent_id, idx, key_id, model) VALUES (?1, ?2, ?3, ?4)",
            params![id, i as i64, s.key_id, s.model],
        )?;
    }
    Ok(())
}

fn when_over_str(w: WhenOver) -> &'static str {
    match w {
        WhenOver::Local => "local",
        WhenOver::Refuse => "refuse",
    }
}

/// Creates an agent. Everything is checked first; the agent and its chain are written in one
/// transaction, so nothing is half-saved.
pub fn add(conn: &mut Connection, u: &Unlocked, spec: &AgentSpec) -> Result<SavedAgent, AgentError> {
    let name = spec.name.trim();
    if find(conn, name).is_ok() {
        return Err(AgentError::DuplicateName(name.into()));
    }
    let c = check(conn, spec)?;
    let id = new_id();
    let settings = Settings {
        when_over: spec.when_over.unwrap_or(WhenOver::Local),
        privacy: spec.privacy.unwrap_or_default(),
        tool_values: spec.tool_values.unwrap_or_default(),
        fetched: spec.fetched.unwrap_or_default(),
    };
    save(conn, u, &id, spec, c, settings)
}

/// The settings an edit keeps when the spec leaves them out.
struct Settings {
    when_over: WhenOver,
    privacy: Policy,
    tool_values: ToolValues,
    fetched: Fetched,
}

/// Writes an agent row (new, or over an existing id, keeping its creation time) and its chain,
/// in one transaction.
fn save(
    conn: &mut Connection,
    u: &Unlocked,
    id: &str,
    spec: &AgentSpec,
    c: Checked,
    settings: Settings,
) -> Result<SavedAgent, AgentError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT INTO agents (id, name, model, key_id, system_prompt, temperature, max_tokens, budget_nano, when_over, created_at, updated_at, privacy, tool_values, fetched)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, model = excluded.model, key_id = excluded.key_id,
           system_prompt = excluded.system_prompt, temperature = excluded.temperature, max_tokens = excluded.max_tokens,
           budget_nano = excluded.budget_nano, when_over = excluded.when_over, updated_at = excluded.updated_at,
           privacy = excluded.privacy, tool_values = excluded.tool_values,
           fetched = excluded.fetched",
        params![
            id,
            spec.name.trim(),
            spec.model.trim(),
            c.key_id,
            spec.system_prompt.as_deref().filter(|s| !s.trim().is_empty()),
            spec.temperature,
            c.max_tokens,
            c.budget,
            when_over_str(settings.when_over),
            now(),
            settings.privacy.as_str(),
            settings.tool_values.as_str(),
            settings.fetched.as_str()
        ],
    )?;
    write_steps(&tx, id, &c.steps)?;
    let agent = sign(&tx, u, id)?;
    tx.commit()?;
    Ok(SavedAgent { agent, warnings: c.warnings })
}

/// Replaces an agent's settings (its name may change; its id and ledger history stay).
pub fn update(
    conn: &mut Connection,
    u: &Unlocked,
    id_or_name: &str,
    spec: &AgentSpec,
) -> Result<SavedAgent, AgentError> {
    let current = find(conn, id_or_name)?;
    let name = spec.name.trim();
    if let Ok(other) = find(conn, name) {
        if other.id != current.id {
            return Err(AgentError::DuplicateName(name.into()));
        }
    }
    let c = check(conn, spec)?;
    let settings = Settings {
        when_over: spec.when_over.unwrap_or(current.when_over),
        privacy: spec.privacy.unwrap_or(current.privacy),
        tool_values: spec.tool_values.unwrap_or(current.tool_values),
        fetched: spec.fetched.unwrap_or(current.fetched),
    };
    save(conn, u, &current.id, spec, c, settings)
}

/// Copies an agent under a new name ("X copy", "X copy 2", …).
pub fn duplicate(conn: &mut Connection, u: &Unlocked, id_or_name: &str) -> Result<Agent, AgentError> {
    let a = find(conn, id_or_name)?;
    // A copy must not bless what was changed outside Keyhold.
    verify(conn, u, &a)?;
    let mut name = format!("{} copy", a.name);
    let mut n = 2;
    while find(conn, &name).is_ok() {
        name = format!("{} copy {n}", a.name);
        n += 1;
    }
    let id = new_id();
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT INTO agents (id, name, model, key_id, system_prompt, temperature, max_tokens, budget_nano, when_over, created_at, updated_at, privacy, tool_values, fetched)
         SELECT ?2, ?3, model, key_id, system_prompt, temperature, max_tokens, budget_nano, when_over, ?4, ?4, privacy, tool_values, fetched FROM agents WHERE id = ?1",
        params![a.id, id, name, now()],
    )?;
    write_steps(&tx, &id, &a.fallback)?;
    let copy = sign(&tx, u, &id)?;
    tx.commit()?;
    Ok(copy)
}

/// Deletes an agent. Needs the unlocked vault like every other change, though it only takes away.
pub fn remove(conn: &Connection, _u: &Unlocked, id_or_name: &str) -> Result<Agent, AgentError> {
    let a = find(conn, id_or_name)?;
    conn.execute("DELETE FROM agents WHERE id = ?1", [&a.id])?;
    // Its conversations go with it: nothing could open them from the window any more.
    crate::conversations::remove_for_agent(conn, &a.id)?;
    Ok(a)
}

const COLUMNS: &str =
    "id, name, model, key_id, system_prompt, temperature, max_tokens, budget_nano, when_over, created_at, privacy, tool_values, fetched";

fn load(conn: &Connection, row: &rusqlite::Row<'_>) -> rusqlite::Result<Agent> {
    let id: String = row.get(0)?;
    let mut stmt = conn.prepare_cached("SELECT key_id, model FROM agent_steps WHERE agent_id = ?1 ORDER BY idx")?;
    let fallback =
        stmt.query_map([&id], |r| Ok(Step { key_id: r.get(0)?, model: r.get(1)? }))?.collect::<Result<_, _>>()?;
    let when: String = row.get(8)?;
    Ok(Agent {
        id,
        name: row.get(1)?,
        model: row.get(2)?,
        key_id: row.get(3)?,
        system_prompt: row.get(4)?,
        temperature: row.get::<_, Option<f64>>(5)?.map(|t| t as f32),
        max_tokens: row.get(6)?,
        budget: row.get(7)?,
        when_over: if when == "refuse" { WhenOver::Refuse } else { WhenOver::Local },
        fallback,
        created_at: row.get(9)?,
        privacy: Policy::parse(&row.get::<_, String>(10)?).unwrap_or(Policy::Pii),
        // Unknown text keeps every value out of tools (and fails the agent's tag).
        tool_values: ToolValues::parse(&row.get::<_, String>(11)?).unwrap_or(ToolValues::Placeholders),
        // Unknown text refuses (and fails the agent's tag).
        fetched: Fetched::parse(&row.get::<_, String>(12)?).unwrap_or(Fetched::Refuse),
    })
}

pub fn find(conn: &Connection, id_or_name: &str) -> Result<Agent, AgentError> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM agents WHERE id = ?1 OR name = ?1 COLLATE NOCASE"))?;
    stmt.query_row([id_or_name], |r| load(conn, r)).optional()?.ok_or_else(|| AgentError::NotFound(id_or_name.into()))
}

/// What an agent's tag covers: everything that decides which keys it uses, in which order, and
/// what it may spend — and the rest of its settings, which only Keyhold writes too.
fn record(a: &Agent) -> Record {
    let r = Record::new("agents", &a.id)
        .text(&a.name)
        .text(&a.model)
        .opt_text(a.key_id.as_deref())
        .opt_text(a.system_prompt.as_deref())
        .opt_float(a.temperature.map(f64::from))
        .int(a.max_tokens.into())
        .opt_int(a.budget.map(Money::nanos))
        .text(when_over_str(a.when_over))
        .int(a.fallback.len() as i64);
    let r = a.fallback.iter().fold(r, |r, s| r.text(&s.key_id).text(&s.model));
    // Written only when not the default, so agents signed before the field existed (all
    // `secrets`) still verify, and any change from or to the default does not.
    let r = match a.privacy {
        Policy::Secrets => r,
        p => r.text("privacy").text(p.as_str()),
    };
    // The same for what tool calls get back: agents signed before it existed restore.
    let r = match a.tool_values {
        ToolValues::Restore => r,
        t => r.text("tool_values").text(t.as_str()),
    };
    // And for fetched input: agents signed before the choice existed reserve.
    match a.fetched {
        Fetched::Reserve => r,
        f => r.text("fetched").text(f.as_str()),
    }
}

/// Tags the agent `id` as it now is, chain included.
fn sign(conn: &Connection, u: &Unlocked, id: &str) -> Result<Agent, AgentError> {
    let a = find(conn, id)?;
    conn.execute("UPDATE agents SET mac = ?2 WHERE id = ?1", params![a.id, u.tag(&record(&a))])?;
    Ok(a)
}

/// Checks an agent's tag: refused, naming the agent, if its chain, keys, budget or settings were
/// changed outside Keyhold.
pub fn verify(conn: &Connection, u: &Unlocked, a: &Agent) -> Result<(), AgentError> {
    let mac: Option<Vec<u8>> = conn.cached_row("SELECT mac FROM agents WHERE id = ?1", [&a.id], |r| r.get(0))?;
    if u.verify(&record(a), mac.as_deref()) {
        Ok(())
    } else {
        Err(tampered_agent(a).into())
    }
}

fn tampered_agent(a: &Agent) -> Tampered {
    Tampered::new(
        format!("The agent \"{}\"", a.name),
        "Check its model, keys, fallback chain and budget in Keyhold and save it again, or restore the database from a backup.",
    )
}

/// Tags every agent as it is now; see [`keys::retag_all`].
pub(crate) fn retag_all(
    conn: &Connection,
    u: &Unlocked,
    verified: Option<&Unlocked>,
) -> Result<Vec<Tampered>, AgentError> {
    let mut bad = Vec::new();
    for a in list(conn)? {
        if let Some(old) = verified {
            if let Err(AgentError::Changed(t)) = verify(conn, old, &a) {
                bad.push(t);
                continue;
            }
        }
        sign(conn, u, &a.id)?;
    }
    Ok(bad)
}

/// Every agent whose tag fails (for `keyhold vault check`).
pub fn check_all(conn: &Connection, u: &Unlocked) -> Result<Vec<Tampered>, AgentError> {
    Ok(list(conn)?.iter().filter(|a| verify(conn, u, a).is_err()).map(tampered_agent).collect())
}

pub fn list(conn: &Connection) -> Result<Vec<Agent>, AgentError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM agents ORDER BY name"))?;
    let rows = stmt.query_map([], |r| load(conn, r))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests;
