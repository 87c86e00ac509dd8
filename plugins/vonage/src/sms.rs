//! The SMS API: `POST {base}/sms/json`, form-encoded, Basic auth.
//!
//! It answers HTTP 200 to almost everything; the outcome is in the body, one
//! entry per SMS segment, each with its own `status` (`"0"` is success).

use phonehook_plugin_api::serde_json::Value;
use phonehook_plugin_api::{encoding, Call, Delivery, HttpReply, HttpRequest, PluginError, Step};

use crate::problem;
use crate::settings::{self, API_KEY, API_SECRET, SMS_DEFAULT_BASE};

/// The state that marks the SMS API's reply.
pub const STATE: &str = "sms";

/// The send request for this call's message.
pub fn request(call: &Call<'_>) -> Result<HttpRequest, PluginError> {
    let config = &call.config;
    let key = config.require_secret(API_KEY)?;
    let secret = config.require_secret(API_SECRET)?;
    let from = settings::require_sender(config)?;
    let msg = call.message;
    let mut fields = vec![
        ("from", from.for_sms()),
        ("to", msg.recipient_digits()),
        ("text", msg.text.as_str()),
    ];
    if !encoding::is_gsm7(&msg.text) {
        fields.push(("type", "unicode"));
    }
    let base = config.base_url(SMS_DEFAULT_BASE);
    Ok(HttpRequest::post(format!("{base}/sms/json"))
        .basic_auth(key, secret)
        .header("Accept", "application/json")
        .form(&fields)
        .state(STATE))
}

/// What the SMS API's reply means.
pub fn interpret(reply: &HttpReply<'_>) -> Result<Step, PluginError> {
    if !reply.is_success() {
        return Err(problem::refusal(reply));
    }
    let body = reply.json()?;
    let parts = parts(&body)?;
    let failed: Vec<&Part> = parts.iter().filter(|p| p.status != 0).collect();
    if let Some(first) = failed.first() {
        return Err(failure(first, failed.len(), parts.len()));
    }
    let id = parts
        .first()
        .and_then(|p| p.message_id.as_deref())
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| no_id(&body))?;
    Ok(Step::Delivered(Delivery::new(id, "0")))
}

/// One entry of `messages`: one segment of the text.
#[derive(Debug)]
struct Part {
    status: u32,
    error_text: String,
    message_id: Option<String>,
}

fn parts(body: &Value) -> Result<Vec<Part>, PluginError> {
    let entries = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|entries| !entries.is_empty())
        .ok_or_else(|| no_id(body))?;
    entries.iter().map(part).collect()
}

fn part(entry: &Value) -> Result<Part, PluginError> {
    let status = entry.get("status").and_then(number).ok_or_else(|| {
        PluginError::protocol(format!(
            "Vonage SMS reply entry has no numeric `status`: {}",
            encoding::snippet(&entry.to_string())
        ))
    })?;
    let text = |name: &str| entry.get(name).and_then(Value::as_str).map(str::to_owned);
    Ok(Part {
        status,
        error_text: text("error-text").unwrap_or_default(),
        message_id: text("message-id"),
    })
}

/// The spec has `status` as a string; Vonage's own SDK tests send numbers.
fn number(value: &Value) -> Option<u32> {
    match value {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        _ => None,
    }
}

fn no_id(body: &Value) -> PluginError {
    PluginError::protocol(format!(
        "Vonage SMS reply has no `messages[0].message-id`: {}",
        encoding::snippet(&body.to_string())
    ))
}

fn failure(part: &Part, failed: usize, total: usize) -> PluginError {
    let text = if part.error_text.trim().is_empty() {
        status_text(part.status).to_owned()
    } else {
        part.error_text.trim().to_owned()
    };
    let text = if failed < total {
        format!("{failed} of {total} message parts failed: {text}")
    } else {
        text
    };
    PluginError::vendor(part.status.to_string(), text).retryable(is_transient(part.status))
}

/// Throttled (1) and internal error (5) are worth another try.
fn is_transient(status: u32) -> bool {
    matches!(status, 1 | 5)
}

/// Vonage's names for its SMS statuses, for entries that come without text.
fn status_text(status: u32) -> &'static str {
    match status {
        1 => "Throttled",
        2 => "Missing parameters",
        3 => "Invalid parameters",
        4 => "Invalid credentials",
        5 => "Internal error",
        6 => "Invalid message",
        7 => "Number barred",
        8 => "Partner account barred",
        9 => "Partner quota violation",
        10 => "Too many existing binds",
        11 => "Account not enabled for HTTP",
        12 => "Message too long",
        14 => "Invalid signature",
        15 => "Invalid sender address",
        22 => "Invalid network code",
        23 => "Invalid callback URL",
        29 => "Non-whitelisted destination",
        32 => "Signature and API secret disallowed",
        33 => "Number de-activated",
        _ => "Vonage refused the message",
    }
}

#[cfg(test)]
mod tests {
    use crate::Vonage;
    use phonehook_plugin_api::serde_json::json;
    use phonehook_plugin_api::testing::{Harness, Reply};
    use phonehook_plugin_api::{encoding, ErrorKind, Message};

    fn harness() -> Harness<Vonage> {
        Harness::new()
            .secret("VONAGE_API_KEY", "abcd1234")
            .secret("VONAGE_API_SECRET", "s3cr3tValue")
            .setting("from", "+14155550199")
    }

    fn msg() -> Message {
        Message::new("+447700900000", "Your code is 123456")
    }

    fn ok_entry(id: &str) -> phonehook_plugin_api::serde_json::Value {
        json!({"to": "447700900000", "message-id": id, "status": "0",
               "remaining-balance": "3.14159265", "message-price": "0.03330000", "network": "12345"})
    }

    #[test]
    fn posts_a_form_with_basic_auth_and_digits_only_numbers() {
        let req = harness().prepare(&msg()).unwrap();
        assert_eq!(req.url.as_str(), "https://rest.nexmo.com/sms/json");
        assert_eq!(
            req.header_value("authorization"),
            Some(encoding::basic_auth("abcd1234", "s3cr3tValue").as_str())
        );
        assert_eq!(
            req.header_value("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        let form = encoding::form_decode(&req.body);
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("to"), Some("447700900000"));
        assert_eq!(get("from"), Some("14155550199"));
        assert_eq!(get("text"), Some("Your code is 123456"));
        assert_eq!(get("type"), None);
        assert!(!req.body_text().contains("s3cr3t"));
    }

    #[test]
    fn unicode_text_and_sender_ids() {
        let h = Harness::<Vonage>::new()
            .secret("VONAGE_API_KEY", "k")
            .secret("VONAGE_API_SECRET", "s")
            .setting("base_url", "http://127.0.0.1:9/")
            .setting("from", "Acme Corp");
        let req = h
            .prepare(&Message::new("+33612345678", "Votre code : 123456 ✓"))
            .unwrap();
        assert_eq!(req.url.as_str(), "http://127.0.0.1:9/sms/json");
        let form = encoding::form_decode(&req.body);
        assert!(form.contains(&("type".to_owned(), "unicode".to_owned())));
        assert!(form.contains(&("from".to_owned(), "Acme Corp".to_owned())));
    }

    #[test]
    fn sender_may_come_from_the_secret() {
        let h = Harness::<Vonage>::new()
            .secret("VONAGE_API_KEY", "k")
            .secret("VONAGE_API_SECRET", "s")
            .secret("VONAGE_FROM_NUMBER", "15005550006");
        let form = encoding::form_decode(&h.prepare(&msg()).unwrap().body);
        assert!(form.contains(&("from".to_owned(), "15005550006".to_owned())));
    }

    #[test]
    fn missing_secrets_are_config_errors() {
        let err = Harness::<Vonage>::new()
            .setting("from", "1")
            .prepare(&msg())
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
        assert!(err.message.contains("VONAGE_API_KEY"), "{err}");
        let err = Harness::<Vonage>::new()
            .secret("VONAGE_API_KEY", "k")
            .secret("VONAGE_API_SECRET", "s")
            .prepare(&msg())
            .unwrap_err();
        assert!(
            err.message.contains("`from`") && err.message.contains("VONAGE_FROM_NUMBER"),
            "{err}"
        );
    }

    #[test]
    fn success_takes_the_first_message_id() {
        let ok = harness()
            .run(&msg(), |_| {
                Reply::json(
                    200,
                    json!({"message-count": "1", "messages": [ok_entry("0A0000000123ABCD1")]}),
                )
            })
            .unwrap();
        assert_eq!(ok.message_id.as_str(), "0A0000000123ABCD1");
    }

    #[test]
    fn multi_segment_replies_and_numeric_statuses() {
        let ok = harness()
            .run(&msg(), |_| {
                let mut second = ok_entry("0A0000000123ABCD2");
                second["status"] = json!(0);
                Reply::json(200, json!({"message-count": 2, "messages": [ok_entry("0A0000000123ABCD1"), second]}))
            })
            .unwrap();
        assert_eq!(ok.message_id.as_str(), "0A0000000123ABCD1");

        let err = harness()
            .run(&msg(), |_| {
                Reply::json(
                    200,
                    json!({"message-count": "2", "messages": [
                    ok_entry("0A0000000123ABCD1"),
                    {"status": "9", "error-text": "Quota Exceeded - rejected"}]}),
                )
            })
            .unwrap_err();
        assert_eq!(
            (err.kind, err.code.as_str(), err.retryable),
            (ErrorKind::Vendor, "9", false)
        );
        assert_eq!(
            err.message.as_str(),
            "1 of 2 message parts failed: Quota Exceeded - rejected"
        );
    }

    #[test]
    fn status_in_a_200_is_the_verdict() {
        let bad_creds = harness()
            .run(&msg(), |_| {
                Reply::json(
                    200,
                    json!({"message-count": "1", "messages": [
                    {"status": "4", "error-text": "Bad Credentials"}]}),
                )
            })
            .unwrap_err();
        assert_eq!(
            (
                bad_creds.code.as_str(),
                bad_creds.message.as_str(),
                bad_creds.retryable
            ),
            ("4", "Bad Credentials", false)
        );

        for (status, retryable) in [(1, true), (5, true), (29, false)] {
            let err = harness()
                .run(&msg(), |_| {
                    Reply::json(
                        200,
                        json!({"message-count": "1", "messages": [{"status": status}]}),
                    )
                })
                .unwrap_err();
            assert_eq!(
                (err.code.as_str(), err.retryable),
                (status.to_string().as_str(), retryable)
            );
            assert!(!err.message.is_empty());
        }
    }

    #[test]
    fn unreadable_replies_are_protocol_errors() {
        for reply in [
            Reply::text(200, ""),
            Reply::text(200, "<html>oops</html>"),
            Reply::json(200, json!({"message-count": "0", "messages": []})),
            Reply::json(
                200,
                json!({"message-count": "1", "messages": [{"status": "0"}]}),
            ),
            Reply::json(
                200,
                json!({"message-count": "1", "messages": [{"status": "ok", "message-id": "x"}]}),
            ),
        ] {
            let err = harness().run(&msg(), |_| reply.clone()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Protocol, "{err}");
        }
    }

    #[test]
    fn http_errors_map_through_status() {
        let err = harness()
            .run(&msg(), |_| Reply::text(429, "").header("Retry-After", "12"))
            .unwrap_err();
        assert_eq!(
            (
                err.kind,
                err.code.as_str(),
                err.retryable,
                err.retry_after_secs
            ),
            (ErrorKind::Vendor, "429", true, 12)
        );
        let err = harness()
            .run(&msg(), |_| Reply::text(500, "Internal Server Error"))
            .unwrap_err();
        assert_eq!((err.code.as_str(), err.retryable), ("500", true));
        let err = harness()
            .run(&msg(), |_| {
                Reply::json(
                    401,
                    json!({"type": "https://developer.nexmo.com/api-errors#unauthorized",
                "title": "Unauthorized", "detail": "You did not provide correct credentials."}),
                )
            })
            .unwrap_err();
        assert_eq!((err.code.as_str(), err.retryable), ("unauthorized", false));
        assert!(!err.message.contains("s3cr3t"));
    }
}
