//! The guard's state in the shared PostgreSQL store (`guard_counters`,
//! `guard_safe_list`, migration 0003): what makes limits hold across
//! instances.
//!
//! An admission is one transaction: the message's keys are inserted when
//! missing, locked in key order (two admissions never wait on each other
//! in a circle), handed to [`counters::decide`] — the code the memory store
//! runs — and written back when counted. The database answers within
//! [`ADMISSION_LIMIT`] or the guard decides from its own memory for that
//! message (see the module docs of [`crate::guard`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio_postgres::Row as PgRow;
use tokio_util::sync::CancellationToken;

use super::config::BackoffConfig;
use super::counters::{self, Admission, BackoffState, Outcome, Row, Usage};
use super::safelist::{Entry, EntrySource, SafeList};
use crate::store::postgres::Topic;
use crate::store::{Postgres, StoreError};

/// How long the send path waits for the database's admission, unless
/// [`super::Guard::with_admission_limit`] says otherwise.
pub const ADMISSION_LIMIT: Duration = Duration::from_millis(500);

/// How long an admin call waits for the database.
pub const ADMIN_LIMIT: Duration = Duration::from_secs(2);

/// How often expired counter rows are deleted.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Rows deleted per statement by the sweep, so it never holds many locks.
const SWEEP_BATCH: i64 = 10_000;

/// A key as PostgreSQL keeps it: the same 64 bits, signed.
fn key_db(key: u64) -> i64 {
    i64::from_be_bytes(key.to_be_bytes())
}

fn key_of_db(key: i64) -> u64 {
    u64::from_be_bytes(key.to_be_bytes())
}

/// A stored count or time back in the counters' width (a value out of range
/// can only come from a hand-edited row: saturate rather than fail).
fn u32_of_db(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

fn i64_of_u64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn row_of(row: &PgRow) -> Result<Row, StoreError> {
    Ok(Row {
        key: key_of_db(row.try_get(0)?),
        window_end_s: u32_of_db(row.try_get(1)?),
        count: u32_of_db(row.try_get(2)?),
        sends: u32_of_db(row.try_get(3)?),
        last_s: u32_of_db(row.try_get(4)?),
        next_s: u32_of_db(row.try_get(5)?),
    })
}

const COLUMNS: &str = "key, window_end_s, count, sends, last_s, next_s";

/// Admits (or, with `always`, counts) `a` in the shared counters.
pub async fn admit(
    pg: &Postgres,
    limit: Duration,
    a: &Admission<'_>,
    now_s: u64,
    always: bool,
) -> Result<Outcome, StoreError> {
    // The number's own row only when a rule keeps something in it (its
    // window or its burst), so no row is made for nothing.
    let number = (a.backoff.after > 0).then_some(a.number);
    let mut keys: Vec<i64> = a
        .checks
        .iter()
        .map(|c| c.key)
        .chain(number)
        .map(key_db)
        .collect();
    // One order for every transaction, inserting and locking alike.
    keys.sort_unstable();
    keys.dedup();
    pg.within("guard admission", limit, |mut client| async move {
        let tx = client.transaction().await?;
        let insert = tx
            .prepare_cached(
                "INSERT INTO guard_counters (key) SELECT unnest($1::bigint[]) ORDER BY 1
                 ON CONFLICT (key) DO NOTHING",
            )
            .await?;
        let select = tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM guard_counters WHERE key = ANY($1) ORDER BY key FOR UPDATE"
            ))
            .await?;
        let mut found = Vec::new();
        // The sweep may delete an expired row between the insert (which
        // found it) and the lock: insert again, a few times at most; a key
        // still missing counts from zero and is written back by the upsert.
        for _ in 0..3 {
            tx.execute(&insert, &[&keys]).await?;
            found = tx.query(&select, &[&keys]).await?;
            if found.len() == keys.len() {
                break;
            }
        }
        let rows = found.iter().map(row_of).collect::<Result<Vec<_>, _>>()?;
        let (outcome, changed) = counters::decide(a, now_s, always, &rows);
        if let Some(changed) = changed {
            write(&tx, &changed).await?;
        }
        tx.commit().await?;
        Ok(outcome)
    })
    .await
}

async fn write(tx: &deadpool_postgres::Transaction<'_>, rows: &[Row]) -> Result<(), StoreError> {
    let column =
        |f: fn(&Row) -> u32| -> Vec<i64> { rows.iter().map(|r| i64::from(f(r))).collect() };
    let keys: Vec<i64> = rows.iter().map(|r| key_db(r.key)).collect();
    let upsert = tx
        .prepare_cached(&format!(
            "INSERT INTO guard_counters ({COLUMNS})
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
             ON CONFLICT (key) DO UPDATE SET window_end_s = EXCLUDED.window_end_s,
                count = EXCLUDED.count, sends = EXCLUDED.sends,
                last_s = EXCLUDED.last_s, next_s = EXCLUDED.next_s"
        ))
        .await?;
    tx.execute(
        &upsert,
        &[
            &keys,
            &column(|r| r.window_end_s),
            &column(|r| r.count),
            &column(|r| r.sends),
            &column(|r| r.last_s),
            &column(|r| r.next_s),
        ],
    )
    .await?;
    Ok(())
}

/// One number's counter and backoff, from its shared row.
pub async fn number_status(
    pg: &Postgres,
    number: u64,
    now_s: u64,
    policy: &BackoffConfig,
) -> Result<(Option<Usage>, Option<BackoffState>), StoreError> {
    let row = pg
        .within("guard number status", ADMIN_LIMIT, |client| async move {
            let row = client
                .query_opt(
                    &format!("SELECT {COLUMNS} FROM guard_counters WHERE key = $1"),
                    &[&key_db(number)],
                )
                .await?;
            row.as_ref().map(row_of).transpose()
        })
        .await?;
    Ok(row.map_or((None, None), |row| {
        counters::number_row_status(&row, now_s, policy)
    }))
}

/// Forgets one number's counter and backoff, on every instance.
pub async fn forget_number(pg: &Postgres, number: u64) -> Result<(), StoreError> {
    pg.within("guard reset", ADMIN_LIMIT, |client| async move {
        client
            .execute(
                "DELETE FROM guard_counters WHERE key = $1",
                &[&key_db(number)],
            )
            .await?;
        Ok(())
    })
    .await
}

/// Deletes rows nothing needs: the window has ended and the burst (if any)
/// has gone quiet, as the memory store's sweep keeps them. Rows an
/// admission holds are skipped (they are live anyway).
pub async fn sweep(pg: &Postgres, now_s: u64, quiet_secs: u64) -> Result<u64, StoreError> {
    let now = i64_of_u64(now_s);
    let quiet = i64_of_u64(quiet_secs);
    pg.within("guard sweep", ADMIN_LIMIT, |client| async move {
        let mut deleted = 0;
        loop {
            let n = client
                .execute(
                    "DELETE FROM guard_counters WHERE key IN (
                        SELECT key FROM guard_counters
                        WHERE window_end_s <= $1 AND (sends = 0 OR last_s + $2 <= $1)
                        LIMIT $3 FOR UPDATE SKIP LOCKED)",
                    &[&now, &quiet, &SWEEP_BATCH],
                )
                .await?;
            deleted += n;
            if n < u64::try_from(SWEEP_BATCH).unwrap_or(0) {
                return Ok(deleted);
            }
        }
    })
    .await
}

/// The safe-list entries added through the API, as stored.
pub async fn load_safe_list(pg: &Postgres) -> Result<Vec<Entry>, StoreError> {
    pg.within("guard safe list", ADMIN_LIMIT, |client| async move {
        let rows = client
            .query(
                "SELECT entry, note, added_ms FROM guard_safe_list ORDER BY entry",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Entry {
                    entry: r.try_get(0)?,
                    note: r.try_get(1)?,
                    added_ms: r.try_get(2)?,
                    source: EntrySource::Api,
                })
            })
            .collect()
    })
    .await
}

/// A change to the stored safe list.
pub enum Edit<'a> {
    /// Adds (or re-notes) entries.
    Add(&'a [Entry]),
    /// Removes one entry.
    Remove(&'a str),
    /// Replaces every entry.
    Replace(&'a [Entry]),
}

/// Applies `edit` to the stored safe list; whether a removed entry was
/// there. Then tells every instance to re-read it.
pub async fn edit_safe_list(pg: &Postgres, edit: Edit<'_>) -> Result<bool, StoreError> {
    let changed = pg
        .within("guard safe list edit", ADMIN_LIMIT, |mut client| async move {
            let tx = client.transaction().await?;
            let mut changed = true;
            let entries = match edit {
                Edit::Add(entries) => entries,
                Edit::Replace(entries) => {
                    tx.execute("DELETE FROM guard_safe_list", &[]).await?;
                    entries
                }
                Edit::Remove(entry) => {
                    let n = tx
                        .execute("DELETE FROM guard_safe_list WHERE entry = $1", &[&entry])
                        .await?;
                    changed = n > 0;
                    &[]
                }
            };
            for e in entries {
                tx.execute(
                    "INSERT INTO guard_safe_list (entry, note, added_ms) VALUES ($1, $2, $3)
                     ON CONFLICT (entry) DO UPDATE SET note = EXCLUDED.note, added_ms = EXCLUDED.added_ms",
                    &[&e.entry, &e.note, &e.added_ms],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(changed)
        })
        .await?;
    // The edit is stored; an instance that misses the notification re-reads
    // when its listener reconnects.
    if let Err(e) = pg.notify(Topic::SafeList).await {
        tracing::warn!(error = %e, "the safe list changed but the other instances were not told; they re-read it when their listener reconnects");
    }
    Ok(changed)
}

/// Re-reads the stored safe list into `safe`.
pub async fn reload(pg: &Postgres, safe: &SafeList) -> Result<(), StoreError> {
    let entries = load_safe_list(pg).await?;
    safe.load_api_entries(entries);
    Ok(())
}

/// What the guard's background task needs.
pub(super) struct Follow {
    /// The shared store.
    pub(super) pg: Postgres,
    /// The guard's safe list, replaced whole on every read.
    pub(super) safe: Arc<SafeList>,
    /// Counts the reads ([`super::Guard::safe_list_reads`]).
    pub(super) reloads: Arc<tokio::sync::watch::Sender<u64>>,
    /// The backoff's quiet period: a burst's row is kept that long.
    pub(super) quiet_secs: u64,
    /// Cancelled when the guard is dropped.
    pub(super) stop: CancellationToken,
}

impl Follow {
    /// Re-reads the safe list now, then whenever it changed or a change may
    /// have been missed (the listener reconnected, or this subscriber fell
    /// behind); sweeps expired counters every [`SWEEP_EVERY`]. Until `stop`.
    pub(super) async fn run(self) {
        // Subscribed before the first read, so no change falls in between.
        let mut topics = self.pg.subscribe();
        self.reload().await;
        let mut sweeps = tokio::time::interval(SWEEP_EVERY);
        sweeps.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return,
                topic = topics.recv() => match topic {
                    Ok(Topic::SafeList | Topic::Reconnected) | Err(RecvError::Lagged(_)) => {
                        self.reload().await;
                    }
                    Ok(_) => {}
                    Err(RecvError::Closed) => return,
                },
                _ = sweeps.tick() => {
                    let now_s = crate::deliverylog::time::now_ms() / 1000;
                    let now_s = u64::try_from(now_s).unwrap_or(0);
                    match sweep(&self.pg, now_s, self.quiet_secs).await {
                        Ok(0) => {}
                        Ok(n) => tracing::debug!(rows = n, "expired guard counters deleted"),
                        Err(e) => tracing::debug!(error = %e, "the guard's counters were not swept"),
                    }
                }
            }
        }
    }

    async fn reload(&self) {
        match reload(&self.pg, &self.safe).await {
            Ok(()) => {
                self.reloads.send_modify(|n| *n += 1);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot re-read the shared safe list; keeping the last one read");
            }
        }
    }
}
