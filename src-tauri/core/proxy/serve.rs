//! The proxy's accept loop: HTTP/1.1 connections served by hyper with limits that
//! `axum::serve` does not offer.
//!
//! - a cap on open connections, so a flood of sockets cannot grow the process. At the cap the
//!   open connections are asked to yield (hyper's graceful shutdown: an idle keep-alive one
//!   closes at once, a busy one after its answer), and the new one waits briefly for the slot
//!   that frees; if none frees, it gets a 503 with a reason, never a silent close;
//! - a header timeout: a client must send a request's headers within it, and an idle keep-alive
//!   connection waiting for its next request is closed after it (hyper starts the same timer
//!   then), so slow-header and idle connections give their slot back;
//! - bounded read buffers (headers included);
//! - memory handed back to the system once the connections are gone.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch, Semaphore};

/// Connections open at once. Far above what local tools use (a few each), far below what would
/// exhaust memory or file descriptors.
pub const MAX_CONNECTIONS: usize = 256;
/// A request's headers must arrive within this, and an idle keep-alive connection is closed after it.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(15);
/// The most a connection buffers while reading (a request line and headers must fit).
pub const MAX_READ_BUFFER: usize = 64 * 1024;

/// The limits one proxy runs with (tests shorten them).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_connections: MAX_CONNECTIONS, header_timeout: HEADER_TIMEOUT }
    }
}

/// How long a connection over the cap waits for a yielding one to free its slot.
const WAIT_FOR_SLOT: Duration = Duration::from_secs(2);

/// The open connections, oldest first, each with the signal that asks it to yield.
type Open = Arc<std::sync::Mutex<std::collections::VecDeque<(u64, watch::Sender<bool>)>>>;

/// A short reply for a connection no slot was freed for.
async fn refuse_busy(mut tcp: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let body = r#"{"error":{"message":"Keyhold's proxy has every connection busy answering; try again in a moment.","type":"overloaded_error"}}"#;
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), tcp.write_all(reply.as_bytes())).await;
}

/// Serves `app` on `listener` until `stop` fires, then lets requests in flight finish.
pub async fn serve(listener: TcpListener, app: Router, limits: Limits, mut stop: oneshot::Receiver<()>) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let open: Open = Default::default();
    let mut next_id = 0u64;
    let (closing_tx, closing) = watch::channel(false);
    let trimmer = tokio::spawn(release_memory_when_idle(Arc::clone(&slots), limits.max_connections));
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => break,
            a = listener.accept() => a,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // Out of file descriptors or similar: wait a moment rather than spin.
                tracing::warn!(error = %e, "proxy could not accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(s) => s,
            Err(_) => {
                // Every slot is held: ask the open connections to yield (idle ones close now),
                // and give this one the first slot that frees.
                for (_, ask) in open.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                    let _ = ask.send(true);
                }
                match tokio::time::timeout(WAIT_FOR_SLOT, Arc::clone(&slots).acquire_owned()).await {
                    Ok(Ok(s)) => s,
                    _ => {
                        tracing::debug!(limit = limits.max_connections, "proxy connection refused: every one busy");
                        tokio::spawn(refuse_busy(tcp));
                        continue;
                    }
                }
            }
        };
        next_id += 1;
        let id = next_id;
        let (ask_tx, mut ask) = watch::channel(false);
        open.lock().unwrap_or_else(|p| p.into_inner()).push_back((id, ask_tx));
        let open_for_task = Arc::clone(&open);
        // No Nagle: each streamed event leaves at once instead of waiting ~40 ms for an ACK.
        let _ = tcp.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let mut closing = closing.clone();
        tokio::spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .max_buf_size(MAX_READ_BUFFER)
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(tcp), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = closing.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
                _ = ask.changed() => {
                    // Asked to yield: an idle connection closes now, a busy one after its answer.
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            open_for_task.lock().unwrap_or_else(|p| p.into_inner()).retain(|(i, _)| *i != id);
            drop(slot);
        });
    }
    let _ = closing_tx.send(true);
    // Requests in flight finish (the caller bounds the wait).
    let _ = slots.acquire_many(limits.max_connections as u32).await;
    trimmer.abort();
}

/// After a burst of connections is over, freed buffers sit in the allocator's arenas; hand them
/// back so an idle proxy is small again. Checked every few seconds, never on the request path.
async fn release_memory_when_idle(slots: Arc<Semaphore>, max: usize) {
    let mut busy_since_trim = false;
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let idle = slots.available_permits() == max;
        if !idle {
            busy_since_trim = true;
        } else if busy_since_trim {
            busy_since_trim = false;
            crate::workspace::release_memory();
        }
    }
}
