//! Tauri commands: parse, call the core, map the error. Nothing else belongs here.
//!
//! Passphrases arrive as plain `String`s (that is what IPC carries) and are moved into a
//! zeroizing [`Passphrase`] on the first line. Replies never contain them.

use std::sync::Arc;

use serde::Serialize;
use specta::Type;
use tauri::State;

use zeroize::Zeroizing;

use crate::shell::events::ChatDelta;
use keyhold_core::agents::{self, Agent, AgentSpec, SavedAgent};
use keyhold_core::budget;
use keyhold_core::error::{ErrorKind, Kinded};
use keyhold_core::keys::{self, KeySummary, Saved};
use keyhold_core::ledger::{self, Mode};
use keyhold_core::money::Money;
use keyhold_core::passphrase::{self, Passphrase, Strength};
use keyhold_core::prices::{self, parse_price, Price, PriceEntry};
use keyhold_core::providers::canonical::Turn;
use keyhold_core::providers::{self, probe::Verdict, Provider};
use keyhold_core::router::{self, Reply};
use keyhold_core::workspace::{Workspace, WorkspaceError, WorkspaceInfo};

/// What the front-end gets when a command fails: a stable kind to branch on, and a message to show.
#[derive(Debug, Clone, Serialize, Type)]
pub struct CommandError {
    pub kind: ErrorKind,
    pub message: String,
}

impl CommandError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CommandError { kind, message: message.into() }
    }
}

/// Every core error knows its kind: `?` turns it into what the window gets.
impl<E: Kinded> From<E> for CommandError {
    fn from(e: E) -> Self {
        CommandError { kind: e.kind(), message: e.to_string() }
    }
}

type Ws<'a> = State<'a, Arc<Workspace>>;

/// Vault work (Argon2id, Stronghold) takes seconds: it runs off the UI thread.
async fn blocking<T: Send + 'static>(
    ws: &Ws<'_>,
    f: impl FnOnce(&Workspace) -> Result<T, WorkspaceError> + Send + 'static,
) -> Result<T, CommandError> {
    let ws = Arc::clone(ws);
    tauri::async_runtime::spawn_blocking(move || f(&ws))
        .await
        .map_err(|e| CommandError::new(ErrorKind::Internal, format!("Keyhold hit an internal error: {e}")))?
        .map_err(CommandError::from)
}

/// The window reports its first paint; the log line is what start-up measurements read.
#[tauri::command]
#[specta::specta]
pub fn frontend_ready() {
    let ms = crate::shell::app::since_start().as_millis();
    tracing::info!(ms = ms as u64, "first paint");
}

#[tauri::command]
#[specta::specta]
pub fn workspace_info(ws: Ws<'_>) -> WorkspaceInfo {
    ws.info()
}

#[tauri::command]
#[specta::specta]
pub fn passphrase_strength(passphrase: String) -> Strength {
    passphrase::strength(&Passphrase::new(passphrase))
}

#[tauri::command]
#[specta::specta]
pub async fn create_vault(ws: Ws<'_>, passphrase: String, confirm: String) -> Result<WorkspaceInfo, CommandError> {
    let (p, c) = (Passphrase::new(passphrase), Passphrase::new(confirm));
    blocking(&ws, move |ws| ws.create_vault(&p, Some(&c)).map(|()| ws.info())).await
}

#[tauri::command]
#[specta::specta]
pub async fn unlock(ws: Ws<'_>, passphrase: String) -> Result<WorkspaceInfo, CommandError> {
    let p = Passphrase::new(passphrase);
    blocking(&ws, move |ws| ws.unlock(&p).map(|()| ws.info())).await
}

#[tauri::command]
#[specta::specta]
pub fn lock(ws: Ws<'_>) -> WorkspaceInfo {
    ws.lock();
    ws.info()
}

#[tauri::command]
#[specta::specta]
pub async fn change_passphrase(
    ws: Ws<'_>,
    current: String,
    replacement: String,
    confirm: String,
) -> Result<(), CommandError> {
    let (o, n, c) = (Passphrase::new(current), Passphrase::new(replacement), Passphrase::new(confirm));
    blocking(&ws, move |ws| ws.change_passphrase(&o, &n, Some(&c))).await
}

/// Settings → LLM Providers. Every key command needs Keyhold unlocked, even those that touch no
/// secret: locked means locked. A key arrives as a `String` and is moved into zeroizing memory
/// at once; no reply carries one.
#[tauri::command]
#[specta::specta]
pub fn providers_catalog() -> Vec<Provider> {
    providers::catalog().to_vec()
}

#[tauri::command]
#[specta::specta]
pub fn keys_list(ws: Ws<'_>) -> Result<Vec<KeySummary>, CommandError> {
    Ok(ws.with_db_and_master(|c, _| keys::list(c))?)
}

#[tauri::command]
#[specta::specta]
pub fn keys_add(
    ws: Ws<'_>,
    provider: String,
    label: String,
    base_url: Option<String>,
    secret: String,
) -> Result<Saved, CommandError> {
    let secret = Zeroizing::new(secret);
    let base_url = base_url.filter(|u| !u.trim().is_empty());
    let secret = (!secret.is_empty()).then_some(secret);
    Ok(ws.with_db_and_master(|c, m| keys::add(c, m, &provider, &label, base_url.as_deref(), secret))?)
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct KeyTest {
    pub key: KeySummary,
    pub verdict: Verdict,
}

#[tauri::command]
#[specta::specta]
pub async fn keys_test(ws: Ws<'_>, id: String) -> Result<KeyTest, CommandError> {
    let ws = Arc::clone(&ws);
    let (key, verdict) = ws.test_key(&id, std::time::Duration::from_secs(20)).await?;
    Ok(KeyTest { key, verdict })
}

#[tauri::command]
#[specta::specta]
pub fn keys_rotate(ws: Ws<'_>, id: String, secret: String) -> Result<Saved, CommandError> {
    let secret = Zeroizing::new(secret);
    Ok(ws.with_db_and_master(|c, m| keys::rotate(c, m, &id, secret))?)
}

#[tauri::command]
#[specta::specta]
pub fn keys_set_active(ws: Ws<'_>, id: String, active: bool) -> Result<KeySummary, CommandError> {
    Ok(ws.with_db_and_master(|c, _| keys::set_active(c, &id, active))?)
}

#[tauri::command]
#[specta::specta]
pub fn keys_set_default(ws: Ws<'_>, id: String) -> Result<KeySummary, CommandError> {
    Ok(ws.with_db_and_master(|c, _| keys::set_default(c, &id))?)
}

#[tauri::command]
#[specta::specta]
pub fn keys_remove(ws: Ws<'_>, id: String) -> Result<KeySummary, CommandError> {
    Ok(ws.with_db_and_master(|c, _| keys::remove(c, &id))?)
}

/// An agent as its card shows it: names instead of ids, and today's spend.
#[derive(Debug, Clone, Serialize, Type)]
pub struct AgentCard {
    pub agent: Agent,
    pub key_label: Option<String>,
    /// "label: model" per fallback step.
    pub fallback_labels: Vec<String>,
    pub spent_today_usd: Money,
    pub budget_usd: Option<Money>,
    /// Spend as a share of the budget, 0–100+; None without a budget.
    pub budget_percent: Option<u32>,
}

#[tauri::command]
#[specta::specta]
pub fn agents_list(ws: Ws<'_>) -> Result<Vec<AgentCard>, CommandError> {
    let conn = ws.conn_unlocked()?;
    let list = agents::list(&conn).map_err(WorkspaceError::from)?;
    let label = |id: &str| keys::find(&conn, id).map(|k| k.label).unwrap_or_else(|_| "missing key".into());
    Ok(list
        .into_iter()
        .map(|a| {
            let today = budget::today(&conn, &a);
            AgentCard {
                key_label: a.key_id.as_deref().map(label),
                fallback_labels: a.fallback.iter().map(|s| format!("{}: {}", label(&s.key_id), s.model)).collect(),
                spent_today_usd: today.spent_usd,
                budget_usd: today.budget_usd,
                budget_percent: today.percent,
                agent: a,
            }
        })
        .collect())
}

/// Creates an agent (`id` empty) or replaces one's settings.
#[tauri::command]
#[specta::specta]
pub fn agents_save(ws: Ws<'_>, id: Option<String>, spec: AgentSpec) -> Result<SavedAgent, CommandError> {
    let mut conn = ws.conn_unlocked()?;
    let saved = match id.filter(|i| !i.is_empty()) {
        Some(id) => agents::update(&mut conn, &id, &spec),
        None => agents::add(&mut conn, &spec),
    };
    Ok(saved.map_err(WorkspaceError::from)?)
}

#[tauri::command]
#[specta::specta]
pub fn agents_duplicate(ws: Ws<'_>, id: String) -> Result<Agent, CommandError> {
    let mut conn = ws.conn_unlocked()?;
    Ok(agents::duplicate(&mut conn, &id).map_err(WorkspaceError::from)?)
}

#[tauri::command]
#[specta::specta]
pub fn agents_remove(ws: Ws<'_>, id: String) -> Result<Agent, CommandError> {
    let conn = ws.conn_unlocked()?;
    Ok(agents::remove(&conn, &id).map_err(WorkspaceError::from)?)
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct AppEnvironment {
    /// False when the desktop has no tray host: the window's controls are all there is.
    pub tray_available: bool,
    pub offline: bool,
    pub autostart: bool,
    pub ollama: Option<keyhold_core::ollama::OllamaStatus>,
}

#[tauri::command]
#[specta::specta]
pub fn app_environment(ws: Ws<'_>, env: State<'_, crate::shell::app::Environment>) -> AppEnvironment {
    AppEnvironment {
        tray_available: env.tray_available,
        offline: ws.offline(),
        autostart: keyhold_core::autostart::enabled(),
        ollama: env.ollama.lock().unwrap_or_else(|p| p.into_inner()).clone(),
    }
}

#[tauri::command]
#[specta::specta]
pub fn set_offline(ws: Ws<'_>, on: bool) -> Result<bool, CommandError> {
    ws.set_offline(on)?;
    Ok(ws.offline())
}

/// Looks at the local Ollama now (the app also does every 30 s).
#[tauri::command]
#[specta::specta]
pub async fn ollama_refresh(
    ws: Ws<'_>,
    env: State<'_, crate::shell::app::Environment>,
) -> Result<keyhold_core::ollama::OllamaStatus, CommandError> {
    Ok(crate::shell::app::refresh_ollama(&ws, &env).await)
}

#[tauri::command]
#[specta::specta]
pub fn set_autostart(on: bool) -> Result<bool, CommandError> {
    keyhold_core::autostart::set(on).map_err(|message| CommandError::new(ErrorKind::Autostart, message))?;
    Ok(keyhold_core::autostart::enabled())
}

#[derive(Debug, Clone, serde::Deserialize, Type)]
pub struct UsageQuery {
    /// "24h", "7d", "30d" or "custom" (then `since`/`until`, local dates, inclusive).
    pub range: String,
    pub since: Option<String>,
    pub until: Option<String>,
    pub resolution: keyhold_core::usage::Resolution,
    pub agent: Option<String>,
    pub filter: keyhold_core::usage::RecentFilter,
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct BudgetLine {
    pub agent: String,
    pub spent_usd: Money,
    pub budget_usd: Option<Money>,
    pub percent: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Type)]
pub struct UsageView {
    pub series: Vec<keyhold_core::usage::Point>,
    pub breakdown: Vec<keyhold_core::usage::Slice>,
    pub budgets: Vec<BudgetLine>,
    pub recent: Vec<keyhold_core::ledger::ExportRow>,
    pub anomalies: Vec<keyhold_core::usage::Anomaly>,
}

/// Everything the Usage page shows, from the ledger, in one call.
#[tauri::command]
#[specta::specta]
pub fn usage_view(ws: Ws<'_>, query: UsageQuery) -> Result<UsageView, CommandError> {
    use keyhold_core::usage;
    let conn = ws.conn_unlocked()?;
    let now = chrono::Utc::now();
    let range = usage::range_for(&query.range, query.since.as_deref(), query.until.as_deref(), now)?;
    let agent = query.agent.as_deref().filter(|a| !a.is_empty());
    let budgets = agents::list(&conn)
        .map_err(WorkspaceError::from)?
        .into_iter()
        .map(|a| {
            let today = budget::today(&conn, &a);
            BudgetLine {
                agent: a.name,
                spent_usd: today.spent_usd,
                budget_usd: today.budget_usd,
                percent: today.percent,
            }
        })
        .collect();
    // The daily series of all agents feeds the anomaly flags; the chart reuses it when it can.
    let daily = usage::series(&conn, &range, usage::Resolution::Day, None)?;
    let series = match (query.resolution, agent) {
        (usage::Resolution::Day, None) => daily.clone(),
        _ => usage::series(&conn, &range, query.resolution, agent)?,
    };
    Ok(UsageView {
        anomalies: usage::anomalies(&conn, &range, &daily)?,
        series,
        breakdown: usage::breakdown(&conn, &range, agent)?,
        budgets,
        recent: usage::recent(
            &conn,
            &range,
            &keyhold_core::usage::RecentFilter { agent: agent.map(str::to_string), ..query.filter.clone() },
            200,
        )?,
    })
}

/// Exports the filtered ledger (every column, never a key) to `path` as csv or json; returns
/// how many rows were written.
#[tauri::command]
#[specta::specta]
pub fn usage_export(ws: Ws<'_>, query: UsageQuery, path: String, format: String) -> Result<u32, CommandError> {
    use keyhold_core::usage;
    let conn = ws.conn_unlocked()?;
    let range = usage::range_for(&query.range, query.since.as_deref(), query.until.as_deref(), chrono::Utc::now())?;
    let f = &query.filter;
    let filter = ledger::Filter {
        agent: query.agent.clone().filter(|a| !a.is_empty()),
        since: Some(range.since),
        until: Some(range.until),
        provider: f.provider.clone(),
        model: f.model.clone(),
        outcome: f.outcome.clone(),
        mode: f.mode.clone(),
        newest: None,
    };
    let rows = ledger::export(&conn, &filter).map_err(|e| CommandError::new(ErrorKind::Database, e.to_string()))?;
    let text = match format.as_str() {
        "json" => serde_json::to_string_pretty(&rows).expect("rows serialize"),
        _ => ledger::to_csv(&rows),
    };
    usage::write_export(std::path::Path::new(&path), &text)
        .map_err(|message| CommandError::new(ErrorKind::Export, message))?;
    Ok(rows.len() as u32)
}

/// Where pieces of an answer go: the window's event bus in the app, a recorder in tests.
pub struct ChatSink(pub Box<dyn Fn(ChatDelta) + Send + Sync>);

/// Agent mode: sends the conversation through the router. Each piece of the answer is emitted
/// as a `ChatDelta` for `chat_id` as it arrives; the reply's bill comes back at the end.
#[tauri::command]
#[specta::specta]
pub async fn chat_send(
    sink: State<'_, ChatSink>,
    ws: Ws<'_>,
    agent: String,
    chat_id: String,
    turns: Vec<Turn>,
) -> Result<Reply, CommandError> {
    let ws = Arc::clone(&ws);
    let a = {
        let conn = ws.conn_unlocked()?;
        agents::find(&conn, &agent).map_err(WorkspaceError::from)?
    };
    let req = router::agent_request(&a, turns);
    let mut emit = |text: &str| (sink.0)(ChatDelta { chat_id: chat_id.clone(), text: text.to_string() });
    Ok(router::call(&ws, &a, req, Mode::Agent, &mut emit).await?)
}

#[tauri::command]
#[specta::specta]
pub fn prices_list(ws: Ws<'_>) -> Result<Vec<PriceEntry>, CommandError> {
    Ok(prices::list(&ws.conn())?)
}

/// Overrides a model's prices (USD per million tokens, as typed). Cache rates default to input.
#[tauri::command]
#[specta::specta]
pub fn prices_set(
    ws: Ws<'_>,
    model: String,
    input: String,
    output: String,
    cache_read: Option<String>,
    cache_write: Option<String>,
) -> Result<(), CommandError> {
    if model.trim().is_empty() {
        return Err(CommandError::new(ErrorKind::BadPrice, "Give the model's id."));
    }
    let input = parse_price(&input)?;
    let opt = |v: Option<String>| v.filter(|s| !s.trim().is_empty()).map(|s| parse_price(&s)).transpose();
    let price = Price {
        input,
        output: parse_price(&output)?,
        cache_read: opt(cache_read)?.unwrap_or(input),
        cache_write: opt(cache_write)?.unwrap_or(input),
    };
    Ok(prices::set(&ws.conn(), model.trim(), price)?)
}

#[cfg(test)]
mod tests;
