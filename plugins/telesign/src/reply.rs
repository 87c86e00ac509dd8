//! Reading TeleSign's answer. TeleSign asks clients to code against the status
//! code in the body rather than the HTTP status: an accepted message carries
//! `reference_id` and an in-progress status; a refusal carries `status` and,
//! usually, an `errors` list.

use phonehook_plugin_api::serde_json::Value;
use phonehook_plugin_api::{encoding, Channel, Delivery, HttpReply, PluginError};

/// Statuses that mean the Messaging API took the message: 290 "Message in
/// progress" (the documented answer), or an already-known delivery to the
/// gateway (203) or handset (200).
const SMS_ACCEPTED: &[i64] = &[290, 203, 200];

/// Statuses that mean the Voice API took the call: 103 "Call in progress" (the
/// documented immediate answer), 105 "Call not handled yet" (intermediate) and
/// 290, which some Voice answers carry.
const VOICE_ACCEPTED: &[i64] = &[103, 105, 290];

/// The delivery, or why there is none.
pub fn read(reply: &HttpReply<'_>, channel: Channel) -> Result<Delivery, PluginError> {
    let body = match reply.json() {
        Ok(body) => body,
        Err(_) if !reply.is_success() => return Err(reply.unexpected()),
        Err(e) => return Err(e),
    };
    let status = Status::of(&body);
    let accepted = match channel {
        Channel::Sms => SMS_ACCEPTED,
        Channel::Voice => VOICE_ACCEPTED,
    };
    if reply.is_success() {
        if status.code.is_some_and(|c| accepted.contains(&c)) {
            return delivery(&body, &status);
        }
        // A 2xx that is not "in progress" is a refusal (e.g. a blocked number);
        // retrying could send the code twice, so it is final.
        return Err(refusal(&body, &status, reply).retryable(false));
    }
    if status.code.is_none() && first_error(&body).is_none() {
        return Err(reply.unexpected());
    }
    Err(refusal(&body, &status, reply))
}

/// `status.code` and `status.description`.
struct Status {
    code: Option<i64>,
    description: String,
}

impl Status {
    fn of(body: &Value) -> Status {
        Status {
            code: number(&body["status"]["code"]),
            description: body["status"]["description"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }
    }
}

/// A code TeleSign sends as a number (sometimes as a string).
fn number(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str()?.trim().parse().ok())
}

fn delivery(body: &Value, status: &Status) -> Result<Delivery, PluginError> {
    let id = body["reference_id"]
        .as_str()
        .map(str::trim)
        .unwrap_or_default();
    if id.is_empty() {
        return Err(PluginError::protocol(format!(
            "TeleSign accepted the message but its reply has no `reference_id`: {}",
            encoding::snippet(&body.to_string())
        )));
    }
    Ok(Delivery::new(id, status.description.clone()))
}

/// The first entry of `errors`: its code and description.
fn first_error(body: &Value) -> Option<(String, String)> {
    let error = body["errors"].as_array()?.first()?;
    let code = number(&error["code"])?;
    let description = error["description"].as_str().unwrap_or_default();
    Some((code.to_string(), description.to_owned()))
}

/// A vendor error: the first error's code when there is one (it says why, e.g.
/// -30006 "Invalid Signature"), else the status code; both texts.
fn refusal(body: &Value, status: &Status, reply: &HttpReply<'_>) -> PluginError {
    let status_code = status.code.map(|c| c.to_string()).unwrap_or_default();
    let (code, text) = match first_error(body) {
        Some((code, description)) if status.description.is_empty() => (code, description),
        Some((code, description)) if description.is_empty() => (code, status.description.clone()),
        Some((code, description)) => (code, format!("{}: {description}", status.description)),
        None => (status_code, status.description.clone()),
    };
    let text = if text.is_empty() {
        format!("HTTP {}", reply.status)
    } else {
        text
    };
    PluginError::vendor(code, text)
        .retryable(encoding::status_is_retryable(reply.status))
        .retry_after(reply.retry_after_secs())
}
