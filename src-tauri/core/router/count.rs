//! Counting a request's input tokens (`POST /v1/messages/count_tokens`) for the agent the token
//! runs as. The first step that could take the request is asked when it speaks Messages (with
//! the agent's privacy policy applied, as for a call); otherwise, offline, or when the policy
//! would block the text, Keyhold estimates on this machine and says so. A count is not a model
//! call: nothing is reserved against the budget and no ledger row is written.

use serde_json::Value;

use super::checked_plan;
use crate::agents::Agent;
use crate::keys;
use crate::privacy::{self, dictionary, Policy, Redactor, Rules};
use crate::providers::canonical::ChatRequest;
use crate::providers::stream::{http_failure, shared_client, UpstreamError};
use crate::providers::{anthropic_messages, upstream, Protocol};
use crate::workspace::{Workspace, WorkspaceError};

/// What a count found.
#[derive(Debug, Clone, PartialEq)]
pub enum Counted {
    /// The provider counted: its reply, as it wrote it.
    Provider(Value),
    /// The provider refused the request (its own status and words).
    Refused(UpstreamError),
    /// Keyhold's estimate, and why it did not ask the provider.
    Estimate { input_tokens: i64, why: &'static str },
}

pub async fn count_tokens(ws: &Workspace, agent: &Agent, req: &ChatRequest) -> Result<Counted, WorkspaceError> {
    let estimate = |why| Counted::Estimate { input_tokens: estimate(req), why };
    ws.check_configuration()?;
    let steps = ws.read_unlocked(|c, u| checked_plan(c, u, agent))?;
    let offline = ws.offline();
    let Some(step) = steps.into_iter().find(|s| s.key.as_ref().is_some_and(|k| k.active) && (!offline || s.local))
    else {
        return Ok(estimate("no step of the agent's chain can be asked"));
    };
    let key = step.key.as_ref().expect("found with a key");
    let endpoint = ws.read_unlocked(|c, u| keys::endpoint(c, u, &key.id))?;
    if endpoint.provider.protocol != Protocol::AnthropicMessages {
        return Ok(estimate("the agent's first step is not an Anthropic model"));
    }
    // What leaves the machine is what a call would send.
    let policy = agent.privacy;
    let sent = if policy == Policy::Off || step.local {
        req.clone()
    } else {
        let (dict, region) = ws.with_unlocked(|c, u| dictionary::for_policy(c, u, policy))?;
        let mut r = Redactor::new(Rules::builtin(), policy, &dict).in_region(region);
        let sent = privacy::request::redact(req, &mut r);
        if policy == Policy::Block && !r.counts().is_empty() {
            return Ok(estimate("the agent's privacy policy blocks this text"));
        }
        sent
    };
    let mut body = Protocol::AnthropicMessages.body_for(&sent, &step.model, false);
    // count_tokens takes the request without its sampling and streaming fields.
    if let Some(o) = body.as_object_mut() {
        for f in ["max_tokens", "stream", "temperature", "top_p", "top_k", "stop_sequences", "metadata", "service_tier"]
        {
            o.remove(f);
        }
    }
    let secret = endpoint.secret.as_deref().map(String::as_str);
    let mut headers = endpoint.provider.auth.headers(secret);
    if let Some(raw) = &sent.raw {
        upstream::add_caller_headers(&mut headers, raw);
    }
    let url = format!("{}/count_tokens", anthropic_messages::messages_url(&endpoint.base_url));
    let Ok(client) = shared_client(super::CONNECT_TIMEOUT) else {
        return Ok(estimate("Keyhold's HTTP client did not start"));
    };
    let sent = client.post(url).headers(headers).json(&body).timeout(std::time::Duration::from_secs(30)).send().await;
    let Ok(resp) = sent else { return Ok(estimate("the provider could not be reached")) };
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    match status {
        200 => Ok(serde_json::from_str(&text)
            .map(Counted::Provider)
            .unwrap_or_else(|_| estimate("the provider's count was not JSON"))),
        400 | 413 | 422 => match http_failure(status, &text, secret).upstream {
            Some(u) => Ok(Counted::Refused(u)),
            None => Ok(estimate("the provider did not count it")),
        },
        _ => Ok(estimate("the provider did not count it")),
    }
}

/// Keyhold's own count of what a request sends: the tokenizer for OpenAI-style text, a
/// conservative estimate otherwise, over the whole body when the caller's own is at hand.
fn estimate(req: &ChatRequest) -> i64 {
    let text = match &req.raw {
        Some(raw) => {
            serde_json::to_string(&raw.body.get("messages")).unwrap_or_default()
                + &serde_json::to_string(&raw.body.get("system")).unwrap_or_default()
                + &serde_json::to_string(&raw.body.get("tools")).unwrap_or_default()
        }
        None => req.system.clone().unwrap_or_default() + &req.turns.iter().map(|t| t.text.as_str()).collect::<String>(),
    };
    upstream::estimate_tokens(Protocol::AnthropicMessages, &text)
}
