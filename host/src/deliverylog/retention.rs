//! Retention: events older than `retention_days` are deleted at start-up and
//! then every [`INTERVAL`] — on SQLite by the writer thread; on PostgreSQL
//! by the writer task at start-up and then by a task of its own (row locks
//! let it delete while the writer inserts; several instances may each do
//! it, which only repeats harmless deletes).
//!
//! On SQLite the writer does it (not a task of its own) because SQLite has one writer
//! at a time: a second connection deleting would make the writer's inserts
//! wait on its lock. Deleting in chunks keeps each write transaction short,
//! so a large backlog (say, retention lowered from a year to a week) does not
//! hold up the events queued behind it for long.

use std::time::{Duration, Instant};

use rusqlite::{params, Connection};

use super::LogError;

/// How often retention runs.
pub const INTERVAL: Duration = Duration::from_secs(3600);

/// Rows deleted per transaction.
pub const CHUNK: i64 = 5000;

const MS_PER_DAY: i64 = 86_400_000;

/// Deletes one chunk of events older than `?1` (at most `?2` of them); both
/// stores run it.
pub const DELETE_CHUNK: &str =
    "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE time_ms < ?1 LIMIT ?2)";

/// The oldest time kept when keeping `days` days before `now_ms`, or none
/// when everything is kept (`days == 0`).
pub fn cutoff(days: u32, now_ms: i64) -> Option<i64> {
    (days > 0).then(|| now_ms.saturating_sub(i64::from(days) * MS_PER_DAY))
}

/// Deletes events older than `days` before `now_ms`; returns how many.
/// `days == 0` keeps everything.
pub fn purge(conn: &Connection, days: u32, now_ms: i64) -> Result<usize, LogError> {
    let Some(cutoff) = cutoff(days, now_ms) else {
        return Ok(0);
    };
    let mut deleted = 0;
    loop {
        let n = conn.execute(DELETE_CHUNK, params![cutoff, CHUNK])?;
        deleted += n;
        if i64::try_from(n).unwrap_or(i64::MAX) < CHUNK {
            return Ok(deleted);
        }
    }
}

/// When retention is next due.
#[derive(Debug)]
pub struct Schedule {
    next: Instant,
    interval: Duration,
}

impl Schedule {
    /// Due now, then every `interval`.
    pub fn new(interval: Duration) -> Schedule {
        Schedule {
            next: Instant::now(),
            interval,
        }
    }

    /// Whether it is due.
    pub fn due(&self) -> bool {
        Instant::now() >= self.next
    }

    /// Time until it is due (zero when due).
    pub fn wait(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }

    /// Marks a run (successful or not): the next is one interval away.
    pub fn ran(&mut self) {
        self.next = Instant::now() + self.interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliverylog::schema;

    fn insert(conn: &Connection, id: &str, time_ms: i64) -> Result<(), LogError> {
        conn.execute(
            "INSERT INTO events (id, time_ms, type, route, plugin, plugin_version, generation, action, \
             language, recipient_mask, recipient_hash, client_id, user_id, ip, latency_ms, text_chars) \
             VALUES (?1, ?2, 'gd_send_sms', 'hook', 'p', '1', 1, '', '', '+1**23', 'h', '', '', '', 1.0, 5)",
            params![id, time_ms],
        )?;
        Ok(())
    }

    fn ids(conn: &Connection) -> Result<Vec<String>, LogError> {
        let mut stmt = conn.prepare("SELECT id FROM events ORDER BY time_ms")?;
        let ids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    #[test]
    fn deletes_only_what_is_older_than_the_retention() -> Result<(), LogError> {
        let dir = tempfile::tempdir().map_err(LogError::Thread)?;
        let conn = schema::open_rw(&dir.path().join("log.db"))?;
        let now = 100 * MS_PER_DAY;
        for (id, age_days) in [("ancient", 400), ("old", 31), ("edge", 30), ("new", 1)] {
            insert(&conn, id, now - age_days * MS_PER_DAY)?;
        }
        assert_eq!(purge(&conn, 0, now)?, 0, "0 keeps everything");
        assert_eq!(purge(&conn, 30, now)?, 2);
        assert_eq!(ids(&conn)?, ["edge", "new"]);
        assert_eq!(purge(&conn, 30, now)?, 0);
        Ok(())
    }

    #[test]
    fn deletes_a_backlog_larger_than_one_chunk() -> Result<(), LogError> {
        let dir = tempfile::tempdir().map_err(LogError::Thread)?;
        let mut conn = schema::open_rw(&dir.path().join("log.db"))?;
        let tx = conn.transaction()?;
        for i in 0..(CHUNK * 2 + 3) {
            insert(&tx, &format!("e{i}"), i)?;
        }
        tx.commit()?;
        assert_eq!(purge(&conn, 1, 10 * MS_PER_DAY)?, (CHUNK * 2 + 3) as usize);
        Ok(())
    }
}
