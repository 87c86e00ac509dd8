//! SNS's answers: a `PublishResponse` with the message id, or an
//! `ErrorResponse` with a code and a text, both XML.

use phonehook_plugin_api::{encoding, Config, Delivery, HttpReply, PluginError};

const MESSAGE_ID: &[&str] = &["PublishResponse", "PublishResult", "MessageId"];
const ERROR_CODE: &[&str] = &["ErrorResponse", "Error", "Code"];
const ERROR_MESSAGE: &[&str] = &["ErrorResponse", "Error", "Message"];

/// Error codes worth retrying whatever the HTTP status: AWS's throttling codes
/// (SNS answers `Throttling` with HTTP 400, and its own `Throttled` with 429),
/// the transient codes of the AWS SDKs' standard retry mode, and SNS's
/// `InternalError`.
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "Throttled",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "KMSThrottling",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Whether an SNS error code is transient.
pub fn code_is_retryable(code: &str) -> bool {
    RETRYABLE_CODES.contains(&code)
}

/// Reads a reply to `Publish`.
pub fn read(reply: &HttpReply<'_>, config: &Config<'_>) -> Result<Delivery, PluginError> {
    if reply.is_success() {
        delivered(reply)
    } else {
        Err(refused(reply, config))
    }
}

fn delivered(reply: &HttpReply<'_>) -> Result<Delivery, PluginError> {
    let text = reply.text()?;
    if text.trim().is_empty() {
        return Err(PluginError::protocol(format!(
            "SNS answered HTTP {} with an empty body",
            reply.status
        )));
    }
    encoding::xml_text(text, MESSAGE_ID)
        .filter(|id| !id.trim().is_empty())
        .map(|id| Delivery::new(id, ""))
        .ok_or_else(|| {
            PluginError::protocol(format!(
                "SNS answered HTTP {} without PublishResponse/PublishResult/MessageId: {}",
                reply.status,
                encoding::snippet(text)
            ))
        })
}

/// Some AWS errors quote the canonical request, session token included. The
/// host redacts secrets from every error, but a token is longer than the
/// snippet kept of the message, and half a token is no longer recognisable:
/// so secrets are redacted here, before the text is cut.
fn refused(reply: &HttpReply<'_>, config: &Config<'_>) -> PluginError {
    let Ok(text) = reply.text() else {
        return reply.unexpected();
    };
    let Some(code) = encoding::xml_text(text, ERROR_CODE).filter(|c| !c.is_empty()) else {
        return reply.unexpected();
    };
    let message = encoding::xml_text(text, ERROR_MESSAGE)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| code.clone());
    let message = encoding::snippet(&config.redact(&message));
    let retryable = encoding::status_is_retryable(reply.status) || code_is_retryable(&code);
    PluginError::vendor(config.redact(&code), message)
        .retryable(retryable)
        .retry_after(reply.retry_after_secs())
}
