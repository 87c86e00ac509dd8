//! The foundation end to end: a real server on a loopback port, real plugin
//! libraries loaded by the real loader, the sandbox plugin delivering to the
//! host's own inbox.

use phonehook_e2e::Host;
use serde_json::{json, Value};

fn hook(recipient: &str, text: &str) -> Value {
    json!({"recipient": recipient, "text": text, "context": {"message_type": "sms"}})
}

#[tokio::test]
async fn sandbox_delivers_to_the_inbox_with_an_e164_recipient() {
    let host = Host::builder().start().await;
    let (status, body) = host
        .send(json!({
            "recipient": "1-808-555-5555",
            "text": "Your code is 123456",
            "context": {"message_type": "sms", "action": "second-factor-authentication",
                        "language": "en", "code": "123456"}
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["MessageID"].as_str().expect("MessageID is a string");
    assert!(id.starts_with("sbx_"), "{id}");

    let inbox = host.inbox().await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["id"], id);
    assert_eq!(inbox[0]["to"], "+18085555555");
    assert_eq!(inbox[0]["text"], "Your code is 123456");
    host.shutdown().await;
}

#[tokio::test]
async fn actions_event_is_delivered_like_the_hook() {
    let host = Host::builder().start().await;
    let event = json!({
        "message_options": {"recipient": "+447700900123", "text": "Code 42", "message_type": "voice",
                            "action": "enrollment", "code": "42"},
        "request": {"ip": "203.0.113.9", "language": "en-GB"},
        "client": {"client_id": "abc", "name": "App"},
        "user": {"user_id": "auth0|1"},
        "tenant": {"id": "t"}
    });
    let (status, body) = host
        .request_with(
            "POST",
            "/api/v1/actions/send-phone-message",
            Some(event),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let inbox = host.inbox().await;
    assert_eq!(inbox[0]["to"], "+447700900123");
    assert_eq!(inbox[0]["channel"], "voice");
    assert_eq!(inbox[0]["language"], "en-GB");
}

#[tokio::test]
async fn bad_inputs_get_their_status_and_a_clear_message() {
    let host = Host::builder()
        .config("limits.max_body_bytes", 4096)
        .config("limits.max_text_chars", 50)
        .start()
        .await;
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"{not json".to_vec(), 400, "invalid_json"),
        (b"[1,2]".to_vec(), 400, "invalid_json"),
        (
            json!({"text": "x"}).to_string().into_bytes(),
            422,
            "missing_recipient",
        ),
        (
            json!({"recipient": "+14155550100"})
                .to_string()
                .into_bytes(),
            422,
            "missing_text",
        ),
        (
            hook("not a number", "x").to_string().into_bytes(),
            422,
            "invalid_recipient",
        ),
        (
            hook("+1 555", "x").to_string().into_bytes(),
            422,
            "invalid_recipient",
        ),
        (
            json!({"recipient": "+14155550100", "text": "x", "context": {"message_type": "fax"}})
                .to_string()
                .into_bytes(),
            422,
            "invalid_message_type",
        ),
        (
            hook("+14155550100", &"x".repeat(51))
                .to_string()
                .into_bytes(),
            422,
            "text_too_long",
        ),
        (
            hook("+14155550100", &"x".repeat(5000))
                .to_string()
                .into_bytes(),
            413,
            "body_too_large",
        ),
    ];
    for (body, want_status, want_code) in cases {
        let (status, resp) = host
            .send_raw("/api/v1/messages", "application/json", body.clone())
            .await;
        assert_eq!(
            (status, resp["error"]["code"].as_str()),
            (want_status, Some(want_code)),
            "{} -> {resp}",
            String::from_utf8_lossy(&body[..body.len().min(80)])
        );
        let message = resp["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "error has a message: {resp}");
    }
    // Nothing reached the inbox, and the host still serves.
    assert!(host.inbox().await.is_empty());
    let (status, _) = host.send(hook("+14155550100", "ok")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn sandbox_failures_map_to_gateway_errors() {
    let host = Host::builder().start().await;
    let (status, body) = host.send(hook("+15005550001", "x")).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "vendor_error");
    assert_eq!(body["error"]["vendor_code"], "invalid_number");
    assert_eq!(body["error"]["vendor_status"], 400);
    assert_eq!(body["error"]["plugin"], "sandbox");

    let (status, body) = host.send(hook("+15005550002", "x")).await;
    assert_eq!(
        (status, body["error"]["retryable"].as_bool()),
        (502, Some(true)),
        "{body}"
    );
    assert_eq!(body["error"]["retry_after_secs"], 1);
}

#[tokio::test]
async fn no_active_plugin_is_503() {
    // The configured plugin's file is there but refused (an unknown name
    // would not start at all): the server comes up with nothing active.
    let host = Host::builder()
        .plugin("fixture-nosymbol")
        .active("nosymbol")
        .start()
        .await;
    let (status, body) = host.send(hook("+14155550100", "x")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("no_active_plugin")),
        "{body}"
    );
    let (status, health) = host.admin("GET", "/healthz", None).await;
    assert_eq!(
        (status, health["status"].as_str()),
        (200, Some("no_active_plugin"))
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let host = Host::builder().start().await;
    let (status, body) = host.admin("GET", "/nope", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, body) = host.admin("GET", "/api/v1/messages", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    let (status, body) = host.admin("GET", "/healthz", None).await;
    assert_eq!(
        (status, body["active_plugin"].as_str()),
        (200, Some("sandbox"))
    );
}
