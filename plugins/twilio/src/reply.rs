//! Twilio's replies: a `201` resource whose id is `sid`, or an error object
//! `{"code", "message", "more_info", "status"}` (sometimes with `detail`).

use std::borrow::Cow;

use phonehook_plugin_api::serde_json::{self, Value};
use phonehook_plugin_api::{encoding, Delivery, HttpReply, PluginError};
use serde::Deserialize;

/// What a reply means: the created resource, or why Twilio refused.
///
/// Twilio echoes the request path, hence the account SID, in some messages
/// ("The requested resource /2010-04-01/Accounts/AC…/Messages.json was not
/// found"); the host strips configured secrets from every error, so the text
/// is passed on whole.
pub fn read(reply: &HttpReply<'_>) -> Result<Delivery, PluginError> {
    if reply.is_success() {
        created(reply)
    } else {
        Err(refusal(reply))
    }
}

/// The two fields of a created resource this plugin reads. Read into this
/// first: serde skips the other twenty fields of Twilio's ~800-byte message
/// resource instead of building a map of them, which was most of this
/// plugin's cost per message.
#[derive(Deserialize)]
struct Created<'a> {
    #[serde(borrow, default)]
    sid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
}

/// The created message, call or verification.
fn created(reply: &HttpReply<'_>) -> Result<Delivery, PluginError> {
    // Only an object: serde also fills a struct from an array.
    let typed = reply
        .text()
        .ok()
        .filter(|text| text.trim_start().starts_with('{'))
        .and_then(|text| serde_json::from_str::<Created>(text).ok());
    if let Some(Created {
        sid: Some(sid),
        status,
    }) = &typed
    {
        if !sid.trim().is_empty() {
            return Ok(Delivery::new(
                sid.trim(),
                status.as_deref().unwrap_or_default(),
            ));
        }
    }
    // Anything else (no `sid`, a `sid` or `status` that is not a string, not
    // JSON at all) is read as a whole, for the error that quotes it.
    let body = reply.json()?;
    let sid = body
        .get("sid")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|sid| !sid.trim().is_empty())
        .ok_or_else(|| {
            PluginError::protocol(format!(
                "Twilio answered HTTP {} without a `sid`: {}",
                reply.status,
                encoding::snippet(&body.to_string())
            ))
        })?;
    let status = body
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok(Delivery::new(sid, status))
}

/// Twilio's error object as a vendor error, or the status and body when the
/// reply is not in that format (a proxy's HTML page, an empty 503).
fn refusal(reply: &HttpReply<'_>) -> PluginError {
    let Ok(body) = reply.json() else {
        return reply.unexpected();
    };
    let code = match body.get("code") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.trim().to_owned(),
        _ => String::new(),
    };
    let message = text_field(&body, "message");
    if code.is_empty() && message.is_none() {
        return reply.unexpected();
    }
    let code = if code.is_empty() {
        reply.status.to_string()
    } else {
        code
    };
    PluginError::vendor(code, describe(&body, message, reply.status))
        .retryable(encoding::status_is_retryable(reply.status))
        .retry_after(reply.retry_after_secs())
}

/// "Authenticate: Your AccountSid or AuthToken was incorrect. (more info:
/// https://www.twilio.com/docs/errors/20003)" — Twilio's terse `message`
/// completed with its `detail` and the page that explains the code.
fn describe(body: &Value, message: Option<&str>, status: u16) -> String {
    let mut text = message.map_or_else(|| format!("HTTP {status}"), str::to_owned);
    if let Some(detail) = text_field(body, "detail").filter(|d| *d != text) {
        text = format!("{text}: {detail}");
    }
    if let Some(more) = text_field(body, "more_info") {
        text = format!("{text} (more info: {more})");
    }
    text
}

fn text_field<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}
