//! Loopback mock of Vonage: the SMS API (`POST /sms/json`) and the Voice API's
//! create-call (`POST /v1/calls`) on one server, so one `base_url` serves both.
//!
//! It checks what Vonage checks and answers as Vonage does:
//! - SMS: credentials by Basic auth (or `api_key`/`api_secret` fields), a form
//!   or JSON body, `from`, `to` (digits, `\d{7,15}`) and `text`. Like the real
//!   API it answers **HTTP 200 even on failure**: a bad key or secret gets
//!   `status: "4"`, a missing or bad parameter `"2"`/`"3"`, each entry of
//!   `messages` standing for one SMS segment.
//! - Voice: `Authorization: Bearer <JWT>`, whose RS256 signature is verified
//!   against the test public key and whose claims (`application_id`, `iat`,
//!   `exp`, `jti`) are checked; a JSON body with `to`, `from` and an NCCO whose
//!   first action is `talk`. Refusals are RFC 7807 problem documents.
//!
//! Anything the mock finds malformed gets an error whose text starts with
//! `mock:`, so a failing test says what was wrong. The test picks what a
//! well-formed request gets with [`Vonage::set`].

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use phonehook_plugin_api::encoding;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::sha2::Sha256;
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use serde_json::{json, Map, Value};

use super::scenario::{hang, oversized_filler, proxy_unavailable, retry_after, Counter, Switch};

/// The API key the mock accepts.
pub const API_KEY: &str = "a1b2c3d4";
/// Its secret.
pub const API_SECRET: &str = "Xy7Sec0ndF4ct0r9";
/// The Voice application the mock knows.
pub const APPLICATION_ID: &str = "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab";
/// The application's private key (test-only; PKCS#8 PEM).
pub const PRIVATE_KEY: &str = include_str!("../../fixtures-data/vonage-test-key.pem");
/// Its public key, which the mock verifies JWTs with.
pub const PUBLIC_KEY: &str = include_str!("../../fixtures-data/vonage-test-key.pub.pem");
/// A Vonage number to send from (digits, as Vonage writes numbers).
pub const FROM: &str = "14155550199";

/// What the mock answers to a well-formed, authenticated request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// SMS: 200, one `status: "0"` entry per segment. Voice: 201, call started.
    Accepted,
    /// SMS: 200 where every entry has this status and `error-text`.
    SmsStatus(u32, String),
    /// SMS: 200 where the first segment went out and a second one failed.
    SmsPartFailed(u32, String),
    /// An RFC 7807 problem document with this HTTP status, `type` fragment
    /// and title (Voice's error format).
    Problem(u16, String, String),
    /// 429 with `Retry-After` in seconds and a problem document.
    RateLimited(u32),
    /// 503 with an HTML page, as from a proxy in front of Vonage.
    Unavailable,
    /// 200 / 201 with a body that is not JSON.
    NotJson,
    /// 200 / 201 with an empty body.
    Empty,
    /// Never answers.
    Hang,
    /// 200 / 201 with a body over the contract's reply cap (`oversized_filler`).
    Oversized,
}

/// The mock's state: the current scenario and id counters.
#[derive(Clone)]
pub struct Vonage {
    scenario: Switch<Scenario>,
    public_key: Arc<RsaPublicKey>,
    counter: Counter,
}

impl Default for Vonage {
    fn default() -> Self {
        Self::new()
    }
}

impl Vonage {
    /// Accepts [`API_KEY`]:[`API_SECRET`] and JWTs for [`APPLICATION_ID`]
    /// signed with [`PRIVATE_KEY`]; answers [`Scenario::Accepted`].
    pub fn new() -> Self {
        Vonage {
            scenario: Switch::new(Scenario::Accepted),
            public_key: Arc::new(
                RsaPublicKey::from_public_key_pem(PUBLIC_KEY).expect("test public key"),
            ),
            counter: Counter::default(),
        }
    }

    /// Sets what the next requests get.
    pub fn set(&self, scenario: Scenario) {
        self.scenario.set(scenario);
    }

    fn scenario(&self) -> Scenario {
        self.scenario.get()
    }

    fn next(&self) -> u64 {
        self.counter.next()
    }
}

/// The mock's routes, sharing `state` (keep a clone to change the scenario).
pub fn router(state: Vonage) -> Router {
    Router::new()
        .route("/sms/json", post(sms))
        .route("/v1/calls", post(calls))
        .fallback(not_found)
        .with_state(state)
}

/// An RFC 7807 problem document as Vonage writes it.
pub fn problem_body(kind: &str, title: &str, detail: &str) -> Value {
    json!({
        "type": format!("https://developer.nexmo.com/api-errors#{kind}"),
        "title": title,
        "detail": detail,
        "instance": "bf0ca0bf927b3b52e3cb03217e1a1ddf",
    })
}

fn problem(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

async fn not_found() -> Response {
    problem(
        404,
        problem_body("not-found", "Not Found", "mock: no such route"),
    )
}

/// Answers for the scenarios both APIs share; `None` for the API-specific ones.
async fn common(scenario: &Scenario, ok: StatusCode) -> Option<Response> {
    let response = match scenario {
        Scenario::Problem(status, kind, title) => problem(
            *status,
            problem_body(kind, title, "The request failed (mock scenario)."),
        ),
        Scenario::RateLimited(secs) => retry_after(
            problem(
                429,
                problem_body(
                    "throttled",
                    "Too Many Requests",
                    "Rate limit hit (mock scenario).",
                ),
            ),
            *secs,
        ),
        Scenario::Unavailable => proxy_unavailable(),
        Scenario::NotJson => (
            ok,
            [(header::CONTENT_TYPE, "text/html")],
            "<html>Gateway login</html>",
        )
            .into_response(),
        Scenario::Empty => (ok, [(header::CONTENT_TYPE, "application/json")], "").into_response(),
        Scenario::Hang => hang().await,
        Scenario::Oversized => {
            let body = json!({"padding": oversized_filler()});
            (
                ok,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
        Scenario::Accepted | Scenario::SmsStatus(..) | Scenario::SmsPartFailed(..) => return None,
    };
    Some(response)
}

// ---------------------------------------------------------------- SMS API

/// Parameters the SMS API documents; anything else is a misspelling.
const SMS_FIELDS: &[&str] = &[
    "api_key",
    "api_secret",
    "sig",
    "timestamp",
    "from",
    "to",
    "text",
    "type",
    "ttl",
    "status-report-req",
    "callback",
    "message-class",
    "client-ref",
    "udh",
    "protocol-id",
    "body",
    "title",
    "url",
    "validity",
    "account-ref",
    "entity-id",
    "content-id",
    "trusted-number",
];

fn sms_reply(entries: Vec<Value>) -> Response {
    let body = json!({"message-count": entries.len().to_string(), "messages": entries});
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn sms_failure(status: u32, text: &str) -> Response {
    sms_reply(vec![
        json!({"status": status.to_string(), "error-text": text}),
    ])
}

/// The body's fields, from a form or a JSON object (the Node SDK sends JSON).
fn sms_fields(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/x-www-form-urlencoded") {
        return Ok(encoding::form_decode(body));
    }
    if content_type.starts_with("application/json") {
        let object: Map<String, Value> = serde_json::from_slice(body)
            .map_err(|e| format!("mock: body is not a JSON object: {e}"))?;
        return Ok(object
            .into_iter()
            .map(|(k, v)| {
                let v = v
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string());
                (k, v)
            })
            .collect());
    }
    Err(format!("mock: unsupported content type `{content_type}`"))
}

/// Basic auth, or key and secret among the fields.
fn sms_credentials_ok(headers: &HeaderMap, fields: &[(String, String)]) -> bool {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(basic) = basic {
        return basic == encoding::basic_auth(API_KEY, API_SECRET);
    }
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    field("api_key") == Some(API_KEY) && field("api_secret") == Some(API_SECRET)
}

async fn sms(State(state): State<Vonage>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = match sms_fields(&headers, &body) {
        Ok(fields) => fields,
        Err(why) => return sms_failure(3, &why),
    };
    if !sms_credentials_ok(&headers, &fields) {
        return sms_failure(4, "Bad Credentials");
    }
    if let Some((name, _)) = fields
        .iter()
        .find(|(k, _)| !SMS_FIELDS.contains(&k.as_str()))
    {
        return sms_failure(3, &format!("mock: unknown parameter `{name}`"));
    }
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some(from), Some(to), Some(text)) = (field("from"), field("to"), field("text")) else {
        return sms_failure(2, "Missing from, to or text param");
    };
    if from.trim().is_empty() || text.is_empty() {
        return sms_failure(2, "Missing from or text param");
    }
    let to_ok = (7..=15).contains(&to.len()) && to.bytes().all(|b| b.is_ascii_digit());
    if !to_ok {
        return sms_failure(
            3,
            &format!("mock: invalid `to` {to:?}: digits only, no `+`"),
        );
    }
    if let Some(kind) = field("type").filter(|t| !matches!(*t, "text" | "unicode")) {
        return sms_failure(3, &format!("mock: unexpected `type` {kind:?}"));
    }
    let scenario = state.scenario();
    if let Some(response) = common(&scenario, StatusCode::OK).await {
        return response;
    }
    let ok_entry = |state: &Vonage| {
        json!({
            "to": to,
            "message-id": format!("0A{:015X}", state.next()),
            "status": "0",
            "remaining-balance": "3.14159265",
            "message-price": "0.03330000",
            "network": "12345",
        })
    };
    match scenario {
        Scenario::SmsStatus(status, text) => sms_failure(status, &text),
        Scenario::SmsPartFailed(status, text) => sms_reply(vec![
            ok_entry(&state),
            json!({"to": to, "status": status.to_string(), "error-text": text}),
        ]),
        _ => {
            let segments = encoding::sms_segments(text).max(1);
            sms_reply((0..segments).map(|_| ok_entry(&state)).collect())
        }
    }
}

// ---------------------------------------------------------------- Voice API

fn unauthorized(why: &str) -> Response {
    problem(
        401,
        problem_body(
            "unauthorized",
            "Invalid credentials supplied",
            &format!("mock: {why}"),
        ),
    )
}

fn bad_request(name: &str, reason: &str) -> Response {
    let mut body = problem_body(
        "bad-request",
        "Bad Request",
        "mock: the request failed validation",
    );
    body["invalid_parameters"] = json!([{"name": name, "reason": reason}]);
    problem(400, body)
}

/// Verifies the bearer JWT: RS256 signature by the test key, Vonage's claims.
fn verify_jwt(state: &Vonage, headers: &HeaderMap) -> Result<(), String> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("no Authorization header")?;
    let token = auth
        .strip_prefix("Bearer ")
        .ok_or("Authorization is not `Bearer <JWT>`")?;
    let parts: Vec<&str> = token.split('.').collect();
    let [head, claims, signature] = parts.as_slice() else {
        return Err("the token is not header.claims.signature".into());
    };
    let header: Value = encoding::base64url_decode(head)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("the JWT header is not base64url JSON")?;
    if header["alg"] != "RS256" {
        return Err(format!("JWT alg is {}, not RS256", header["alg"]));
    }
    let signature = encoding::base64url_decode(signature)
        .and_then(|b| Signature::try_from(b.as_slice()).ok())
        .ok_or("the JWT signature is not base64url")?;
    VerifyingKey::<Sha256>::new((*state.public_key).clone())
        .verify(format!("{head}.{claims}").as_bytes(), &signature)
        .map_err(|_| "the JWT signature does not verify with the application's public key")?;
    let claims: Value = encoding::base64url_decode(claims)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("the JWT claims are not base64url JSON")?;
    check_claims(&claims)
}

fn check_claims(claims: &Value) -> Result<(), String> {
    if claims["application_id"] != APPLICATION_ID {
        return Err(format!("application_id is {}", claims["application_id"]));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let iat = claims["iat"].as_i64().ok_or("iat is not an integer")?;
    let exp = claims["exp"].as_i64().ok_or("exp is not an integer")?;
    if (iat - now).abs() > 300 {
        return Err(format!("iat {iat} is not the current time {now}"));
    }
    if exp <= now || exp <= iat || exp - iat > 24 * 3600 {
        return Err(format!("exp {exp} is not a short time after iat {iat}"));
    }
    if claims["jti"].as_str().is_none_or(str::is_empty) {
        return Err("jti is missing".into());
    }
    Ok(())
}

fn phone_endpoint(value: &Value) -> Result<&str, &'static str> {
    if value["type"] != "phone" {
        return Err("must have type `phone`");
    }
    let number = value["number"]
        .as_str()
        .ok_or("must have a string `number`")?;
    let ok = (7..=15).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_digit());
    ok.then_some(number)
        .ok_or("number must be digits only, no `+`")
}

/// The create-call body's problems, as `(parameter, reason)`.
fn check_call(body: &Value) -> Result<(), (String, String)> {
    let fail = |name: &str, reason: &str| Err((name.to_owned(), reason.to_owned()));
    let Some(to) = body["to"].as_array().filter(|to| !to.is_empty()) else {
        return fail("to", "must be a non-empty array");
    };
    for (i, endpoint) in to.iter().enumerate() {
        if let Err(reason) = phone_endpoint(endpoint) {
            return fail(&format!("to[{i}]"), reason);
        }
    }
    if let Err(reason) = phone_endpoint(&body["from"]) {
        return fail("from", reason);
    }
    if body.get("answer_url").is_some() {
        return fail("answer_url", "mock: expected an inline ncco");
    }
    let Some(ncco) = body["ncco"].as_array().filter(|n| !n.is_empty()) else {
        return fail("ncco", "must be a non-empty array");
    };
    let talk = &ncco[0];
    if talk["action"] != "talk" {
        return fail("ncco[0].action", "mock: expected `talk`");
    }
    if talk["text"].as_str().is_none_or(|t| t.trim().is_empty()) {
        return fail("ncco[0].text", "must be a non-empty string");
    }
    if talk.get("language").is_some_and(|l| !l.is_string()) {
        return fail("ncco[0].language", "must be a string");
    }
    if talk.get("loop").is_some_and(|l| !l.is_u64()) {
        return fail("ncco[0].loop", "must be an integer");
    }
    Ok(())
}

async fn calls(State(state): State<Vonage>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(why) = verify_jwt(&state, &headers) {
        return unauthorized(&why);
    }
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !json_body {
        return problem(
            415,
            problem_body(
                "unsupported-media-type",
                "Unsupported Media Type",
                "mock: send JSON",
            ),
        );
    }
    let Ok(call) = serde_json::from_slice::<Value>(&body) else {
        return problem(
            400,
            problem_body("invalid-json", "Invalid JSON", "mock: the body is not JSON"),
        );
    };
    if let Err((name, reason)) = check_call(&call) {
        return bad_request(&name, &reason);
    }
    let scenario = state.scenario();
    if let Some(response) = common(&scenario, StatusCode::CREATED).await {
        return response;
    }
    let n = state.next();
    let body = json!({
        "uuid": format!("63f61863-4a51-4f6b-86e1-{n:012x}"),
        "status": "started",
        "direction": "outbound",
        "conversation_uuid": format!("CON-f972836a-550f-45fa-956c-{n:012x}"),
    });
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::SigningKey;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::{SignatureEncoding, Signer};
    use rsa::RsaPrivateKey;

    fn b64(bytes: &[u8]) -> String {
        encoding::base64url_encode(bytes)
    }

    fn token(claims: &Value) -> String {
        let key = RsaPrivateKey::from_pkcs8_pem(PRIVATE_KEY).unwrap();
        let input = format!(
            "{}.{}",
            b64(br#"{"alg":"RS256","typ":"JWT"}"#),
            b64(claims.to_string().as_bytes())
        );
        let signature = SigningKey::<Sha256>::new(key).sign(input.as_bytes());
        format!("{input}.{}", b64(&signature.to_bytes()))
    }

    fn headers(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        headers
    }

    #[test]
    fn jwt_signature_and_claims_are_verified() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let claims =
            json!({"application_id": APPLICATION_ID, "iat": now, "exp": now + 900, "jti": "j-1"});
        let state = Vonage::new();
        let good = token(&claims);
        assert_eq!(verify_jwt(&state, &headers(&good)), Ok(()));

        // Same signature, other claims: the signature no longer matches.
        let parts: Vec<&str> = good.split('.').collect();
        let forged_claims =
            json!({"application_id": APPLICATION_ID, "iat": now, "exp": now + 90000, "jti": "j-1"});
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64(forged_claims.to_string().as_bytes()),
            parts[2]
        );
        assert!(verify_jwt(&state, &headers(&forged))
            .unwrap_err()
            .contains("does not verify"));

        let stale = token(
            &json!({"application_id": APPLICATION_ID, "iat": now - 4000, "exp": now - 3100, "jti": "j"}),
        );
        assert!(verify_jwt(&state, &headers(&stale)).is_err());
        let no_jti =
            token(&json!({"application_id": APPLICATION_ID, "iat": now, "exp": now + 900}));
        assert!(verify_jwt(&state, &headers(&no_jti))
            .unwrap_err()
            .contains("jti"));
    }
}
