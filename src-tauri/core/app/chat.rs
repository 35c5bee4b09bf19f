//! Talking to an agent (the window's Chat, `keyhold chat`), and the sealed history of it.

use crate::agents::Agent;
use crate::conversations::{self, Conversation, ConversationInfo, SavedLine};
use crate::ledger::Mode;
use crate::providers::canonical::Turn;
use crate::router::{self, AnswerSink, Reply, RouterError};
use crate::workspace::{Workspace, WorkspaceError};

/// The agent to talk to; only while unlocked (talking uses its keys).
pub fn agent(ws: &Workspace, agent: &str) -> Result<Agent, WorkspaceError> {
    ws.require_unlocked()?;
    super::agents::find(ws, agent)
}

/// Sends the conversation through the router: the answer goes to `sink` as it arrives, the bill
/// comes back at the end.
pub async fn send(
    ws: &Workspace,
    agent: &Agent,
    turns: Vec<Turn>,
    sink: &mut dyn AnswerSink,
) -> Result<Reply, RouterError> {
    router::call(ws, agent, router::agent_request(agent, turns), Mode::Agent, sink).await
}

/// A conversation in the window's list: with the name of the agent it is with.
#[derive(Debug, Clone, serde::Serialize, specta::Type)]
pub struct ConversationEntry {
    #[serde(flatten)]
    pub info: ConversationInfo,
    pub agent: String,
}

/// Saved conversations, newest first (titles are opened from the vault): one agent's, or every
/// agent's when `agent` is None; only those holding `query` when one is given.
pub fn conversations(
    ws: &Workspace,
    agent: Option<&str>,
    query: Option<&str>,
) -> Result<Vec<ConversationEntry>, WorkspaceError> {
    ws.with_unlocked(|c, u| -> Result<_, WorkspaceError> {
        let only = agent.map(|a| crate::agents::find(c, a)).transpose()?;
        let names: std::collections::HashMap<String, String> =
            crate::agents::list(c)?.into_iter().map(|a| (a.id, a.name)).collect();
        let filter = conversations::Filter { agent_id: only.as_ref().map(|a| a.id.as_str()), query };
        Ok(conversations::list(c, u, filter)?
            .into_iter()
            .map(|info| {
                let agent = names.get(&info.agent_id).cloned().unwrap_or_else(|| "(a deleted agent)".into());
                ConversationEntry { info, agent }
            })
            .collect())
    })
}

/// Names a conversation; the name stays through later answers.
pub fn rename(ws: &Workspace, id: &str, title: &str) -> Result<ConversationInfo, WorkspaceError> {
    ws.with_unlocked(|c, u| conversations::rename(c, u, id, title))
}

pub fn open(ws: &Workspace, id: &str) -> Result<Conversation, WorkspaceError> {
    ws.with_unlocked(|c, u| conversations::open(c, u, id))
}

/// Saves a conversation (a new one when `id` is None), sealed under the vault.
pub fn save(
    ws: &Workspace,
    agent: &str,
    id: Option<&str>,
    lines: Vec<SavedLine>,
) -> Result<ConversationInfo, WorkspaceError> {
    ws.with_unlocked(|c, u| -> Result<_, WorkspaceError> {
        let a = crate::agents::find(c, agent)?;
        Ok(conversations::save(c, u, &a.id, id, lines)?)
    })
}

pub fn remove(ws: &Workspace, id: &str) -> Result<(), WorkspaceError> {
    ws.with_unlocked(|c, _| conversations::remove(c, id))
}
