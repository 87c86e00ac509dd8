//! The plugin as the host drives it, with replies shaped as Twilio documents them.

use phonehook_plugin_api::serde_json::{json, Value};
use phonehook_plugin_api::testing::{Harness, Reply};
use phonehook_plugin_api::{encoding, Channel, ErrorKind, Message, Method, Step};

use super::Twilio;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const VERIFY: &str = "VA0123456789abcdef0123456789abcdef";
const FROM: &str = "+15005550006";

fn harness() -> Harness<Twilio> {
    Harness::new()
        .secret("TWILIO_ACCOUNT_SID", SID)
        .secret("TWILIO_AUTH_TOKEN", TOKEN)
        .secret("TWILIO_PHONE_NUMBER", FROM)
}

fn verify_harness() -> Harness<Twilio> {
    harness()
        .setting("api", "verify")
        .secret("TWILIO_VERIFY_SID", VERIFY)
}

fn sms() -> Message {
    Message::new("+14155550100", "Your code is 123456").with_code("123456")
}

fn form(req: &phonehook_plugin_api::HttpRequest) -> Vec<(String, String)> {
    encoding::form_decode(&req.body)
}

fn field(req: &phonehook_plugin_api::HttpRequest, name: &str) -> Option<String> {
    form(req)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn message_created() -> Value {
    json!({
        "account_sid": SID, "api_version": "2010-04-01", "body": "Your code is 123456",
        "date_created": "Thu, 24 Aug 2023 05:01:45 +0000", "date_sent": null,
        "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000", "direction": "outbound-api",
        "error_code": null, "error_message": null, "from": FROM, "messaging_service_sid": null,
        "num_media": "0", "num_segments": "1", "price": null, "price_unit": "USD",
        "sid": "SM1f0e8ae6ade43cb3c0ce4525424e404f", "status": "queued",
        "to": "+14155550100",
        "uri": format!("/2010-04-01/Accounts/{SID}/Messages/SM1f0e8ae6ade43cb3c0ce4525424e404f.json"),
    })
}

fn twilio_error(status: u16, code: u32, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"code": code, "message": message,
               "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status}),
    )
}

#[test]
fn manifest_declares_both_channels_and_hosts() {
    let m = harness().manifest().unwrap();
    assert_eq!(m.name.as_str(), "twilio");
    assert!(m.supports(Channel::Sms) && m.supports(Channel::Voice));
    let hosts: Vec<&str> = m.hosts.iter().map(|h| h.as_str()).collect();
    assert_eq!(hosts, ["api.twilio.com", "verify.twilio.com"]);
    let required: Vec<&str> = m
        .secrets
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(required, ["TWILIO_ACCOUNT_SID"]);
}

#[test]
fn text_is_a_form_post_to_messages_json() {
    let req = harness().prepare(&sms()).unwrap();
    assert_eq!(req.method, Method::Post);
    assert_eq!(
        req.url.as_str(),
        format!("https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json")
    );
    assert_eq!(
        req.header_value("authorization"),
        Some(encoding::basic_auth(SID, TOKEN).as_str())
    );
    assert_eq!(
        req.header_value("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let expected: Vec<(String, String)> = [
        ("To", "+14155550100"),
        ("From", FROM),
        ("Body", "Your code is 123456"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(form(&req), expected);
}

#[test]
fn from_setting_base_url_and_messaging_service() {
    let h = harness()
        .setting("from", "MyBrand")
        .setting("base_url", "http://127.0.0.1:9/");
    let req = h.prepare(&sms()).unwrap();
    assert!(
        req.url
            .as_str()
            .starts_with("http://127.0.0.1:9/2010-04-01/"),
        "{}",
        req.url
    );
    assert_eq!(field(&req, "From").as_deref(), Some("MyBrand"));

    let h = harness().secret(
        "TWILIO_MESSAGING_SERVICE_SID",
        "MG0123456789abcdef0123456789abcdef",
    );
    let req = h.prepare(&sms()).unwrap();
    assert_eq!(
        field(&req, "MessagingServiceSid").as_deref(),
        Some("MG0123456789abcdef0123456789abcdef")
    );
    assert_eq!(field(&req, "From"), None);
}

#[test]
fn api_key_logs_in_instead_of_the_auth_token() {
    let h = Harness::<Twilio>::new()
        .secret("TWILIO_ACCOUNT_SID", SID)
        .secret("TWILIO_API_KEY", "SK0123456789abcdef0123456789abcdef")
        .secret("TWILIO_API_SECRET", "keysecret")
        .secret("TWILIO_PHONE_NUMBER", FROM);
    let req = h.prepare(&sms()).unwrap();
    let auth = encoding::basic_auth("SK0123456789abcdef0123456789abcdef", "keysecret");
    assert_eq!(req.header_value("authorization"), Some(auth.as_str()));
    assert!(req.url.as_str().contains(SID));
}

#[test]
fn long_and_empty_texts_are_refused_before_sending() {
    let ok = Message::new("+14155550100", &"é".repeat(1600));
    assert!(harness().prepare(&ok).is_ok());
    let long = Message::new("+14155550100", &"a".repeat(1601));
    let err = harness().prepare(&long).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidMessage);
    assert!(
        err.message.contains("1601") && err.message.contains("1600"),
        "{}",
        err.message
    );
    let err = harness()
        .prepare(&Message::new("+14155550100", " "))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidMessage);
}

#[test]
fn voice_is_a_call_with_inline_twiml() {
    let msg = Message::new("+14155550100", "Ihr Code lautet 987654")
        .with_channel(Channel::Voice)
        .with_language("de");
    let req = harness()
        .setting("voice", "Polly.Vicki")
        .prepare(&msg)
        .unwrap();
    assert_eq!(
        req.url.as_str(),
        format!("https://api.twilio.com/2010-04-01/Accounts/{SID}/Calls.json")
    );
    assert_eq!(
        req.header_value("authorization"),
        Some(encoding::basic_auth(SID, TOKEN).as_str())
    );
    assert_eq!(field(&req, "To").as_deref(), Some("+14155550100"));
    assert_eq!(field(&req, "From").as_deref(), Some(FROM));
    let twiml = field(&req, "Twiml").unwrap();
    let say = r#"<Say voice="Polly.Vicki" language="de-DE">Ihr Code lautet 9, 8, 7, 6, 5, 4</Say>"#;
    assert_eq!(
        twiml,
        format!(r#"<Response>{say}<Pause length="1"/>{say}</Response>"#)
    );
    assert_eq!(field(&req, "Url"), None);
}

#[test]
fn voice_needs_a_number_not_a_messaging_service() {
    let h = Harness::<Twilio>::new()
        .secret("TWILIO_ACCOUNT_SID", SID)
        .secret("TWILIO_AUTH_TOKEN", TOKEN)
        .secret(
            "TWILIO_MESSAGING_SERVICE_SID",
            "MG0123456789abcdef0123456789abcdef",
        );
    let err = h.prepare(&sms().with_channel(Channel::Voice)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(
        err.message.contains("`from`") && err.message.contains("TWILIO_PHONE_NUMBER"),
        "{}",
        err.message
    );
}

#[test]
fn verify_posts_the_custom_code_to_the_verify_host() {
    let req = verify_harness().prepare(&sms()).unwrap();
    assert_eq!(
        req.url.as_str(),
        format!("https://verify.twilio.com/v2/Services/{VERIFY}/Verifications")
    );
    assert_eq!(
        req.header_value("authorization"),
        Some(encoding::basic_auth(SID, TOKEN).as_str())
    );
    assert_eq!(
        req.header_value("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let expected: Vec<(String, String)> = [
        ("To", "+14155550100"),
        ("Channel", "sms"),
        ("CustomCode", "123456"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(form(&req), expected);

    let req = verify_harness()
        .prepare(&sms().with_channel(Channel::Voice))
        .unwrap();
    assert_eq!(field(&req, "Channel").as_deref(), Some("call"));

    let req = verify_harness()
        .setting("base_url", "http://127.0.0.1:9")
        .prepare(&sms())
        .unwrap();
    assert!(
        req.url
            .as_str()
            .starts_with("http://127.0.0.1:9/v2/Services/"),
        "{}",
        req.url
    );
}

#[test]
fn verify_refuses_a_message_without_a_usable_code() {
    let err = verify_harness()
        .prepare(&Message::new("+14155550100", "Your code is 123456"))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidMessage);
    assert!(err.message.contains("context.code"), "{}", err.message);
    let err = verify_harness()
        .prepare(&sms().with_code("123"))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidMessage);
}

#[test]
fn check_names_what_is_missing() {
    assert_eq!(harness().check(), Vec::<String>::new());
    assert_eq!(verify_harness().check(), Vec::<String>::new());

    let problems = Harness::<Twilio>::new()
        .secret("TWILIO_ACCOUNT_SID", "AC123")
        .check();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].contains("TWILIO_ACCOUNT_SID") && problems[0].contains("32 hex"));
    assert!(problems[1].contains("TWILIO_AUTH_TOKEN"));
    assert!(
        problems[2].contains("TWILIO_PHONE_NUMBER")
            && problems[2].contains("TWILIO_MESSAGING_SERVICE_SID")
    );
    assert!(
        problems.iter().all(|p| !p.contains("AC123")),
        "{problems:?}"
    );

    let problems = harness().setting("api", "verify").check();
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("TWILIO_VERIFY_SID"));
    let problems = harness()
        .setting("api", "verify")
        .secret("TWILIO_VERIFY_SID", "VA1")
        .check();
    assert!(problems[0].contains("malformed"), "{problems:?}");
    let problems = harness().setting("api", "lookup").check();
    assert!(problems[0].contains("`api`"), "{problems:?}");
    let problems = harness().secret("TWILIO_API_KEY", "SKx").check();
    assert!(problems[0].contains("TWILIO_API_SECRET"), "{problems:?}");
}

#[test]
fn prepare_reports_missing_secrets_by_name() {
    let err = Harness::<Twilio>::new()
        .secret("TWILIO_ACCOUNT_SID", SID)
        .prepare(&sms())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(err.message.contains("TWILIO_AUTH_TOKEN"));
    let err = harness()
        .setting("api", "verify")
        .prepare(&sms())
        .unwrap_err();
    assert!(err.message.contains("TWILIO_VERIFY_SID"));
    let err = Harness::<Twilio>::new().prepare(&sms()).unwrap_err();
    assert!(err.message.contains("TWILIO_ACCOUNT_SID"));
}

#[test]
fn created_resources_are_delivered_with_their_sid() {
    let d = harness()
        .run(&sms(), |_| Reply::json(201, message_created()))
        .unwrap();
    assert_eq!(
        (d.message_id.as_str(), d.status.as_str()),
        ("SM1f0e8ae6ade43cb3c0ce4525424e404f", "queued")
    );

    let call = json!({"sid": "CAe1644a7eed5088b159577c5802d8be38", "status": "queued", "direction": "outbound-api"});
    let d = harness()
        .run(&sms().with_channel(Channel::Voice), |_| {
            Reply::json(201, call.clone())
        })
        .unwrap();
    assert_eq!(d.message_id.as_str(), "CAe1644a7eed5088b159577c5802d8be38");

    let verification = json!({"sid": "VE0123456789abcdef0123456789abcdef", "service_sid": VERIFY,
        "account_sid": SID, "to": "+14155550100", "channel": "sms", "status": "pending", "valid": false});
    let d = verify_harness()
        .run(&sms(), |_| Reply::json(201, verification.clone()))
        .unwrap();
    assert_eq!(
        (d.message_id.as_str(), d.status.as_str()),
        ("VE0123456789abcdef0123456789abcdef", "pending")
    );
}

#[test]
fn twilio_errors_keep_code_text_and_more_info() {
    let msg = "The 'To' number +14155550100 is not a valid phone number.";
    let err = harness()
        .run(&sms(), |_| twilio_error(400, 21211, msg))
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_str(), err.retryable),
        (ErrorKind::Vendor, "21211", false)
    );
    assert_eq!(
        err.message.as_str(),
        format!("{msg} (more info: https://www.twilio.com/docs/errors/21211)")
    );

    let auth = Reply::json(
        401,
        json!({"code": 20003, "detail": "Your AccountSid or AuthToken was incorrect.",
        "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}),
    );
    let err = harness().run(&sms(), |_| auth.clone()).unwrap_err();
    assert_eq!((err.code.as_str(), err.retryable), ("20003", false));
    assert!(
        err.message
            .starts_with("Authenticate: Your AccountSid or AuthToken was incorrect."),
        "{}",
        err.message
    );
}

#[test]
fn throttling_and_server_faults_are_retryable() {
    let err = harness()
        .run(&sms(), |_| {
            twilio_error(429, 20429, "Too Many Requests").header("Retry-After", "7")
        })
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.retryable, err.retry_after_secs),
        ("20429", true, 7)
    );

    let err = harness()
        .run(&sms(), |_| {
            twilio_error(500, 20500, "Internal Server Error")
        })
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_str(), err.retryable),
        (ErrorKind::Vendor, "20500", true)
    );

    let err = harness()
        .run(&sms(), |_| {
            Reply::text(503, "<html>Service Unavailable</html>")
        })
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_str(), err.retryable),
        (ErrorKind::Vendor, "503", true)
    );
    let err = harness().run(&sms(), |_| Reply::text(502, "")).unwrap_err();
    assert_eq!((err.code.as_str(), err.retryable), ("502", true));
}

#[test]
fn unreadable_success_replies_are_protocol_errors() {
    for reply in [
        Reply::text(201, "<html>ok</html>"),
        Reply::text(201, ""),
        Reply::json(201, json!({"status": "queued"})),
        Reply::json(201, json!({"sid": "", "status": "queued"})),
        Reply::json(201, json!(["SM1"])),
    ] {
        let err = harness().run(&sms(), |_| reply.clone()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Protocol, "{reply:?}: {err}");
    }
}

#[test]
fn json_without_twilios_error_fields_is_reported_raw() {
    let err = harness()
        .run(&sms(), |_| Reply::json(404, json!({"error": "nope"})))
        .unwrap_err();
    assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Vendor, "404"));
    assert!(err.message.contains("nope"));
}

/// The account SID in such a text is the host's to strip: it redacts every
/// configured secret from every error (see `vendor_twilio.rs`).
#[test]
fn twilios_not_found_text_is_passed_on_whole() {
    let text =
        format!("The requested resource /2010-04-01/Accounts/{SID}/Messages.json was not found");
    let err = harness()
        .run(&sms(), |_| twilio_error(404, 20404, &text))
        .unwrap_err();
    assert_eq!((err.kind, err.code.as_str()), (ErrorKind::Vendor, "20404"));
    assert!(err.message.starts_with(&text), "{}", err.message);
}

#[test]
fn interpret_answers_in_one_step() {
    let h = harness();
    let req = h.prepare(&sms()).unwrap();
    assert_eq!(req.state.as_str(), "message");
    assert!(matches!(
        h.interpret(&sms(), &req, &Reply::json(201, message_created())),
        Step::Delivered(_)
    ));
}

/// Every reply kept in `fuzz/regressions/` (documented replies, and inputs
/// the fuzzer once broke a plugin with) is still read without a panic.
#[test]
fn kept_fuzz_replies_still_pass() {
    phonehook_plugin_api::testing::fuzz::replay(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fuzz/regressions/reply_twilio"
        ),
        |verify| if verify { verify_harness() } else { harness() },
    );
}
