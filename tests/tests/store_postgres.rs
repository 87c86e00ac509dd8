//! The shared PostgreSQL store against a real server (`PgCluster`): the
//! schema applied once when instances start together, the shared
//! recipient-hash key, the delivery log giving the same answers as the
//! SQLite log for the same events, and the log through a database outage.
//!
//! Needs PostgreSQL's server binaries (`scripts/test.sh` installs them);
//! without them every test here fails saying so.

use phonehook::deliverylog::{
    DeliveryLog, Event, EventType, Failure, FailureSource, LogConfig, LogError, Page, Query,
};
use phonehook::store::migrations::MIGRATIONS;
use phonehook::store::{Postgres, StoreKind};
use phonehook_e2e::postgres::PgCluster;

/// Starts a throwaway server off the async runtime's threads (initdb and
/// pg_ctl block for a second or so).
async fn cluster() -> PgCluster {
    tokio::task::spawn_blocking(PgCluster::start)
        .await
        .expect("PgCluster::start ran")
}

async fn connect(url: &str) -> Postgres {
    let StoreKind::Postgres(url) = StoreKind::parse(url).expect("a postgres URL") else {
        panic!("{url} is not a postgres URL");
    };
    Postgres::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

#[tokio::test]
async fn instances_starting_together_apply_each_migration_once() {
    let pg = cluster().await;
    let url = pg.create_database("fleet");
    let (a, b) = tokio::join!(connect(&url), connect(&url));

    let client = a.client().await.expect("a pooled connection");
    let rows = client
        .query(
            "SELECT version, count(*) FROM schema_version GROUP BY version ORDER BY version",
            &[],
        )
        .await
        .expect("schema_version is readable");
    let found: Vec<(i32, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let expected: Vec<(i32, i64)> = MIGRATIONS.iter().map(|m| (m.version, 1)).collect();
    assert_eq!(found, expected, "each migration exactly once");

    // The log's table is there, with the columns the log writes.
    let events = client
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .expect("events table exists");
    assert_eq!(events.get::<_, i64>(0), 0);
    drop(client);
    drop(b);
}

#[tokio::test]
async fn two_handles_share_one_recipient_key() {
    let pg = cluster().await;
    let url = pg.create_database("keys");
    let first = connect(&url).await;
    let second = connect(&url).await;
    let (k1, k2) = tokio::join!(first.recipient_key(None), second.recipient_key(None));
    let (k1, k2) = (k1.expect("first key"), k2.expect("second key"));
    assert_eq!(k1.len(), 32);
    assert_eq!(k1, k2, "both instances hash recipients alike");
    // Asked again, the stored key stays; a configured key is used as is.
    assert_eq!(second.recipient_key(None).await.expect("key again"), k1);
    assert_eq!(
        second
            .recipient_key(Some(b"configured-key-0123"))
            .await
            .expect("configured"),
        b"configured-key-0123"
    );
}

const KEY: &str = "shared-test-key-0123456789";
const BASE_MS: i64 = 1_700_000_040_000;

fn config(dir: &tempfile::TempDir) -> LogConfig {
    LogConfig {
        path: dir.path().join("log.db"),
        // Long: only flush writes, so both logs see the same batches.
        flush_interval_ms: 60_000,
        recipient_hash_key: Some(KEY.to_owned()),
        ..LogConfig::default()
    }
}

/// One event as the send path would make it, with every column that a
/// filter reads set from `i`.
fn event(log: &DeliveryLog, i: i64, time_ms: i64) -> Event {
    let kind = EventType::ALL[(i % 6) as usize];
    let number = format!("+1415555{:04}", 100 + i % 4);
    let details = kind.is_failure().then(|| Failure {
        code: if kind == EventType::GuardBlocked {
            "guard_refused".into()
        } else {
            "vendor_error".into()
        },
        message: format!("failure {i}"),
        retryable: i % 2 == 0,
        source: if kind == EventType::GuardBlocked {
            FailureSource::Guard
        } else {
            FailureSource::Vendor
        },
        vendor_code: (i % 3 == 0).then(|| format!("V{i}")),
        vendor_status: (i % 3 == 0).then_some(400 + (i % 100) as u16),
        rule: (kind == EventType::GuardBlocked).then(|| "per_number".into()),
    });
    Event {
        id: format!("ev_{i:04}"),
        time_ms,
        kind,
        route: if i % 2 == 0 { "hook" } else { "actions" }.into(),
        plugin: if i % 5 < 3 { "twilio" } else { "vonage" }.into(),
        plugin_version: "1.2.3".into(),
        generation: 1 + (i % 3) as u64,
        action: "second-factor-authentication".into(),
        language: "en".into(),
        recipient: phonehook::mask::mask_number(&number),
        recipient_hash: log.hasher().hash(&number),
        client_id: format!("client-{}", i % 2),
        user_id: format!("user-{}", i % 3),
        ip: "203.0.113.9".into(),
        vendor_message_id: (!kind.is_failure()).then(|| format!("SM{i}")),
        vendor_status: (!kind.is_failure()).then(|| "queued".into()),
        latency_ms: 1.25 * i as f64,
        vendor_latency_ms: (i % 2 == 1).then_some(0.5 * i as f64),
        text_chars: 20 + i as u32,
        segments: (i % 4 != 3).then_some(1),
        details,
        message_id: Some(format!("msg-{}", i / 3)),
    }
}

/// 40 events over five minutes; some share a millisecond, so the order
/// falls back on insertion order, which must be the same in both stores.
fn fixture(log: &DeliveryLog) -> Vec<Event> {
    (0..40)
        .map(|i| event(log, i, BASE_MS + (i / 2) * 15_000))
        .collect()
}

/// Every page of `query`, following cursors.
async fn pages(log: &DeliveryLog, query_string: &str) -> Vec<(Vec<String>, Page)> {
    let region = phonehook::e164::region("US").expect("US is a region");
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut pairs: Vec<(String, String)> = url_pairs(query_string);
        if let Some(c) = &cursor {
            pairs.push(("cursor".into(), c.clone()));
        }
        let query = Query::from_pairs(pairs, region, BASE_MS + 10 * 60_000)
            .unwrap_or_else(|e| panic!("{query_string}: {e}"));
        let page = log
            .query(query)
            .await
            .unwrap_or_else(|e| panic!("{query_string}: {e}"));
        let ids = page.events.iter().map(|e| e.id.clone()).collect();
        cursor = page.next_cursor.clone();
        out.push((ids, page));
        if cursor.is_none() || out.len() > 50 {
            return out;
        }
    }
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.replace("%2B", "+"))
        })
        .collect()
}

#[tokio::test]
async fn the_same_events_give_the_same_answers_in_sqlite_and_postgres() {
    let cluster = cluster().await;
    let pg = connect(&cluster.create_database("same")).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(&dir);
    let sqlite = tokio::task::spawn_blocking({
        let cfg = cfg.clone();
        move || DeliveryLog::open(&cfg)
    })
    .await
    .expect("open ran")
    .expect("SQLite log opens");
    let postgres = DeliveryLog::open_postgres(&cfg, &pg)
        .await
        .expect("PostgreSQL log opens");

    let events = fixture(&sqlite);
    assert_eq!(
        events,
        fixture(&postgres),
        "the configured key hashes alike in both"
    );
    // Two batches each, so insertion order spans batches.
    for half in events.chunks(25) {
        for e in half {
            sqlite.record(e.clone());
            postgres.record(e.clone());
        }
        sqlite.flush().await.expect("SQLite flush");
        postgres.flush().await.expect("PostgreSQL flush");
    }
    assert_eq!(sqlite.stats().written, 40);
    assert_eq!(postgres.stats(), sqlite.stats());

    let mask = phonehook::mask::mask_number("+14155550101");
    let hash_of = |n: &str| postgres.hasher().hash(n);
    let (h102, h103) = (hash_of("+14155550102"), hash_of("+14155550103"));
    let kinds = |e: &Event, ks: &[EventType]| ks.contains(&e.kind);
    type Case<'a> = (String, Box<dyn Fn(&Event) -> bool + 'a>);
    let cases: Vec<Case> = vec![
        ("".into(), Box::new(|_: &Event| true)),
        ("limit=7".into(), Box::new(|_: &Event| true)),
        (
            "limit=1&plugin=vonage".into(),
            Box::new(|e: &Event| e.plugin == "vonage"),
        ),
        (
            "type=gd_send_sms_failure,gd_send_voice_failure&limit=3".into(),
            Box::new(|e: &Event| {
                kinds(e, &[EventType::SendSmsFailure, EventType::SendVoiceFailure])
            }),
        ),
        (
            "type=guard_blocked&type=guard_would_block".into(),
            Box::new(|e: &Event| kinds(e, &[EventType::GuardBlocked, EventType::GuardWouldBlock])),
        ),
        (
            "plugin=twilio&user_id=user-1".into(),
            Box::new(|e: &Event| e.plugin == "twilio" && e.user_id == "user-1"),
        ),
        (
            "client_id=client-0&limit=4".into(),
            Box::new(|e: &Event| e.client_id == "client-0"),
        ),
        (
            format!("recipient={mask}&limit=3"),
            Box::new(|e: &Event| e.recipient == mask),
        ),
        (
            "recipient=%2B14155550102".into(),
            Box::new(|e: &Event| e.recipient_hash == h102),
        ),
        (
            "recipient=(415) 555-0103".into(),
            Box::new(|e: &Event| e.recipient_hash == h103),
        ),
        (
            "message_id=msg-4".into(),
            Box::new(|e: &Event| e.message_id.as_deref() == Some("msg-4")),
        ),
        (
            format!("id={}", events[17].id),
            Box::new(|e: &Event| e.id == events[17].id),
        ),
        (
            format!("since={}&until={}", BASE_MS + 60_000, BASE_MS + 120_000),
            Box::new(|e: &Event| e.time_ms >= BASE_MS + 60_000 && e.time_ms < BASE_MS + 120_000),
        ),
        (
            format!("since={}&limit=2&type=gd_send_sms", BASE_MS + 60_000),
            Box::new(|e: &Event| e.time_ms >= BASE_MS + 60_000 && e.kind == EventType::SendSms),
        ),
        (
            format!("until={}", BASE_MS + 15_001),
            Box::new(|e: &Event| e.time_ms < BASE_MS + 15_001),
        ),
        (
            "recipient=%2B14155550199".into(),
            Box::new(|_: &Event| false),
        ),
    ];
    // Newest first; equal times in reverse insertion order.
    let mut newest_first: Vec<&Event> = events.iter().collect();
    newest_first.reverse();
    newest_first.sort_by_key(|e| std::cmp::Reverse(e.time_ms));
    for (query, matches) in &cases {
        let (s, p) = (pages(&sqlite, query).await, pages(&postgres, query).await);
        let ids = |pages: &[(Vec<String>, Page)]| -> Vec<Vec<String>> {
            pages.iter().map(|(ids, _)| ids.clone()).collect()
        };
        assert_eq!(ids(&p), ids(&s), "{query}: same pages, same order");
        let all: Vec<&Event> = s.iter().flat_map(|(_, page)| &page.events).collect();
        let expected: Vec<&Event> = newest_first
            .iter()
            .copied()
            .filter(|e| matches(e))
            .collect();
        assert_eq!(all, expected, "{query}: SQLite answers as the filter says");
        let pg_all: Vec<&Event> = p.iter().flat_map(|(_, page)| &page.events).collect();
        assert_eq!(pg_all, all, "{query}: the same events, every field");
        let has_next = |pages: &[(Vec<String>, Page)]| -> Vec<bool> {
            pages
                .iter()
                .map(|(_, page)| page.next_cursor.is_some())
                .collect()
        };
        assert_eq!(has_next(&p), has_next(&s), "{query}: same cursors given");
    }
    // The paging case really pages.
    assert!(pages(&postgres, "limit=7").await.len() == 6);

    let now = BASE_MS + 5 * 60_000 + 1;
    let counts = (
        sqlite.per_minute(now, 8).await.expect("SQLite per minute"),
        postgres
            .per_minute(now, 8)
            .await
            .expect("PostgreSQL per minute"),
    );
    assert_eq!(counts.1, counts.0);
    let total: u64 = counts.0.iter().map(|m| m.delivered + m.failed).sum();
    assert_eq!(total, 40, "{:?}", counts.0);

    // State kept next to the events is SQLite's alone.
    assert!(matches!(
        postgres.with_connection(|_| Ok(())),
        Err(LogError::NotSqlite)
    ));
    assert!(sqlite.with_connection(|_| Ok(())).is_ok());
    sqlite.close().await;
    postgres.close().await;
}

/// On one thread (`#[tokio::test]`'s runtime), so the writer runs only
/// when the test awaits: what the queue takes is exact.
#[tokio::test]
async fn an_outage_drops_and_counts_then_writing_resumes() {
    let cluster = std::sync::Arc::new(cluster().await);
    let pg = connect(&cluster.create_database("outage")).await;
    let cfg = LogConfig {
        queue_capacity: 64,
        batch_size: 16,
        flush_interval_ms: 10,
        recipient_hash_key: Some(KEY.to_owned()),
        ..LogConfig::default()
    };
    let log = DeliveryLog::open_postgres(&cfg, &pg)
        .await
        .expect("PostgreSQL log opens");
    let next = std::cell::Cell::new(0);
    let record = |log: &DeliveryLog, n: i64| {
        for _ in 0..n {
            let i = next.get();
            log.record(event(log, i, BASE_MS + i));
            next.set(i + 1);
        }
    };

    record(&log, 20);
    log.flush().await.expect("flush");
    assert_eq!(log.stats().written, 20);
    assert!(!pg.health().is_degraded());

    // The server stops while events keep coming; recording goes on.
    let stopping = tokio::task::spawn_blocking({
        let cluster = cluster.clone();
        move || cluster.stop()
    });
    for _ in 0..20 {
        record(&log, 5);
        tokio::task::yield_now().await;
    }
    stopping.await.expect("pg_ctl stop ran");
    log.flush().await.expect("flush while down");

    // The writer cannot run between these calls: the queue takes
    // `queue_capacity` events and drops the rest — `record` never waits.
    let before = log.stats();
    record(&log, 200);
    let during = log.stats();
    assert_eq!(during.accepted - before.accepted, 64, "{during:?}");
    assert_eq!(
        during.dropped_queue_full - before.dropped_queue_full,
        136,
        "{during:?}"
    );
    // With the server gone, every one of them fails to be written.
    log.flush().await.expect("flush while down");
    let after = log.stats();
    assert_eq!(
        after.dropped_write_failed - before.dropped_write_failed,
        64,
        "{after:?}"
    );
    assert_eq!(after.written, before.written, "{after:?}");
    assert_eq!(
        after.accepted,
        after.written + after.dropped_write_failed,
        "every accepted event is written or counted as dropped: {after:?}"
    );
    assert!(pg.health().is_degraded(), "the failed writes were reported");
    let down = log.query(Query::default()).await;
    assert!(matches!(down, Err(LogError::Store(_))), "{down:?}");

    // Back up: new events are written again. A connection the pool still
    // holds from before may fail one batch, so a few tries are allowed.
    tokio::task::spawn_blocking({
        let cluster = cluster.clone();
        move || cluster.start_again()
    })
    .await
    .expect("pg_ctl start ran");
    let mut tries = 0;
    let written_again = loop {
        tries += 1;
        let written = log.stats().written;
        let id = format!("ev_{:04}", next.get());
        record(&log, 1);
        log.flush().await.expect("flush after restart");
        if log.stats().written == written + 1 {
            break id;
        }
        assert!(tries < 5, "writes did not resume: {:?}", log.stats());
    };
    let page = log
        .query(Query::default())
        .await
        .expect("query after restart");
    assert_eq!(
        page.events.first().map(|e| e.id.clone()),
        Some(written_again)
    );
    log.close().await;
}

/// Retention deletes what is older than `retention_days` when the log opens
/// (before its first batch, so a flush sees it done), whoever wrote it.
#[tokio::test]
async fn retention_deletes_old_events_at_start() {
    let cluster = cluster().await;
    let pg = connect(&cluster.create_database("retention")).await;
    let keep_all = LogConfig {
        retention_days: 0,
        recipient_hash_key: Some(KEY.to_owned()),
        ..LogConfig::default()
    };
    let log = DeliveryLog::open_postgres(&keep_all, &pg)
        .await
        .expect("PostgreSQL log opens");
    let day = 86_400_000;
    let now = phonehook::deliverylog::time::now_ms();
    for (i, age_days) in [45, 31, 2, 0].into_iter().enumerate() {
        log.record(event(&log, i as i64, now - age_days * day));
    }
    log.close().await;
    assert_eq!(log.stats().written, 4);

    let log = DeliveryLog::open_postgres(
        &LogConfig {
            retention_days: 30,
            ..keep_all
        },
        &pg,
    )
    .await
    .expect("PostgreSQL log opens again");
    log.flush().await.expect("flush");
    let page = log.query(Query::default()).await.expect("query");
    let ids: Vec<&str> = page.events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["ev_0003", "ev_0002"]);
    log.close().await;
}
