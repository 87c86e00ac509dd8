//! The vendor contract: what every vendor plugin must do, through a real host,
//! when its vendor misbehaves — one table of vendors ([`rows`]) and one check
//! per fault ([`check_row`]), so a new vendor is one more row, not another copy
//! of the same tests (as Vector's `assert_sink_compliance` does for sinks).
//!
//! For each fault the host answers with a clear error naming the right code,
//! says whether a retry may help, leaks no secret, and the plugin's request
//! really reached the vendor's mock at the vendor's path; then the vendor heals
//! and the next message is delivered. Each row runs one mock and one host for
//! all faults.
//!
//! Faults come from each mock's own scenarios (so replies keep the vendor's
//! shape), except the two that are the same for every vendor, which a layer in
//! front of the mock makes out of the vendor's healthy reply: a dribbled body
//! and a proxy's error page.

mod check;
mod rows;
mod transport;

use axum::Router;
use serde_json::{json, Value};

use crate::{Host, HostBuilder};

pub use check::{check_all, check_row};
pub use rows::rows;

/// What the vendor does wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Takes the request and never answers.
    Hang,
    /// Sends its healthy reply one byte at a time, slower than the deadline.
    Dribble,
    /// A success whose body is far over `vendor.max_reply_bytes`.
    Oversized,
    /// A success with an empty body.
    Empty,
    /// A success whose body is HTML (or plain text), not the vendor's format.
    NotJson,
    /// A proxy's HTML `503` page in front of the vendor.
    ErrorPage,
    /// The vendor's own `5xx` error.
    ServerError,
    /// `429` with `Retry-After`.
    RateLimited,
}

/// Every fault, in the order a row runs them.
pub const FAULTS: [Fault; 8] = [
    Fault::Hang,
    Fault::Dribble,
    Fault::Oversized,
    Fault::Empty,
    Fault::NotJson,
    Fault::ErrorPage,
    Fault::ServerError,
    Fault::RateLimited,
];

/// `vendor.timeout_ms` of every row's host.
pub const TIMEOUT_MS: u64 = 400;
/// `vendor.max_reply_bytes` of every row's host.
pub const MAX_REPLY_BYTES: i64 = 65_536;
/// The `Retry-After` every mock that takes one is given.
pub const RETRY_AFTER_SECS: u32 = 7;

/// The message deadline of a contract host: longer than the vendor timeout,
/// shorter than every row's `Retry-After`.
pub const MESSAGE_DEADLINE_MS: u64 = 2500;

/// A `vendor_error` the host must answer with (status 502, retryable).
#[derive(Clone, Copy, Debug)]
pub struct VendorError {
    /// `error.vendor_code`.
    pub vendor_code: &'static str,
    /// `error.vendor_status`.
    pub vendor_status: u16,
    /// Text `error.message` must contain, when the vendor's is worth checking.
    pub message: Option<&'static str>,
}

impl VendorError {
    /// What every plugin makes of [`Fault::ErrorPage`]: the HTTP status as the
    /// code, the page's text in the message.
    pub const PROXY_PAGE: VendorError =
        VendorError::new("503", 503).with_message("503 Service Unavailable");

    /// `vendor_code` with `vendor_status`, any message.
    pub const fn new(vendor_code: &'static str, vendor_status: u16) -> VendorError {
        VendorError {
            vendor_code,
            vendor_status,
            message: None,
        }
    }

    /// The message must contain `part`.
    pub const fn with_message(self, part: &'static str) -> VendorError {
        VendorError {
            message: Some(part),
            ..self
        }
    }
}

/// One message a row sends, and where its plugin must send it.
#[derive(Clone, Copy, Debug)]
pub struct Channel {
    /// `context.message_type`: `sms` or `voice`.
    pub message_type: &'static str,
    /// The recipient (some mocks accept only their country's numbers).
    pub recipient: &'static str,
    /// The path of the vendor's endpoint for it.
    pub path: &'static str,
}

impl Channel {
    const fn sms(recipient: &'static str, path: &'static str) -> Channel {
        Channel {
            message_type: "sms",
            recipient,
            path,
        }
    }

    const fn voice(recipient: &'static str, path: &'static str) -> Channel {
        Channel {
            message_type: "voice",
            recipient,
            path,
        }
    }

    fn payload(&self) -> Value {
        json!({
            "recipient": self.recipient,
            "text": "Your code is 123456",
            "context": {"message_type": self.message_type, "language": "en", "code": "123456",
                        "action": "second-factor-authentication"}
        })
    }
}

/// Sets a running mock's scenario: `None` is healthy, `Some(fault)` one of
/// the vendor-shaped faults (never [`Fault::Dribble`] or [`Fault::ErrorPage`],
/// which the contract layer makes).
pub type SetScenario = Box<dyn Fn(Option<Fault>) + Send + Sync>;

/// Which of a mock's own scenarios answers each vendor-shaped fault.
pub struct Scenarios<S> {
    /// A well-formed request is accepted.
    pub healthy: S,
    /// [`Fault::Hang`].
    pub hang: S,
    /// [`Fault::Oversized`].
    pub oversized: S,
    /// [`Fault::Empty`].
    pub empty: S,
    /// [`Fault::NotJson`].
    pub not_json: S,
    /// [`Fault::ServerError`].
    pub server_error: S,
    /// [`Fault::RateLimited`], with a `Retry-After` of [`Row::retry_after_secs`].
    pub rate_limited: S,
}

impl<S: Clone> Scenarios<S> {
    fn pick(&self, fault: Option<Fault>) -> S {
        match fault {
            // The contract layer makes these out of the healthy reply.
            None | Some(Fault::Dribble | Fault::ErrorPage) => &self.healthy,
            Some(Fault::Hang) => &self.hang,
            Some(Fault::Oversized) => &self.oversized,
            Some(Fault::Empty) => &self.empty,
            Some(Fault::NotJson) => &self.not_json,
            Some(Fault::ServerError) => &self.server_error,
            Some(Fault::RateLimited) => &self.rate_limited,
        }
        .clone()
    }
}

/// `mock`'s router, and a switch that sets its scenario from a fault.
pub fn switched<M, S>(
    mock: M,
    router: fn(M) -> Router,
    set: fn(&M, S),
    scenarios: Scenarios<S>,
) -> (Router, SetScenario)
where
    M: Clone + Send + Sync + 'static,
    S: Clone + Send + Sync + 'static,
{
    let app = router(mock.clone());
    (
        app,
        Box::new(move |fault| set(&mock, scenarios.pick(fault))),
    )
}

/// One vendor plugin: how to run its mock and point a host at it, and where it
/// legitimately differs from the others.
pub struct Row {
    /// Names the row in failures.
    pub label: &'static str,
    /// The plugin's manifest name (`active_plugin`, `error.plugin`).
    pub plugin: &'static str,
    /// The plugin's package.
    pub package: &'static str,
    /// The mock's router and the switch of its scenario.
    pub mock: fn() -> (Router, SetScenario),
    /// Settings and secrets for a host whose vendor is at `base_url`.
    pub configure: fn(HostBuilder, &str) -> HostBuilder,
    /// Secret values that must never appear in an answer.
    pub secrets: &'static [&'static str],
    /// The messages to send for every fault.
    pub channels: &'static [Channel],
    /// The answer to the vendor's own 5xx.
    pub server_error: VendorError,
    /// The answer to a 429, whose `Retry-After` is `retry_after_secs`.
    pub rate_limited: VendorError,
    /// The `Retry-After` the mock sends with its 429.
    pub retry_after_secs: u32,
}

impl Row {
    /// A host with this row's plugin active against a vendor at `base_url`,
    /// with the contract's vendor timeout and reply cap.
    pub fn host(&self, base_url: &str) -> HostBuilder {
        let builder = Host::builder()
            .plugin(self.package)
            .active(self.plugin)
            .config("vendor.timeout_ms", TIMEOUT_MS as i64)
            .config("vendor.max_reply_bytes", MAX_REPLY_BYTES)
            // Shorter than any row's Retry-After: the contract checks what a
            // vendor's 429 becomes, not the host's retry of it (which
            // `tests/failover.rs` covers).
            .config("failover.deadline_ms", MESSAGE_DEADLINE_MS as i64);
        (self.configure)(builder, base_url)
    }
}

/// A host configured as `label`'s row, against a vendor at `base_url` (for
/// a vendor's own tests, which add or change settings).
pub fn host(label: &str, base_url: &str) -> HostBuilder {
    let rows = rows();
    let Some(row) = rows.iter().find(|r| r.label == label) else {
        panic!("no contract row labelled {label}");
    };
    row.host(base_url)
}

/// Asserts `answer` is a 502 `vendor_error` from `plugin` with this vendor
/// code and status and retryability, holding none of `secrets`; returns the
/// error object.
pub fn assert_vendor_error<'a>(
    plugin: &str,
    secrets: &[&str],
    answer: (u16, &'a Value),
    vendor_code: &str,
    vendor_status: u16,
    retryable: bool,
) -> &'a Value {
    let (status, body) = answer;
    assert_eq!(status, 502, "{body}");
    let error = &body["error"];
    assert_eq!(error["code"], "vendor_error", "{body}");
    assert_eq!(error["plugin"], plugin, "{body}");
    assert_eq!(error["vendor_code"], vendor_code, "{body}");
    assert_eq!(error["vendor_status"], vendor_status, "{body}");
    assert_eq!(error["retryable"], retryable, "{body}");
    let text = body.to_string();
    for secret in secrets {
        assert!(!text.contains(secret), "a secret leaked: {body}");
    }
    error
}

/// What the host must answer to `fault` from `row`'s vendor.
#[derive(Clone, Copy, Debug)]
enum Expected {
    Host { status: u16, code: &'static str },
    Vendor(VendorError),
}

fn expected(row: &Row, fault: Fault) -> Expected {
    let host = |status, code| Expected::Host { status, code };
    match fault {
        Fault::Hang | Fault::Dribble => host(504, "vendor_timeout"),
        Fault::Oversized => host(502, "vendor_reply_too_large"),
        Fault::Empty | Fault::NotJson => host(502, "vendor_protocol"),
        Fault::ErrorPage => Expected::Vendor(VendorError::PROXY_PAGE),
        Fault::ServerError => Expected::Vendor(row.server_error),
        Fault::RateLimited => Expected::Vendor(row.rate_limited),
    }
}
