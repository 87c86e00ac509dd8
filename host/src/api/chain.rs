//! One message through the active plugin and, when it cannot deliver, the
//! fallback chain: each plugin in turn, skipping one whose circuit is open
//! or that cannot send the channel, until one delivers, one gives a final
//! answer, or the message's deadline passes. Every attempt is its own
//! delivery-log event, all linked by the first attempt's event id.
//!
//! **Architecture Invariant:** the active plugin serves every message it
//! can; a fallback sees a message only after the plugins before it failed in
//! a way that falls over (`failover::next_after`) or were skipped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use phonehook_plugin_api::Message;
use serde_json::{json, Value};

use super::attempt::{self, Attempt, Route, Within};
use crate::failover::breaker::Admit;
use crate::failover::Next;
use crate::plugins::Active;
use crate::state::AppState;

/// Sends `message`, which came in by `route`, through the active plugin and
/// its fallbacks.
pub async fn send(state: &Arc<AppState>, message: &Message, route: Route) -> Attempt {
    let mut candidates = Candidates::new(state);
    let mut within = Within::new(&state.config.failover);
    let mut tried: Vec<Value> = Vec::new();
    let mut last: Option<Attempt> = None;
    let mut skipped: Vec<Arc<Active>> = Vec::new();
    let mut i = 0;
    while let Some(candidate) = candidates.next(state) {
        let candidate = &candidate;
        let first = i == 0;
        i += 1;
        let info = &candidate.generation.info;
        // The active plugin is tried whatever the channel (its own answer
        // says `unsupported`); a fallback that cannot send it is skipped.
        if !first && !info.supports(message.channel) {
            continue;
        }
        if state.breakers.admit(&info.name) == Admit::Skip {
            tracing::debug!(plugin = %info.name, "circuit open; skipped");
            skipped.push(candidate.clone());
            continue;
        }
        if within.expired() {
            break;
        }
        if let Some(previous) = last.as_ref().and_then(|a| a.plugin.as_deref()) {
            crate::metrics::fallback(previous, &info.name);
        }
        let mut attempt = try_one(state, message, candidate, route, &mut within).await;
        // A vendor that asked to be called again soon gets one more try,
        // when its Retry-After leaves time before the deadline; otherwise
        // the next plugin is the retry.
        if let Some(wait) = retry_after(&attempt).filter(|w| fits(&within, *w)) {
            tracing::info!(plugin = %info.name, wait_secs = wait.as_secs(), "vendor asked to retry; retrying it once");
            tokio::time::sleep(wait).await;
            tried.push(summary(&attempt));
            attempt = try_one(state, message, candidate, route, &mut within).await;
        }
        // Only a failure lists the attempts: a delivery builds no summary.
        if attempt.result.is_ok() {
            return attempt;
        }
        tried.push(summary(&attempt));
        if attempt.next == Next::Stop {
            return with_attempts(attempt, tried);
        }
        last = Some(attempt);
    }
    // Every circuit open: try the first skipped one anyway rather than
    // answer without trying (its probe may show the vendor is back).
    if let (None, Some(first)) = (&last, skipped.first()) {
        if !within.expired() {
            let attempt = try_one(state, message, first, route, &mut within).await;
            tried.push(summary(&attempt));
            return with_attempts(attempt, tried);
        }
    }
    match last {
        Some(attempt) => with_attempts(attempt, tried),
        // Nothing could be tried before the deadline: answer as no plugin.
        None => attempt::no_active_plugin(state, message, route),
    }
}

/// The wait a failed attempt's vendor asked for (`Retry-After`), when it
/// falls over.
fn retry_after(attempt: &Attempt) -> Option<Duration> {
    match (&attempt.result, attempt.next) {
        (Err(e), Next::FallOver) => e.retry_after.map(|s| Duration::from_secs(u64::from(s))),
        _ => None,
    }
}

/// Whether waiting `wait` still leaves time before the message's deadline.
fn fits(within: &Within, wait: Duration) -> bool {
    Instant::now() + wait < within.deadline
}

/// The active plugin, then each fallback not already tried and loaded,
/// bound only when reached: a message the active plugin delivers costs the
/// chain nothing.
struct Candidates {
    active: Option<Arc<Active>>,
    fallback: Arc<Vec<String>>,
    next_fallback: usize,
    active_name: Option<String>,
}

impl Candidates {
    fn new(state: &AppState) -> Candidates {
        let active = state.registry.active();
        Candidates {
            active_name: active.as_ref().map(|a| a.generation.info.name.clone()),
            active,
            fallback: state.control.fallback(),
            next_fallback: 0,
        }
    }

    fn next(&mut self, state: &AppState) -> Option<Arc<Active>> {
        if let Some(active) = self.active.take() {
            return Some(active);
        }
        while let Some(name) = self.fallback.get(self.next_fallback) {
            self.next_fallback += 1;
            if self.active_name.as_deref() == Some(name.as_str()) {
                continue;
            }
            match state.registry.bind(name) {
                Some(bound) => return Some(Arc::new(bound)),
                None => tracing::debug!(plugin = %name, "fallback not loaded; skipped"),
            }
        }
        None
    }
}

async fn try_one(
    state: &Arc<AppState>,
    message: &Message,
    candidate: &Arc<Active>,
    route: Route,
    within: &mut Within,
) -> Attempt {
    let name = candidate.generation.info.name.clone();
    let attempt = attempt::run(state, message, candidate.clone(), route, within).await;
    within
        .message_id
        .get_or_insert_with(|| attempt.event_id.clone());
    match (&attempt.result, attempt.next) {
        (Ok(_), _) | (Err(_), Next::Stop) => state.breakers.succeeded(&name),
        (Err(_), Next::FallOver) => state.breakers.failed(&name),
    }
    attempt
}

fn summary(attempt: &Attempt) -> Value {
    json!({
        "plugin": attempt.plugin,
        "event_id": attempt.event_id,
        "outcome": match &attempt.result {
            Ok(_) => "delivered",
            Err(e) => e.code,
        },
    })
}

/// A failure lists every attempt of the message (plugin, event id, outcome).
fn with_attempts(mut attempt: Attempt, tried: Vec<Value>) -> Attempt {
    if !tried.is_empty() {
        attempt.result = attempt.result.map_err(|e| e.detail("attempts", tried));
    }
    attempt
}
