//! Loopback mock of TeleSign's Messaging (`POST /v1/messaging`) and Voice
//! (`POST /v1/voice`) APIs.
//!
//! Authentication is checked as TeleSign does it: for `TSA customer_id:signature`
//! the mock recomputes the HMAC-SHA256 signature from the request it received
//! (method, content type, `Date`, `x-ts-auth-method`, `x-ts-nonce`, raw body,
//! path) under the base64-decoded API key, checks that the date is within 15
//! minutes and the nonce unused; for `Basic` it compares customer id and key. A
//! failure gets TeleSign's 401 body: status 501 "Not authorized" with the
//! matching negative error code (-30000 customer id, -30006 signature, ...).
//! The body must be form-encoded with the documented fields only
//! (`phone_number` digits without `+`, `message`, `message_type`, and `voice`
//! on `/v1/voice`, optional `account_lifecycle_event`); a bad field gets a 400
//! with TeleSign's 11xxx/12xxx status code. Otherwise the [`Scenario`] decides.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use phonehook_plugin_api::{crypto, encoding};
use serde_json::{json, Value};

use super::scenario::{hang, retry_after, Counter, Switch};

/// A customer id the tests give the mock and the plugin.
pub const CUSTOMER_ID: &str = "FFFFFFFF-EEEE-DDDD-1234-AB1234567890";
/// Its API key: made up, base64 as TeleSign's portal shows keys.
pub const API_KEY: &str = "vZ2ab3mX0Zc1t6kQ8mJ2c0VtYmFyLWtleS1mb3ItcGhvbmVob29rLXRlc3Rz";

/// How the mock answers a well-formed, authenticated request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// 200 with status 290 "Message in progress" (103 "Call in progress" on voice).
    Accept,
    /// 400 with only a `status` (11000 invalid phone number).
    InvalidNumber,
    /// 200 whose status is a final refusal (230 blocked by TeleSign).
    Blocked,
    /// 429 with `Retry-After: N`.
    Throttled(u32),
    /// 503 with a status and an `errors` entry (-90001 system unavailable).
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

/// The mock's state: the credentials it accepts, the scenario and the nonces
/// seen; clones share all of it.
#[derive(Clone)]
pub struct Telesign {
    customer_id: Arc<str>,
    api_key: Arc<str>,
    scenario: Switch<Scenario>,
    nonces: Arc<Mutex<HashSet<String>>>,
    next_id: Counter,
}

impl Telesign {
    /// A mock that accepts this customer id and (base64) API key, answering
    /// [`Scenario::Accept`].
    pub fn new(customer_id: &str, api_key: &str) -> Self {
        Telesign {
            customer_id: customer_id.into(),
            api_key: api_key.into(),
            scenario: Switch::new(Scenario::Accept),
            nonces: Arc::new(Mutex::new(HashSet::new())),
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

    /// 32 hex digits, as TeleSign's reference ids are.
    fn reference_id(&self) -> String {
        let n = self.next_id.next();
        format!("35C8B5F9A1C44D0E{n:016X}")
    }

    /// Whether the nonce is fresh (and remembers it).
    fn fresh_nonce(&self, nonce: &str) -> bool {
        self.nonces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(nonce.to_owned())
    }
}

/// The router, to hand to [`crate::MockVendor::start`].
pub fn router(mock: Telesign) -> Router {
    Router::new()
        .route("/v1/messaging", post(messaging))
        .route("/v1/voice", post(voice))
        .fallback(|| async { status_reply(StatusCode::NOT_FOUND, 404, "Not Found", None) })
        .with_state(mock)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    Messaging,
    Voice,
}

async fn messaging(
    State(mock): State<Telesign>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(mock, Api::Messaging, uri.path(), headers, body).await
}

async fn voice(
    State(mock): State<Telesign>,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(mock, Api::Voice, uri.path(), headers, body).await
}

async fn handle(mock: Telesign, api: Api, path: &str, headers: HeaderMap, body: Bytes) -> Response {
    if let Err((code, description)) = authenticate(&mock, path, &headers, &body) {
        return not_authorized(code, description);
    }
    if let Err((code, description)) = check_fields(api, &headers, &body) {
        return status_reply(StatusCode::BAD_REQUEST, code, &description, None);
    }
    let reference_id = mock.reference_id();
    match mock.current() {
        Scenario::Accept => {
            let (code, description) = match api {
                Api::Messaging => (290, "Message in progress"),
                Api::Voice => (103, "Call in progress"),
            };
            let mut body = envelope(Some(&reference_id), code, description);
            if api == Api::Messaging {
                body["additional_info"] = json!({"message_parts_count": 1});
            } else {
                body["voice"] = json!({"caller_id": "12345678901"});
            }
            json_reply(StatusCode::OK, &body)
        }
        Scenario::InvalidNumber => status_reply(
            StatusCode::BAD_REQUEST,
            11000,
            "Invalid value for parameter phone_number.",
            Some(&reference_id),
        ),
        Scenario::Blocked => status_reply(
            StatusCode::OK,
            230,
            "Message blocked by TeleSign",
            Some(&reference_id),
        ),
        Scenario::Throttled(secs) => retry_after(
            status_reply(
                StatusCode::TOO_MANY_REQUESTS,
                10019,
                "Rate limit exceeded",
                None,
            ),
            secs,
        ),
        Scenario::Unavailable => {
            let mut body = envelope(None, 500, "Transaction not attempted");
            body["errors"] = json!([{"code": -90001, "description": "System Unavailable, please try again later."}]);
            json_reply(StatusCode::SERVICE_UNAVAILABLE, &body)
        }
        Scenario::NotJson => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<!DOCTYPE html><html><body>TeleSign</body></html>",
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
            let mut body = envelope(Some(&reference_id), 290, "Message in progress");
            body["filler"] = Value::String("x".repeat(size));
            json_reply(StatusCode::OK, &body)
        }
    }
}

fn header_value<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// TeleSign's authentication checks, in its order; the error code and text on failure.
fn authenticate(
    mock: &Telesign,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), (i64, &'static str)> {
    let authorization = header_value(headers, "authorization");
    if authorization.is_empty() {
        return Err((-30004, "Missing required 'Authorization' header"));
    }
    if let Some(basic) = authorization.strip_prefix("Basic ") {
        let decoded = encoding::base64_decode(basic).ok_or((
            -30005,
            "Required 'Authorization' header is not in the correct format",
        ))?;
        let decoded = String::from_utf8(decoded).map_err(|_| {
            (
                -30005,
                "Required 'Authorization' header is not in the correct format",
            )
        })?;
        let (customer, key) = decoded.split_once(':').ok_or((
            -30005,
            "Required 'Authorization' header is not in the correct format",
        ))?;
        if customer != &*mock.customer_id {
            return Err((-30000, "Invalid Customer ID."));
        }
        if key != &*mock.api_key {
            return Err((-30015, "Invalid API Key."));
        }
        return Ok(());
    }
    let (customer, signature) = authorization
        .strip_prefix("TSA ")
        .and_then(|rest| rest.split_once(':'))
        .ok_or((
            -30005,
            "Required 'Authorization' header is not in the correct format",
        ))?;
    if customer != &*mock.customer_id {
        return Err((-30000, "Invalid Customer ID."));
    }
    if header_value(headers, "x-ts-auth-method") != "HMAC-SHA256" {
        return Err((-30008, "Invalid 'x-ts-auth-method' header."));
    }
    let date = header_value(headers, "date");
    if date.is_empty() {
        return Err((-30007, "Missing required 'Date' or 'x-ts-date' header"));
    }
    let when = parse_http_date(date).ok_or((
        -30009,
        "'Date' or 'x-ts-date' header is not RFC822 compliant",
    ))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    if (now - when).abs() > 15 * 60 {
        return Err((
            -30010,
            "'Date' or 'x-ts-date' header is not within tolerable range",
        ));
    }
    let nonce = header_value(headers, "x-ts-nonce");
    if nonce.is_empty() || nonce.len() > 64 {
        return Err((
            -30011,
            "'x-ts-nonce' header value is either too long or too short",
        ));
    }
    let content_type = header_value(headers, "content-type");
    let body = String::from_utf8_lossy(body);
    let mut to_sign =
        format!("POST\n{content_type}\n{date}\nx-ts-auth-method:HMAC-SHA256\nx-ts-nonce:{nonce}");
    if !content_type.is_empty() && !body.is_empty() {
        to_sign.push('\n');
        to_sign.push_str(&body);
    }
    to_sign.push('\n');
    to_sign.push_str(path);
    let key = encoding::base64_decode(&mock.api_key).unwrap_or_default();
    if encoding::base64_encode(&crypto::hmac_sha256(&key, to_sign.as_bytes())) != signature {
        return Err((-30006, "Invalid Signature."));
    }
    if !mock.fresh_nonce(nonce) {
        return Err((-30012, "'x-ts-nonce' header value has been used recently"));
    }
    Ok(())
}

/// `Wed, 14 Dec 2016 18:20:12 GMT` as Unix seconds.
fn parse_http_date(text: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_weekday, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: i64 = day.parse().ok()?;
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

/// The documented form fields; TeleSign's status code and text for the first
/// deviation (answered with a 400).
fn check_fields(api: Api, headers: &HeaderMap, body: &[u8]) -> Result<(), (i64, String)> {
    let bad = |code: i64, description: &str| (code, description.to_owned());
    if header_value(headers, "content-type") != "application/x-www-form-urlencoded" {
        return Err(bad(12000, "Missing Required Parameter phone_number"));
    }
    let form = encoding::form_decode(body);
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut known = vec![
        "phone_number",
        "message",
        "message_type",
        "account_lifecycle_event",
    ];
    if api == Api::Voice {
        known.push("voice");
    }
    if let Some((name, _)) = form.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        // Not a TeleSign code: the mock refuses fields the plugin should not send.
        return Err(bad(11999, &format!("Unexpected parameter {name}")));
    }
    let phone = field("phone_number")
        .ok_or_else(|| bad(12000, "Missing Required Parameter phone_number"))?;
    if phone.is_empty() || !phone.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(11000, "Invalid value for parameter phone_number."));
    }
    let message =
        field("message").ok_or_else(|| bad(12009, "Missing Required Parameter message"))?;
    if message.is_empty() || message.chars().count() > 1600 {
        return Err(bad(11009, "Invalid value for parameter message."));
    }
    let message_type = field("message_type")
        .ok_or_else(|| bad(12017, "Missing Required Parameter message_type"))?;
    if !["OTP", "ARN", "MKT"].contains(&message_type) {
        return Err(bad(11017, "Invalid value for parameter message_type."));
    }
    if let Some(event) = field("account_lifecycle_event") {
        if !["create", "sign-in", "transact", "update", "delete"].contains(&event) {
            return Err(bad(
                11003,
                "Invalid value for parameter account_lifecycle_event",
            ));
        }
    }
    if let Some(voice) = field("voice") {
        let parts: Vec<&str> = voice.split('-').collect();
        let shaped = matches!(parts.as_slice(), ["f" | "m", lang, region] if lang.len() == 2 && region.len() == 2);
        if !shaped {
            // Not a TeleSign code (its voice errors are not documented).
            return Err(bad(11998, "Invalid value for parameter voice."));
        }
    }
    Ok(())
}

/// TeleSign's response envelope.
fn envelope(reference_id: Option<&str>, code: i64, description: &str) -> Value {
    let mut body = json!({"status": {"code": code, "description": description,
                                     "updated_on": "2024-01-01T00:00:00.000000Z"}});
    if let Some(id) = reference_id {
        body["reference_id"] = Value::String(id.to_owned());
    }
    body
}

fn status_reply(
    status: StatusCode,
    code: i64,
    description: &str,
    reference_id: Option<&str>,
) -> Response {
    json_reply(status, &envelope(reference_id, code, description))
}

/// TeleSign's 401: status 501 "Not authorized" and the specific error.
fn not_authorized(code: i64, description: &str) -> Response {
    let mut body = envelope(None, 501, "Not authorized");
    body["errors"] = json!([{"code": code, "description": description}]);
    json_reply(StatusCode::UNAUTHORIZED, &body)
}

fn json_reply(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
