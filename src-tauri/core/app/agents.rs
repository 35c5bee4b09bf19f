//! Agents: create, change, copy, remove; their cards; their proxy tokens.

use crate::agents::tokens::{self, Issued, TokenInfo};
use crate::agents::{self, Agent, AgentCard, AgentSpec, Fetched, SavedAgent, WhenOver};
use crate::privacy::{Policy, ToolValues};
use crate::workspace::{Workspace, WorkspaceError};

/// Every agent as its card shows it: key names, today's spend against the budget.
pub fn cards(ws: &Workspace) -> Result<Vec<AgentCard>, WorkspaceError> {
    Ok(agents::cards(&ws.conn())?)
}

/// One agent's card, by id or name.
pub fn card(ws: &Workspace, agent: &str) -> Result<AgentCard, WorkspaceError> {
    let a = find(ws, agent)?;
    Ok(cards(ws)?.into_iter().find(|c| c.agent.id == a.id).ok_or_else(|| agents::AgentError::NotFound(agent.into()))?)
}

pub fn find(ws: &Workspace, agent: &str) -> Result<Agent, WorkspaceError> {
    Ok(agents::find(&ws.conn(), agent)?)
}

/// Creates an agent (`id` None) or replaces an agent's settings.
pub fn save(ws: &Workspace, id: Option<&str>, spec: &AgentSpec) -> Result<SavedAgent, WorkspaceError> {
    ws.with_unlocked(|c, u| match id.filter(|i| !i.is_empty()) {
        Some(id) => agents::update(c, u, id, spec),
        None => agents::add(c, u, spec),
    })
}

/// What an edit changes: only what is given (the command line's `agents edit`).
#[derive(Debug, Clone, Default)]
pub struct AgentEdit {
    pub name: Option<String>,
    pub model: Option<String>,
    pub key: Option<String>,
    /// Replaces the whole chain when given; `Some(vec![])` removes every step.
    pub fallback: Option<Vec<String>>,
    /// `Some(None)` removes the budget.
    pub budget_usd: Option<Option<String>>,
    pub when_over: Option<WhenOver>,
    pub system_prompt: Option<String>,
    pub max_tokens: Option<u32>,
    pub privacy: Option<Policy>,
    pub tool_values: Option<ToolValues>,
    pub fetched: Option<Fetched>,
}

/// Changes what `edit` gives and keeps the rest.
pub fn edit(ws: &Workspace, agent: &str, edit: AgentEdit) -> Result<SavedAgent, WorkspaceError> {
    let a = find(ws, agent)?;
    let spec = AgentSpec {
        name: edit.name.unwrap_or_else(|| a.name.clone()),
        model: edit.model.unwrap_or_else(|| a.model.clone()),
        key: edit.key.or_else(|| a.key_id.clone()),
        system_prompt: edit.system_prompt.or_else(|| a.system_prompt.clone()),
        temperature: a.temperature,
        max_tokens: edit.max_tokens.or(Some(a.max_tokens)),
        fallback: edit
            .fallback
            .unwrap_or_else(|| a.fallback.iter().map(|s| format!("{}:{}", s.key_id, s.model)).collect()),
        budget_usd: edit.budget_usd.unwrap_or_else(|| a.budget.map(|b| b.to_string())),
        when_over: Some(edit.when_over.unwrap_or(a.when_over)),
        privacy: Some(edit.privacy.unwrap_or(a.privacy)),
        tool_values: Some(edit.tool_values.unwrap_or(a.tool_values)),
        fetched: Some(edit.fetched.unwrap_or(a.fetched)),
    };
    save(ws, Some(&a.id), &spec)
}

/// A copy under a new name ("… copy"), with no tokens of its own.
pub fn duplicate(ws: &Workspace, agent: &str) -> Result<Agent, WorkspaceError> {
    ws.with_unlocked(|c, u| agents::duplicate(c, u, agent))
}

/// Deletes the agent; its ledger rows stay.
pub fn remove(ws: &Workspace, agent: &str) -> Result<Agent, WorkspaceError> {
    ws.with_unlocked(|c, u| agents::remove(c, u, agent))
}

/// A new proxy token for the agent: its value is in the answer, and nowhere else ever again.
pub fn issue_token(ws: &Workspace, agent: &str, label: Option<&str>) -> Result<Issued, WorkspaceError> {
    ws.with_unlocked(|c, u| tokens::issue(c, u, agent, label))
}

/// Tokens (never their values), of one agent or all.
pub fn tokens(ws: &Workspace, agent: Option<&str>) -> Result<Vec<TokenInfo>, WorkspaceError> {
    Ok(tokens::list(&ws.conn(), agent)?)
}

pub fn revoke_token(ws: &Workspace, id: &str) -> Result<TokenInfo, WorkspaceError> {
    ws.with_unlocked(|c, u| tokens::revoke(c, u, id))
}
