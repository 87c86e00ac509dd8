//! Loopback mock of Esendex's REST message dispatcher
//! (`POST /v1.0/messagedispatcher`).
//!
//! Every request is checked as Esendex documents it: HTTP Basic with the
//! configured login, `Content-Type: application/json`, and a body of
//! `accountreference` plus a `messages` list whose entries carry only the
//! documented fields (`to` as international digits without `+`, `body`,
//! optionally `from`, `type` SMS|Voice, `lang` from the voice set, `retries`).
//! A wrong login gets a 401 in plain text (as the older API answered); a wrong
//! account reference gets Esendex's documented JSON error; any other malformed
//! request a 400 in the same JSON `errors` format. Otherwise the [`Scenario`]
//! the test chose decides the answer. A success comes back as JSON when the
//! request asked for it (`Accept: application/json`), as XML otherwise.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use serde_json::{json, Value};

use super::scenario::{hang, retry_after, Counter, Switch};

/// A login the tests give the mock and the plugin.
pub const USERNAME: &str = "ops@example.com";
/// Its password.
pub const PASSWORD: &str = "s3cr3t-esendex-pw";
/// Its account reference.
pub const ACCOUNT: &str = "EX0012345";

/// How the mock answers a well-formed, authenticated request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// 200 with the batch's message headers (JSON or XML, as asked).
    Accept,
    /// 200 with the message headers in XML, whatever the request asked for.
    AcceptXml,
    /// 402 Payment Required: the account has no credit (JSON `errors`).
    NoCredit,
    /// 400 with a `text/plain` body, as older API versions answer errors.
    PlainTextError,
    /// 429 with `Retry-After: N` (JSON `errors`).
    Throttled(u32),
    /// 503 with a plain-text body.
    Unavailable,
    /// 200 with an HTML body.
    NotJson,
    /// 200 with an empty body.
    Empty,
    /// Never answers.
    Hang,
    /// 200 with a JSON body of the given size in bytes.
    Huge(usize),
}

/// The mock's state: the login and account it accepts and the scenario;
/// clones share all of it.
#[derive(Clone)]
pub struct Esendex {
    username: Arc<str>,
    password: Arc<str>,
    account: Arc<str>,
    scenario: Switch<Scenario>,
    next_id: Counter,
}

impl Esendex {
    /// A mock that accepts this login and account and answers [`Scenario::Accept`].
    pub fn new(username: &str, password: &str, account: &str) -> Self {
        Esendex {
            username: username.into(),
            password: password.into(),
            account: account.into(),
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

    /// GUID-shaped ids, as Esendex's are.
    fn next_guid(&self) -> String {
        let n = self.next_id.next();
        format!("1183c73d-2e62-4f60-b610-{n:012x}")
    }
}

/// The router, to hand to [`crate::MockVendor::start`].
pub fn router(mock: Esendex) -> Router {
    Router::new()
        .route("/v1.0/messagedispatcher", post(dispatch))
        .fallback(|| async { (StatusCode::NOT_FOUND, "Not Found").into_response() })
        .with_state(mock)
}

async fn dispatch(State(mock): State<Esendex>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&mock, &headers) {
        return plain(StatusCode::UNAUTHORIZED, "Invalid user credentials");
    }
    if let Err((code, description)) = check_request(&mock, &headers, &body) {
        return errors(StatusCode::BAD_REQUEST, code, &description);
    }
    let wants_json = header_value(&headers, "accept").contains("application/json");
    match mock.current() {
        Scenario::Accept if wants_json => accepted_json(&mock),
        Scenario::Accept | Scenario::AcceptXml => accepted_xml(&mock),
        Scenario::NoCredit => errors(
            StatusCode::PAYMENT_REQUIRED,
            "insufficient_credits",
            "The account has insufficient credits to send this message",
        ),
        Scenario::PlainTextError => plain(StatusCode::BAD_REQUEST, "Bad Request: Invalid message"),
        Scenario::Throttled(secs) => retry_after(
            errors(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "Too many requests, please slow down",
            ),
            secs,
        ),
        Scenario::Unavailable => plain(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
        Scenario::NotJson => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<!DOCTYPE html><html><body>Esendex</body></html>",
        )
            .into_response(),
        Scenario::Empty => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "",
        )
            .into_response(),
        Scenario::Hang => hang().await,
        Scenario::Huge(size) => {
            let filler = "x".repeat(size);
            let body =
                json!({"batch": {"batchid": "huge", "messageheaders": [], "filler": filler}});
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
    }
}

fn header_value<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn authorized(mock: &Esendex, headers: &HeaderMap) -> bool {
    let expected = phonehook_plugin_api::encoding::basic_auth(&mock.username, &mock.password);
    header_value(headers, "authorization") == expected
}

/// Esendex's error code and description for a malformed request.
type Rejection = (&'static str, String);

/// The documented request shape; the error for the first deviation.
fn check_request(mock: &Esendex, headers: &HeaderMap, body: &[u8]) -> Result<(), Rejection> {
    let content_type = header_value(headers, "content-type");
    if !content_type.starts_with("application/json") {
        return Err(invalid(&format!(
            "unsupported content type `{content_type}`"
        )));
    }
    let doc: Value =
        serde_json::from_slice(body).map_err(|e| invalid(&format!("body is not JSON: {e}")))?;
    let top = doc
        .as_object()
        .ok_or_else(|| invalid("body is not an object"))?;
    if let Some(key) = top
        .keys()
        .find(|k| !matches!(k.as_str(), "accountreference" | "messages"))
    {
        return Err(invalid(&format!("unknown field `{key}`")));
    }
    let account = doc["accountreference"].as_str().unwrap_or_default();
    if account != &*mock.account {
        return Err((
            "accountreference_invalid",
            format!("Invalid Account Reference {account}"),
        ));
    }
    let messages = doc["messages"]
        .as_array()
        .ok_or_else(|| invalid("`messages` is not a list"))?;
    if messages.len() != 1 {
        return Err(invalid("expected exactly one message"));
    }
    check_message(&messages[0])
}

fn check_message(message: &Value) -> Result<(), Rejection> {
    let fields = message
        .as_object()
        .ok_or_else(|| invalid("message is not an object"))?;
    const KNOWN: [&str; 6] = ["to", "body", "from", "type", "lang", "retries"];
    if let Some(key) = fields.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(invalid(&format!("unknown message field `{key}`")));
    }
    let to = message["to"].as_str().unwrap_or_default();
    if to.is_empty() || !to.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(&format!(
            "`to` must be international digits, got `{to}`"
        )));
    }
    if message["body"].as_str().is_none_or(str::is_empty) {
        return Err(invalid("`body` is missing"));
    }
    if let Some(from) = fields.get("from") {
        let from = from.as_str().unwrap_or_default();
        let ok = (from.len() <= 11
            && !from.is_empty()
            && from.chars().all(|c| c.is_ascii_alphanumeric()))
            || (from.len() <= 20 && !from.is_empty() && from.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(invalid(&format!("invalid originator `{from}`")));
        }
    }
    let voice = match fields.get("type").map(|t| t.as_str().unwrap_or_default()) {
        None | Some("SMS") => false,
        Some("Voice") => true,
        Some(other) => return Err(invalid(&format!("unknown message type `{other}`"))),
    };
    if let Some(lang) = fields.get("lang") {
        let lang = lang.as_str().unwrap_or_default();
        if !voice || !["en-GB", "en-AU", "es-ES", "fr-FR", "de-DE"].contains(&lang) {
            return Err(invalid(&format!("invalid `lang` `{lang}`")));
        }
    }
    if let Some(retries) = fields.get("retries") {
        if !voice || retries.as_u64().is_none() {
            return Err(invalid("invalid `retries`"));
        }
    }
    Ok(())
}

fn accepted_json(mock: &Esendex) -> Response {
    let id = mock.next_guid();
    let body = json!({"batch": {
        "batchid": mock.next_guid(),
        "messageheaders": [{"id": id, "uri": format!("https://api.esendex.com/v1.0/messageheaders/{id}")}],
    }});
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn accepted_xml(mock: &Esendex) -> Response {
    let id = mock.next_guid();
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<messageheaders batchid="{batch}" xmlns="http://api.esendex.com/ns/">
  <messageheader uri="https://api.esendex.com/v1.0/MessageHeaders/{id}" id="{id}" />
</messageheaders>"#,
        batch = mock.next_guid()
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Esendex's JSON error body.
fn errors(status: StatusCode, code: &str, description: &str) -> Response {
    let body = json!({"errors": [{"code": code, "description": description}]});
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn invalid(description: &str) -> Rejection {
    ("validation_error", description.to_owned())
}

fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text.to_owned(),
    )
        .into_response()
}
