//! The path of one message through a plugin: `prepare`, then the host performs
//! each request the plugin asks for and hands the reply to `interpret`, until
//! the plugin says delivered or failed.

use std::time::Duration;

use http::StatusCode;
use phonehook_plugin_api::{Call, Channel, ErrorKind, HttpReply, Message, RequestBudget};

use crate::deliverylog::time;
use crate::egress::{Egress, EgressError};
use crate::plugins::{Active, OwnedError, OwnedStep};
use crate::redact::{self, Redactor};

/// A message the vendor accepted.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The vendor's message id.
    pub message_id: String,
    /// The vendor's status word.
    pub vendor_status: String,
    /// Time spent waiting for the vendor.
    pub vendor_latency: Duration,
}

/// Why a message was not delivered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeliveryError {
    /// No plugin is active.
    #[error("no plugin is active")]
    NoActivePlugin,
    /// The active plugin lacks configuration.
    #[error("plugin `{plugin}` is not configured: {}", problems.join("; "))]
    Misconfigured {
        /// Plugin name.
        plugin: String,
        /// What is missing.
        problems: Vec<String>,
    },
    /// The plugin does not deliver on this channel.
    #[error("plugin `{plugin}` does not support {channel} messages")]
    Unsupported {
        /// Plugin name.
        plugin: String,
        /// The channel asked for.
        channel: &'static str,
    },
    /// The plugin reported a failure (the vendor's, usually).
    #[error("{}", error.message)]
    Plugin {
        /// The failure.
        error: OwnedError,
        /// The HTTP status of the vendor's last reply, if there was one.
        vendor_status: Option<u16>,
    },
    /// The request could not be completed.
    #[error("{0}")]
    Egress(EgressError),
    /// The plugin broke the contract (looped, or delivered without an id).
    #[error("the plugin misbehaved: {0}")]
    Contract(String),
    /// The message's deadline (`failover.deadline_ms`) passed during the
    /// attempt.
    #[error("the message's deadline of {0} ms passed before the vendor answered")]
    DeadlineExceeded(u64),
}

/// Delivers `message` through `active`, bounded in requests; the caller bounds
/// it in time through the egress deadline.
///
/// `redactor` is the attempt's (see [`redact::for_message`]): the credentials
/// of every request sent are added to it, and the error comes back redacted
/// with it, so what the caller, the log line and the delivery log see holds
/// no secret, code or number, whatever the vendor echoed.
pub async fn deliver(
    active: &Active,
    message: &Message,
    egress: &Egress,
    host_url: &str,
    redactor: &mut Redactor,
) -> Result<Delivered, DeliveryError> {
    let result = run_steps(active, message, egress, host_url, redactor).await;
    // A contained panic is logged with the attempt's line (`attempt::report`).
    result.map_err(|error| error.redacted(redactor))
}

async fn run_steps(
    active: &Active,
    message: &Message,
    egress: &Egress,
    host_url: &str,
    redactor: &mut Redactor,
) -> Result<Delivered, DeliveryError> {
    let generation = &active.generation;
    let binding = &active.binding;
    let plugin = &generation.info.name;
    if !binding.problems.is_empty() {
        return Err(DeliveryError::Misconfigured {
            plugin: plugin.clone(),
            problems: binding.problems.clone(),
        });
    }
    if !generation.info.supports(message.channel) {
        return Err(DeliveryError::Unsupported {
            plugin: plugin.clone(),
            channel: channel_name(message.channel),
        });
    }

    let call = |random: [u8; 32]| Call {
        message,
        config: binding.config(),
        now_unix_ms: time::now_ms(),
        random,
        host_url: host_url.into(),
    };

    let mut step = generation.prepare(&call(rand::random()));
    let mut vendor_latency = Duration::ZERO;
    let mut last_status = None;
    // The plugin API's budget, which its test harness counts with too.
    let mut budget = RequestBudget::new();
    loop {
        let request = match step {
            OwnedStep::Send(request) => request,
            OwnedStep::Delivered { message_id, status } => {
                if message_id.trim().is_empty() {
                    return Err(DeliveryError::Contract(
                        "it reported a delivery with an empty message id".into(),
                    ));
                }
                return Ok(Delivered {
                    message_id,
                    vendor_status: status,
                    vendor_latency,
                });
            }
            OwnedStep::Failed(error) => {
                return Err(DeliveryError::Plugin {
                    error,
                    vendor_status: last_status,
                })
            }
        };
        let n = budget
            .spend()
            .map_err(|e| DeliveryError::Contract(format!("it {e}")))?;
        redact::add_request_memoized(redactor, &request, &binding.credentials);
        let reply = egress
            .send(&request, &binding.allow)
            .await
            .map_err(DeliveryError::Egress)?;
        vendor_latency += reply.elapsed;
        last_status = Some(reply.status);
        let mut http = HttpReply::new(reply.status, &reply.headers, &reply.body);
        http.state = request.state.as_str().into();
        http.step = n;
        step = generation.interpret(&call(rand::random()), &http);
    }
}

fn channel_name(channel: Channel) -> &'static str {
    channel.as_str()
}

impl DeliveryError {
    /// The stable error code the API answers with and the log and metrics
    /// record (`vendor_error`, `vendor_timeout`, `no_active_plugin`, ...).
    /// A plugin's failure takes its kind's name ([`ErrorKind::as_str`]), so
    /// the contract and the host never spell one differently.
    pub fn code(&self) -> &'static str {
        match self {
            DeliveryError::NoActivePlugin => "no_active_plugin",
            DeliveryError::Misconfigured { .. } => "plugin_config",
            DeliveryError::Unsupported { .. } => "unsupported",
            DeliveryError::Contract(_) => "plugin_contract",
            DeliveryError::DeadlineExceeded(_) => "deadline_exceeded",
            DeliveryError::Egress(e) => e.code(),
            DeliveryError::Plugin { error, .. } => error.kind.as_str(),
        }
    }

    /// The HTTP status the API answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            DeliveryError::NoActivePlugin | DeliveryError::Misconfigured { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            DeliveryError::Unsupported { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            DeliveryError::Contract(_) => StatusCode::INTERNAL_SERVER_ERROR,
            DeliveryError::DeadlineExceeded(_) => StatusCode::GATEWAY_TIMEOUT,
            DeliveryError::Egress(e) => match e {
                EgressError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
                EgressError::Unreachable(_) | EgressError::TooLarge(_) => StatusCode::BAD_GATEWAY,
                EgressError::InvalidUrl(_) | EgressError::HostNotAllowed(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            },
            DeliveryError::Plugin { error, .. } => match error.kind {
                ErrorKind::Vendor | ErrorKind::Protocol => StatusCode::BAD_GATEWAY,
                ErrorKind::Config => StatusCode::SERVICE_UNAVAILABLE,
                ErrorKind::Unsupported | ErrorKind::InvalidMessage => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                ErrorKind::Panic | ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    /// Whether sending the same message again may succeed: a timeout or an
    /// unreachable vendor may pass on a later try, a plugin says so itself,
    /// and nothing else changes by trying again.
    pub fn retryable(&self) -> bool {
        match self {
            DeliveryError::Egress(e) => {
                matches!(e, EgressError::Timeout(_) | EgressError::Unreachable(_))
            }
            DeliveryError::Plugin { error, .. } => error.retryable,
            DeliveryError::DeadlineExceeded(_) => true,
            DeliveryError::NoActivePlugin
            | DeliveryError::Misconfigured { .. }
            | DeliveryError::Unsupported { .. }
            | DeliveryError::Contract(_) => false,
        }
    }

    /// Whether the vendor reported the failure (it refused, or answered
    /// something unreadable) rather than the host or the plugin.
    pub fn from_vendor(&self) -> bool {
        matches!(
            self,
            DeliveryError::Plugin { error, .. }
                if matches!(error.kind, ErrorKind::Vendor | ErrorKind::Protocol)
        )
    }

    /// The vendor's own error code, when the plugin passed one on.
    pub fn vendor_code(&self) -> Option<&str> {
        match self {
            DeliveryError::Plugin { error, .. } if !error.code.is_empty() => Some(&error.code),
            _ => None,
        }
    }

    /// The HTTP status of the vendor's last reply, when there was one.
    pub fn vendor_status(&self) -> Option<u16> {
        match self {
            DeliveryError::Plugin { vendor_status, .. } => *vendor_status,
            _ => None,
        }
    }

    /// The error with every text `redactor` knows removed: a plugin or vendor
    /// text may quote a credential, the code or the number back (vendors
    /// echo request fields), and an egress error may quote a URL.
    pub fn redacted(self, redactor: &Redactor) -> DeliveryError {
        let r = |text: String| redactor.redact(&text);
        match self {
            DeliveryError::Misconfigured { plugin, problems } => DeliveryError::Misconfigured {
                plugin,
                problems: problems.into_iter().map(r).collect(),
            },
            DeliveryError::Plugin {
                mut error,
                vendor_status,
            } => {
                error.message = r(error.message);
                error.code = r(error.code);
                DeliveryError::Plugin {
                    error,
                    vendor_status,
                }
            }
            DeliveryError::Egress(e) => DeliveryError::Egress(match e {
                EgressError::InvalidUrl(url) => EgressError::InvalidUrl(r(url)),
                EgressError::HostNotAllowed(host) => EgressError::HostNotAllowed(r(host)),
                EgressError::Unreachable(why) => EgressError::Unreachable(r(why)),
                e @ (EgressError::Timeout(_) | EgressError::TooLarge(_)) => e,
            }),
            DeliveryError::Contract(why) => DeliveryError::Contract(r(why)),
            e @ (DeliveryError::NoActivePlugin
            | DeliveryError::Unsupported { .. }
            | DeliveryError::DeadlineExceeded(_)) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonehook_plugin_api::ErrorKind;

    fn plugin_error(kind: ErrorKind, retryable: bool) -> DeliveryError {
        DeliveryError::Plugin {
            error: OwnedError {
                kind,
                code: String::new(),
                message: "m".into(),
                retryable,
                retry_after_secs: 0,
            },
            vendor_status: None,
        }
    }

    /// The codes and statuses the README's error table documents: the API,
    /// the log and the metrics all take them from here.
    #[test]
    fn every_error_has_its_documented_code_status_and_retryability() {
        use EgressError as E;
        use ErrorKind as K;
        let misconfigured = DeliveryError::Misconfigured {
            plugin: "p".into(),
            problems: vec!["API_KEY is not set".into()],
        };
        let unsupported = DeliveryError::Unsupported {
            plugin: "p".into(),
            channel: "voice",
        };
        let x = || "x".to_owned();
        // One row per case, as the README's table reads.
        #[rustfmt::skip]
        let cases = [
            (DeliveryError::NoActivePlugin, "no_active_plugin", 503, false),
            (misconfigured, "plugin_config", 503, false),
            (unsupported, "unsupported", 422, false),
            (DeliveryError::Contract(x()), "plugin_contract", 500, false),
            (DeliveryError::Egress(E::Timeout(10)), "vendor_timeout", 504, true),
            (DeliveryError::Egress(E::Unreachable(x())), "vendor_unreachable", 502, true),
            (DeliveryError::Egress(E::TooLarge(1)), "vendor_reply_too_large", 502, false),
            (DeliveryError::Egress(E::InvalidUrl(x())), "plugin_egress_denied", 500, false),
            (DeliveryError::Egress(E::HostNotAllowed(x())), "plugin_egress_denied", 500, false),
            (plugin_error(K::Vendor, true), "vendor_error", 502, true),
            (plugin_error(K::Vendor, false), "vendor_error", 502, false),
            (plugin_error(K::Protocol, false), "vendor_protocol", 502, false),
            (plugin_error(K::Config, false), "plugin_config", 503, false),
            (plugin_error(K::Unsupported, false), "unsupported", 422, false),
            (plugin_error(K::InvalidMessage, false), "invalid_message", 422, false),
            (plugin_error(K::Panic, false), "plugin_panic", 500, false),
            (plugin_error(K::Internal, false), "plugin_internal", 500, false),
        ];
        for (error, code, status, retryable) in cases {
            assert_eq!(
                (error.code(), error.status().as_u16(), error.retryable()),
                (code, status, retryable),
                "{error:?}"
            );
        }
        assert!(plugin_error(K::Vendor, false).from_vendor());
        assert!(plugin_error(K::Protocol, false).from_vendor());
        assert!(!plugin_error(K::Config, false).from_vendor());
        assert!(!DeliveryError::Egress(E::Timeout(1)).from_vendor());
    }

    #[test]
    fn every_text_of_an_error_is_redacted() {
        let mut r = Redactor::for_secrets(["sk_live_abcdef"]);
        r.code("918273");
        let leak = "https://x.test/?key=sk_live_abcdef&code=918273";
        let plugin = DeliveryError::Plugin {
            error: OwnedError {
                kind: ErrorKind::Vendor,
                code: "sk_live_abcdef".into(),
                message: format!("said 9, 1, 8, 2, 7, 3 to {leak}"),
                retryable: false,
                retry_after_secs: 0,
            },
            vendor_status: Some(400),
        };
        let cases = [
            plugin,
            DeliveryError::Egress(EgressError::Unreachable(leak.into())),
            DeliveryError::Egress(EgressError::InvalidUrl(leak.into())),
            DeliveryError::Contract(leak.into()),
            DeliveryError::Misconfigured {
                plugin: "p".into(),
                problems: vec![leak.into()],
            },
        ];
        for error in cases {
            let redacted = error.clone().redacted(&r);
            let text = format!("{redacted} {redacted:?}");
            assert!(text.contains("[redacted]"), "{text}");
            for secret in ["sk_live", "918273", "9, 1"] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }
    }
}
