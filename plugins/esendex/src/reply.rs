//! Reading the dispatcher's answer: the message header id on success (JSON, or
//! XML when the account answers in XML), the vendor's error otherwise.

use phonehook_plugin_api::serde_json::Value;
use phonehook_plugin_api::{encoding, Delivery, HttpReply, PluginError};

/// The delivery, or why there is none.
pub fn read(reply: &HttpReply<'_>) -> Result<Delivery, PluginError> {
    if reply.is_success() {
        accepted(reply)
    } else {
        Err(refused(reply))
    }
}

fn accepted(reply: &HttpReply<'_>) -> Result<Delivery, PluginError> {
    let text = reply.text()?;
    let id = if looks_like_xml(text) {
        encoding::xml_attr(text, &["messageheaders", "messageheader"], "id")
    } else {
        let body = reply.json()?;
        body["batch"]["messageheaders"][0]["id"]
            .as_str()
            .map(str::to_owned)
    };
    match id
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.trim().is_empty())
    {
        Some(id) => Ok(Delivery::new(id, "")),
        None => Err(PluginError::protocol(format!(
            "Esendex accepted the message but its reply has no message header id: {}",
            encoding::snippet(text)
        ))),
    }
}

fn looks_like_xml(text: &str) -> bool {
    text.trim_start().starts_with('<')
}

/// A refusal: the JSON `errors` list when there is one, otherwise the raw body
/// (older API versions answer errors in `text/plain`).
fn refused(reply: &HttpReply<'_>) -> PluginError {
    // Throttling and server faults pass; 402 (no credit left) and the other
    // 4xx need someone to act first.
    let retryable = encoding::status_is_retryable(reply.status);
    match json_error(reply) {
        Some((code, description)) => PluginError::vendor(code, description)
            .retryable(retryable)
            .retry_after(reply.retry_after_secs()),
        None => reply.unexpected(),
    }
}

/// The first error's code, and every error's description joined.
fn json_error(reply: &HttpReply<'_>) -> Option<(String, String)> {
    let body: Value = phonehook_plugin_api::serde_json::from_slice(reply.body.as_slice()).ok()?;
    let errors = body["errors"].as_array().filter(|e| !e.is_empty())?;
    let code = errors
        .first()
        .and_then(|e| e["code"].as_str())
        .unwrap_or_default();
    let descriptions: Vec<&str> = errors
        .iter()
        .filter_map(|e| e["description"].as_str())
        .filter(|d| !d.is_empty())
        .collect();
    if code.is_empty() && descriptions.is_empty() {
        return None;
    }
    let text = if descriptions.is_empty() {
        code.to_owned()
    } else {
        descriptions.join("; ")
    };
    Some((code.to_owned(), text))
}
