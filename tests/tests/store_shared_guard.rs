//! The guard and idempotency with a shared PostgreSQL store: several
//! `Guard`s / `Idempotency`s built against one database behave as the
//! instances of one fleet. A real PostgreSQL cluster per test
//! (`phonehook_e2e::postgres`); no mocks.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use phonehook::deliverylog::{DeliveryLog, RecipientHasher};
use phonehook::guard::config::{BackoffConfig, GuardConfig, Limit};
use phonehook::guard::safelist::{Entry, EntrySource};
use phonehook::guard::{CountedBy, Guard, Refusal, Rule, Verdict};
use phonehook::idempotency::{Begin, Idempotency, IdempotencyConfig, Stored};
use phonehook::store::postgres::Topic;
use phonehook::store::{Postgres, Shared, StoreKind};
use phonehook_e2e::postgres::PgCluster;
use phonehook_plugin_api::Message;

/// One instance's connection to `cluster` (its own pool and subscribers).
async fn instance(cluster: &PgCluster) -> Postgres {
    let StoreKind::Postgres(url) = StoreKind::parse(&cluster.url()).expect("a URL") else {
        panic!("a postgres URL");
    };
    Postgres::connect(&url).await.expect("connects")
}

/// The key every instance shares.
fn key() -> RecipientHasher {
    RecipientHasher::new(b"the fleet's recipient key")
}

fn shared(pg: &Postgres) -> Option<Shared> {
    Some(Shared {
        pg: pg.clone(),
        key: key(),
    })
}

const OFF: Limit = Limit {
    limit: 0,
    window_secs: 3600,
};

fn no_backoff() -> BackoffConfig {
    BackoffConfig {
        after: 0,
        ..BackoffConfig::default()
    }
}

/// Only the rules a test names; no destination policy.
fn config(per_number: Limit, per_ip: Limit, backoff: BackoffConfig) -> GuardConfig {
    GuardConfig {
        per_number,
        per_ip,
        per_prefix: OFF,
        per_country: OFF,
        backoff,
        block_number_types: Vec::new(),
        ..GuardConfig::default()
    }
}

fn hourly(limit: u32) -> Limit {
    Limit {
        limit,
        window_secs: 3600,
    }
}

fn message(number: &str, ip: &str) -> Message {
    let mut m = Message::new(number, "Your code is 123456").with_code("123456");
    m.ip = ip.into();
    m
}

/// Now, once for the whole run: the guard's background task sweeps expired
/// rows by the wall clock, so the screens' time must be the wall clock's too.
static NOW: LazyLock<i64> = LazyLock::new(phonehook::deliverylog::time::now_ms);

/// Screens `messages` on `guards` in turn, all at once; how many passed.
async fn screen_all(guards: &[Arc<Guard>], messages: Vec<Message>) -> usize {
    let tasks: Vec<_> = messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let guard = guards[i % guards.len()].clone();
            tokio::spawn(async move { guard.screen(&m, None, *NOW).await })
        })
        .collect();
    let mut passed = 0;
    for task in tasks {
        match task.await.expect("screened") {
            Verdict::Pass => passed += 1,
            Verdict::Refuse(Refusal::RateLimited { .. }) => {}
            other => panic!("unexpected verdict {other:?}"),
        }
    }
    passed
}

/// As generous as a test on a busy machine needs: these counts must be the
/// database's, not a fallback's (the fallback has a test of its own).
const PATIENT: Duration = Duration::from_secs(30);

fn instances(pgs: &[Postgres], config: &GuardConfig) -> Vec<Arc<Guard>> {
    pgs.iter()
        .map(|pg| {
            let guard = Guard::start(config, &DeliveryLog::disabled(), shared(pg));
            Arc::new(guard.with_admission_limit(PATIENT))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn limits_and_backoffs_hold_across_instances() {
    let cluster = PgCluster::start();
    let pgs = vec![
        instance(&cluster).await,
        instance(&cluster).await,
        instance(&cluster).await,
    ];

    // Per number: 5 an hour, 30 tries spread over three instances.
    let guards = instances(&pgs, &config(hourly(5), OFF, no_backoff()));
    let to_one_number = (0..30)
        .map(|i| message("+14155550100", &format!("198.51.100.{i}")))
        .collect();
    let passed = screen_all(&guards, to_one_number).await;
    for pg in &pgs {
        assert!(
            !pg.health().is_degraded(),
            "an admission fell back to memory: the counts are not the database's"
        );
    }
    assert_eq!(passed, 5);

    // Per caller address: 5 an hour, 30 numbers from one address.
    let guards = instances(&pgs, &config(OFF, hourly(5), no_backoff()));
    let from_one_address = (0..30)
        .map(|i| message(&format!("+1415555{:04}", 2000 + i), "203.0.113.9"))
        .collect();
    assert_eq!(screen_all(&guards, from_one_address).await, 5);

    for pg in &pgs {
        assert!(
            !pg.health().is_degraded(),
            "an admission fell back to memory: the counts above are not the database's"
        );
    }

    // A backoff begun on one instance holds on another, and every instance
    // reports it.
    let backoff = BackoffConfig {
        after: 2,
        base_secs: 60,
        max_secs: 600,
        quiet_secs: 3600,
    };
    let guards = instances(&pgs, &config(OFF, OFF, backoff));
    let m = message("+14155550199", "192.0.2.1");
    assert_eq!(guards[0].screen(&m, None, *NOW).await, Verdict::Pass);
    assert_eq!(guards[0].screen(&m, None, *NOW).await, Verdict::Pass);
    match guards[1].screen(&m, None, *NOW).await {
        Verdict::Refuse(Refusal::RateLimited {
            rule: Rule::Backoff,
            retry_after_secs,
        }) => assert!((60..=72).contains(&retry_after_secs), "{retry_after_secs}"),
        other => panic!("the backoff begun elsewhere is not honoured: {other:?}"),
    }
    let status = guards[2].number_status("+14155550199", *NOW).await;
    assert_eq!(status.backoff.map(|b| b.sends), Some(2));

    // An admin reset on one instance frees the number on all.
    guards[2].reset_number("+14155550199").await.expect("reset");
    assert_eq!(guards[1].screen(&m, None, *NOW).await, Verdict::Pass);
}

fn api_entry(entry: &str) -> Entry {
    Entry {
        entry: entry.to_owned(),
        note: "QA".to_owned(),
        added_ms: *NOW,
        source: EntrySource::Api,
    }
}

/// Waits until `guard` has read the shared safe list more than `seen` times.
async fn read_after(reads: &mut tokio::sync::watch::Receiver<u64>, seen: u64) {
    tokio::time::timeout(Duration::from_secs(30), reads.wait_for(|n| *n > seen))
        .await
        .expect("the safe list is read within 30 s")
        .expect("the guard is alive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_safe_list_edit_on_one_instance_is_honoured_by_another() {
    let cluster = PgCluster::start();
    let (pg_a, pg_b) = (instance(&cluster).await, instance(&cluster).await);
    let config = config(hourly(1), OFF, no_backoff());
    let a = Arc::new(Guard::start(
        &config,
        &DeliveryLog::disabled(),
        shared(&pg_a),
    ));
    let b = Arc::new(Guard::start(
        &config,
        &DeliveryLog::disabled(),
        shared(&pg_b),
    ));
    let mut reads = b.safe_list_reads();
    // B's first read, at start.
    read_after(&mut reads, 0).await;

    a.allow(vec![api_entry("+1555")]).await.expect("added");
    assert!(a.safe_list().covers("+15550001234"));
    // B has no listener in this test: it learns of the edit when it re-reads.
    assert!(!b.safe_list().covers("+15550001234"));
    b.reload_safe_list().await.expect("read");
    assert!(b.safe_list().covers("+15550001234"));
    let qa = message("+15550001234", "192.0.2.7");
    for _ in 0..3 {
        assert_eq!(b.screen(&qa, None, *NOW).await, Verdict::Pass);
    }

    // A notification (as B's listener would hand it on) makes B re-read.
    assert!(a.disallow("+1555".to_owned()).await.expect("removed"));
    let seen = *reads.borrow_and_update();
    pg_b.announce_for_tests(Topic::SafeList);
    read_after(&mut reads, seen).await;
    assert!(!b.safe_list().covers("+15550001234"));

    // So does a reconnected listener (notifications may have been lost).
    a.replace_safe_list(vec![api_entry("+1666")])
        .await
        .expect("replaced");
    let seen = *reads.borrow_and_update();
    pg_b.announce_for_tests(Topic::Reconnected);
    read_after(&mut reads, seen).await;
    assert!(b.safe_list().covers("+16660001234"));
    assert_eq!(b.safe_list().api_entries().len(), 1);
}

fn answer(status: u16) -> Stored {
    let event = axum::http::HeaderValue::from_str(&format!("ev-{status}")).expect("a header value");
    Stored::new(
        status,
        [(
            &axum::http::HeaderName::from_static("x-phonehook-event-id"),
            &event,
        )],
        &bytes_of(status),
    )
}

fn bytes_of(status: u16) -> bytes::Bytes {
    bytes::Bytes::from(format!("{{\"status\":{status}}}"))
}

/// What one instance did with a call.
#[derive(Debug, PartialEq, Eq)]
enum Did {
    Sent,
    Replayed(u16),
}

/// One instance's handling of a call: begin, and when it sends, answer
/// with `status`.
async fn call(store: Arc<Idempotency>, m: Message, status: u16) -> Did {
    let key = store.key("hook", None, &m);
    match store.begin(&key).await {
        Begin::Send(claim) => {
            store.finish(claim, &answer(status)).await;
            Did::Sent
        }
        Begin::Replay(stored) => {
            // Through the shared table's text pairs and back.
            assert_eq!(stored, answer(stored.status()));
            Did::Replayed(stored.status())
        }
    }
}

fn idempotency(pg: &Postgres) -> Arc<Idempotency> {
    Arc::new(Idempotency::new(
        &IdempotencyConfig::default(),
        shared(pg),
        Duration::from_secs(15),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_on_another_instance_gets_the_first_answer() {
    let cluster = PgCluster::start();
    let (one, two) = (
        idempotency(&instance(&cluster).await),
        idempotency(&instance(&cluster).await),
    );
    let m = message("+14155550100", "192.0.2.1");
    assert_eq!(
        one.key("hook", None, &m),
        two.key("hook", None, &m),
        "every instance names a call alike"
    );

    // Both at once: exactly one sends, the other repeats its delivery.
    let (a, b) = tokio::join!(
        call(one.clone(), m.clone(), 200),
        call(two.clone(), m.clone(), 200)
    );
    let mut did = [a, b];
    did.sort_by_key(|d| matches!(d, Did::Replayed(_)));
    assert_eq!(did, [Did::Sent, Did::Replayed(200)]);
    // And later, on either.
    assert_eq!(call(one.clone(), m.clone(), 200).await, Did::Replayed(200));

    // A failed first call frees the key: the repeat waiting on the other
    // instance sends.
    let other = message("+14155550101", "192.0.2.1");
    let key = one.key("hook", None, &other);
    let Begin::Send(claim) = one.begin(&key).await else {
        panic!("the first call sends");
    };
    let waiting = tokio::spawn(call(two.clone(), other.clone(), 200));
    one.finish(claim, &answer(502)).await;
    assert_eq!(waiting.await.expect("ran"), Did::Sent);
    assert_eq!(call(one.clone(), other, 200).await, Did::Replayed(200));
}

/// Rows in a table, read directly.
async fn rows(pg: &Postgres, table: &str) -> i64 {
    let client = pg.client().await.expect("a connection");
    let row = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .expect("counted");
    row.get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_database_down_both_go_on_locally_and_return_to_it() {
    let cluster = PgCluster::start();
    let pg = instance(&cluster).await;
    let guard = Guard::start(
        &config(hourly(2), OFF, no_backoff()),
        &DeliveryLog::disabled(),
        shared(&pg),
    );
    let calls = idempotency(&pg);
    let before = guard.number_status("+14155550100", *NOW).await;
    assert_eq!(before.counted_by, CountedBy::SharedStore);

    cluster.stop();
    // The guard decides from memory: the limit holds for this instance.
    let m = message("+14155550100", "192.0.2.1");
    assert_eq!(guard.screen(&m, None, *NOW).await, Verdict::Pass);
    assert_eq!(guard.screen(&m, None, *NOW).await, Verdict::Pass);
    assert!(matches!(
        guard.screen(&m, None, *NOW).await,
        Verdict::Refuse(Refusal::RateLimited {
            rule: Rule::PerNumber,
            ..
        })
    ));
    assert!(pg.health().is_degraded());
    // An admin looking at the number sees this instance's counts, and is
    // told so.
    let during = guard.number_status("+14155550100", *NOW).await;
    assert_eq!(during.counted_by, CountedBy::ThisInstanceStoreUnreachable);
    assert_eq!(during.per_number.map(|c| c.count), Some(2), "{during:?}");
    // Idempotency sends, alone.
    assert_eq!(call(calls.clone(), m.clone(), 200).await, Did::Sent);

    cluster.start_again();
    // Back to the database: a new number's admission and a new call are
    // kept there. (The first call after the restart may meet a connection
    // the restart broke; a few numbers make room for that one.)
    let mut counted = 0;
    for i in 0..5 {
        let fresh = message(&format!("+1415555{:04}", 3000 + i), "192.0.2.2");
        assert_eq!(guard.screen(&fresh, None, *NOW).await, Verdict::Pass);
        assert_eq!(call(calls.clone(), fresh, 200).await, Did::Sent);
        counted = rows(&pg, "guard_counters").await;
        if counted > 0 && rows(&pg, "idempotency").await > 0 {
            break;
        }
    }
    assert!(counted > 0, "no admission reached the database again");
    assert!(rows(&pg, "idempotency").await > 0);
}
