//! Loopback mock of Twilio: Programmable Messaging (`Messages.json`), Voice
//! (`Calls.json`) and Verify (`/v2/Services/{sid}/Verifications`) on one
//! server, so one `base_url` serves all three.
//!
//! It checks what Twilio checks — Basic auth against the configured account,
//! the form content type, the parameters each resource documents — and
//! answers with Twilio's own bodies: `201` with the created resource, or the
//! error object `{"code", "message", "more_info", "status"}`. A request the
//! mock finds malformed gets a `400` in Twilio's format whose message starts
//! with `mock:`, so a failing test says what was wrong. Unknown parameters are
//! refused too (Twilio ignores them), to catch misspelt field names.
//!
//! The test picks what a well-formed request gets with [`Twilio::set`].

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use phonehook_plugin_api::encoding;
use serde_json::{json, Value};

use super::scenario::{hang, oversized_filler, retry_after, Counter, Switch};

/// The account the mock accepts by default.
pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
/// Its auth token.
pub const AUTH_TOKEN: &str = "f00dfacef00dfacef00dfacef00dface";
/// The Verify service the mock knows.
pub const VERIFY_SID: &str = "VA0123456789abcdef0123456789abcdef";
/// A Twilio test number to send from.
pub const FROM: &str = "+15005550006";

/// What the mock answers to a well-formed, authenticated request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// `201` with the created message, call or verification.
    Created,
    /// `400`, code 21211: the `To` number is not valid.
    InvalidNumber,
    /// `400`, code 21610: the recipient replied STOP.
    Unsubscribed,
    /// `401`, code 20003, with `detail` (as for bad credentials).
    BadCredentials,
    /// `429`, code 20429, with `Retry-After` in seconds.
    RateLimited(u32),
    /// `500`, code 20500.
    ServerError,
    /// `201` with a body that is not JSON.
    NotJson,
    /// `201` with an empty body.
    Empty,
    /// `201` with JSON that has no `sid`.
    NoSid,
    /// Never answers.
    Hang,
    /// `201` with a body over the contract's reply cap (`oversized_filler`).
    Oversized,
}

/// The mock's state: the credentials it accepts and the current scenario.
#[derive(Clone)]
pub struct Twilio {
    scenario: Switch<Scenario>,
    user: String,
    password: String,
    counter: Counter,
}

impl Default for Twilio {
    fn default() -> Self {
        Self::new()
    }
}

impl Twilio {
    /// Accepts [`ACCOUNT_SID`]:[`AUTH_TOKEN`] and answers [`Scenario::Created`].
    pub fn new() -> Self {
        Twilio {
            scenario: Switch::new(Scenario::Created),
            user: ACCOUNT_SID.to_owned(),
            password: AUTH_TOKEN.to_owned(),
            counter: Counter::default(),
        }
    }

    /// Accepts an API key and its secret instead of the auth token.
    pub fn with_api_key(mut self, key: &str, secret: &str) -> Self {
        self.user = key.to_owned();
        self.password = secret.to_owned();
        self
    }

    /// Sets what the next requests get.
    pub fn set(&self, scenario: Scenario) {
        self.scenario.set(scenario);
    }

    fn scenario(&self) -> Scenario {
        self.scenario.get()
    }

    fn next_sid(&self, prefix: &str) -> String {
        let n = self.counter.next();
        format!("{prefix}{n:032x}")
    }
}

/// The mock's routes, sharing `state` (keep a clone to change the scenario).
pub fn router(state: Twilio) -> Router {
    Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            post(messages),
        )
        .route("/2010-04-01/Accounts/{account}/Calls.json", post(calls))
        .route("/v2/Services/{service}/Verifications", post(verifications))
        .fallback(not_found)
        .with_state(state)
}

/// Twilio's error object.
pub fn error_body(status: u16, code: u32, message: &str) -> Value {
    json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    })
}

/// Why the mock refuses a request, answered in Twilio's error format.
#[derive(Debug)]
struct Refusal {
    status: u16,
    code: u32,
    message: String,
    detail: Option<&'static str>,
}

impl Refusal {
    fn new(status: u16, code: u32, message: impl Into<String>) -> Self {
        Refusal {
            status,
            code,
            message: message.into(),
            detail: None,
        }
    }

    /// A request the mock finds malformed (Twilio's code for it is not
    /// always documented, so the message says what was wrong).
    fn malformed(message: impl Into<String>) -> Self {
        Refusal::new(400, 20001, format!("mock: {}", message.into()))
    }

    fn authenticate() -> Self {
        Refusal {
            detail: Some("Your AccountSid or AuthToken was incorrect."),
            ..Refusal::new(401, 20003, "Authenticate")
        }
    }

    fn not_found(path: &str) -> Self {
        Refusal::new(
            404,
            20404,
            format!("The requested resource {path} was not found"),
        )
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut body = error_body(self.status, self.code, &self.message);
        if let Some(detail) = self.detail {
            body["detail"] = json!(detail);
        }
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        (status, axum::Json(body)).into_response()
    }
}

async fn not_found(uri: axum::http::Uri) -> Response {
    Refusal::not_found(uri.path()).into_response()
}

type Form = Vec<(String, String)>;

/// Auth, content type and parameter names, as every create endpoint checks them.
fn check_envelope(
    state: &Twilio,
    headers: &HeaderMap,
    body: &Bytes,
    allowed: &[&str],
) -> Result<Form, Refusal> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth != Some(encoding::basic_auth(&state.user, &state.password).as_str()) {
        return Err(Refusal::authenticate());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(Refusal::malformed(format!(
            "Content-Type must be application/x-www-form-urlencoded, not `{content_type}`"
        )));
    }
    let form = encoding::form_decode(body);
    for (name, _) in &form {
        if !allowed.contains(&name.as_str()) {
            return Err(Refusal::malformed(format!("unknown parameter `{name}`")));
        }
        if form.iter().filter(|(n, _)| n == name).count() > 1 {
            return Err(Refusal::malformed(format!("parameter `{name}` sent twice")));
        }
    }
    Ok(form)
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|d| {
        (2..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

fn is_sid(sid: &str, prefix: &str) -> bool {
    sid.len() == 34 && sid.starts_with(prefix) && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_to(form: &[(String, String)]) -> Result<String, Refusal> {
    match field(form, "To") {
        None | Some("") => Err(Refusal::new(400, 21604, "A 'To' phone number is required.")),
        Some(to) if !is_e164(to) => Err(Refusal::new(
            400,
            21211,
            format!("The 'To' number {to} is not a valid phone number."),
        )),
        Some(to) => Ok(to.to_owned()),
    }
}

/// Runs a create endpoint's checks, then the scenario.
async fn create(state: &Twilio, checked: Result<Value, Refusal>) -> Response {
    match checked {
        Ok(resource) => answer(state, resource).await,
        Err(refusal) => refusal.into_response(),
    }
}

async fn messages(
    State(state): State<Twilio>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let checked = message_resource(&state, &account, &headers, &body);
    create(&state, checked).await
}

fn message_resource(
    state: &Twilio,
    account: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, Refusal> {
    const ALLOWED: &[&str] = &[
        "To",
        "From",
        "MessagingServiceSid",
        "Body",
        "StatusCallback",
        "ValidityPeriod",
    ];
    let form = check_envelope(state, headers, body, ALLOWED)?;
    if account != ACCOUNT_SID {
        return Err(Refusal::not_found(&format!(
            "/2010-04-01/Accounts/{account}/Messages.json"
        )));
    }
    let to = check_to(&form)?;
    let from = field(&form, "From");
    let service = field(&form, "MessagingServiceSid");
    match (from, service) {
        (None, None) => {
            return Err(Refusal::new(
                400,
                21603,
                "A 'From' phone number is required.",
            ))
        }
        (Some(_), Some(_)) => {
            return Err(Refusal::malformed(
                "send either From or MessagingServiceSid",
            ))
        }
        (_, Some(sid)) if !is_sid(sid, "MG") => {
            return Err(Refusal::malformed(format!(
                "MessagingServiceSid {sid} is not MG + 32 hex digits"
            )))
        }
        _ => {}
    }
    let text = match field(&form, "Body") {
        None | Some("") => return Err(Refusal::new(400, 21602, "Message body is required.")),
        Some(text) => text,
    };
    if text.chars().count() > 1600 {
        return Err(Refusal::new(
            400,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        ));
    }
    let sid = state.next_sid("SM");
    Ok(json!({
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "body": text,
        "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
        "date_sent": null,
        "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000",
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": from,
        "messaging_service_sid": service,
        "num_media": "0",
        "num_segments": encoding::sms_segments(text).to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": sid,
        "status": if service.is_some() { "accepted" } else { "queued" },
        "subresource_uris": {"media": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media.json")},
        "to": to,
        "uri": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json"),
    }))
}

async fn calls(
    State(state): State<Twilio>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let checked = call_resource(&state, &account, &headers, &body);
    create(&state, checked).await
}

fn call_resource(
    state: &Twilio,
    account: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, Refusal> {
    const ALLOWED: &[&str] = &[
        "To",
        "From",
        "Twiml",
        "Url",
        "ApplicationSid",
        "Timeout",
        "StatusCallback",
    ];
    let form = check_envelope(state, headers, body, ALLOWED)?;
    if account != ACCOUNT_SID {
        return Err(Refusal::not_found(&format!(
            "/2010-04-01/Accounts/{account}/Calls.json"
        )));
    }
    let to = check_to(&form)?;
    let from = match field(&form, "From") {
        Some(from) if is_e164(from) => from,
        Some(from) => {
            return Err(Refusal::malformed(format!(
                "From {from} is not an E.164 number"
            )))
        }
        None => return Err(Refusal::malformed("From is required for a call")),
    };
    let instructions = ["Url", "Twiml", "ApplicationSid"]
        .iter()
        .filter(|n| field(&form, n).is_some())
        .count();
    if instructions != 1 {
        return Err(Refusal::malformed(
            "send exactly one of Url, Twiml, ApplicationSid",
        ));
    }
    if let Some(twiml) = field(&form, "Twiml") {
        if twiml.chars().count() > 4000 {
            return Err(Refusal::malformed("Twiml is longer than 4000 characters"));
        }
        if encoding::xml_text(twiml, &["Response", "Say"]).is_none() {
            return Err(Refusal::malformed(
                "Twiml is not a well-formed <Response> with a <Say>",
            ));
        }
    }
    let sid = state.next_sid("CA");
    Ok(json!({
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "date_created": null,
        "direction": "outbound-api",
        "from": from,
        "from_formatted": from,
        "parent_call_sid": null,
        "sid": sid,
        "status": "queued",
        "to": to,
        "to_formatted": to,
        "uri": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json"),
    }))
}

async fn verifications(
    State(state): State<Twilio>,
    Path(service): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let checked = verification_resource(&state, &service, &headers, &body);
    create(&state, checked).await
}

fn verification_resource(
    state: &Twilio,
    service: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, Refusal> {
    const ALLOWED: &[&str] = &[
        "To",
        "Channel",
        "CustomCode",
        "Locale",
        "CustomFriendlyName",
        "TemplateSid",
        "AppHash",
        "DeviceIp",
    ];
    let form = check_envelope(state, headers, body, ALLOWED)?;
    if service != VERIFY_SID {
        return Err(Refusal::not_found(&format!(
            "/Services/{service}/Verifications"
        )));
    }
    let to = check_to(&form)?;
    let channel = match field(&form, "Channel") {
        Some(c @ ("sms" | "call" | "email" | "whatsapp" | "sna" | "auto")) => c.to_owned(),
        other => {
            return Err(Refusal::new(
                400,
                60200,
                format!("Invalid parameter: Channel {other:?}"),
            ))
        }
    };
    if let Some(code) = field(&form, "CustomCode") {
        if !(4..=10).contains(&code.chars().count()) {
            return Err(Refusal::new(400, 60200, "Invalid parameter: CustomCode"));
        }
    }
    let sid = state.next_sid("VE");
    Ok(json!({
        "sid": sid,
        "service_sid": VERIFY_SID,
        "account_sid": ACCOUNT_SID,
        "to": to,
        "channel": channel,
        "status": "pending",
        "valid": false,
        "lookup": {},
        "amount": null,
        "payee": null,
        "send_code_attempts": [{"time": "2015-07-30T20:00:00Z", "channel": channel, "attempt_sid": state.next_sid("VL")}],
        "date_created": "2015-07-30T20:00:00Z",
        "date_updated": "2015-07-30T20:00:00Z",
        "sna": null,
        "url": format!("https://verify.twilio.com/v2/Services/{VERIFY_SID}/Verifications/{sid}"),
    }))
}

/// The scenario's answer to a well-formed request for `resource`.
async fn answer(state: &Twilio, resource: Value) -> Response {
    match state.scenario() {
        Scenario::Created => (StatusCode::CREATED, axum::Json(resource)).into_response(),
        Scenario::InvalidNumber => {
            let to = resource["to"].as_str().unwrap_or_default();
            Refusal::new(
                400,
                21211,
                format!("The 'To' number {to} is not a valid phone number."),
            )
            .into_response()
        }
        Scenario::Unsubscribed => {
            Refusal::new(400, 21610, "Attempt to send to unsubscribed recipient").into_response()
        }
        Scenario::BadCredentials => Refusal::authenticate().into_response(),
        Scenario::RateLimited(secs) => {
            let refusal = Refusal::new(429, 20429, "Too Many Requests").into_response();
            let mut response = retry_after(refusal, secs);
            response.headers_mut().insert(
                "twilio-reached-rate-limit",
                "true".parse().expect("header value"),
            );
            response
        }
        Scenario::ServerError => {
            Refusal::new(500, 20500, "An internal server error has occurred").into_response()
        }
        Scenario::NotJson => (
            StatusCode::CREATED,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>Created</body></html>",
        )
            .into_response(),
        Scenario::Empty => (
            StatusCode::CREATED,
            [(header::CONTENT_TYPE, "application/json")],
            "",
        )
            .into_response(),
        Scenario::NoSid => {
            let mut body = resource;
            if let Some(map) = body.as_object_mut() {
                map.remove("sid");
            }
            (StatusCode::CREATED, axum::Json(body)).into_response()
        }
        Scenario::Hang => hang().await,
        Scenario::Oversized => {
            let mut body = resource;
            body["padding"] = json!(oversized_filler());
            (StatusCode::CREATED, axum::Json(body)).into_response()
        }
    }
}
