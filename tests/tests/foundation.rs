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

/// Each bad input's status and error code: `router.rs`, in-process. Over a
/// socket, with a plugin serving: a refused message reaches no vendor, and
/// the host keeps serving.
#[tokio::test]
async fn bad_inputs_deliver_nothing_and_the_host_keeps_serving() {
    let host = Host::builder().start().await;
    let bad: [Vec<u8>; 2] = [
        b"{not json".to_vec(),
        hook("not a number", "x").to_string().into_bytes(),
    ];
    for body in bad {
        let (status, resp) = host
            .send_raw("/api/v1/messages", "application/json", body)
            .await;
        assert!(matches!(status, 400 | 422), "{status} {resp}");
    }
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

/// 404 and 405 answers, and health without a plugin: `router.rs`.
#[tokio::test]
async fn health_names_the_active_plugin() {
    let host = Host::builder().start().await;
    let (status, body) = host.admin("GET", "/healthz", None).await;
    assert_eq!(
        (status, body["active_plugin"].as_str()),
        (200, Some("sandbox"))
    );
}
