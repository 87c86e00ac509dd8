//! The log end to end in one process: record, flush, query, close; what the
//! database file holds; an unwritable database; retention.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use phonehook_plugin_api::{Channel, Message};
use tempfile::TempDir;

use super::*;

const CODE: &str = "493817";
const NUMBER: &str = "+14155550123";
const SECRET: &str = "sk_live_9f8e7d6c5b4a";

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn config(dir: &TempDir) -> LogConfig {
    LogConfig {
        path: dir.path().join("log.db"),
        // Long, so only flush and close write: tests see exactly what those do.
        flush_interval_ms: 60_000,
        ..LogConfig::default()
    }
}

fn message(number: &str, channel: Channel) -> Message {
    let mut m = Message::new(number, &format!("Your code is {CODE}"));
    m.code = CODE.into();
    m.channel = channel;
    m
}

/// The vendor's acceptance every delivered fixture event records.
const OK_ID: &str = "SM-ok";
const OK_STATUS: &str = "queued";
const OK_LATENCY: Duration = Duration::from_millis(5);

/// A vendor failure that echoes everything a careless vendor could echo.
fn echoing_failure() -> Failure {
    Failure {
        code: "vendor_error".into(),
        message: format!("'To' {NUMBER} invalid for 'Your code is {CODE}' (auth {SECRET})"),
        retryable: false,
        source: FailureSource::Vendor,
        vendor_code: Some("21211".into()),
        vendor_status: Some(400),
        rule: None,
    }
}

/// The fixture for filters and paging: 20 events one second apart, with
/// plugin, user, client, channel and outcome varying on different cycles.
fn fixture(log: &DeliveryLog) -> Vec<Event> {
    let base = 1_700_000_000_000;
    (0..20)
        .map(|i: i64| {
            let channel = if i % 4 == 3 {
                Channel::Voice
            } else {
                Channel::Sms
            };
            let number = format!("+1415555{:04}", 100 + i % 5);
            let mut m = message(&number, channel);
            m.user_id = format!("user-{}", i % 3).into();
            m.client_id = format!("client-{}", i % 2).into();
            let mut pending = log.pending(&m, "hook");
            pending.plugin(
                if i < 10 { "twilio" } else { "vonage" },
                "1.0.0",
                1 + (i / 10) as u64,
            );
            let mut event = if i % 5 == 4 {
                pending.failed(echoing_failure())
            } else {
                pending.delivered(OK_ID, OK_STATUS, OK_LATENCY)
            };
            event.time_ms = base + i * 1000;
            log.record(event.clone());
            event
        })
        .collect()
}

fn pairs(query: &str) -> Result<Query, QueryError> {
    let region = crate::e164::region("US").unwrap_or(phonenumber::country::Id::US);
    Query::from_pairs(
        url::form_urlencoded::parse(query.as_bytes()),
        region,
        1_700_000_100_000,
    )
}

/// Every event of every page, following cursors.
async fn all_pages(
    log: &DeliveryLog,
    query: &str,
) -> Result<(Vec<String>, usize), Box<dyn std::error::Error>> {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("{query}&cursor={c}"),
            None => query.to_owned(),
        };
        let page = log.query(pairs(&q)?).await?;
        pages += 1;
        ids.extend(page.events.into_iter().map(|e| e.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok((ids, pages)),
        }
        assert!(pages < 100, "pagination does not end");
    }
}

/// The ids the fixture says `keep` selects, newest first.
fn expected(events: &[Event], keep: impl Fn(&Event) -> bool) -> Vec<String> {
    events
        .iter()
        .rev()
        .filter(|e| keep(e))
        .map(|e| e.id.clone())
        .collect()
}

#[tokio::test]
async fn each_filter_selects_what_it_names() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = DeliveryLog::open(&config(&dir))?;
    let events = fixture(&log);
    log.flush().await?;
    let base = 1_700_000_000_000;
    let number = format!("+1415555{:04}", 100 + 3);
    let mask = crate::mask::mask_number(&number);
    let hash = log.hasher.hash(&number);
    let same_number = move |e: &Event| e.recipient_hash == hash;
    type Keep = Box<dyn Fn(&Event) -> bool>;
    let cases: Vec<(String, Keep)> = vec![
        ("".into(), Box::new(|_| true)),
        (
            "type=gd_send_sms".into(),
            Box::new(|e| e.kind == EventType::SendSms),
        ),
        (
            "type=gd_send_sms_failure".into(),
            Box::new(|e| e.kind == EventType::SendSmsFailure),
        ),
        (
            "type=gd_send_voice".into(),
            Box::new(|e| e.kind == EventType::SendVoice),
        ),
        (
            "type=gd_send_voice_failure".into(),
            Box::new(|e| e.kind == EventType::SendVoiceFailure),
        ),
        (
            "type=gd_send_sms_failure,gd_send_voice_failure".into(),
            Box::new(|e| e.kind.is_failure()),
        ),
        ("plugin=vonage".into(), Box::new(|e| e.plugin == "vonage")),
        ("user_id=user-1".into(), Box::new(|e| e.user_id == "user-1")),
        (
            "client_id=client-0".into(),
            Box::new(|e| e.client_id == "client-0"),
        ),
        (
            format!("recipient={}", number.replace('+', "%2B")),
            Box::new(same_number.clone()),
        ),
        (
            format!("recipient={}", &number[2..]),
            Box::new(same_number.clone()),
        ),
        (
            format!("recipient={}", mask.replace('+', "%2B")),
            Box::new(same_number),
        ),
        (
            format!("since={}&until={}", base + 5000, base + 9000),
            Box::new(move |e| (base + 5000..base + 9000).contains(&e.time_ms)),
        ),
        (
            "plugin=twilio&type=gd_send_sms&client_id=client-1".into(),
            Box::new(|e| {
                e.plugin == "twilio" && e.kind == EventType::SendSms && e.client_id == "client-1"
            }),
        ),
        (
            format!("id={}", events[7].id),
            Box::new(move |e| e.time_ms == base + 7000),
        ),
    ];
    for (query, keep) in cases {
        let want = expected(&events, keep);
        assert!(
            !want.is_empty(),
            "{query}: the fixture must cover this filter"
        );
        let (got, _) = all_pages(&log, &format!("limit=3&{query}")).await?;
        assert_eq!(got, want, "{query}");
    }
    Ok(())
}

#[tokio::test]
async fn pages_walk_newest_first_without_gaps_or_repeats() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = DeliveryLog::open(&config(&dir))?;
    let events = fixture(&log);
    log.flush().await?;
    let (ids, pages) = all_pages(&log, "limit=7").await?;
    assert_eq!(pages, 3, "20 events at 7 a page");
    assert_eq!(ids, expected(&events, |_| true));
    let first = log.query(pairs("limit=7")?).await?;
    assert_eq!(first.events.len(), 7);
    assert!(first.next_cursor.is_some());
    // Events that arrive while someone pages do not shift later pages.
    let late = log
        .pending(&message(NUMBER, Channel::Sms), "hook")
        .delivered(OK_ID, OK_STATUS, OK_LATENCY);
    log.record(late);
    log.flush().await?;
    let cursor = first.next_cursor.unwrap_or_default();
    let second = log
        .query(pairs(&format!("limit=7&cursor={cursor}"))?)
        .await?;
    let second_ids: Vec<&str> = second.events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        second_ids,
        ids[7..14].iter().map(String::as_str).collect::<Vec<_>>()
    );
    Ok(())
}

#[tokio::test]
async fn the_code_secrets_and_full_number_never_reach_the_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = DeliveryLog::open(&config(&dir))?;
    for channel in [Channel::Sms, Channel::Voice] {
        let m = message(NUMBER, channel);
        let mut failing = log.pending(&m, "hook");
        failing.redactor_mut().secret(SECRET);
        log.record(failing.failed(echoing_failure()));
        log.record(
            log.pending(&m, "hook")
                .delivered(OK_ID, OK_STATUS, OK_LATENCY),
        );
    }
    log.flush().await?;
    let forbidden = [
        CODE,
        SECRET,
        NUMBER,
        "14155550123",
        "4155550123",
        "Your code is",
    ];
    // While running, the events are in the WAL; after close, in the main file.
    assert_absent(&files(dir.path()), &forbidden)?;
    let page = log.query(pairs("recipient=%2B14155550123")?).await?;
    assert_eq!(
        page.events.len(),
        4,
        "found by full number through the hash"
    );
    assert!(page.events.iter().all(|e| e.recipient == "+1********23"));
    let failure = page.events.iter().find_map(|e| e.details.clone());
    assert_eq!(
        failure.map(|f| f.vendor_code),
        Some(Some("21211".to_owned()))
    );
    log.close().await;
    assert_absent(&files(dir.path()), &forbidden)?;
    Ok(())
}

fn files(dir: &Path) -> Vec<PathBuf> {
    ["log.db", "log.db-wal", "log.db-shm"]
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| p.exists())
        .collect()
}

fn assert_absent(files: &[PathBuf], forbidden: &[&str]) -> TestResult {
    assert!(!files.is_empty());
    for file in files {
        let bytes = std::fs::read(file)?;
        for needle in forbidden {
            let found = bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
            assert!(!found, "{needle} found in {}", file.display());
        }
    }
    Ok(())
}

#[tokio::test]
async fn close_writes_everything_accepted_and_refuses_later_events() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = DeliveryLog::open(&LogConfig {
        batch_size: 16,
        ..config(&dir)
    })?;
    let m = message(NUMBER, Channel::Sms);
    for _ in 0..1000 {
        log.record(
            log.pending(&m, "hook")
                .delivered(OK_ID, OK_STATUS, OK_LATENCY),
        );
    }
    log.close().await;
    let stats = log.stats();
    assert_eq!(
        (stats.accepted, stats.written, stats.dropped()),
        (1000, 1000, 0)
    );
    log.record(
        log.pending(&m, "hook")
            .delivered(OK_ID, OK_STATUS, OK_LATENCY),
    );
    assert_eq!(log.stats().dropped_closed, 1);
    assert!(matches!(log.flush().await, Err(LogError::Closed)));
    log.close().await; // a second close is harmless
    let conn = schema::open_ro(&dir.path().join("log.db"))?;
    let rows: i64 = conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?;
    assert_eq!(rows, 1000);
    Ok(())
}

#[tokio::test]
async fn flush_makes_queued_events_visible() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = DeliveryLog::open(&config(&dir))?;
    let m = message(NUMBER, Channel::Voice);
    for _ in 0..5 {
        log.record(
            log.pending(&m, "runner")
                .delivered(OK_ID, OK_STATUS, OK_LATENCY),
        );
    }
    log.flush().await?;
    let page = log.query(Query::default()).await?;
    assert_eq!(page.events.len(), 5);
    assert!(page
        .events
        .iter()
        .all(|e| e.kind == EventType::SendVoice && e.route == "runner"));
    Ok(())
}

#[tokio::test]
async fn a_query_holding_the_connection_pauses_the_writer_and_a_full_queue_is_counted() -> TestResult
{
    let dir = tempfile::tempdir()?;
    let cfg = LogConfig {
        queue_capacity: 4,
        batch_size: 1,
        ..config(&dir)
    };
    let log = DeliveryLog::open(&cfg)?;
    // The writer's start-up work (retention) is done before the hold.
    log.flush().await?;
    let (held, holding) = std::sync::mpsc::channel();
    let holder = {
        let log = log.clone();
        std::thread::spawn(move || {
            log.with_connection(|_| {
                let _ = held.send(());
                std::thread::sleep(Duration::from_millis(500));
                Ok(())
            })
        })
    };
    holding.recv()?;
    let m = message(NUMBER, Channel::Sms);
    let started = Instant::now();
    for _ in 0..50 {
        log.record(
            log.pending(&m, "hook")
                .delivered(OK_ID, OK_STATUS, OK_LATENCY),
        );
    }
    // Recording went on while the writer waited (generous for a loaded machine).
    assert!(started.elapsed() < Duration::from_millis(400));
    assert!(log.stats().dropped_queue_full > 0, "{:?}", log.stats());
    holder.join().map_err(|_| "holder panicked")??;
    log.flush().await?;
    let stats = log.stats();
    assert_eq!(stats.accepted, stats.written, "{stats:?}");
    assert_eq!(stats.accepted + stats.dropped_queue_full, 50, "{stats:?}");
    Ok(())
}

#[tokio::test]
async fn the_database_has_no_shared_memory_file_and_is_locked_to_this_process() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = DeliveryLog::open(&config(&dir))?;
    let m = message(NUMBER, Channel::Sms);
    for _ in 0..20 {
        log.record(
            log.pending(&m, "hook")
                .delivered(OK_ID, OK_STATUS, OK_LATENCY),
        );
    }
    log.flush().await?;
    assert_eq!(log.query(Query::default()).await?.events.len(), 20);
    let rows = log.with_connection(|c| {
        c.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
    })?;
    assert_eq!(rows, 20);
    assert!(dir.path().join("log.db-wal").exists(), "WAL mode");
    assert!(
        !dir.path().join("log.db-shm").exists(),
        "no -shm while running"
    );
    // Another process (here: another connection) cannot read the file now.
    let other = rusqlite::Connection::open(cfg_path(&dir))?;
    other.busy_timeout(Duration::from_millis(50))?;
    let read = other.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0));
    assert!(read.is_err(), "read {read:?} while the log holds the file");
    drop(other);
    log.close().await;
    // Closed: the file is free, and queries still work.
    let other = rusqlite::Connection::open(cfg_path(&dir))?;
    let rows: i64 = other.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?;
    assert_eq!(rows, 20);
    drop(other);
    assert_eq!(log.query(Query::default()).await?.events.len(), 20);
    Ok(())
}

fn cfg_path(dir: &TempDir) -> PathBuf {
    config(dir).path
}

#[tokio::test]
async fn retention_runs_in_the_background_at_start() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cfg = config(&dir);
    let log = DeliveryLog::open(&LogConfig {
        retention_days: 0,
        ..cfg.clone()
    })?;
    let m = message(NUMBER, Channel::Sms);
    let day = 86_400_000;
    for age_days in [45, 31, 2, 0] {
        let mut event = log
            .pending(&m, "hook")
            .delivered(OK_ID, OK_STATUS, OK_LATENCY);
        event.time_ms -= age_days * day;
        log.record(event);
    }
    log.close().await;
    let log = DeliveryLog::open(&cfg)?; // retention_days = 30
    log.flush().await?;
    let page = log.query(Query::default()).await?;
    assert_eq!(page.events.len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_disabled_log_records_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let log = DeliveryLog::open(&LogConfig {
        enabled: false,
        ..config(&dir)
    })?;
    log.record(
        log.pending(&message(NUMBER, Channel::Sms), "hook")
            .delivered(OK_ID, OK_STATUS, OK_LATENCY),
    );
    log.flush().await?;
    assert_eq!(log.stats(), Stats::default());
    assert!(matches!(
        log.query(Query::default()).await,
        Err(LogError::Disabled)
    ));
    assert!(!dir.path().join("log.db").exists());
    Ok(())
}

#[test]
fn configuration_defaults_and_checks() {
    let d = LogConfig::default();
    assert_eq!(
        (
            d.enabled,
            d.path.as_path(),
            d.retention_days,
            d.queue_capacity,
            d.batch_size,
            d.flush_interval_ms
        ),
        (true, Path::new("phonehook-log.db"), 30, 10_000, 256, 200)
    );
    assert!(d.validate().is_ok());
    for bad in [
        LogConfig {
            batch_size: 0,
            ..LogConfig::default()
        },
        LogConfig {
            queue_capacity: 0,
            ..LogConfig::default()
        },
        LogConfig {
            flush_interval_ms: 0,
            ..LogConfig::default()
        },
        LogConfig {
            recipient_hash_key: Some("short".into()),
            ..LogConfig::default()
        },
    ] {
        assert!(
            matches!(bad.validate(), Err(LogError::Config(_))),
            "{bad:?}"
        );
    }
}

#[tokio::test]
async fn a_configured_hash_key_is_used_and_never_stored() -> TestResult {
    let dir = tempfile::tempdir()?;
    let key = "a-key-kept-outside-the-database";
    let log = DeliveryLog::open(&LogConfig {
        recipient_hash_key: Some(key.into()),
        ..config(&dir)
    })?;
    log.record(
        log.pending(&message(NUMBER, Channel::Sms), "hook")
            .delivered(OK_ID, OK_STATUS, OK_LATENCY),
    );
    log.close().await;
    assert_absent(&files(dir.path()), &[key])?;
    let conn = schema::open_ro(&dir.path().join("log.db"))?;
    assert_eq!(schema::stored_key(&conn)?, None);
    let hash: String = conn.query_row("SELECT recipient_hash FROM events", [], |r| r.get(0))?;
    assert_eq!(hash, RecipientHasher::new(key.as_bytes()).hash(NUMBER));
    Ok(())
}

/// The log is storage: no file of it may import the send path, so a change
/// that makes it classify a send-path error again fails here, not in review.
#[test]
fn the_log_imports_nothing_from_the_send_path() -> TestResult {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/deliverylog");
    // Spelled in pieces so this file does not match itself.
    let forbidden = ["delivery", "egress"].map(|m| format!("crate::{m}"));
    let mut read = 0;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            let source = std::fs::read_to_string(&path)?;
            read += 1;
            for needle in &forbidden {
                let found = source
                    .match_indices(needle.as_str())
                    // `crate::deliverylog` is the log itself.
                    .any(|(at, _)| !source[at + needle.len()..].starts_with("log"));
                assert!(!found, "{} uses {needle}", path.display());
            }
        }
    }
    assert!(read >= 5, "read only {read} files in {}", dir.display());
    Ok(())
}
