//! The whole plugin through the harness, for the two gateway shapes the
//! documentation shows: a JSON API that answers 200 with a status field, and a
//! form-encoded API.

use phonehook_plugin_api::serde_json::{self, json, Value};
use phonehook_plugin_api::testing::{Harness, Reply};
use phonehook_plugin_api::{Channel, ErrorKind, Message, Method};

use super::examples::{FORM_API, JSON_API};
use super::Webhook;

fn msg() -> Message {
    Message::new("+14155550100", "Your code is 123456")
        .with_code("123456")
        .with_language("en")
}

/// The JSON API's configuration, with some settings replaced.
fn json_api_with(changes: &[(&str, &str)]) -> Harness<Webhook> {
    JSON_API
        .iter()
        .map(|(name, value)| {
            let changed = changes.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
            (*name, changed.unwrap_or(value))
        })
        .chain(
            changes
                .iter()
                .filter(|(n, _)| !JSON_API.iter().any(|(m, _)| m == n))
                .copied(),
        )
        .fold(Harness::<Webhook>::new(), |h, (name, value)| {
            h.setting(name, value)
        })
        .secret("GATEWAY_KEY", "gk-1")
}

/// A harness with exactly these settings.
fn with_settings(settings: &[(&str, &str)]) -> Harness<Webhook> {
    settings
        .iter()
        .fold(Harness::<Webhook>::new(), |h, (name, value)| {
            h.setting(name, value)
        })
}

fn json_api() -> Harness<Webhook> {
    json_api_with(&[])
}

fn form_api() -> Harness<Webhook> {
    with_settings(FORM_API)
}

fn form_reply(status: u16, body: &str) -> Reply {
    Reply::text(status, body).header("content-type", "application/x-www-form-urlencoded")
}

#[test]
fn manifest_declares_no_host_and_both_channels() {
    let m = Harness::<Webhook>::new().manifest().unwrap();
    assert_eq!(m.name.as_str(), "webhook");
    assert!(m.hosts.is_empty());
    assert!(m.supports(Channel::Sms) && m.supports(Channel::Voice));
    let required: Vec<&str> = m
        .settings
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(required, vec!["url", "id_pointer"]);
    assert!(m.secrets.is_empty());
}

#[test]
fn json_api_round_trip() {
    let h = json_api();
    assert_eq!(h.check(), Vec::<String>::new());
    let req = h.prepare(&msg()).unwrap();
    assert_eq!(req.method, Method::Post);
    assert_eq!(req.url.as_str(), "https://sms.internal.example/v1/messages");
    assert_eq!(req.header_value("x-api-key"), Some("gk-1"));
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        body,
        json!({"to": "+14155550100", "message": "Your code is 123456", "meta": {"type": "sms", "lang": "en"}})
    );

    let ok = h
        .run(&msg(), |_| {
            Reply::json(200, json!({"status": "ok", "data": {"id": "gw-1"}}))
        })
        .unwrap();
    assert_eq!((ok.message_id.as_str(), ok.status.as_str()), ("gw-1", "ok"));

    let err = h
        .run(&msg(), |_| {
            Reply::json(200, json!({"status": "error", "error": {"code": "E_NUMBER", "message": "unknown number"}}))
        })
        .unwrap_err();
    assert_eq!(
        (
            err.kind,
            err.code.as_str(),
            err.message.as_str(),
            err.retryable
        ),
        (ErrorKind::Vendor, "E_NUMBER", "unknown number", false)
    );
}

#[test]
fn voice_goes_through_the_same_template() {
    let req = json_api()
        .prepare(&msg().with_channel(Channel::Voice))
        .unwrap();
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["meta"]["type"], "voice");
}

#[test]
fn form_api_round_trip() {
    let h = form_api();
    assert_eq!(h.check(), Vec::<String>::new());
    let req = h.prepare(&msg()).unwrap();
    assert_eq!(
        req.body_text(),
        "msg=Your+code+is+123456&msisdn=14155550100"
    );
    assert_eq!(
        req.header_value("content-type"),
        Some("application/x-www-form-urlencoded")
    );

    let ok = h
        .run(&msg(), |_| form_reply(200, "result=0&id=77812"))
        .unwrap();
    assert_eq!(ok.message_id.as_str(), "77812");
    let err = h
        .run(&msg(), |_| {
            form_reply(200, "result=7&reason=Absent+subscriber")
        })
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_str(), err.message.as_str()),
        (ErrorKind::Vendor, "7", "Absent subscriber")
    );
}

#[test]
fn transport_level_failures() {
    let h = json_api();
    let cases: [(Reply, ErrorKind, bool); 5] = [
        (Reply::text(502, "Bad Gateway"), ErrorKind::Vendor, true),
        (Reply::text(200, "<html>"), ErrorKind::Protocol, false),
        (Reply::text(200, ""), ErrorKind::Protocol, false),
        (
            Reply::json(
                429,
                json!({"status": "error", "error": {"code": "RATE", "message": "slow"}}),
            )
            .header("retry-after", "5"),
            ErrorKind::Vendor,
            true,
        ),
        (
            Reply::json(200, json!({"status": "ok", "data": {"id": ""}})),
            ErrorKind::Protocol,
            false,
        ),
    ];
    for (reply, kind, retryable) in cases {
        let err = h.run(&msg(), |_| reply.clone()).unwrap_err();
        assert_eq!(
            (err.kind, err.retryable),
            (kind, retryable),
            "{reply:?}: {err}"
        );
    }
}

#[test]
fn check_refuses_bad_templates_and_prepare_refuses_to_send() {
    let h = json_api_with(&[
        ("body", r#"{"message": "{{txt}}", "to": "{{recipient}}"}"#),
        ("success_status", "200-2xx"),
    ]);
    let problems = h.check();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with("setting `body`: unknown placeholder `{{txt}}`"),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with("setting `success_status`"),
        "{problems:?}"
    );
    let err = h.prepare(&msg()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(err.message.contains("{{txt}}"), "{err}");
}

#[test]
fn a_missing_secret_is_named_never_sent() {
    let h = Harness::<Webhook>::new()
        .setting("url", "https://gw/send")
        .setting(
            "headers",
            r#"{"Authorization": "Bearer {{secret.GW_TOKEN}}"}"#,
        )
        .setting("body", r#"{"to": "{{recipient}}", "text": "{{text}}"}"#)
        .setting("id_pointer", "/id");
    assert_eq!(
        h.check(),
        vec!["secret `GW_TOKEN` is not set (a template uses `{{secret.GW_TOKEN}}`)".to_owned()]
    );
    let err = h.prepare(&msg()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config);
}

#[test]
fn an_empty_configuration_names_what_is_missing() {
    let problems = Harness::<Webhook>::new().check();
    assert!(
        problems.contains(&"setting `url` is not set".to_owned()),
        "{problems:?}"
    );
    assert!(
        problems.contains(&"setting `id_pointer` is not set".to_owned()),
        "{problems:?}"
    );
}

/// Every reply kept in `fuzz/regressions/` (documented replies, and inputs
/// the fuzzer once broke a plugin with) is still read without a panic.
#[test]
fn kept_fuzz_replies_still_pass() {
    phonehook_plugin_api::testing::fuzz::replay(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fuzz/regressions/reply_webhook"
        ),
        |form| if form { form_api() } else { json_api() },
    );
}
