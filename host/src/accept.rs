//! Accepting connections and serving HTTP/1.1 on them.
//!
//! `axum::serve` gives hyper no timer, so hyper's header-read timeout never
//! fires: a client that opens a connection and stalls in the middle of its
//! request head holds that connection (and a file descriptor) for as long as
//! it likes. This loop is `axum::serve` with the timer set, plus the same
//! graceful shutdown (stop accepting, let requests in flight finish), plus
//! bounds on how many connections are served at once.
//!
//! **Architecture Invariant:** at most `limits.max_connections` accepted
//! connections exist at any time. At the bound the loop stops calling
//! `accept`, so further callers wait in the kernel's listen backlog (and get
//! served as connections close) instead of costing a file descriptor each.
//! With `limits.max_connections_per_peer` set, one address's connections
//! beyond it are closed as soon as they are accepted.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::config::Limits;

/// What [`serve`] needs from `[limits]`.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Time to send a request head.
    pub header_timeout: Duration,
    /// Connections served at once (at least 1).
    pub max_connections: usize,
    /// Connections served at once per IP address (0: no limit).
    pub max_per_peer: usize,
}

impl ConnectionLimits {
    /// The connection limits of `[limits]`.
    pub fn from_config(limits: &Limits) -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_millis(limits.header_timeout_ms),
            max_connections: limits.max_connections,
            max_per_peer: limits.max_connections_per_peer,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then waits for the
/// connections still open to finish their requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let graceful = GracefulShutdown::new();
    // `Semaphore::MAX_PERMITS` is far beyond any useful bound; clamping keeps
    // a silly configuration from panicking.
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let peers = PeerCounts::new(limits.max_per_peer);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                // Never closed; stopping is the only sensible reading.
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(peer_slot) = peers.admit(peer.ip()) else {
            tracing::debug!(peer = %peer.ip(), "too many connections from one address; closed");
            continue;
        };
        // Small request/response pairs; Nagle would only add latency.
        let _ = stream.set_nodelay(true);
        // The peer's address reaches handlers as axum's `ConnectInfo` (the
        // guard counts a caller by it when the payload names none).
        let service = TowerToHyperService::new(app.clone().map_request(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        ));
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // Timed-out heads, resets and malformed requests: the caller's problem.
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop((slot, peer_slot));
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Open connections per IP address, for `limits.max_connections_per_peer`.
#[derive(Clone)]
struct PeerCounts {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One admitted connection; gives its place back when dropped.
struct PeerSlot {
    ip: IpAddr,
    counts: PeerCounts,
}

impl PeerCounts {
    fn new(max: usize) -> PeerCounts {
        PeerCounts {
            max,
            open: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A place for one more connection from `ip`, if it has one left. Without
    /// a per-peer limit, nothing is counted.
    fn admit(&self, ip: IpAddr) -> Option<Option<PeerSlot>> {
        if self.max == 0 {
            return Some(None);
        }
        // An IPv4 caller on a dual-stack socket shows up as ::ffff:a.b.c.d.
        let ip = ip.to_canonical();
        let mut open = self.lock();
        let count = open.entry(ip).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Some(PeerSlot {
            ip,
            counts: self.clone(),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // The map holds plain counts; a panic elsewhere leaves it usable.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.counts.lock();
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_peer_places_are_counted_and_given_back() {
        let peers = PeerCounts::new(2);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let first = peers.admit(a);
        let second = peers.admit(a);
        assert!(first.is_some() && second.is_some());
        assert!(peers.admit(a).is_none(), "a third from one address");
        // The same address written as IPv4-mapped IPv6 is the same peer.
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap_or(a);
        assert!(peers.admit(mapped).is_none());
        assert!(
            peers.admit(b).is_some(),
            "another address has its own places"
        );
        drop(first);
        assert!(
            peers.admit(a).is_some(),
            "a closed connection frees a place"
        );
        drop(second);
        assert!(peers.lock().is_empty(), "empty entries are removed");
    }

    #[test]
    fn without_a_per_peer_limit_nothing_is_counted() {
        let peers = PeerCounts::new(0);
        let a: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..10 {
            assert!(matches!(peers.admit(a), Some(None)));
        }
        assert!(peers.lock().is_empty());
    }
}
