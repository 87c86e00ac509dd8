//! Attempts per minute, delivered or failed: what the console's overview
//! chart draws. Counted by the database over the `events_time` index, so the chart
//! costs one grouped query whatever the traffic, instead of reading every
//! event of the hour through pages.

use rusqlite::{params_from_iter, Connection};

use super::event::EventType;

/// One minute's worth of attempts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Minute {
    /// The minute's start, Unix milliseconds (a multiple of 60 000).
    pub start_ms: i64,
    /// Attempts the vendor accepted.
    pub delivered: u64,
    /// Attempts that failed, for whatever reason.
    pub failed: u64,
}

/// A minute in milliseconds.
pub const MINUTE_MS: i64 = 60_000;

/// Counts by minute and type between `?2` (inclusive) and `?3` (exclusive),
/// `?1` being [`MINUTE_MS`]; both stores run it.
pub const SQL: &str = "SELECT (time_ms / ?1) * ?1 AS minute, type, COUNT(*) FROM events \
     WHERE time_ms >= ?2 AND time_ms < ?3 GROUP BY minute, type";

/// The window [`SQL`] counts over for `minutes` minutes up to `now_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The first minute's start.
    pub first: i64,
    /// How many minutes (at least one).
    pub minutes: i64,
}

impl Window {
    /// The `minutes` whole minutes up to and including the one holding
    /// `now_ms`.
    pub fn new(now_ms: i64, minutes: u32) -> Window {
        let minutes = i64::from(minutes.max(1));
        let last = now_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
        Window {
            first: last - MINUTE_MS * (minutes - 1),
            minutes,
        }
    }

    /// [`SQL`]'s three parameters.
    pub fn params(&self) -> [i64; 3] {
        [MINUTE_MS, self.first, self.first + MINUTE_MS * self.minutes]
    }

    /// Every minute with its counts from [`SQL`]'s rows (minute start,
    /// type code, count), oldest first; zero where nothing happened.
    pub fn tally(&self, rows: impl IntoIterator<Item = (i64, String, i64)>) -> Vec<Minute> {
        let mut out: Vec<Minute> = (0..self.minutes)
            .map(|i| Minute {
                start_ms: self.first + i * MINUTE_MS,
                ..Minute::default()
            })
            .collect();
        for (minute, code, count) in rows {
            let index = (minute - self.first).div_euclid(MINUTE_MS);
            let Some(slot) = usize::try_from(index).ok().and_then(|i| out.get_mut(i)) else {
                continue;
            };
            let count = u64::try_from(count).unwrap_or(0);
            // A type this version does not know (a newer writer) counts as
            // failed rather than vanishing from the chart.
            match EventType::parse(&code) {
                Some(kind) if !kind.is_failure() => slot.delivered += count,
                _ => slot.failed += count,
            }
        }
        out
    }
}

/// The `minutes` whole minutes up to and including the one holding `now_ms`,
/// oldest first, each with its counts (zero when nothing happened), from
/// SQLite.
pub fn per_minute(
    conn: &Connection,
    now_ms: i64,
    minutes: u32,
) -> Result<Vec<Minute>, rusqlite::Error> {
    let window = Window::new(now_ms, minutes);
    let mut stmt = conn.prepare(SQL)?;
    let rows = stmt
        .query_map(params_from_iter(window.params()), |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(window.tally(rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::params;

    fn log_with(times_and_types: &[(i64, &str)]) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE events (time_ms INTEGER NOT NULL, type TEXT NOT NULL)")
            .unwrap();
        for (time, kind) in times_and_types {
            conn.execute(
                "INSERT INTO events (time_ms, type) VALUES (?1, ?2)",
                params![time, kind],
            )
            .unwrap();
        }
        conn
    }

    #[test]
    fn counts_each_minute_by_outcome_and_leaves_out_older_ones() {
        let now = 10 * MINUTE_MS + 30_000;
        let conn = log_with(&[
            (10 * MINUTE_MS + 1, "gd_send_sms"),
            (10 * MINUTE_MS + 2, "gd_send_voice_failure"),
            (10 * MINUTE_MS + 3, "gd_send_sms_failure"),
            (8 * MINUTE_MS, "gd_send_voice"),
            // Before the window of three minutes (8, 9, 10).
            (7 * MINUTE_MS + 59_999, "gd_send_sms"),
        ]);
        let minutes = per_minute(&conn, now, 3).unwrap();
        let starts: Vec<i64> = minutes.iter().map(|m| m.start_ms).collect();
        assert_eq!(starts, [8 * MINUTE_MS, 9 * MINUTE_MS, 10 * MINUTE_MS]);
        let counts: Vec<(u64, u64)> = minutes.iter().map(|m| (m.delivered, m.failed)).collect();
        assert_eq!(counts, [(1, 0), (0, 0), (1, 2)]);
    }
}
