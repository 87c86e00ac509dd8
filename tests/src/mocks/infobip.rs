//! Loopback mock of Infobip's API: SMS v2 (`POST /sms/2/text/advanced`),
//! SMS v3 (`POST /sms/3/messages`) and text-to-speech (`POST /tts/3/single`).
//!
//! Every request is checked as Infobip documents it: `Authorization: App <key>`,
//! `Content-Type: application/json`, and a body with the documented fields only,
//! numbers as digits without `+`. A request that fails a check gets Infobip's
//! own error body: 401 `UNAUTHORIZED` for a wrong key, 400 with validation
//! errors otherwise (legacy format on v2 and voice, the newer format on v3).
//! Otherwise the [`Scenario`] the test chose decides the answer.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::scenario::{hang, retry_after, Counter, Switch};

/// An API key the tests give the mock and the plugin.
pub const API_KEY: &str = "003026bbc133714df1834b8638bb496e-8f4b3d9a-e931-478d-a994-28a725159ab9";

/// How the mock answers a well-formed, authenticated request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// 200 with the message PENDING (status group 1).
    Accept,
    /// 200 whose message entry is REJECTED (status group 5).
    Rejected,
    /// 400 in the legacy `requestError.serviceException` format.
    LegacyError,
    /// 400 in the newer `errorCode`/`description`/`violations` format.
    NewError,
    /// 429 `TOO_MANY_REQUESTS` with `Retry-After: N`.
    Throttled(u32),
    /// 500 `GENERAL_ERROR` (Infobip's legacy format).
    ServerError,
    /// 502 with an HTML page, as a gateway in front of Infobip answers.
    BadGateway,
    /// 200 with an HTML body.
    NotJson,
    /// 200 with an empty body.
    Empty,
    /// Never answers.
    Hang,
    /// 200 with a JSON body of the given size in bytes.
    Huge(usize),
}

/// The mock's state: the API key it accepts and the scenario; clones share both.
#[derive(Clone)]
pub struct Infobip {
    api_key: Arc<str>,
    scenario: Switch<Scenario>,
    next_id: Counter,
}

impl Infobip {
    /// A mock that accepts `api_key` and answers [`Scenario::Accept`].
    pub fn new(api_key: &str) -> Self {
        Infobip {
            api_key: api_key.into(),
            scenario: Switch::new(Scenario::Accept),
            next_id: Counter::default(),
        }
    }

    /// The same mock answering `scenario`.
    pub fn scenario(self, scenario: Scenario) -> Self {
        self.set(scenario);
        self
    }

    /// Changes the scenario of a running mock.
    pub fn set(&self, scenario: Scenario) {
        self.scenario.set(scenario);
    }

    fn current(&self) -> Scenario {
        self.scenario.get()
    }

    fn message_id(&self) -> String {
        let n = self.next_id.next();
        format!("2250be2d4219-3af1-78856-aabe-{n:012x}")
    }
}

/// The router, to hand to [`crate::MockVendor::start`].
pub fn router(mock: Infobip) -> Router {
    Router::new()
        .route("/sms/2/text/advanced", post(sms_v2))
        .route("/sms/3/messages", post(sms_v3))
        .route("/tts/3/single", post(tts_single))
        .fallback(not_found)
        .with_state(mock)
}

/// Which endpoint answers: it decides the error format and the success shape.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    SmsV2,
    SmsV3,
    Tts,
}

async fn sms_v2(State(mock): State<Infobip>, headers: HeaderMap, body: Bytes) -> Response {
    handle(mock, Endpoint::SmsV2, headers, body).await
}

async fn sms_v3(State(mock): State<Infobip>, headers: HeaderMap, body: Bytes) -> Response {
    handle(mock, Endpoint::SmsV3, headers, body).await
}

async fn tts_single(State(mock): State<Infobip>, headers: HeaderMap, body: Bytes) -> Response {
    handle(mock, Endpoint::Tts, headers, body).await
}

async fn not_found() -> Response {
    json_reply(
        StatusCode::NOT_FOUND,
        new_error("E404", "Resource not found.", "Check the request URL.", &[]),
    )
}

async fn handle(mock: Infobip, endpoint: Endpoint, headers: HeaderMap, body: Bytes) -> Response {
    if header(&headers, "authorization") != Some(format!("App {}", mock.api_key).as_str()) {
        return json_reply(
            StatusCode::UNAUTHORIZED,
            legacy_error("UNAUTHORIZED", "Invalid login details", &[]),
        );
    }
    let content_type = header(&headers, "content-type").unwrap_or_default();
    if !content_type.starts_with("application/json") {
        return invalid(
            endpoint,
            &[(
                "content-type".into(),
                format!("expected application/json, got `{content_type}`"),
            )],
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return invalid(endpoint, &[("body".into(), "is not valid JSON".into())]);
    };
    let (to, problems) = match endpoint {
        Endpoint::SmsV2 => check_v2(&request),
        Endpoint::SmsV3 => check_v3(&request),
        Endpoint::Tts => check_tts(&request),
    };
    if !problems.is_empty() {
        return invalid(endpoint, &problems);
    }
    answer(&mock, endpoint, &to).await
}

async fn answer(mock: &Infobip, endpoint: Endpoint, to: &str) -> Response {
    match mock.current() {
        Scenario::Accept => json_reply(
            StatusCode::OK,
            accepted(endpoint, &mock.message_id(), to, pending()),
        ),
        Scenario::Rejected => json_reply(
            StatusCode::OK,
            accepted(endpoint, &mock.message_id(), to, rejected()),
        ),
        Scenario::LegacyError => json_reply(
            StatusCode::BAD_REQUEST,
            legacy_error(
                "BAD_REQUEST",
                "Bad request",
                &[(
                    "messages[0].destinations[0].to".into(),
                    "invalid destination address".into(),
                )],
            ),
        ),
        Scenario::NewError => json_reply(
            StatusCode::BAD_REQUEST,
            new_error(
                "E400",
                "Request cannot be processed.",
                "Check the syntax, violations and adjust the request.",
                &[(
                    "messages[0].destinations[0].to".into(),
                    "Invalid destination address.".into(),
                )],
            ),
        ),
        Scenario::Throttled(secs) => retry_after(
            json_reply(
                StatusCode::TOO_MANY_REQUESTS,
                legacy_error("TOO_MANY_REQUESTS", "Too many requests", &[]),
            ),
            secs,
        ),
        Scenario::ServerError => json_reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            legacy_error(
                "GENERAL_ERROR",
                "Something went wrong. Please contact support.",
                &[],
            ),
        ),
        Scenario::BadGateway => (
            StatusCode::BAD_GATEWAY,
            [("content-type", "text/html")],
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        )
            .into_response(),
        Scenario::NotJson => (
            StatusCode::OK,
            [("content-type", "text/html")],
            "<html><body>Maintenance</body></html>",
        )
            .into_response(),
        Scenario::Empty => {
            (StatusCode::OK, [("content-type", "application/json")], "").into_response()
        }
        Scenario::Hang => hang().await,
        Scenario::Huge(size) => {
            let padding = "x".repeat(size);
            json_reply(StatusCode::OK, json!({"bulkId": padding, "messages": []}))
        }
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn json_reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A 400 for a request that breaks the documented shape, in the format the
/// endpoint uses.
fn invalid(endpoint: Endpoint, problems: &[(String, String)]) -> Response {
    let body = match endpoint {
        Endpoint::SmsV3 => new_error(
            "E400",
            "Request cannot be processed.",
            "Check the syntax, violations and adjust the request.",
            problems,
        ),
        Endpoint::SmsV2 | Endpoint::Tts => legacy_error("BAD_REQUEST", "Bad request", problems),
    };
    json_reply(StatusCode::BAD_REQUEST, body)
}

/// `{"requestError":{"serviceException":{"messageId","text","validationErrors"}}}`
pub fn legacy_error(code: &str, text: &str, problems: &[(String, String)]) -> Value {
    let mut exception = json!({"messageId": code, "text": text});
    if !problems.is_empty() {
        let mut errors = Map::new();
        for (property, problem) in problems {
            let list = errors.entry(property.clone()).or_insert_with(|| json!([]));
            if let Value::Array(list) = list {
                list.push(json!(problem));
            }
        }
        exception["validationErrors"] = Value::Object(errors);
    }
    json!({"requestError": {"serviceException": exception}})
}

/// `{"errorCode","description","action","violations":[{"property","violation"}],"resources"}`
pub fn new_error(
    code: &str,
    description: &str,
    action: &str,
    problems: &[(String, String)],
) -> Value {
    let violations: Vec<Value> = problems
        .iter()
        .map(|(property, violation)| json!({"property": property, "violation": violation}))
        .collect();
    json!({
        "errorCode": code,
        "description": description,
        "action": action,
        "violations": violations,
        "resources": [{"name": "API documentation", "url": "https://www.infobip.com/docs/api"}],
    })
}

fn pending() -> Value {
    json!({"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED",
           "description": "Message sent to next instance"})
}

fn rejected() -> Value {
    json!({"groupId": 5, "groupName": "REJECTED", "id": 6, "name": "REJECTED_NETWORK",
           "description": "Network is forbidden"})
}

/// The success body: v2 and voice name the recipient `to`, v3 `destination`.
fn accepted(endpoint: Endpoint, id: &str, to: &str, status: Value) -> Value {
    let entry = match endpoint {
        Endpoint::SmsV2 | Endpoint::Tts => json!({"to": to, "status": status, "messageId": id}),
        Endpoint::SmsV3 => json!({"messageId": id, "status": status, "destination": to,
                                  "details": {"messageCount": 1}}),
    };
    json!({"bulkId": "2034072219640523072", "messages": [entry]})
}

type Problems = Vec<(String, String)>;

fn check_v2(body: &Value) -> (String, Problems) {
    let mut p = Problems::new();
    only_keys(
        body,
        "",
        &[
            "messages",
            "bulkId",
            "tracking",
            "sendingSpeedLimit",
            "urlOptions",
            "includeSmsCountInResponse",
        ],
        &mut p,
    );
    let messages = messages(body, &mut p);
    let mut to = String::new();
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        only_keys(
            m,
            &at,
            &[
                "from",
                "destinations",
                "text",
                "flash",
                "language",
                "transliteration",
                "validityPeriod",
                "notifyUrl",
                "notifyContentType",
                "callbackData",
                "sendAt",
                "deliveryTimeWindow",
                "entityId",
                "applicationId",
                "regional",
                "intermediateReport",
            ],
            &mut p,
        );
        optional_string(m, &at, "from", &mut p);
        required_text(m, &at, "text", &mut p);
        to = destinations(m, &at, &mut p);
    }
    (to, p)
}

fn check_v3(body: &Value) -> (String, Problems) {
    let mut p = Problems::new();
    only_keys(body, "", &["messages", "options", "webhooks"], &mut p);
    let messages = messages(body, &mut p);
    let mut to = String::new();
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        only_keys(
            m,
            &at,
            &["sender", "destinations", "content", "options", "webhooks"],
            &mut p,
        );
        optional_string(m, &at, "sender", &mut p);
        match m.get("content") {
            Some(content @ Value::Object(_)) => {
                let at = format!("{at}.content");
                only_keys(
                    content,
                    &at,
                    &["text", "transliteration", "language"],
                    &mut p,
                );
                required_text(content, &at, "text", &mut p);
            }
            _ => p.push((format!("{at}.content"), "Must not be null.".into())),
        }
        to = destinations(m, &at, &mut p);
    }
    (to, p)
}

fn check_tts(body: &Value) -> (String, Problems) {
    let mut p = Problems::new();
    only_keys(
        body,
        "",
        &[
            "text",
            "audioFileUrl",
            "language",
            "voice",
            "speechRate",
            "from",
            "to",
            "notifyUrl",
            "notifyContentType",
            "callbackData",
            "validityPeriod",
            "sendAt",
            "record",
            "repeatDtmf",
            "ringTimeout",
            "dtmfTimeout",
            "callTimeout",
            "machineDetection",
        ],
        &mut p,
    );
    required_text(body, "", "text", &mut p);
    if body["text"]
        .as_str()
        .is_some_and(|t| t.chars().count() > 1400)
    {
        p.push(("text".into(), "size must be between 0 and 1400".into()));
    }
    if let Some(language) = body.get("language") {
        let ok = language.as_str().is_some_and(|l| {
            !l.is_empty() && l.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        });
        if !ok {
            p.push(("language".into(), "invalid language".into()));
        }
    }
    let from = body["from"].as_str().unwrap_or_default();
    if !is_msisdn(from) {
        p.push((
            "from".into(),
            "must be a number in international format without +".into(),
        ));
    }
    let to = body["to"].as_str().unwrap_or_default().to_owned();
    if !is_msisdn(&to) {
        p.push((
            "to".into(),
            "must be a number in international format without +".into(),
        ));
    }
    (to, p)
}

fn messages<'b>(body: &'b Value, p: &mut Problems) -> &'b [Value] {
    match body["messages"].as_array() {
        Some(list) if !list.is_empty() => list,
        _ => {
            p.push(("messages".into(), "must not be empty".into()));
            &[]
        }
    }
}

fn destinations(message: &Value, at: &str, p: &mut Problems) -> String {
    let Some(list) = message["destinations"].as_array().filter(|l| !l.is_empty()) else {
        p.push((format!("{at}.destinations"), "must not be empty".into()));
        return String::new();
    };
    let mut first = String::new();
    for (j, d) in list.iter().enumerate() {
        let at = format!("{at}.destinations[{j}]");
        only_keys(d, &at, &["to", "messageId"], p);
        let to = d["to"].as_str().unwrap_or_default();
        if !is_msisdn(to) {
            p.push((
                format!("{at}.to"),
                "must be a number in international format without +".into(),
            ));
        }
        if j == 0 {
            first = to.to_owned();
        }
    }
    first
}

fn only_keys(value: &Value, at: &str, allowed: &[&str], p: &mut Problems) {
    let Some(map) = value.as_object() else {
        p.push((at.to_owned(), "must be an object".into()));
        return;
    };
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            let path = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            p.push((path, "unknown field".into()));
        }
    }
}

fn optional_string(value: &Value, at: &str, key: &str, p: &mut Problems) {
    if let Some(v) = value.get(key) {
        if v.as_str().is_none_or(str::is_empty) {
            p.push((format!("{at}.{key}"), "must be a non-empty string".into()));
        }
    }
}

fn required_text(value: &Value, at: &str, key: &str, p: &mut Problems) {
    if value[key].as_str().is_none_or(|t| t.trim().is_empty()) {
        let path = if at.is_empty() {
            key.to_owned()
        } else {
            format!("{at}.{key}")
        };
        p.push((path, "must not be empty".into()));
    }
}

fn is_msisdn(number: &str) -> bool {
    (6..=15).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_digit())
}
