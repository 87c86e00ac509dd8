//! Vonage's newer APIs (Voice, Messages) refuse with RFC 7807 problem JSON:
//! `{"type": "https://developer.nexmo.com/api-errors#unauthorized", "title": …,
//! "detail": …, "instance": …, "invalid_parameters": [{"name", "reason"}]}`.

use phonehook_plugin_api::serde_json::Value;
use phonehook_plugin_api::{encoding, HttpReply, PluginError};

/// The vendor error for a non-success reply: the problem document when the
/// body is one, otherwise the HTTP status and the start of the body.
pub fn refusal(reply: &HttpReply<'_>) -> PluginError {
    match problem(reply) {
        Some(err) => err
            .retryable(encoding::status_is_retryable(reply.status))
            .retry_after(reply.retry_after_secs()),
        None => reply.unexpected(),
    }
}

/// The problem document as a vendor error (without retry hints), or `None`
/// when the body is not one.
fn problem(reply: &HttpReply<'_>) -> Option<PluginError> {
    let body: Value = phonehook_plugin_api::serde_json::from_slice(reply.body.as_slice()).ok()?;
    let field = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or("")
    };
    let (kind, title, detail) = (field("type"), field("title"), field("detail"));
    if kind.is_empty() && title.is_empty() && detail.is_empty() {
        return None;
    }
    let code = code_of(kind).unwrap_or_else(|| reply.status.to_string());
    let mut text = [title, detail]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    if text.is_empty() {
        text = format!("HTTP {}", reply.status);
    }
    if let Some(params) = invalid_parameters(&body) {
        text = format!("{text} ({params})");
    }
    Some(PluginError::vendor(code, text))
}

/// The error's short name from its `type` URI: the fragment
/// (`…/api-errors#unauthorized` → `unauthorized`) or the last path segment
/// (`…/errors/messages/1000` → `1000`).
pub fn code_of(type_uri: &str) -> Option<String> {
    let tail = match type_uri.rsplit_once('#') {
        Some((_, fragment)) => fragment,
        None => type_uri
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(""),
    };
    let tail = tail.trim();
    (!tail.is_empty()).then(|| tail.to_owned())
}

/// `invalid_parameters` as `name: reason; name: reason`.
fn invalid_parameters(body: &Value) -> Option<String> {
    let params: Vec<String> = body
        .get("invalid_parameters")?
        .as_array()?
        .iter()
        .filter_map(|p| {
            let name = p.get("name").and_then(Value::as_str).unwrap_or("");
            let reason = p.get("reason").and_then(Value::as_str).unwrap_or("");
            match (name.is_empty(), reason.is_empty()) {
                (true, true) => None,
                (false, false) => Some(format!("{name}: {reason}")),
                _ => Some(format!("{name}{reason}")),
            }
        })
        .collect();
    (!params.is_empty()).then(|| params.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonehook_plugin_api::serde_json::json;
    use phonehook_plugin_api::testing::Reply;
    use phonehook_plugin_api::{ErrorKind, HttpReply};

    fn refuse(reply: &Reply) -> PluginError {
        refusal(&HttpReply::new(reply.status, &reply.headers, &reply.body))
    }

    #[test]
    fn codes_come_from_the_type_fragment_or_last_segment() {
        assert_eq!(
            code_of("https://developer.nexmo.com/api-errors#unauthorized").as_deref(),
            Some("unauthorized")
        );
        assert_eq!(
            code_of("https://developer.vonage.com/api-errors/messages#1150").as_deref(),
            Some("1150")
        );
        assert_eq!(
            code_of("https://developer.vonage.com/api-errors/voice/validation/").as_deref(),
            Some("validation")
        );
        assert_eq!(code_of(""), None);
    }

    #[test]
    fn problem_json_becomes_a_vendor_error_with_parameters() {
        let err = refuse(&Reply::json(
            400,
            json!({
                "type": "https://developer.nexmo.com/api-errors#bad-request",
                "title": "Bad Request",
                "detail": "The request failed due to validation errors",
                "invalid_parameters": [{"name": "to[0].number", "reason": "must match \"^[1-9]\\d{6,14}$\""}],
                "instance": "bf0ca0bf927b3b52e3cb03217e1a1ddf"
            }),
        ));
        assert_eq!(err.kind, ErrorKind::Vendor);
        assert_eq!(err.code.as_str(), "bad-request");
        assert!(
            err.message.starts_with("Bad Request: The request failed"),
            "{err}"
        );
        assert!(err.message.contains("to[0].number: must match"), "{err}");
        assert!(!err.retryable);
    }

    #[test]
    fn status_is_the_code_without_a_type_and_429_is_retryable() {
        let err = refuse(
            &Reply::json(429, json!({"title": "Too Many Requests"})).header("Retry-After", "7"),
        );
        assert_eq!(
            (err.code.as_str(), err.message.as_str()),
            ("429", "Too Many Requests")
        );
        assert_eq!((err.retryable, err.retry_after_secs), (true, 7));
    }

    #[test]
    fn other_bodies_fall_back_to_the_status() {
        let err = refuse(&Reply::text(503, "<html>unavailable</html>"));
        assert_eq!(
            (err.kind, err.code.as_str(), err.retryable),
            (ErrorKind::Vendor, "503", true)
        );
        assert!(err.message.contains("<html>"), "{err}");
        let err = refuse(&Reply::json(401, json!({"error": "nope"})));
        assert_eq!(err.code.as_str(), "401");
    }
}
