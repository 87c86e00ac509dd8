//! The HTTP surface in-process (`phonehook_e2e::inprocess`): who may call
//! what, how bad input is answered, `/healthz`. No socket and no plugin: what
//! needs them is in `admin_api.rs`, `foundation.rs` and the vendor suites.
//! Run with `cargo test -p phonehook-e2e --test router`.

use phonehook::config::Config;
use phonehook_e2e::inprocess::{call, router};
use serde_json::{json, Value};

const SEND: &str = "send-token-0123456789abcdef";
const ADMIN: &str = "admin-token-0123456789abcdef";

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Group {
    Send,
    Admin,
    /// Only the host's own per-process token (its plugins'): neither the
    /// send nor the admin token.
    Inbox,
    Open,
}

/// Which token a request carries.
#[derive(Clone, Copy, Debug)]
enum Caller {
    Anonymous,
    Sender,
    Admin,
    Inbox,
}

impl Caller {
    fn token(self) -> Option<&'static str> {
        match self {
            Caller::Anonymous => None,
            Caller::Sender => Some(SEND),
            Caller::Admin => Some(ADMIN),
            Caller::Inbox => Some(phonehook::inbox::token()),
        }
    }

    fn may_call(self, group: Group) -> bool {
        matches!(
            (group, self),
            (Group::Open, _)
                | (Group::Send, Caller::Sender)
                | (Group::Admin, Caller::Admin)
                | (Group::Inbox, Caller::Inbox)
        )
    }
}

/// A route: method, path, body, its group, and its status for a caller of
/// that group.
type Route = (&'static str, &'static str, Option<Vec<u8>>, Group, u16);

fn with_tokens() -> Config {
    Config {
        send_token: Some(SEND.to_owned()),
        admin_token: Some(ADMIN.to_owned()),
        ..Config::default()
    }
}

fn hook(recipient: &str, text: &str) -> Value {
    json!({"recipient": recipient, "text": text})
}

fn bytes(value: Value) -> Option<Vec<u8>> {
    Some(value.to_string().into_bytes())
}

#[tokio::test]
async fn every_route_answers_only_its_own_group() {
    let app = router(with_tokens());
    // With no plugin loaded, a send that passes the check is 503
    // no_active_plugin; with the log off, its route is 404 log_disabled.
    let routes: Vec<Route> = vec![
        (
            "POST",
            "/api/v1/messages",
            bytes(hook("+14155552671", "Your code is 123456")),
            Group::Send,
            503,
        ),
        (
            "POST",
            "/api/v1/actions/send-phone-message",
            bytes(json!({"message_options": {"recipient": "+14155552671", "text": "x"}})),
            Group::Send,
            503,
        ),
        ("GET", "/api/v1/plugins", None, Group::Admin, 200),
        ("GET", "/api/v1/active-plugin", None, Group::Admin, 200),
        (
            "PUT",
            "/api/v1/active-plugin",
            bytes(json!({"name": "sandbox"})),
            Group::Admin,
            404,
        ),
        (
            "POST",
            "/api/v1/plugins/sandbox/test",
            bytes(hook("+14155552671", "x")),
            Group::Admin,
            404,
        ),
        ("GET", "/api/v1/logs", None, Group::Admin, 404),
        ("GET", "/api/v1/instances", None, Group::Admin, 200),
        ("GET", "/metrics", None, Group::Admin, 200),
        ("GET", "/sandbox/messages", None, Group::Admin, 200),
        ("DELETE", "/sandbox/messages", None, Group::Admin, 200),
        (
            "POST",
            "/sandbox/messages",
            bytes(json!({"to": "+14155552671", "text": "x"})),
            Group::Inbox,
            201,
        ),
        ("GET", "/healthz", None, Group::Open, 200),
    ];
    let unauthorized =
        json!({"error": {"code": "unauthorized", "message": "a valid bearer token is required"}});
    for (method, path, body, group, allowed) in routes {
        for caller in [
            Caller::Anonymous,
            Caller::Sender,
            Caller::Admin,
            Caller::Inbox,
        ] {
            let (status, answer) = call(&app, method, path, caller.token(), body.clone()).await;
            if caller.may_call(group) {
                assert_eq!(status, allowed, "{method} {path} as {caller:?}: {answer}");
            } else {
                assert_eq!(
                    (status, &answer),
                    (401, &unauthorized),
                    "{method} {path} as {caller:?}"
                );
            }
        }
        // A token that is no token, or not quite one, is no better.
        if group != Group::Open {
            for token in ["", "nope", &SEND[..SEND.len() - 1]] {
                let (status, answer) = call(&app, method, path, Some(token), body.clone()).await;
                assert_eq!(
                    (status, &answer),
                    (401, &unauthorized),
                    "{method} {path} with {token:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn bad_inputs_get_their_status_and_a_clear_message() {
    let mut config = Config::default();
    config.limits.max_body_bytes = 4096;
    config.limits.max_text_chars = 50;
    let app = router(config);
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
        let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        let (status, answer) = call(&app, "POST", "/api/v1/messages", None, Some(body)).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (want_status, Some(want_code)),
            "{shown} -> {answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "the error has a message: {answer}");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = router(Config::default());
    let cases = [
        ("GET", "/nope", 404, "not_found"),
        ("GET", "/api/v1/messages", 405, "method_not_allowed"),
    ];
    for (method, path, want_status, want_code) in cases {
        let (status, answer) = call(&app, method, path, None, None).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (want_status, Some(want_code)),
            "{method} {path}: {answer}"
        );
    }
}

#[tokio::test]
async fn health_is_open_and_says_that_no_plugin_serves() {
    let app = router(with_tokens());
    let (status, answer) = call(&app, "GET", "/healthz", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({
            "status": "no_active_plugin", "active_plugin": null, "generation": null,
            "store": "sqlite", "store_status": "ok", "config_generation": null, "instance": null,
        })
    );
}

#[tokio::test]
async fn with_sqlite_the_instances_are_this_one() {
    let app = router(with_tokens());
    let (status, answer) = call(&app, "GET", "/api/v1/instances", Some(ADMIN), None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["store"], "sqlite", "{answer}");
    let instances = answer["instances"].as_array().expect("a list");
    assert_eq!(instances.len(), 1, "{answer}");
    assert_eq!(instances[0]["id"], answer["instance"], "{answer}");
    assert_eq!(instances[0]["plugins"], json!([]), "no plugin loaded here");
}
