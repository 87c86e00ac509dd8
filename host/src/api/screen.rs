//! The guard on the send path: a validated message is screened before any
//! plugin sees it; a refusal becomes its answer (429 `rate_limited` with
//! `Retry-After`, or 403 `destination_blocked`), one delivery-log event of its
//! own type and the log line. The guard decides; this is the one place that
//! describes a refusal.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use axum::Extension;
use phonehook_plugin_api::Message;

use super::attempt::{Attempt, Route};
use super::error::ApiError;
use crate::deliverylog::{time, Failure, FailureSource};
use crate::failover::Next;
use crate::guard::{Refusal, Verdict};
use crate::mask::mask_number;
use crate::state::AppState;

/// The peer's address, when the server knows it (in-process tests do not).
pub type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

/// The peer's IP address.
pub fn peer_ip(peer: &Peer) -> Option<IpAddr> {
    peer.as_ref().map(|Extension(ConnectInfo(addr))| addr.ip())
}

/// Screens `message`: `None` lets it through (in monitor mode after
/// recording what would have refused it); `Some` is the refused attempt.
pub async fn screen(
    state: &AppState,
    message: &Message,
    peer: Option<IpAddr>,
    route: Route,
) -> Option<Attempt> {
    match state.guard.screen(message, peer, time::now_ms()).await {
        Verdict::Pass => None,
        Verdict::Refuse(refusal) => Some(record(state, message, route, &refusal, true)),
        Verdict::WouldRefuse(refusal) => {
            record(state, message, route, &refusal, false);
            None
        }
    }
}

/// The refusal's event and log line; the answer when `enforced`.
fn record(
    state: &AppState,
    message: &Message,
    route: Route,
    refusal: &Refusal,
    enforced: bool,
) -> Attempt {
    let pending = state.log.pending(message, route.as_str());
    let event_id = pending.id().to_owned();
    let rule = refusal.rule().as_str();
    let failure = Failure {
        code: refusal.code().to_owned(),
        message: refusal.message(),
        retryable: matches!(refusal, Refusal::RateLimited { .. }),
        source: FailureSource::Guard,
        vendor_code: None,
        vendor_status: None,
        rule: Some(rule.to_owned()),
    };
    state.log.record(pending.guarded(failure, enforced));
    let to = mask_number(&message.recipient);
    if enforced {
        tracing::warn!(event_id = %event_id, rule, code = refusal.code(), to = %to,
            route = route.as_str(), "message refused by the guard");
    } else {
        tracing::info!(event_id = %event_id, rule, code = refusal.code(), to = %to,
            route = route.as_str(), "the guard would refuse this message (monitor mode); sent");
    }
    Attempt {
        event_id,
        result: Err(answer(refusal)),
        plugin: None,
        next: Next::Stop,
    }
}

/// The API's answer to a refusal: the rule, and for a limit `Retry-After`.
pub fn answer(refusal: &Refusal) -> ApiError {
    let rule = refusal.rule().as_str();
    match refusal {
        Refusal::RateLimited {
            retry_after_secs, ..
        } => {
            let mut error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                refusal.code(),
                refusal.message(),
            )
            .detail("rule", rule)
            .detail("retry_after_secs", *retry_after_secs);
            error.retry_after = Some(u32::try_from(*retry_after_secs).unwrap_or(u32::MAX));
            error
        }
        Refusal::DestinationBlocked { reason, .. } => {
            ApiError::new(StatusCode::FORBIDDEN, refusal.code(), refusal.message())
                .detail("rule", rule)
                .detail("reason", reason.as_str())
        }
    }
}
