//! The path of one message through a plugin: `prepare`, then the host performs
//! each request the plugin asks for and hands the reply to `interpret`, until
//! the plugin says delivered or failed.

use std::time::{Duration, SystemTime};

use phonehook_plugin_api::{Call, Channel, ErrorKind, HttpReply, Message};

use crate::egress::{Egress, EgressError};
use crate::plugins::{Active, OwnedError, OwnedStep};

/// A token flow plus a send is two requests; eight leaves room for any real
/// vendor and still stops a plugin that loops.
const MAX_REQUESTS: u32 = 8;

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
}

/// Delivers `message` through `active`, bounded in requests; the caller bounds
/// it in time through the egress deadline.
pub async fn deliver(
    active: &Active,
    message: &Message,
    egress: &Egress,
    host_url: &str,
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
        now_unix_ms: now_unix_ms(),
        random,
        host_url: host_url.into(),
    };
    let unloaded = || DeliveryError::Contract("the plugin library is no longer loaded".into());

    let mut step = generation
        .prepare(&call(rand::random()))
        .ok_or_else(unloaded)?;
    let mut vendor_latency = Duration::ZERO;
    let mut last_status = None;
    for n in 0..MAX_REQUESTS {
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
                    error: redact(error, binding.secret_values()),
                    vendor_status: last_status,
                })
            }
        };
        let reply = egress
            .send(&request, &binding.allow)
            .await
            .map_err(DeliveryError::Egress)?;
        vendor_latency += reply.elapsed;
        last_status = Some(reply.status);
        let mut http = HttpReply::new(reply.status, &reply.headers, &reply.body);
        http.state = request.state.as_str().into();
        http.step = n;
        step = generation
            .interpret(&call(rand::random()), &http)
            .ok_or_else(unloaded)?;
    }
    Err(DeliveryError::Contract(format!(
        "it asked for more than {MAX_REQUESTS} requests for one message"
    )))
}

fn channel_name(channel: Channel) -> &'static str {
    channel.as_str()
}

fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A plugin or vendor text may quote a credential back (vendors echo request
/// fields); strip every configured secret value before anyone sees it.
fn redact<'a>(mut error: OwnedError, secrets: impl Iterator<Item = &'a str>) -> OwnedError {
    // Plugins trim values before use, so a secret with stray whitespace (say,
    // from an env file) appears trimmed in what the vendor echoes back.
    for secret in secrets.map(str::trim).filter(|s| s.len() >= 4) {
        if error.message.contains(secret) {
            error.message = error.message.replace(secret, "[redacted]");
        }
        if error.code.contains(secret) {
            error.code = error.code.replace(secret, "[redacted]");
        }
    }
    if error.kind == ErrorKind::Panic {
        tracing::error!(error = %error.message, "plugin panicked; the panic was contained");
    }
    error
}
