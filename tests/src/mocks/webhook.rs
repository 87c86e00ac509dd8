//! Loopback mock of two in-house SMS gateways of the kind the webhook plugin is
//! for, on one server, each with its own shape:
//!
//! - **JSON gateway** (`POST /v1/messages`): takes
//!   `{"to": "+E164", "message": "...", "meta": {"type": "sms"|"voice", "lang": "..."}}`
//!   with an `X-Api-Key` header, and answers **200 to everything it
//!   understood**: `{"status": "ok", "data": {"id": "..."}}` or
//!   `{"status": "error", "error": {"code": "...", "message": "..."}}`. A bad
//!   key gets `401` with the same error shape.
//! - **Form gateway** (`POST /cgi-bin/sendsms`): takes
//!   `msisdn=<digits>&msg=<text>` and answers
//!   `application/x-www-form-urlencoded`: `result=0&id=...` or
//!   `result=<n>&reason=...`.
//!
//! A request the mock finds malformed gets the gateway's own error with a
//! reason starting with `mock:`, so a failing test says what was wrong.
//! Unknown fields are refused too, to catch misspelt template keys.
//!
//! The test picks what a well-formed request gets with [`Gateway::set`].

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use phonehook_plugin_api::encoding;
use serde_json::{json, Value};

use super::scenario::{hang, oversized_filler, proxy_unavailable, retry_after, Switch};
use crate::HostBuilder;

/// The JSON gateway's path.
pub const JSON_PATH: &str = "/v1/messages";
/// The form gateway's path.
pub const FORM_PATH: &str = "/cgi-bin/sendsms";
/// The key the JSON gateway wants in `X-Api-Key`.
pub const API_KEY: &str = "gk_live_5f1c0ffee";
/// The id the JSON gateway gives an accepted message.
pub const JSON_ID: &str = "jm-20240101-0001";
/// The id the form gateway gives an accepted message.
pub const FORM_ID: &str = "88231";

/// What the mock answers to a well-formed, authenticated request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Accepted: `status: ok` with an id / `result=0&id=...`.
    Accept,
    /// Refused, still with HTTP 200: `status: error` with `E_BLOCKED` /
    /// `result=7&reason=Absent subscriber`.
    Refuse,
    /// `429` with `Retry-After: 3` and the gateway's error body.
    RateLimited,
    /// `503` with an HTML page, as from a proxy in front of the gateway.
    Unavailable,
    /// `200` with a body that is neither JSON nor a form.
    NotJson,
    /// `200` with an empty body.
    Empty,
    /// Never answers.
    Hang,
    /// `200` with a body over the contract's reply cap (`oversized_filler`).
    Oversized,
}

/// The mock's state: the current scenario.
#[derive(Clone)]
pub struct Gateway {
    scenario: Switch<Scenario>,
}

impl Default for Gateway {
    fn default() -> Self {
        Self::new()
    }
}

impl Gateway {
    /// Answers [`Scenario::Accept`].
    pub fn new() -> Self {
        Gateway {
            scenario: Switch::new(Scenario::Accept),
        }
    }

    /// Sets what the next requests get.
    pub fn set(&self, scenario: Scenario) {
        self.scenario.set(scenario);
    }

    fn scenario(&self) -> Scenario {
        self.scenario.get()
    }
}

/// The mock's routes, sharing `state` (keep a clone to change the scenario).
pub fn router(state: Gateway) -> Router {
    Router::new()
        .route(JSON_PATH, post(json_gateway))
        .route(FORM_PATH, post(form_gateway))
        .with_state(state)
}

fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"status": "error", "error": {"code": code, "message": message}});
    (status, axum::Json(body)).into_response()
}

fn form_reply(status: StatusCode, fields: &[(&str, &str)]) -> Response {
    let body = encoding::form_encode(fields);
    (
        status,
        [(header::CONTENT_TYPE, "application/x-www-form-urlencoded")],
        body,
    )
        .into_response()
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .expect("valid TOML")
}

/// What both gateways answer in the scenarios that are not about their
/// own format.
async fn common(scenario: Scenario) -> Option<Response> {
    match scenario {
        Scenario::Accept | Scenario::Refuse | Scenario::RateLimited => None,
        Scenario::Unavailable => Some(proxy_unavailable()),
        Scenario::NotJson => {
            Some((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "OK").into_response())
        }
        Scenario::Empty => Some(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "",
            )
                .into_response(),
        ),
        Scenario::Hang => Some(hang().await),
        Scenario::Oversized => {
            let filler = oversized_filler();
            let body =
                json!({"status": "ok", "data": {"id": JSON_ID, "filler": filler}}).to_string();
            Some(
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    body,
                )
                    .into_response(),
            )
        }
    }
}

/// What is wrong with a JSON gateway request, in words.
fn json_problem(body: &Value) -> Option<String> {
    let Some(fields) = body.as_object() else {
        return Some("body is not a JSON object".into());
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !["to", "message", "meta"].contains(&k.as_str()))
    {
        return Some(format!("unknown field `{unknown}`"));
    }
    let to = body["to"].as_str().unwrap_or_default();
    let digits = to.strip_prefix('+').unwrap_or_default();
    if digits.len() < 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!("`to` must be E.164 with `+`, got {:?}", body["to"]));
    }
    if body["message"].as_str().is_none_or(str::is_empty) {
        return Some("`message` must be a non-empty string".into());
    }
    if !matches!(body["meta"]["type"].as_str(), Some("sms" | "voice")) {
        return Some(format!(
            "`meta.type` must be sms or voice, got {:?}",
            body["meta"]["type"]
        ));
    }
    if !body["meta"]["lang"].is_string() {
        return Some("`meta.lang` must be a string".into());
    }
    None
}

async fn json_gateway(State(gw): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    if !content_type(&headers).starts_with("application/json") {
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "bad_request",
            "mock: Content-Type must be application/json",
        );
    }
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    if key != Some(API_KEY) {
        return json_error(StatusCode::UNAUTHORIZED, "unauthorized", "invalid API key");
    }
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(problem) = json_problem(&parsed) {
        return json_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &format!("mock: {problem}"),
        );
    }
    let scenario = gw.scenario();
    if let Some(reply) = common(scenario).await {
        return reply;
    }
    match scenario {
        Scenario::Refuse => {
            let body = json!({"status": "error", "error": {"code": "E_BLOCKED", "message": "destination is blocked"}});
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Scenario::RateLimited => retry_after(
            json_error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests",
            ),
            3,
        ),
        _ => (
            StatusCode::OK,
            axum::Json(json!({"status": "ok", "data": {"id": JSON_ID}})),
        )
            .into_response(),
    }
}

/// What is wrong with a form gateway request, in words.
fn form_problem(fields: &[(String, String)]) -> Option<String> {
    if let Some((unknown, _)) = fields.iter().find(|(k, _)| k != "msisdn" && k != "msg") {
        return Some(format!("unknown field `{unknown}`"));
    }
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let msisdn = field("msisdn").unwrap_or_default();
    if msisdn.len() < 8 || !msisdn.bytes().all(|b| b.is_ascii_digit()) {
        return Some(format!(
            "`msisdn` must be digits without `+`, got {msisdn:?}"
        ));
    }
    if field("msg").is_none_or(str::is_empty) {
        return Some("`msg` is missing".into());
    }
    None
}

async fn form_gateway(State(gw): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    if !content_type(&headers).starts_with("application/x-www-form-urlencoded") {
        return form_reply(
            StatusCode::OK,
            &[
                ("result", "2"),
                ("reason", "mock: Content-Type must be a form"),
            ],
        );
    }
    if let Some(problem) = form_problem(&encoding::form_decode(&body)) {
        return form_reply(
            StatusCode::OK,
            &[("result", "2"), ("reason", &format!("mock: {problem}"))],
        );
    }
    let scenario = gw.scenario();
    if let Some(reply) = common(scenario).await {
        return reply;
    }
    match scenario {
        Scenario::Refuse => form_reply(
            StatusCode::OK,
            &[("result", "7"), ("reason", "Absent subscriber")],
        ),
        Scenario::RateLimited => retry_after(
            form_reply(
                StatusCode::TOO_MANY_REQUESTS,
                &[("result", "9"), ("reason", "Throttled")],
            ),
            3,
        ),
        _ => form_reply(StatusCode::OK, &[("result", "0"), ("id", FORM_ID)]),
    }
}

/// A TOML table written as an admin would, e.g. `to = "{{recipient}}"`.
pub fn table(text: &str) -> toml::Value {
    toml::Value::Table(text.parse::<toml::Table>().unwrap_or_default())
}

/// The webhook plugin's settings for the JSON gateway at `base_url`: a status
/// field in a 200 reply, a key from a secret.
pub fn json_gateway_settings(host: HostBuilder, base_url: &str) -> HostBuilder {
    host.setting("webhook", "url", format!("{base_url}{JSON_PATH}"))
        .setting(
            "webhook",
            "headers",
            table(r#""X-Api-Key" = "{{secret.GATEWAY_KEY}}""#),
        )
        .setting(
            "webhook",
            "body",
            table(
                r#"
                to = "{{recipient}}"
                message = "{{text}}"
                meta = { type = "{{message_type}}", lang = "{{language}}" }
                "#,
            ),
        )
        .setting("webhook", "success_pointer", "/status")
        .setting("webhook", "success_value", "ok")
        .setting("webhook", "id_pointer", "/data/id")
        .setting("webhook", "error_code_pointer", "/error/code")
        .setting("webhook", "error_message_pointer", "/error/message")
        .secret("webhook", "GATEWAY_KEY", API_KEY)
}

/// The webhook plugin's settings for the form gateway at `base_url`: form in,
/// form out, `result=0` means accepted.
pub fn form_gateway_settings(host: HostBuilder, base_url: &str) -> HostBuilder {
    host.setting("webhook", "url", format!("{base_url}{FORM_PATH}"))
        .setting("webhook", "body_format", "form")
        .setting(
            "webhook",
            "body",
            table(
                r#"msisdn = "{{recipient_digits}}"
msg = "{{text}}""#,
            ),
        )
        .setting("webhook", "success_status", "200")
        .setting("webhook", "success_pointer", "/result")
        .setting("webhook", "success_value", "0")
        .setting("webhook", "id_pointer", "/id")
        .setting("webhook", "error_code_pointer", "/result")
        .setting("webhook", "error_message_pointer", "/reason")
}
