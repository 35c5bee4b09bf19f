//! Ollama's chat API (`/api/chat`, NDJSON): what Keyhold sends a local model and reads from it.
//! Usage comes as `prompt_eval_count` / `eval_count` in the final object; a local model costs
//! nothing. Detection, the model list and pulls live in `crate::ollama`.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use super::canonical::{ChatRequest, Role};
use super::failure::provider_message;
use super::framing::LineSplitter;
use super::stream::{Failure, Piece, Pieces, StreamError};
use crate::ledger::Outcome;
use crate::prices::Tokens;

/// A chat on a local Ollama. The request and reply types are ollama-rs's; the stream is read
/// here, line by line in bytes, because ollama-rs 0.3 decodes each network chunk on its own and
/// silently drops one that ends inside a multi-byte character.
pub async fn start(
    base_url: &str,
    model: &str,
    req: &ChatRequest,
    connect_timeout: Duration,
) -> Result<Pieces, Failure> {
    use ollama_rs::generation::chat::{request::ChatMessageRequest, ChatMessage, ChatMessageResponse};
    use ollama_rs::models::ModelOptions;
    let url = reqwest::Url::parse(&format!("{}/api/chat", base_url.trim_end_matches('/'))).map_err(|e| Failure {
        kind: Outcome::BadUrl,
        detail: format!("the Ollama address is not a URL: {e}"),
        upstream: None,
        request_fault: false,
    })?;
    let mut messages = Vec::new();
    if let Some(s) = &req.system {
        messages.push(ChatMessage::system(s.clone()));
    }
    for t in &req.turns {
        messages.push(match t.role {
            Role::User => ChatMessage::user(t.text.clone()),
            Role::Assistant => ChatMessage::assistant(t.text.clone()),
        });
    }
    let mut options = ModelOptions::default().num_predict(req.max_tokens.min(i32::MAX as u32) as i32);
    if let Some(t) = req.temperature {
        options = options.temperature(t);
    }
    if !req.stop.is_empty() {
        options = options.stop(req.stop.clone());
    }
    let mut body = serde_json::to_value(ChatMessageRequest::new(model.to_string(), messages).options(options))
        .map_err(|e| Failure { kind: Outcome::Internal, detail: e.to_string(), request_fault: true, upstream: None })?;
    body["stream"] = Value::Bool(true);
    let client = super::stream::shared_client(connect_timeout)?;
    let resp = client.post(url).json(&body).send().await.map_err(|e| super::stream::unreachable(&e))?;
    let status = resp.status().as_u16();
    if resp.status().is_redirection() {
        return Err(super::stream::redirected(status, resp.headers(), None));
    }
    if status != 200 {
        let text = resp.text().await.unwrap_or_default();
        let detail = provider_message(&text);
        let kind =
            if status == 404 || detail.contains("not found") { Outcome::ModelMissing } else { Outcome::Http(status) };
        return Err(Failure { kind, detail, request_fault: status == 400, upstream: None });
    }
    let lines = futures_util::stream::unfold(
        (Box::pin(resp.bytes_stream()), LineSplitter::default(), false, false),
        |(mut bytes, mut splitter, mut eof, done)| async move {
            if done {
                return None;
            }
            loop {
                match splitter.next_line(eof) {
                    Ok(Some(line)) => return Some((Ok(line), (bytes, splitter, eof, false))),
                    Ok(None) if eof => return None,
                    Ok(None) => {}
                    Err(e) => return Some((Err(e.into()), (bytes, splitter, eof, true))),
                }
                match bytes.next().await {
                    Some(Ok(chunk)) => splitter.push(&chunk),
                    Some(Err(e)) => {
                        return Some((Err(StreamError::Broke(e.to_string())), (bytes, splitter, eof, true)))
                    }
                    None => eof = true,
                }
            }
        },
    );
    let pieces = lines
        .map(|line| -> Vec<Result<Piece, StreamError>> {
            let line = match line {
                Ok(l) if l.iter().all(u8::is_ascii_whitespace) => return Vec::new(),
                Ok(l) => l,
                Err(e) => return vec![Err(e)],
            };
            let r: ChatMessageResponse = match serde_json::from_slice(&line) {
                Ok(r) => r,
                Err(_) => return vec![Err(StreamError::NotJson(provider_message(&String::from_utf8_lossy(&line))))],
            };
            let mut v = Vec::new();
            if !r.message.content.is_empty() {
                v.push(Ok(Piece::Text(r.message.content)));
            }
            if let Some(f) = r.final_data {
                v.push(Ok(Piece::Usage(Tokens {
                    input: f.prompt_eval_count as i64,
                    output: f.eval_count as i64,
                    ..Default::default()
                })));
            }
            if r.done {
                v.push(Ok(Piece::End));
            }
            v
        })
        .flat_map(futures_util::stream::iter);
    // A stream that closes without `done` was cut.
    let checked =
        pieces.chain(futures_util::stream::once(async { Err::<Piece, StreamError>(StreamError::EndedEarly) }));
    let mut finished = false;
    let checked = checked.take_while(move |p| {
        let go = !finished;
        if matches!(p, Ok(Piece::End)) {
            finished = true;
        }
        async move { go }
    });
    Ok(Box::pin(checked))
}
