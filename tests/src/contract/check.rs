//! Running a row: its mock behind the transport layer, its host, every fault
//! sent and every answer checked.

use std::time::{Duration, Instant};

use axum::middleware;
use serde_json::Value;

use super::transport::{self, Transport};
use super::{expected, Channel, Expected, Fault, Row, SetScenario, FAULTS, TIMEOUT_MS};
use crate::mocks::scenario::Switch;
use crate::{Host, MockVendor};

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
            transport::transport,
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
