//! Local anonymization as the user sees it: what a cloud step would receive, the dictionary, the
//! outbound payload log. No answer carries a value the policy hides: previews are redacted text
//! (placeholders only), the dictionary is listed as hints.

use serde::Serialize;
use specta::Type;
use zeroize::Zeroizing;

use crate::privacy::{
    dictionary, outbound, region, Counts, Dictionary, Finding, Policy, Redactor, Region, Rules, Span,
};
use crate::providers::canonical::Turn;
use crate::router;
use crate::workspace::{Workspace, WorkspaceError};

/// The last message as a cloud step of the agent would receive it.
#[derive(Debug, Clone, Serialize, Type)]
pub struct Preview {
    pub policy: Policy,
    /// The message with each replacement as its placeholder.
    pub text: String,
    /// Where each placeholder sits in `text` (character offsets), for highlighting.
    pub spans: Vec<Span>,
    /// Replacements in the whole request (system prompt and earlier turns included).
    pub counts: Counts,
    /// `block` would refuse to send this to a cloud step.
    pub blocked: bool,
}

/// What the agent's cloud steps would receive for this conversation: the same redaction the
/// router applies (earlier turns and the system prompt count for the numbering).
pub fn preview(ws: &Workspace, agent: &str, turns: Vec<Turn>) -> Result<Preview, WorkspaceError> {
    ws.with_unlocked(|c, u| -> Result<Preview, WorkspaceError> {
        let a = crate::agents::find(c, agent)?;
        let (dict, region) = dictionary::for_policy(c, u, a.privacy)?;
        let mut r = Redactor::new(Rules::builtin(), a.privacy, &dict).in_region(region);
        let req = router::agent_request(&a, turns);
        if let Some(s) = &req.system {
            r.redact(s, "the system prompt");
        }
        let mut last = (String::new(), Vec::new());
        for (i, t) in req.turns.iter().enumerate() {
            last = r.redact_with_spans(&t.text, &format!("message {}", i + 1));
        }
        let counts = r.counts().clone();
        Ok(Preview {
            policy: a.privacy,
            text: last.0,
            spans: last.1,
            blocked: a.privacy == Policy::Block && !counts.is_empty(),
            counts,
        })
    })
}

/// A text with a policy applied, as `keyhold redact` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Redacted {
    pub text: String,
    pub policy: Policy,
    pub findings: Vec<Finding>,
    pub counts: Counts,
    /// The dictionary applied (it is sealed: only an unlocked Keyhold has it).
    pub dictionary_applied: bool,
}

/// Whose policy a redaction follows.
pub enum PolicyOf<'a> {
    Agent(&'a str),
    Given(Policy),
}

/// `text` as a cloud step would receive it under the agent's (or the given) policy. The
/// dictionary applies with `with_dictionary` (the caller had the passphrase checked: an unlocked
/// window alone must not answer "is this term in the dictionary?").
pub fn redact(ws: &Workspace, text: &str, of: PolicyOf<'_>, with_dictionary: bool) -> Result<Redacted, WorkspaceError> {
    let policy = match of {
        PolicyOf::Agent(a) => super::agents::find(ws, a)?.privacy,
        PolicyOf::Given(p) => p,
    };
    let applied = with_dictionary && policy.uses_dictionary();
    // Without the passphrase checked, the system's region stands in for the signed setting.
    let (dict, region) = match with_dictionary {
        true => ws.with_unlocked(|c, u| dictionary::for_policy(c, u, policy))?,
        false => (Dictionary::new::<&str>(&[]), policy.uses_dictionary().then(Region::of_system).flatten()),
    };
    let mut r = Redactor::new(Rules::builtin(), policy, &dict).in_region(region);
    let redacted = r.redact(text, "the text");
    Ok(Redacted {
        text: redacted,
        policy,
        findings: r.findings().to_vec(),
        counts: r.counts().clone(),
        dictionary_applied: applied,
    })
}

/// The dictionary, as hints.
pub fn dictionary(ws: &Workspace) -> Result<Vec<dictionary::TermInfo>, WorkspaceError> {
    ws.with_unlocked(|c, u| dictionary::list(c, u))
}

/// Adds terms; returns the ones added (as hints).
pub fn add_terms(ws: &Workspace, terms: &[Zeroizing<String>]) -> Result<Vec<dictionary::TermInfo>, WorkspaceError> {
    ws.with_unlocked(|c, u| dictionary::add(c, u, terms))
}

pub fn remove_term(ws: &Workspace, id: &str) -> Result<(), WorkspaceError> {
    ws.with_unlocked(|c, u| dictionary::remove(c, u, id))
}

/// How many days the outbound payload log keeps (0: off).
pub fn payload_log_days(ws: &Workspace) -> Result<u32, WorkspaceError> {
    ws.with_unlocked(|c, u| outbound::retention(c, u))
}

/// Turns the outbound payload log on (1 to 90 days) or off (0, which also empties it).
pub fn set_payload_log_days(ws: &Workspace, days: u32) -> Result<u32, WorkspaceError> {
    ws.with_unlocked(|c, u| outbound::set_retention(c, u, days))?;
    payload_log_days(ws)
}

/// The region whose phone numbers are found without a context word.
pub fn phone_region(ws: &Workspace) -> Result<region::PhoneRegion, WorkspaceError> {
    ws.with_unlocked(|c, u| region::choice(c, u)).map(|c| (&c).into())
}

/// Sets it: a country code (`DE`), `system` (the locale's, the default) or `none`.
pub fn set_phone_region(ws: &Workspace, choice: &str) -> Result<region::PhoneRegion, WorkspaceError> {
    let choice = region::Choice::parse(choice)?;
    ws.with_unlocked(|c, u| region::set(c, u, &choice))?;
    phone_region(ws)
}

/// The newest logged requests (who, where, when, size; no bodies).
pub fn payload_log(ws: &Workspace) -> Result<Vec<outbound::PayloadInfo>, WorkspaceError> {
    ws.with_unlocked(|c, _| outbound::list(c, 200))
}

/// One logged request, exactly as the provider received it (after redaction).
pub fn payload(ws: &Workspace, id: &str) -> Result<String, WorkspaceError> {
    ws.with_unlocked(|c, u| outbound::open(c, u, id))
}
