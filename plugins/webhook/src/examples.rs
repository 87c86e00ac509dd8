//! Two worked configurations, the gateway shapes the documentation shows: a
//! JSON API that answers 200 with a status field, and a form-encoded API that
//! answers with a result code. The plugin's tests and the fuzz targets both
//! start from these, so a change of setting names shows up in one place.

/// A JSON API: `X-Api-Key` header from the secret `GATEWAY_KEY`, success when
/// `/status` is `"ok"`, the message id at `/data/id`.
pub const JSON_API: &[(&str, &str)] = &[
    ("url", "https://sms.internal.example/v1/messages"),
    ("headers", r#"{"X-Api-Key": "{{secret.GATEWAY_KEY}}"}"#),
    (
        "body",
        r#"{"to": "{{recipient}}", "message": "{{text}}", "meta": {"type": "{{message_type}}", "lang": "{{language}}"}}"#,
    ),
    ("success_pointer", "/status"),
    ("success_value", "ok"),
    ("id_pointer", "/data/id"),
    ("error_code_pointer", "/error/code"),
    ("error_message_pointer", "/error/message"),
];

/// A form-encoded API on a plain-HTTP internal address: success when the
/// status is 200 and `/result` is `0`.
pub const FORM_API: &[(&str, &str)] = &[
    ("url", "http://10.0.0.5/cgi-bin/sendsms"),
    ("body_format", "form"),
    (
        "body",
        r#"{"msg": "{{text}}", "msisdn": "{{recipient_digits}}"}"#,
    ),
    ("success_status", "200"),
    ("success_pointer", "/result"),
    ("success_value", "0"),
    ("id_pointer", "/id"),
    ("error_code_pointer", "/result"),
    ("error_message_pointer", "/reason"),
];
