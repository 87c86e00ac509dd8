//! One send attempt, the same for the send routes and the runner: a tracing
//! span named by the event id, the delivery, one delivery log event, the
//! metrics, and the event id in the `x-phonehook-event-id` response header so
//! a support ticket can be matched to the log.
//!
//! **Architecture Invariant:** every attempt that reaches a plugin (or finds
//! none active) records exactly one event; requests refused before that
//! (bad JSON, an invalid number) record none and carry no event id.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use phonehook_plugin_api::{Channel, ErrorKind, Message};
use tracing::{Instrument, Span};

use super::error::ApiError;
use crate::delivery::{self, Delivered, DeliveryError};
use crate::deliverylog::{Event, Failure, FailureSource, Pending};
use crate::failover::{self, FailoverConfig, Next};
use crate::mask::mask_number;
use crate::metrics::PluginMetrics;
use crate::plugins::Active;
use crate::state::AppState;

/// The response header that carries the event id.
pub const EVENT_ID_HEADER: HeaderName = HeaderName::from_static("x-phonehook-event-id");

/// The response header that names the plugin that delivered (or last tried).
pub const PLUGIN_HEADER: HeaderName = HeaderName::from_static("x-phonehook-plugin");

/// What became of one attempt.
pub struct Attempt {
    /// The delivery log event id.
    pub event_id: String,
    /// The delivery, or the error to answer with.
    pub result: Result<Delivered, ApiError>,
    /// The plugin that handled it (none when no plugin saw the message).
    pub plugin: Option<String>,
    /// For a failure: whether the message may move on to a fallback
    /// (classified once, by [`failover::next_after`]).
    pub next: Next,
}

/// Where one attempt stands in its message: the message's deadline, and
/// the first attempt's event id once there was one.
#[derive(Clone, Debug)]
pub struct Within {
    /// When the whole message must be answered.
    pub deadline: Instant,
    /// `failover.deadline_ms`, for the error that says it passed.
    pub deadline_ms: u64,
    /// The first attempt's event id (the message id of later attempts).
    pub message_id: Option<String>,
    /// `failover.failover_on_timeout`.
    pub failover_on_timeout: bool,
}

impl Within {
    /// A message that starts now, under `config`'s deadline.
    pub fn new(config: &FailoverConfig) -> Within {
        Within {
            deadline: Instant::now() + Duration::from_millis(config.deadline_ms),
            deadline_ms: config.deadline_ms,
            message_id: None,
            failover_on_timeout: config.failover_on_timeout,
        }
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }
}

impl Attempt {
    /// The answer: `ok` renders a delivery, an error renders itself; both
    /// carry the event id.
    pub fn respond<R: IntoResponse>(self, ok: impl FnOnce(Delivered) -> R) -> Response {
        let mut response = match self.result {
            Ok(delivered) => ok(delivered).into_response(),
            Err(error) => error.into_response(),
        };
        if let Ok(value) = HeaderValue::from_str(&self.event_id) {
            response.headers_mut().insert(EVENT_ID_HEADER, value);
        }
        if let Some(value) = self
            .plugin
            .as_deref()
            .and_then(|p| HeaderValue::from_str(p).ok())
        {
            response.headers_mut().insert(PLUGIN_HEADER, value);
        }
        response
    }
}

/// How a message came in: its string form is what the delivery log, the
/// tracing span and the metrics record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `POST /api/v1/messages`, the Auth0 hook payload.
    Hook,
    /// `POST /api/v1/actions/send-phone-message`, the Auth0 Actions event.
    Actions,
    /// `POST /api/v1/plugins/{name}/test`, the admin's runner.
    Runner,
}

impl Route {
    /// `hook`, `actions` or `runner`.
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Hook => "hook",
            Route::Actions => "actions",
            Route::Runner => "runner",
        }
    }
}

/// Sends `message` through `active`, having come in by `route`.
///
/// The delivery runs as its own task, detached from the caller's connection:
/// a caller that hangs up mid-send (dropping this future) does not cancel a
/// message a vendor may already have accepted and billed, and the attempt is
/// still recorded. The task is tracked in [`AppState::attempts`] so a
/// graceful shutdown waits for it before closing the log.
pub async fn run(
    state: &Arc<AppState>,
    message: &Message,
    active: Arc<Active>,
    route: Route,
    within: &Within,
) -> Attempt {
    let mut pending = state.log.pending(message, route.as_str());
    let message_id = within
        .message_id
        .clone()
        .unwrap_or_else(|| pending.id().to_owned());
    pending.part_of(&message_id);
    let info = &active.generation.info;
    let generation = active.generation.id;
    pending.plugin(&info.name, &info.version, generation);
    // Vendors echo credentials back: one redactor for the answer, the log
    // line and the event, with the binding's secrets precomputed.
    pending
        .redactor_mut()
        .include(Arc::clone(active.binding.redactor()));
    let event_id = pending.id().to_owned();
    // Debug level: at the default level the attempt's one line carries
    // these fields itself (`report`). An enabled span was a tenth of the
    // host's CPU per message (formatted at creation, entered on every poll;
    // BENCHMARKS.md §1); at debug it gives the plugin's and the client's
    // own lines their context.
    let span = tracing::debug_span!("message",
        event_id = %event_id,
        plugin = %info.name,
        generation,
        route = route.as_str(),
        channel = message.channel.as_str(),
        to = %mask_number(&message.recipient));
    let plugin = info.name.clone();
    let task = state.attempts.spawn(deliver_and_record(
        state.clone(),
        message.clone(),
        active,
        pending,
        span,
        within.clone(),
    ));
    let (result, next) = match task.await {
        Ok(done) => done,
        // Only a bug in the host panics here (plugin panics are caught inside
        // the plugin); the caller still gets an answer and the event id.
        Err(e) => (
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("the attempt failed unexpectedly: {e}"),
            )),
            Next::Stop,
        ),
    };
    Attempt {
        event_id,
        result,
        plugin: Some(plugin),
        next,
    }
}

/// An attempt that finds no plugin active: it fails as `no_active_plugin`
/// and is recorded like any other (the event names no plugin). Nothing is
/// sent, so nothing needs to outlive the caller.
pub fn no_active_plugin(state: &AppState, message: &Message, route: Route) -> Attempt {
    let pending = state.log.pending(message, route.as_str());
    let event_id = pending.id().to_owned();
    let span = tracing::debug_span!("message",
        event_id = %event_id,
        route = route.as_str(),
        channel = message.channel.as_str(),
        to = %mask_number(&message.recipient));
    let error = DeliveryError::NoActivePlugin;
    let event = span.in_scope(|| pending.failed(failure(&error)));
    let result = Err(ApiError::delivery(error, ""));
    // Outside the span, as in `deliver_and_record`.
    report(&event, &result, message.channel, None);
    span.in_scope(|| state.log.record(event));
    Attempt {
        event_id,
        result,
        plugin: None,
        next: Next::Stop,
    }
}

/// The detached part of [`run`]: the delivery (bounded by the message's
/// deadline), its event, the metrics, and whether a failure falls over.
async fn deliver_and_record(
    state: Arc<AppState>,
    message: Message,
    active: Arc<Active>,
    mut pending: Pending,
    span: Span,
    within: Within,
) -> (Result<Delivered, ApiError>, Next) {
    let redactor = pending.redactor_mut();
    let delivering = delivery::deliver(&active, &message, &state.egress, &state.host_url, redactor)
        .instrument(span.clone());
    let result = tokio::time::timeout_at(within.deadline.into(), delivering)
        .await
        .unwrap_or(Err(DeliveryError::DeadlineExceeded(within.deadline_ms)));
    let next = match &result {
        Ok(_) => Next::Stop,
        Err(e) => failover::next_after(e, within.failover_on_timeout),
    };
    let event = span.in_scope(|| match &result {
        Ok(d) => pending.delivered(&d.message_id, &d.vendor_status, d.vendor_latency),
        Err(error) => pending.failed(failure(error)),
    });
    let plugin = active.generation.info.name.as_str();
    let result = result.map_err(|e| ApiError::delivery(e, plugin));
    // Outside the span: the line carries the span's fields itself, and at
    // debug level, where the span is on, a line inside it printed them twice.
    report(
        &event,
        &result,
        message.channel,
        Some(&active.binding.metrics),
    );
    span.in_scope(|| state.log.record(event));
    (result, next)
}

/// The log's account of `error`: the same code and retryability the API
/// answers with, because both come from the error itself. The log redacts the
/// texts again as it stores them ([`Pending::failed`]).
fn failure(error: &DeliveryError) -> Failure {
    Failure {
        code: error.code().to_owned(),
        message: error.to_string(),
        retryable: error.retryable(),
        source: if error.from_vendor() {
            FailureSource::Vendor
        } else {
            FailureSource::Host
        },
        vendor_code: error.vendor_code().map(str::to_owned),
        vendor_status: error.vendor_status(),
        rule: None,
    }
}

/// The log line and the metrics for a finished attempt. The line is the
/// attempt's whole account at the default level: the event id (the link to
/// the delivery log), the plugin and its generation, the route, the channel
/// and the masked number, then the outcome. It uses the event's scrubbed
/// failure text: the raw error may quote the number or the code back from
/// the vendor. `series` are the plugin's own (registered with its binding),
/// when a plugin handled the attempt.
fn report(
    event: &Event,
    result: &Result<Delivered, ApiError>,
    channel: Channel,
    series: Option<&PluginMetrics>,
) {
    let plugin = if event.plugin.is_empty() {
        "none"
    } else {
        event.plugin.as_str()
    };
    // To the microsecond, so log lines show `0.936`, not `0.9364370000000001`.
    let elapsed_ms = (event.latency_ms * 1000.0).round() / 1000.0;
    match series {
        Some(series) => series.duration(elapsed_ms / 1000.0),
        None => crate::metrics::message_duration(plugin, elapsed_ms / 1000.0),
    }
    // The attempt's one line: its fields, then the outcome's.
    macro_rules! line {
        ($level:expr, $what:literal, $($outcome:tt)*) => {
            tracing::event!(
                $level,
                event_id = %event.id,
                plugin = %plugin,
                generation = event.generation,
                route = %event.route,
                channel = %channel.as_str(),
                to = %event.recipient,
                $($outcome)*
                elapsed_ms,
                $what
            )
        };
    }
    match (result, &event.details) {
        (Ok(delivered), _) => {
            let vendor_latency = delivered.vendor_latency.as_secs_f64();
            match series {
                Some(series) => {
                    series.delivered(channel);
                    series.vendor_latency(vendor_latency);
                }
                None => {
                    crate::metrics::message_outcome(plugin, channel.as_str(), "delivered");
                    crate::metrics::vendor_latency(plugin, vendor_latency);
                }
            }
            line!(
                tracing::Level::INFO,
                "message accepted by vendor",
                message_id = %delivered.message_id,
            );
        }
        (Err(error), details) => {
            crate::metrics::message_outcome(plugin, channel.as_str(), error.code);
            let reason = details
                .as_ref()
                .map(|d| d.message.as_str())
                .unwrap_or_default();
            // A contained panic is a plugin's bug, not a vendor's bad day.
            if error.code == ErrorKind::Panic.as_str() {
                line!(
                    tracing::Level::ERROR,
                    "plugin panicked; the panic was contained; message not delivered",
                    code = error.code,
                    error = %reason,
                );
            } else {
                line!(
                    tracing::Level::WARN,
                    "message not delivered",
                    code = error.code,
                    error = %reason,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::EgressError;
    use crate::plugins::OwnedError;

    #[test]
    fn the_log_failure_is_the_errors_own_classification() {
        let vendor = failure(&DeliveryError::Plugin {
            error: OwnedError {
                kind: ErrorKind::Vendor,
                code: "21211".into(),
                message: "invalid 'To'".into(),
                retryable: false,
                retry_after_secs: 0,
            },
            vendor_status: Some(400),
        });
        assert_eq!(
            (
                vendor.code.as_str(),
                vendor.message.as_str(),
                vendor.source,
                vendor.vendor_code.as_deref(),
                vendor.vendor_status
            ),
            (
                "vendor_error",
                "invalid 'To'",
                FailureSource::Vendor,
                Some("21211"),
                Some(400)
            )
        );
        let timeout = failure(&DeliveryError::Egress(EgressError::Timeout(10)));
        assert_eq!(
            (timeout.code.as_str(), timeout.retryable, timeout.source),
            ("vendor_timeout", true, FailureSource::Host)
        );
        assert_eq!(timeout.message, "the vendor did not answer within 10 ms");
        let none = failure(&DeliveryError::NoActivePlugin);
        assert_eq!(
            (none.code.as_str(), none.retryable, none.vendor_code),
            ("no_active_plugin", false, None)
        );
    }
}
