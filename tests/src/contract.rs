//! The vendor contract: what every vendor plugin must do, through a real host,
//! when its vendor misbehaves — one table of vendors ([`rows`]) and one check
//! per fault ([`check_row`]), so a new vendor is one more row, not another copy
//! of the same tests (as Vector's `assert_sink_compliance` does for sinks).
//!
//! For each fault the host answers with a clear error naming the right code,
//! says whether a retry may help, leaks no secret, and the plugin's request
//! really reached the vendor's mock at the vendor's path; then the vendor heals
//! and the next message is delivered. Each row runs one mock and one host for
//! all faults.
//!
//! Faults come from each mock's own scenarios (so replies keep the vendor's
//! shape), except the two that are the same for every vendor, which a layer in
//! front of the mock makes out of the vendor's healthy reply: a dribbled body
//! and a proxy's error page.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};

use crate::mocks::scenario::{proxy_unavailable, Switch};
use crate::mocks::{esendex, infobip, sns, telesign, twilio, vonage, webhook};
use crate::{Host, HostBuilder, MockVendor};

/// What the vendor does wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Takes the request and never answers.
    Hang,
    /// Sends its healthy reply one byte at a time, slower than the deadline.
    Dribble,
    /// A success whose body is far over `vendor.max_reply_bytes`.
    Oversized,
    /// A success with an empty body.
    Empty,
    /// A success whose body is HTML (or plain text), not the vendor's format.
    NotJson,
    /// A proxy's HTML `503` page in front of the vendor.
    ErrorPage,
    /// The vendor's own `5xx` error.
    ServerError,
    /// `429` with `Retry-After`.
    RateLimited,
}

/// Every fault, in the order a row runs them.
pub const FAULTS: [Fault; 8] = [
    Fault::Hang,
    Fault::Dribble,
    Fault::Oversized,
    Fault::Empty,
    Fault::NotJson,
    Fault::ErrorPage,
    Fault::ServerError,
    Fault::RateLimited,
];

/// `vendor.timeout_ms` of every row's host.
pub const TIMEOUT_MS: u64 = 400;
/// `vendor.max_reply_bytes` of every row's host.
pub const MAX_REPLY_BYTES: i64 = 65_536;
/// The `Retry-After` every mock that takes one is given.
pub const RETRY_AFTER_SECS: u32 = 7;
/// How long a dribbled reply waits between bytes.
const DRIBBLE_PAUSE: Duration = Duration::from_millis(50);

/// A `vendor_error` the host must answer with (status 502, retryable).
#[derive(Clone, Copy, Debug)]
pub struct VendorError {
    /// `error.vendor_code`.
    pub vendor_code: &'static str,
    /// `error.vendor_status`.
    pub vendor_status: u16,
    /// Text `error.message` must contain, when the vendor's is worth checking.
    pub message: Option<&'static str>,
}

impl VendorError {
    /// What every plugin makes of [`Fault::ErrorPage`]: the HTTP status as the
    /// code, the page's text in the message.
    pub const PROXY_PAGE: VendorError =
        VendorError::new("503", 503).with_message("503 Service Unavailable");

    /// `vendor_code` with `vendor_status`, any message.
    pub const fn new(vendor_code: &'static str, vendor_status: u16) -> VendorError {
        VendorError {
            vendor_code,
            vendor_status,
            message: None,
        }
    }

    /// The message must contain `part`.
    pub const fn with_message(self, part: &'static str) -> VendorError {
        VendorError {
            message: Some(part),
            ..self
        }
    }
}

/// One message a row sends, and where its plugin must send it.
#[derive(Clone, Copy, Debug)]
pub struct Channel {
    /// `context.message_type`: `sms` or `voice`.
    pub message_type: &'static str,
    /// The recipient (some mocks accept only their country's numbers).
    pub recipient: &'static str,
    /// The path of the vendor's endpoint for it.
    pub path: &'static str,
}

impl Channel {
    const fn sms(recipient: &'static str, path: &'static str) -> Channel {
        Channel {
            message_type: "sms",
            recipient,
            path,
        }
    }

    const fn voice(recipient: &'static str, path: &'static str) -> Channel {
        Channel {
            message_type: "voice",
            recipient,
            path,
        }
    }

    fn payload(&self) -> Value {
        json!({
            "recipient": self.recipient,
            "text": "Your code is 123456",
            "context": {"message_type": self.message_type, "language": "en", "code": "123456",
                        "action": "second-factor-authentication"}
        })
    }
}

/// Sets a running mock's scenario: `None` is healthy, `Some(fault)` one of
/// the vendor-shaped faults (never [`Fault::Dribble`] or [`Fault::ErrorPage`],
/// which the contract layer makes).
pub type SetScenario = Box<dyn Fn(Option<Fault>) + Send + Sync>;

/// Which of a mock's own scenarios answers each vendor-shaped fault.
pub struct Scenarios<S> {
    /// A well-formed request is accepted.
    pub healthy: S,
    /// [`Fault::Hang`].
    pub hang: S,
    /// [`Fault::Oversized`].
    pub oversized: S,
    /// [`Fault::Empty`].
    pub empty: S,
    /// [`Fault::NotJson`].
    pub not_json: S,
    /// [`Fault::ServerError`].
    pub server_error: S,
    /// [`Fault::RateLimited`], with a `Retry-After` of [`Row::retry_after_secs`].
    pub rate_limited: S,
}

impl<S: Clone> Scenarios<S> {
    fn pick(&self, fault: Option<Fault>) -> S {
        match fault {
            // The contract layer makes these out of the healthy reply.
            None | Some(Fault::Dribble | Fault::ErrorPage) => &self.healthy,
            Some(Fault::Hang) => &self.hang,
            Some(Fault::Oversized) => &self.oversized,
            Some(Fault::Empty) => &self.empty,
            Some(Fault::NotJson) => &self.not_json,
            Some(Fault::ServerError) => &self.server_error,
            Some(Fault::RateLimited) => &self.rate_limited,
        }
        .clone()
    }
}

/// `mock`'s router, and a switch that sets its scenario from a fault.
pub fn switched<M, S>(
    mock: M,
    router: fn(M) -> Router,
    set: fn(&M, S),
    scenarios: Scenarios<S>,
) -> (Router, SetScenario)
where
    M: Clone + Send + Sync + 'static,
    S: Clone + Send + Sync + 'static,
{
    let app = router(mock.clone());
    (
        app,
        Box::new(move |fault| set(&mock, scenarios.pick(fault))),
    )
}

/// One vendor plugin: how to run its mock and point a host at it, and where it
/// legitimately differs from the others.
pub struct Row {
    /// Names the row in failures.
    pub label: &'static str,
    /// The plugin's manifest name (`active_plugin`, `error.plugin`).
    pub plugin: &'static str,
    /// The plugin's package.
    pub package: &'static str,
    /// The mock's router and the switch of its scenario.
    pub mock: fn() -> (Router, SetScenario),
    /// Settings and secrets for a host whose vendor is at `base_url`.
    pub configure: fn(HostBuilder, &str) -> HostBuilder,
    /// Secret values that must never appear in an answer.
    pub secrets: &'static [&'static str],
    /// The messages to send for every fault.
    pub channels: &'static [Channel],
    /// The answer to the vendor's own 5xx.
    pub server_error: VendorError,
    /// The answer to a 429, whose `Retry-After` is `retry_after_secs`.
    pub rate_limited: VendorError,
    /// The `Retry-After` the mock sends with its 429.
    pub retry_after_secs: u32,
}

impl Row {
    /// A host with this row's plugin active against a vendor at `base_url`,
    /// with the contract's vendor timeout and reply cap.
    pub fn host(&self, base_url: &str) -> HostBuilder {
        let builder = Host::builder()
            .plugin(self.package)
            .active(self.plugin)
            .config("vendor.timeout_ms", TIMEOUT_MS as i64)
            .config("vendor.max_reply_bytes", MAX_REPLY_BYTES);
        (self.configure)(builder, base_url)
    }
}

/// A host configured as `label`'s row, against a vendor at `base_url` (for
/// a vendor's own tests, which add or change settings).
pub fn host(label: &str, base_url: &str) -> HostBuilder {
    let rows = rows();
    let Some(row) = rows.iter().find(|r| r.label == label) else {
        panic!("no contract row labelled {label}");
    };
    row.host(base_url)
}

/// Asserts `answer` is a 502 `vendor_error` from `plugin` with this vendor
/// code and status and retryability, holding none of `secrets`; returns the
/// error object.
pub fn assert_vendor_error<'a>(
    plugin: &str,
    secrets: &[&str],
    answer: (u16, &'a Value),
    vendor_code: &str,
    vendor_status: u16,
    retryable: bool,
) -> &'a Value {
    let (status, body) = answer;
    assert_eq!(status, 502, "{body}");
    let error = &body["error"];
    assert_eq!(error["code"], "vendor_error", "{body}");
    assert_eq!(error["plugin"], plugin, "{body}");
    assert_eq!(error["vendor_code"], vendor_code, "{body}");
    assert_eq!(error["vendor_status"], vendor_status, "{body}");
    assert_eq!(error["retryable"], retryable, "{body}");
    let text = body.to_string();
    for secret in secrets {
        assert!(!text.contains(secret), "a secret leaked: {body}");
    }
    error
}

/// What the host must answer to `fault` from `row`'s vendor.
#[derive(Clone, Copy, Debug)]
enum Expected {
    Host { status: u16, code: &'static str },
    Vendor(VendorError),
}

fn expected(row: &Row, fault: Fault) -> Expected {
    let host = |status, code| Expected::Host { status, code };
    match fault {
        Fault::Hang | Fault::Dribble => host(504, "vendor_timeout"),
        Fault::Oversized => host(502, "vendor_reply_too_large"),
        Fault::Empty | Fault::NotJson => host(502, "vendor_protocol"),
        Fault::ErrorPage => Expected::Vendor(VendorError::PROXY_PAGE),
        Fault::ServerError => Expected::Vendor(row.server_error),
        Fault::RateLimited => Expected::Vendor(row.rate_limited),
    }
}

/// A fault the layer in front of the mock makes from its healthy reply.
#[derive(Clone, Copy, Debug)]
enum Transport {
    Dribble,
    ErrorPage,
}

async fn transport(
    State(switch): State<Switch<Option<Transport>>>,
    req: Request,
    next: Next,
) -> Response {
    let response = next.run(req).await;
    // A reply the vendor refused goes through untouched: a plugin that sends
    // a malformed request must fail the row, not be covered by the fault.
    if !response.status().is_success() {
        return response;
    }
    match switch.get() {
        None => response,
        Some(Transport::ErrorPage) => proxy_unavailable(),
        Some(Transport::Dribble) => dribble(response).await,
    }
}

/// The same reply, one byte every [`DRIBBLE_PAUSE`].
async fn dribble(response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let bytes =
        futures_util::stream::unfold((bytes, 0), |(bytes, at): (Bytes, usize)| async move {
            if at >= bytes.len() {
                return None;
            }
            tokio::time::sleep(DRIBBLE_PAUSE).await;
            let byte = bytes.slice(at..at + 1);
            Some((Ok::<_, Infallible>(byte), (bytes, at + 1)))
        });
    Response::from_parts(parts, Body::from_stream(bytes))
}

/// A row's mock behind the contract layer, and its host.
struct Running {
    mock: MockVendor,
    set: SetScenario,
    transport: Switch<Option<Transport>>,
    host: Host,
}

impl Running {
    async fn start(row: &Row) -> Running {
        let (router, set) = (row.mock)();
        let transport = Switch::new(None);
        let router = router.layer(middleware::from_fn_with_state(
            transport.clone(),
            self::transport,
        ));
        let mock = MockVendor::start(router).await;
        let host = row.host(&mock.url()).start().await;
        Running {
            mock,
            set,
            transport,
            host,
        }
    }

    fn set(&self, fault: Option<Fault>) {
        let (scenario, transport) = match fault {
            Some(Fault::Dribble) => (None, Some(Transport::Dribble)),
            Some(Fault::ErrorPage) => (None, Some(Transport::ErrorPage)),
            other => (other, None),
        };
        (self.set)(scenario);
        self.transport.set(transport);
    }

    /// Sends `channel`'s message; the status, `Retry-After` and body, and the
    /// requests the mock received meanwhile.
    async fn send(&self, channel: &Channel) -> Result<Sent, String> {
        let before = self.mock.requests().len();
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/messages", self.host.url()))
            .json(&channel.payload())
            .send()
            .await
            .map_err(|e| format!("the host did not answer: {e}"))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.unwrap_or_default();
        let paths = self.mock.requests()[before..]
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        Ok(Sent {
            status,
            retry_after,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            paths,
        })
    }
}

struct Sent {
    status: u16,
    retry_after: Option<String>,
    body: Value,
    paths: Vec<String>,
}

/// Fails unless `cond`, with `what` and the answer.
fn ensure(cond: bool, what: &str, sent: &Sent) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(format!(
            "{what} (status {}, retry-after {:?}, body {}, requests {:?})",
            sent.status, sent.retry_after, sent.body, sent.paths
        ))
    }
}

/// What every answer must hold: the plugin's request reached the mock at the
/// channel's path, and no secret is in the answer.
fn check_common(row: &Row, channel: &Channel, sent: &Sent) -> Result<(), String> {
    let want = format!("POST {}", channel.path);
    ensure(
        !sent.paths.is_empty() && sent.paths.iter().all(|p| *p == want),
        &format!("the request went to {want}"),
        sent,
    )?;
    let text = sent.body.to_string();
    for secret in row.secrets {
        ensure(!text.contains(secret), "no secret in the answer", sent)?;
    }
    Ok(())
}

fn check_fault(row: &Row, channel: &Channel, fault: Fault, sent: &Sent) -> Result<(), String> {
    check_common(row, channel, sent)?;
    let error = &sent.body["error"];
    let message = error["message"].as_str().unwrap_or_default();
    ensure(!message.is_empty(), "the error says what happened", sent)?;
    match expected(row, fault) {
        Expected::Host { status, code } => {
            ensure(
                sent.status == status && error["code"] == code,
                &format!("{status} {code}"),
                sent,
            )?;
        }
        Expected::Vendor(want) => {
            ensure(
                sent.status == 502 && error["code"] == "vendor_error",
                "502 vendor_error",
                sent,
            )?;
            ensure(error["plugin"] == row.plugin, "the plugin is named", sent)?;
            ensure(
                error["vendor_code"] == want.vendor_code
                    && error["vendor_status"] == want.vendor_status,
                &format!(
                    "vendor_code {} with vendor_status {}",
                    want.vendor_code, want.vendor_status
                ),
                sent,
            )?;
            ensure(error["retryable"] == true, "retryable", sent)?;
            if let Some(part) = want.message {
                ensure(
                    message.contains(part),
                    &format!("the message holds {part:?}"),
                    sent,
                )?;
            }
        }
    }
    if fault == Fault::RateLimited {
        let secs = row.retry_after_secs;
        ensure(
            error["retry_after_secs"] == secs,
            &format!("retry_after_secs {secs}"),
            sent,
        )?;
        ensure(
            sent.retry_after.as_deref() == Some(secs.to_string().as_str()),
            &format!("Retry-After: {secs}"),
            sent,
        )?;
    } else {
        ensure(
            error.get("retry_after_secs").is_none_or(Value::is_null),
            "no retry_after_secs",
            sent,
        )?;
    }
    Ok(())
}

fn check_delivered(row: &Row, channel: &Channel, sent: &Sent) -> Result<(), String> {
    check_common(row, channel, sent)?;
    let id = sent.body["MessageID"].as_str().unwrap_or_default();
    ensure(
        sent.status == 200 && !id.is_empty(),
        "200 with a MessageID",
        sent,
    )
}

/// Runs every fault against `row` on one mock and one host; each failure
/// names the row, the channel and the fault.
pub async fn check_row(row: &Row) -> Vec<String> {
    let running = Running::start(row).await;
    let mut failures = Vec::new();
    let deadline = Duration::from_millis(TIMEOUT_MS) + Duration::from_secs(5);
    for channel in row.channels {
        let name = |what: &str| format!("{} {}: {what}", row.label, channel.message_type);
        running.set(None);
        match running.send(channel).await {
            Ok(sent) => {
                if let Err(e) = check_delivered(row, channel, &sent) {
                    failures.push(name(&format!("healthy: {e}")));
                }
            }
            Err(e) => failures.push(name(&e)),
        }
        for fault in FAULTS {
            running.set(Some(fault));
            let started = Instant::now();
            let result = running.send(channel).await;
            let took = started.elapsed();
            match result {
                Ok(sent) => {
                    if let Err(e) = check_fault(row, channel, fault, &sent) {
                        failures.push(name(&format!("{fault:?}: {e}")));
                    }
                }
                Err(e) => failures.push(name(&format!("{fault:?}: {e}"))),
            }
            // A deadline as behaviour, with a wide margin on a shared machine.
            if took > deadline {
                failures.push(name(&format!("{fault:?}: answered after {took:?}")));
            }
            running.set(None);
            match running.send(channel).await {
                Ok(sent) => {
                    if let Err(e) = check_delivered(row, channel, &sent) {
                        failures.push(name(&format!("next message after {fault:?}: {e}")));
                    }
                }
                Err(e) => failures.push(name(&format!("next message after {fault:?}: {e}"))),
            }
        }
    }
    running.host.shutdown().await;
    failures
}

const TWILIO_MESSAGES: &str =
    "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";

/// One row per vendor plugin (the webhook plugin twice: one row per gateway
/// shape). Packages without a vendor — the sandbox and the template to copy —
/// have none.
pub fn rows() -> Vec<Row> {
    vec![
        Row {
            label: "twilio",
            plugin: "twilio",
            package: "phonehook-plugin-twilio",
            mock: || {
                use twilio::Scenario as S;
                switched(
                    twilio::Twilio::new(),
                    twilio::router,
                    twilio::Twilio::set,
                    Scenarios {
                        healthy: S::Created,
                        hang: S::Hang,
                        oversized: S::Oversized,
                        empty: S::Empty,
                        not_json: S::NotJson,
                        server_error: S::ServerError,
                        rate_limited: S::RateLimited(RETRY_AFTER_SECS),
                    },
                )
            },
            configure: |host, url| {
                host.setting("twilio", "base_url", url)
                    .secret("twilio", "TWILIO_ACCOUNT_SID", twilio::ACCOUNT_SID)
                    .secret("twilio", "TWILIO_AUTH_TOKEN", twilio::AUTH_TOKEN)
                    .secret("twilio", "TWILIO_PHONE_NUMBER", twilio::FROM)
            },
            secrets: &[twilio::ACCOUNT_SID, twilio::AUTH_TOKEN],
            channels: &const { [Channel::sms("+14155550100", TWILIO_MESSAGES)] },
            server_error: VendorError::new("20500", 500),
            rate_limited: VendorError::new("20429", 429),
            retry_after_secs: RETRY_AFTER_SECS,
        },
        Row {
            label: "vonage",
            plugin: "vonage",
            package: "phonehook-plugin-vonage",
            mock: || {
                use vonage::Scenario as S;
                switched(
                    vonage::Vonage::new(),
                    vonage::router,
                    vonage::Vonage::set,
                    Scenarios {
                        healthy: S::Accepted,
                        hang: S::Hang,
                        oversized: S::Oversized,
                        empty: S::Empty,
                        not_json: S::NotJson,
                        // Vonage's mock has no 5xx of its own: a proxy's page.
                        server_error: S::Unavailable,
                        rate_limited: S::RateLimited(RETRY_AFTER_SECS),
                    },
                )
            },
            configure: |host, url| {
                host.setting("vonage", "base_url", url)
                    .setting("vonage", "from", format!("+{}", vonage::FROM))
                    .secret("vonage", "VONAGE_API_KEY", vonage::API_KEY)
                    .secret("vonage", "VONAGE_API_SECRET", vonage::API_SECRET)
                    .secret("vonage", "VONAGE_APPLICATION_ID", vonage::APPLICATION_ID)
                    .secret("vonage", "VONAGE_PRIVATE_KEY", vonage::PRIVATE_KEY)
            },
            secrets: &[vonage::API_SECRET, vonage::PRIVATE_KEY],
            // The SMS API and the Voice API answer in different formats.
            channels: &const {
                [
                    Channel::sms("+447700900000", "/sms/json"),
                    Channel::voice("+14155550100", "/v1/calls"),
                ]
            },
            server_error: VendorError::PROXY_PAGE,
            rate_limited: VendorError::new("throttled", 429),
            retry_after_secs: RETRY_AFTER_SECS,
        },
        Row {
            label: "infobip",
            plugin: "infobip",
            package: "phonehook-plugin-infobip",
            mock: || {
                use infobip::Scenario as S;
                switched(
                    infobip::Infobip::new(infobip::API_KEY),
                    infobip::router,
                    infobip::Infobip::set,
                    Scenarios {
                        healthy: S::Accept,
                        hang: S::Hang,
                        oversized: S::Huge(2 * 1024 * 1024),
                        empty: S::Empty,
                        not_json: S::NotJson,
                        server_error: S::ServerError,
                        rate_limited: S::Throttled(RETRY_AFTER_SECS),
                    },
                )
            },
            configure: |host, url| {
                host.setting("infobip", "base_url", url)
                    .setting("infobip", "from", "InfoSMS")
                    .secret("infobip", "INFOBIP_API_KEY", infobip::API_KEY)
            },
            secrets: &[infobip::API_KEY],
            channels: &const { [Channel::sms("+41793026727", "/sms/2/text/advanced")] },
            server_error: VendorError::new("GENERAL_ERROR", 500)
                .with_message("Something went wrong. Please contact support."),
            rate_limited: VendorError::new("TOO_MANY_REQUESTS", 429),
            retry_after_secs: RETRY_AFTER_SECS,
        },
        Row {
            label: "esendex",
            plugin: "esendex",
            package: "phonehook-plugin-esendex",
            mock: || {
                use esendex::Scenario as S;
                switched(
                    esendex::Esendex::new(esendex::USERNAME, esendex::PASSWORD, esendex::ACCOUNT),
                    esendex::router,
                    esendex::Esendex::set,
                    Scenarios {
                        healthy: S::Accept,
                        hang: S::Hang,
                        oversized: S::Huge(2 * 1024 * 1024),
                        empty: S::Empty,
                        not_json: S::NotJson,
                        server_error: S::Unavailable,
                        rate_limited: S::Throttled(RETRY_AFTER_SECS),
                    },
                )
            },
            configure: |host, url| {
                host.setting("esendex", "base_url", url)
                    .secret("esendex", "ESENDEX_USERNAME", esendex::USERNAME)
                    .secret("esendex", "ESENDEX_SECRET", esendex::PASSWORD)
                    .secret("esendex", "ESENDEX_ACCOUNT", esendex::ACCOUNT)
            },
            secrets: &[esendex::PASSWORD],
            channels: &const { [Channel::sms("+447911123456", "/v1.0/messagedispatcher")] },
            // Esendex's own 503 is a plain-text page.
            server_error: VendorError::new("503", 503),
            rate_limited: VendorError::new("too_many_requests", 429),
            retry_after_secs: RETRY_AFTER_SECS,
        },
        Row {
            label: "sns",
            plugin: "sns",
            package: "phonehook-plugin-sns",
            mock: || {
                use sns::Scenario as S;
                switched(
                    sns::Sns::new(),
                    sns::router,
                    sns::Sns::set,
                    Scenarios {
                        healthy: S::Published,
                        hang: S::Hang,
                        oversized: S::Oversized,
                        empty: S::Empty,
                        // SNS answers XML: its "not JSON" is "not XML".
                        not_json: S::NotXml,
                        server_error: S::InternalError,
                        rate_limited: S::Throttled(RETRY_AFTER_SECS),
                    },
                )
            },
            configure: |host, url| {
                host.setting("sns", "base_url", url)
                    .secret("sns", "AWS_ACCESS_KEY_ID", sns::ACCESS_KEY_ID)
                    .secret("sns", "AWS_SECRET_ACCESS_KEY", sns::SECRET_ACCESS_KEY)
            },
            secrets: &[sns::SECRET_ACCESS_KEY],
            channels: &const { [Channel::sms("+14155550100", "/")] },
            server_error: VendorError::new("InternalError", 500),
            rate_limited: VendorError::new("Throttled", 429),
            retry_after_secs: RETRY_AFTER_SECS,
        },
        Row {
            label: "telesign",
            plugin: "telesign",
            package: "phonehook-plugin-telesign",
            mock: || {
                use telesign::Scenario as S;
                switched(
                    telesign::Telesign::new(telesign::CUSTOMER_ID, telesign::API_KEY),
                    telesign::router,
                    telesign::Telesign::set,
                    Scenarios {
                        healthy: S::Accept,
                        hang: S::Hang,
                        oversized: S::Huge(2 * 1024 * 1024),
                        empty: S::Empty,
                        not_json: S::NotJson,
                        server_error: S::Unavailable,
                        rate_limited: S::Throttled(RETRY_AFTER_SECS),
                    },
                )
            },
            configure: |host, url| {
                host.setting("telesign", "base_url", url)
                    .secret("telesign", "TELESIGN_CUSTOMER_ID", telesign::CUSTOMER_ID)
                    .secret("telesign", "TELESIGN_API_KEY", telesign::API_KEY)
            },
            secrets: &[telesign::API_KEY],
            channels: &const { [Channel::sms("+14155552671", "/v1/messaging")] },
            // TeleSign's 503 carries its own error code in JSON.
            server_error: VendorError::new("-90001", 503),
            rate_limited: VendorError::new("10019", 429),
            retry_after_secs: RETRY_AFTER_SECS,
        },
        Row {
            label: "webhook (JSON gateway)",
            plugin: "webhook",
            package: "phonehook-plugin-webhook",
            mock: webhook_mock,
            configure: webhook::json_gateway_settings,
            secrets: &[webhook::API_KEY],
            channels: &const { [Channel::sms("+14155550100", webhook::JSON_PATH)] },
            server_error: VendorError::PROXY_PAGE,
            rate_limited: VendorError::new("rate_limited", 429),
            // The gateway mock's Retry-After is fixed.
            retry_after_secs: 3,
        },
        Row {
            label: "webhook (form gateway)",
            plugin: "webhook",
            package: "phonehook-plugin-webhook",
            mock: webhook_mock,
            configure: webhook::form_gateway_settings,
            secrets: &[],
            channels: &const { [Channel::sms("+14155550100", webhook::FORM_PATH)] },
            server_error: VendorError::PROXY_PAGE,
            // A form gateway's throttling is its own result code.
            rate_limited: VendorError::new("9", 429).with_message("Throttled"),
            retry_after_secs: 3,
        },
    ]
}

fn webhook_mock() -> (Router, SetScenario) {
    use webhook::Scenario as S;
    switched(
        webhook::Gateway::new(),
        webhook::router,
        webhook::Gateway::set,
        Scenarios {
            healthy: S::Accept,
            hang: S::Hang,
            oversized: S::Oversized,
            empty: S::Empty,
            not_json: S::NotJson,
            // The gateway mock has no 5xx of its own: a proxy's page.
            server_error: S::Unavailable,
            rate_limited: S::RateLimited,
        },
    )
}

/// Runs every row at once and returns all failures.
pub async fn check_all(rows: Vec<Row>) -> Vec<String> {
    let mut tasks = tokio::task::JoinSet::new();
    for row in rows {
        tasks.spawn(async move { check_row(&row).await });
    }
    let mut failures = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(mut row) => failures.append(&mut row),
            Err(e) => failures.push(format!("a row panicked: {e}")),
        }
    }
    failures
}
