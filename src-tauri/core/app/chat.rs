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

/// The agent's saved conversations, newest first (titles are opened from the vault).
pub fn conversations(ws: &Workspace, agent: &str) -> Result<Vec<ConversationInfo>, WorkspaceError> {
    ws.with_unlocked(|c, u| -> Result<_, WorkspaceError> {
        let a = crate::agents::find(c, agent)?;
        Ok(conversations::list(c, u, &a.id)?)
    })
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
