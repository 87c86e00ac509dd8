//! Secrets, one-time codes and numbers never leave the host, whatever a vendor
//! echoes: one table over the vendor plugins, each run by a real `phonehook
//! serve` process (its stderr is the server log) against a loopback vendor
//! that echoes the request's `Authorization` header, quotes a credential just
//! long enough for the plugin's snippet to cut it, or quotes the request body
//! (the code spelled out for a voice, the number). The answer, the server log,
//! `GET /api/v1/logs` and the database bytes (file and `-wal`) are searched for
//! every secret, every encoding of it, the code in every spelling and the
//! number.

use std::path::Path;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use phonehook_e2e::mocks::scenario::Switch;
use phonehook_e2e::mocks::{sns, twilio, vonage};
use phonehook_e2e::served::{self, Served};
use phonehook_e2e::MockVendor;
use phonehook_plugin_api::encoding;
use serde_json::{json, Value};

const CODE: &str = "918273";
const NUMBER: &str = "+14155550100";
const NATIONAL: &str = "4155550100";
const SEND: &str = "send-token-7a1c9e3b5d2f4680";
const ADMIN: &str = "admin-token-4b6d8f0a2c1e3579";

/// The length of the snippet plugins quote of a reply (`encoding::snippet`).
const SNIPPET_CHARS: usize = 200;

/// What the echoing vendor answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Echo {
    /// `401` quoting the `Authorization` header whole.
    #[default]
    Authorization,
    /// `401` quoting the credential (Basic's `user:password`, or the header)
    /// placed so that a 200-character snippet cuts its last five characters.
    CutCredential,
    /// `400` quoting the request body where the number and the code are.
    Body,
}

async fn echo(State(mode): State<Switch<Echo>>, headers: HeaderMap, body: Bytes) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("(none)")
        .to_owned();
    let body = String::from_utf8_lossy(&body).into_owned();
    let (status, html) = match mode.get() {
        Echo::Authorization => (
            StatusCode::UNAUTHORIZED,
            format!("<html><body><p>Bad credentials: Authorization: {auth}</p></body></html>"),
        ),
        Echo::CutCredential => {
            let credential = basic_pair(&auth).unwrap_or(auth);
            let head = "<html><body><p>Token: ";
            let kept = credential.chars().count().saturating_sub(5);
            let pad = SNIPPET_CHARS.saturating_sub(kept + head.len());
            (
                StatusCode::UNAUTHORIZED,
                format!(
                    "{}{head}{credential} is not valid</p></body></html>",
                    "x".repeat(pad)
                ),
            )
        }
        Echo::Body => (
            StatusCode::BAD_REQUEST,
            format!(
                "<html><p>Bad To {} in {}</p></html>",
                window(&body, &[NATIONAL], 16),
                window(&body, &code_starts(), 90)
            ),
        ),
    };
    (status, [(header::CONTENT_TYPE, "text/html")], html).into_response()
}

/// `user:password` of a Basic `Authorization` value.
fn basic_pair(auth: &str) -> Option<String> {
    let credential = auth.strip_prefix("Basic ")?;
    String::from_utf8(encoding::base64_decode(credential)?).ok()
}

/// Where the code starts in a request body, in each form a plugin writes it.
fn code_starts() -> Vec<String> {
    ["9, 1", "9%2C+1", "9%2C%201", "9 1", "9. 1", CODE]
        .map(str::to_owned)
        .into()
}

/// `len` bytes of `body` from the first of `starts` found (the body's start
/// when none is).
fn window<S: AsRef<str>>(body: &str, starts: &[S], len: usize) -> String {
    let at = starts
        .iter()
        .filter_map(|s| body.find(s.as_ref()))
        .min()
        .unwrap_or(0);
    body[at..].chars().take(len).collect()
}

/// A vendor plugin as a test configures it.
struct Vendor {
    package: &'static str,
    name: &'static str,
    channels: &'static [&'static str],
    settings: Vec<(&'static str, String)>,
    secrets: Vec<(&'static str, &'static str)>,
}

fn vendors() -> Vec<Vendor> {
    let both: &[&str] = &["sms", "voice"];
    vec![
        Vendor {
            package: "phonehook-plugin-twilio",
            name: "twilio",
            channels: both,
            settings: vec![],
            secrets: vec![
                ("TWILIO_ACCOUNT_SID", twilio::ACCOUNT_SID),
                ("TWILIO_AUTH_TOKEN", twilio::AUTH_TOKEN),
                ("TWILIO_PHONE_NUMBER", twilio::FROM),
            ],
        },
        Vendor {
            package: "phonehook-plugin-vonage",
            name: "vonage",
            channels: both,
            settings: vec![("from", format!("+{}", vonage::FROM))],
            secrets: vec![
                ("VONAGE_API_KEY", vonage::API_KEY),
                ("VONAGE_API_SECRET", vonage::API_SECRET),
                ("VONAGE_APPLICATION_ID", vonage::APPLICATION_ID),
                ("VONAGE_PRIVATE_KEY", vonage::PRIVATE_KEY),
            ],
        },
        Vendor {
            package: "phonehook-plugin-telesign",
            name: "telesign",
            channels: both,
            settings: vec![],
            secrets: vec![
                (
                    "TELESIGN_CUSTOMER_ID",
                    "FFFFFFFF-EEEE-DDDD-1234-AB1234567890",
                ),
                (
                    "TELESIGN_API_KEY",
                    "vZ2ab3mX0Zc1t6kQ8mJ2c0VtYmFyLWtleS1mb3ItcGhvbmVob29rLXRlc3Rz",
                ),
            ],
        },
        Vendor {
            package: "phonehook-plugin-infobip",
            name: "infobip",
            channels: both,
            settings: vec![
                ("from", "InfoSMS".to_owned()),
                ("voice_from", "+442032864231".to_owned()),
            ],
            secrets: vec![(
                "INFOBIP_API_KEY",
                "003026bbc133714df1834b8638bb496e-8f4b3d9a-e931-478d-a994-28a725159ab9",
            )],
        },
        Vendor {
            package: "phonehook-plugin-esendex",
            name: "esendex",
            channels: both,
            settings: vec![],
            secrets: vec![
                ("ESENDEX_USERNAME", "ops@example.com"),
                ("ESENDEX_SECRET", "s3cr3t-esendex-pw"),
                ("ESENDEX_ACCOUNT", "EX0012345"),
            ],
        },
        Vendor {
            package: "phonehook-plugin-sns",
            name: "sns",
            channels: &["sms"],
            settings: vec![],
            secrets: vec![
                ("AWS_ACCESS_KEY_ID", sns::ACCESS_KEY_ID),
                ("AWS_SECRET_ACCESS_KEY", sns::SECRET_ACCESS_KEY),
            ],
        },
    ]
}

/// The vendor's plugin, pointed at `base_url`, served by the binary.
fn serve(vendor: &Vendor, base_url: &str) -> Served {
    let dir = tempfile::tempdir().expect("dir");
    let plugin_dir = served::plugin_dir(dir.path(), &[vendor.package]);
    let mut settings = toml::Table::new();
    settings.insert("base_url".into(), base_url.into());
    for (k, v) in &vendor.settings {
        settings.insert((*k).into(), v.as_str().into());
    }
    let mut secrets = toml::Table::new();
    for (k, v) in &vendor.secrets {
        secrets.insert((*k).into(), (*v).into());
    }
    let config = toml::toml! {
        listen = "127.0.0.1:0"
        log_format = "json"
        send_token = SEND
        admin_token = ADMIN
        active_plugin = (vendor.name)
        plugin_dir = (plugin_dir.to_string_lossy().into_owned())
        staging_dir = (dir.path().join("staging").to_string_lossy().into_owned())
        [log]
        path = (dir.path().join("log.db").to_string_lossy().into_owned())
        [vendor]
        timeout_ms = 5000
    };
    let mut config = config;
    let mut plugin = toml::Table::new();
    plugin.insert("settings".into(), settings.into());
    plugin.insert("secrets".into(), secrets.into());
    let mut plugins_table = toml::Table::new();
    plugins_table.insert(vendor.name.into(), plugin.into());
    config.insert("plugins".into(), plugins_table.into());
    Served::start(dir, &toml::to_string(&config).expect("toml"))
}

fn hook(channel: &str, with_code: bool) -> Value {
    let mut context = json!({"message_type": channel, "language": "en",
        "action": "second-factor-authentication"});
    if with_code {
        context["code"] = CODE.into();
    }
    json!({"recipient": NUMBER, "text": format!("Your code is {CODE}"), "context": context})
}

/// Every encoding of `value` a request or an echo of it may hold.
fn encodings(value: &str) -> Vec<String> {
    let form = encoding::form_encode(&[("", value)]);
    let form = form.trim_start_matches('=').to_owned();
    vec![
        value.to_owned(),
        form.clone(),
        form.replace('+', "%20"),
        encoding::percent_encode(value),
        encoding::base64_encode(value.as_bytes()),
    ]
}

/// What must appear nowhere: the secrets in every encoding and what a cut
/// leaves of them, every credential the plugin actually sent, the code in
/// every spelling, the number, the tokens.
fn forbidden(vendor: &Vendor, mock: &MockVendor) -> Vec<String> {
    let mut values: Vec<String> = vendor.secrets.iter().map(|(_, v)| v.to_string()).collect();
    for request in mock.requests() {
        if let Some(auth) = request.header("authorization") {
            values.push(auth.to_owned());
            if let Some((_, credential)) = auth.split_once(' ') {
                values.push(credential.to_owned());
            }
            values.extend(basic_pair(auth));
        }
    }
    let mut out = Vec::new();
    for value in values {
        // A PEM key is quoted line by line, if at all: look for each line.
        for line in value.lines().map(str::trim).filter(|l| l.len() >= 8) {
            if line.starts_with("-----") {
                continue;
            }
            out.extend(encodings(line));
            // What a snippet's cut leaves of a long value.
            out.push(line.chars().take(10).collect());
        }
    }
    out.extend(
        [
            CODE,
            "9, 1, 8",
            "9%2C+1%2C+8",
            "9%2C%201",
            "9 1 8 2",
            "9. 1. 8",
            NATIONAL,
            SEND,
            ADMIN,
        ]
        .map(str::to_owned),
    );
    out.sort();
    out.dedup();
    out
}

#[track_caller]
fn assert_holds_none(what: &str, text: &str, forbidden: &[String]) {
    for needle in forbidden {
        assert!(
            !text.contains(needle.as_str()),
            "{needle:?} is in {what}:\n{text}"
        );
    }
}

fn assert_files_hold_none(dir: &Path, forbidden: &[String]) {
    let mut checked = 0;
    // Read after the server stopped; a `-wal` only if the store kept one.
    for name in ["log.db", "log.db-wal"] {
        let Ok(bytes) = std::fs::read(dir.join(name)) else {
            continue;
        };
        checked += 1;
        for needle in forbidden {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle:?} is in {name}"
            );
        }
    }
    assert!(checked > 0, "no database file in {}", dir.display());
}

async fn request(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<&Value>,
) -> (u16, String) {
    let mut req = client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let resp = req.send().await.expect("host answers");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_vendor_echo_leaks_a_secret_a_code_or_the_number() {
    let client = reqwest::Client::new();
    for vendor in vendors() {
        let mode = Switch::new(Echo::default());
        let router = axum::Router::new().fallback(echo).with_state(mode.clone());
        let mock = MockVendor::start(router).await;
        let served = serve(&vendor, &mock.url());
        let mut answers = Vec::new();
        for echo in [Echo::Authorization, Echo::CutCredential, Echo::Body] {
            mode.set(echo);
            for channel in vendor.channels {
                for with_code in [true, false] {
                    let case = format!("{} {channel} {echo:?} code={with_code}", vendor.name);
                    let (status, body) = request(
                        &client,
                        reqwest::Method::POST,
                        format!("{}/api/v1/messages", served.url),
                        SEND,
                        Some(&hook(channel, with_code)),
                    )
                    .await;
                    assert!(status >= 400, "{case}: {status} {body}");
                    // The echo reached the error (or this test proves nothing)
                    // and was redacted there.
                    assert!(body.contains("[redacted]"), "{case}: {body}");
                    answers.push((case, body));
                }
            }
        }
        let forbidden = forbidden(&vendor, &mock);
        for (case, body) in &answers {
            assert_holds_none(&format!("the answer to {case}"), body, &forbidden);
        }
        let (status, logs) = request(
            &client,
            reqwest::Method::GET,
            format!("{}/api/v1/logs?limit=100", served.url),
            ADMIN,
            None,
        )
        .await;
        assert_eq!(status, 200, "{logs}");
        let events: Value = serde_json::from_str(&logs).expect("json");
        assert_eq!(
            events["events"].as_array().map(Vec::len),
            Some(answers.len()),
            "{logs}"
        );
        assert_holds_none(
            &format!("{} GET /api/v1/logs", vendor.name),
            &logs,
            &forbidden,
        );
        let (stderr, dir) = served.stop();
        assert!(
            stderr.contains("message not delivered") && stderr.contains("[redacted]"),
            "{}: {stderr}",
            vendor.name
        );
        assert_holds_none(&format!("{} server log", vendor.name), &stderr, &forbidden);
        assert_files_hold_none(dir.path(), &forbidden);
    }
}

#[tokio::test]
async fn a_refused_recipient_is_quoted_by_a_short_prefix() {
    let host = phonehook_e2e::Host::builder().start().await;
    let long = "9".repeat(60_000);
    for (field, payload) in [
        ("recipient", json!({"recipient": long, "text": "x"})),
        (
            "message_type",
            json!({"recipient": NUMBER, "text": "x", "context": {"message_type": long}}),
        ),
    ] {
        let (status, body) = host.send(payload).await;
        assert_eq!(status, 422, "{field}: {body}");
        let message = body["error"]["message"].as_str().expect("a message");
        assert!(
            message.contains("60000 characters") && message.len() < 200,
            "{field}: {message}"
        );
    }
    host.shutdown().await;
}
