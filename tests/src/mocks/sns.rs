//! Loopback mock of Amazon SNS's Query API, `Publish` to a phone number.
//!
//! It checks what SNS checks: `POST /` with
//! `Content-Type: application/x-www-form-urlencoded; charset=utf-8`, an
//! `X-Amz-Date` within 15 minutes of now, and an `AWS4-HMAC-SHA256`
//! `Authorization` header whose credential scope is `{date}/{region}/sns/
//! aws4_request` and whose signature it **recomputes** from the request it
//! received (with the plugin's own `sigv4` module, itself checked against AWS's
//! test suite and botocore). An unknown access key gets SNS's 403
//! `InvalidClientTokenId`, a wrong signature its 403 `SignatureDoesNotMatch`.
//! The body must be `Action=Publish&Version=2010-03-31&PhoneNumber=+E.164
//! &Message=...` plus well-formed `MessageAttributes.entry.N.*` with the SMS
//! attributes SNS documents; anything else gets a 400 `InvalidParameter`
//! whose message starts with `mock:`, so a failing test says what was wrong.
//!
//! Answers are SNS's own XML: `PublishResponse` or `ErrorResponse`. The test
//! picks what a well-formed, authenticated request gets with [`Sns::set`].

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use phonehook_plugin_api::{date, encoding};
use phonehook_plugin_sns::sigv4;

use super::scenario::{hang, oversized_filler, retry_after, Counter, Switch};

/// The access key id the mock accepts by default (AWS's documentation example).
pub const ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
/// Its secret access key.
pub const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// The region the mock serves by default.
pub const REGION: &str = "us-east-1";
/// The exact content type SNS's Query API is sent with.
pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

const XMLNS: &str = "http://sns.amazonaws.com/doc/2010-03-31/";
/// How far `X-Amz-Date` may be from the mock's clock, as AWS allows.
const MAX_SKEW_MS: i64 = 15 * 60 * 1000;

/// What the mock answers to a well-formed, authenticated request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// `200` with a `PublishResponse` and a fresh `MessageId`.
    Published,
    /// `400` `InvalidParameter` (Sender): the number cannot be published to.
    InvalidParameter,
    /// `403` `AuthorizationError`: the identity may not `SNS:Publish`.
    AuthorizationError,
    /// `400` `Throttling`: the account's request rate was exceeded.
    Throttling,
    /// `429` `Throttled` with `Retry-After` in seconds.
    Throttled(u32),
    /// `500` `InternalError` (Receiver).
    InternalError,
    /// `200` with a body that is not XML.
    NotXml,
    /// `200` with an empty body.
    Empty,
    /// `200` with a `PublishResponse` that has no `MessageId`.
    NoMessageId,
    /// Never answers.
    Hang,
    /// `200` with a body over the contract's reply cap (`oversized_filler`).
    Oversized,
}

/// The mock's state: the credentials and region it accepts and the current
/// scenario.
#[derive(Clone)]
pub struct Sns {
    scenario: Switch<Scenario>,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    region: String,
    counter: Counter,
}

impl Default for Sns {
    fn default() -> Self {
        Self::new()
    }
}

impl Sns {
    /// Accepts [`ACCESS_KEY_ID`] / [`SECRET_ACCESS_KEY`] in [`REGION`], no
    /// session token, and answers [`Scenario::Published`].
    pub fn new() -> Self {
        Sns {
            scenario: Switch::new(Scenario::Published),
            access_key_id: ACCESS_KEY_ID.to_owned(),
            secret_access_key: SECRET_ACCESS_KEY.to_owned(),
            session_token: None,
            region: REGION.to_owned(),
            counter: Counter::default(),
        }
    }

    /// Accepts only temporary credentials carrying this session token.
    pub fn with_session_token(mut self, token: &str) -> Self {
        self.session_token = Some(token.to_owned());
        self
    }

    /// Serves another region (the credential scope must name it).
    pub fn with_region(mut self, region: &str) -> Self {
        self.region = region.to_owned();
        self
    }

    /// Sets what the next requests get.
    pub fn set(&self, scenario: Scenario) {
        self.scenario.set(scenario);
    }

    fn scenario(&self) -> Scenario {
        self.scenario.get()
    }

    fn next_id(&self) -> String {
        let n = self.counter.next();
        format!("94f20ce6-13c5-43a0-9a9e-{n:012x}")
    }
}

/// The mock's routes, sharing `state` (keep a clone to change the scenario).
pub fn router(state: Sns) -> Router {
    Router::new()
        .route("/", any(publish))
        .fallback(not_found)
        .with_state(state)
}

/// SNS's error envelope.
pub fn error_body(kind: &str, code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"{XMLNS}\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{code}</Code>\n    \
         <Message>{}</Message>\n  </Error>\n  <RequestId>8c4c8aa7-436b-5b46-91d5-c0a339158557</RequestId>\n</ErrorResponse>\n",
        encoding::xml_escape(message)
    )
}

fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/xml"),
            (
                header::HeaderName::from_static("x-amzn-requestid"),
                "8c4c8aa7-436b-5b46-91d5-c0a339158557",
            ),
        ],
        body,
    )
        .into_response()
}

fn error(status: u16, code: &str, message: &str) -> Response {
    let kind = if status >= 500 { "Receiver" } else { "Sender" };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    xml(status, error_body(kind, code, message))
}

fn invalid(message: &str) -> Response {
    error(400, "InvalidParameter", &format!("mock: {message}"))
}

fn signature_does_not_match(detail: &str) -> Response {
    error(
        403,
        "SignatureDoesNotMatch",
        &format!(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service documentation for details. ({detail})"
        ),
    )
}

fn invalid_client_token() -> Response {
    error(
        403,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    )
}

async fn not_found(uri: Uri) -> Response {
    error(
        404,
        "NotFound",
        &format!(
            "mock: no resource at {}; SNS's Query API is served at /",
            uri.path()
        ),
    )
}

/// A check's outcome: `Err` holds SNS's refusal (boxed: a response is large).
type Checked<T> = Result<T, Box<Response>>;

fn refuse<T>(response: Response) -> Checked<T> {
    Err(Box::new(response))
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Checks the signature the way SNS does; `Err` is SNS's refusal.
fn authenticate(
    state: &Sns,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Checked<()> {
    let Some(authorization) = header_str(headers, "authorization") else {
        return refuse(error(
            403,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        ));
    };
    let Some(auth) = sigv4::Authorization::parse(authorization) else {
        return refuse(error(
            400,
            "IncompleteSignature",
            &format!("mock: malformed Authorization header `{authorization}`"),
        ));
    };
    let Some(amz_date) = header_str(headers, "x-amz-date") else {
        return refuse(error(
            400,
            "IncompleteSignature",
            "mock: the X-Amz-Date header is missing",
        ));
    };
    let now = now_ms();
    if amz_date.len() != 16
        || amz_date < date::iso_basic(now - MAX_SKEW_MS).as_str()
        || amz_date > date::iso_basic(now + MAX_SKEW_MS).as_str()
    {
        return refuse(signature_does_not_match(&format!(
            "Signature expired or not yet valid: {amz_date}"
        )));
    }
    if auth.access_key_id != state.access_key_id {
        return refuse(invalid_client_token());
    }
    let token = header_str(headers, "x-amz-security-token");
    if token != state.session_token.as_deref() {
        return refuse(invalid_client_token());
    }
    let expected_scope = sigv4::Scope::new(amz_date, &state.region, "sns");
    if auth.scope != expected_scope {
        return refuse(signature_does_not_match(&format!(
            "credential scope should be {expected_scope}"
        )));
    }
    let mut required = vec!["content-type", "host", "x-amz-date"];
    if token.is_some() {
        required.push("x-amz-security-token");
    }
    if let Some(missing) = required
        .iter()
        .find(|r| !auth.signed_headers.iter().any(|s| s == *r))
    {
        return refuse(signature_does_not_match(&format!(
            "header `{missing}` must be signed"
        )));
    }
    let mut signed: Vec<(&str, &str)> = Vec::new();
    for name in &auth.signed_headers {
        let values: Vec<&str> = headers
            .get_all(name.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return refuse(signature_does_not_match(&format!(
                "signed header `{name}` is not in the request"
            )));
        }
        signed.extend(values.into_iter().map(|v| (name.as_str(), v)));
    }
    let request = sigv4::Request {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or_default(),
        headers: &signed,
        payload: body,
    };
    let credentials = sigv4::Credentials {
        access_key_id: &state.access_key_id,
        secret_access_key: &state.secret_access_key,
    };
    let expected = sigv4::sign(&request, &credentials, amz_date, &state.region, "sns");
    if expected.signature != auth.signature {
        return refuse(signature_does_not_match("signature mismatch"));
    }
    Ok(())
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

/// The SMS attributes SNS documents, with the values each accepts.
fn check_attribute(name: &str, value: &str) -> Checked<()> {
    match name {
        "AWS.SNS.SMS.SMSType" if matches!(value, "Transactional" | "Promotional") => Ok(()),
        "AWS.SNS.SMS.SMSType" => refuse(error(
            400,
            "ParameterValueInvalid",
            &format!("Invalid SMS type {value}"),
        )),
        "AWS.SNS.SMS.SenderID"
        | "AWS.MM.SMS.OriginationNumber"
        | "AWS.SNS.SMS.MaxPrice"
        | "AWS.MM.SMS.EntityId"
        | "AWS.MM.SMS.TemplateId" => Ok(()),
        other => refuse(invalid(&format!("unexpected message attribute `{other}`"))),
    }
}

/// `MessageAttributes.entry.N.{Name,Value.DataType,Value.StringValue}`,
/// numbered from 1 without gaps; returns the (name, value) pairs.
fn check_attributes(form: &[(String, String)]) -> Checked<Vec<(String, String)>> {
    let mut attributes = Vec::new();
    for n in 1.. {
        let prefix = format!("MessageAttributes.entry.{n}");
        let Some(name) = field(form, &format!("{prefix}.Name")) else {
            break;
        };
        if field(form, &format!("{prefix}.Value.DataType")) != Some("String") {
            return refuse(invalid(&format!("{prefix}.Value.DataType must be String")));
        }
        let Some(value) = field(form, &format!("{prefix}.Value.StringValue")) else {
            return refuse(invalid(&format!("{prefix}.Value.StringValue is missing")));
        };
        check_attribute(name, value)?;
        attributes.push((name.to_owned(), value.to_owned()));
    }
    let entries = form
        .iter()
        .filter(|(k, _)| k.starts_with("MessageAttributes."))
        .count();
    if entries != 3 * attributes.len() {
        return refuse(invalid("MessageAttributes entries must be numbered from 1, each with Name, Value.DataType and Value.StringValue"));
    }
    Ok(attributes)
}

fn check_form(form: &[(String, String)]) -> Checked<()> {
    for (name, _) in form {
        if form.iter().filter(|(n, _)| n == name).count() > 1 {
            return refuse(invalid(&format!("parameter `{name}` sent twice")));
        }
        let known = matches!(
            name.as_str(),
            "Action" | "Version" | "PhoneNumber" | "Message"
        ) || name.starts_with("MessageAttributes.entry.");
        if !known {
            return refuse(invalid(&format!("unexpected parameter `{name}`")));
        }
    }
    match field(form, "Action") {
        Some("Publish") => {}
        None => return refuse(error(400, "MissingAction", "Missing Action")),
        Some(other) => {
            return refuse(error(
                400,
                "InvalidAction",
                &format!("Could not find operation {other} for version 2010-03-31"),
            ))
        }
    }
    if field(form, "Version") != Some("2010-03-31") {
        return refuse(invalid("Version must be 2010-03-31"));
    }
    match field(form, "PhoneNumber") {
        Some(number) if is_e164(number) => {}
        other => {
            return refuse(error(
                400,
                "InvalidParameter",
                &format!(
                    "Invalid parameter: PhoneNumber Reason: {other:?} is not valid to publish to"
                ),
            ))
        }
    }
    match field(form, "Message") {
        Some(text) if !text.is_empty() && text.len() <= 1600 => {}
        _ => {
            return refuse(error(
                400,
                "InvalidParameter",
                "Invalid parameter: Message too long or empty",
            ))
        }
    }
    check_attributes(form)?;
    Ok(())
}

async fn publish(
    State(state): State<Sns>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return invalid(&format!("Publish is sent with POST, not {method}"));
    }
    let content_type = header_str(&headers, "content-type").unwrap_or_default();
    if content_type != CONTENT_TYPE {
        return invalid(&format!(
            "Content-Type must be `{CONTENT_TYPE}`, not `{content_type}`"
        ));
    }
    if let Err(refusal) = authenticate(&state, &method, &uri, &headers, &body) {
        return *refusal;
    }
    let form = encoding::form_decode(&body);
    if let Err(refusal) = check_form(&form) {
        return *refusal;
    }
    answer(&state, field(&form, "PhoneNumber").unwrap_or_default()).await
}

fn published(message_id: Option<&str>) -> String {
    let id = message_id
        .map(|id| format!("\n    <MessageId>{id}</MessageId>"))
        .unwrap_or_default();
    format!(
        "<PublishResponse xmlns=\"{XMLNS}\">\n  <PublishResult>{id}\n  </PublishResult>\n  <ResponseMetadata>\n    \
         <RequestId>f187a3c1-376f-11df-8963-01868b7c937a</RequestId>\n  </ResponseMetadata>\n</PublishResponse>\n"
    )
}

/// The scenario's answer to a well-formed, authenticated publish to `number`.
async fn answer(state: &Sns, number: &str) -> Response {
    match state.scenario() {
        Scenario::Published => xml(StatusCode::OK, published(Some(&state.next_id()))),
        Scenario::InvalidParameter => error(
            400,
            "InvalidParameter",
            &format!("Invalid parameter: PhoneNumber Reason: {number} is not valid to publish to"),
        ),
        Scenario::AuthorizationError => error(
            403,
            "AuthorizationError",
            "User: arn:aws:iam::123456789012:user/phonehook is not authorized to perform: SNS:Publish on resource: +14155550100 because no identity-based policy allows the SNS:Publish action",
        ),
        Scenario::Throttling => error(400, "Throttling", "Rate exceeded"),
        Scenario::Throttled(secs) => retry_after(error(429, "Throttled", "Request is throttled."), secs),
        Scenario::InternalError => error(500, "InternalError", "An internal service error has occurred."),
        Scenario::NotXml => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "Message accepted").into_response(),
        Scenario::Empty => (StatusCode::OK, [(header::CONTENT_TYPE, "text/xml")], "").into_response(),
        Scenario::NoMessageId => xml(StatusCode::OK, published(None)),
        Scenario::Hang => hang().await,
        Scenario::Oversized => {
            let padding = oversized_filler();
            let body = published(Some(&state.next_id())).replace("</PublishResponse>", &format!("<!-- {padding} --></PublishResponse>"));
            xml(StatusCode::OK, body)
        }
    }
}
