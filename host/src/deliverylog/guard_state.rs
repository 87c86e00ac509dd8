//! What the abuse guard keeps across restarts: the safe list an admin edits
//! through the API, and the numbers in backoff (by recipient hash). Plain
//! functions over a connection, as `control` is; the guard reaches the
//! connection through [`super::DeliveryLog::with_connection`], off the send
//! path.

use rusqlite::{params, Connection};

/// One safe-list entry as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    /// `+` and digits: a whole number or a prefix.
    pub entry: String,
    /// Why it is there (free text, may be empty).
    pub note: String,
    /// When it was added, in Unix milliseconds.
    pub added_ms: i64,
}

/// One number's backoff as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBackoff {
    /// Hex HMAC of the number (as `events.recipient_hash`).
    pub recipient_hash: String,
    /// Sends in the current burst.
    pub sends: u32,
    /// The last send, in Unix milliseconds.
    pub last_ms: i64,
    /// When the next send may go, in Unix milliseconds.
    pub next_ms: i64,
}

/// Every stored safe-list entry, in entry order.
pub fn safe_list(conn: &Connection) -> rusqlite::Result<Vec<StoredEntry>> {
    let mut stmt =
        conn.prepare("SELECT entry, note, added_ms FROM guard_safe_list ORDER BY entry")?;
    let rows = stmt.query_map([], |row| {
        Ok(StoredEntry {
            entry: row.get(0)?,
            note: row.get(1)?,
            added_ms: row.get(2)?,
        })
    })?;
    rows.collect()
}

/// Adds `entry`, or replaces its note.
pub fn put_safe_entry(conn: &Connection, entry: &StoredEntry) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO guard_safe_list (entry, note, added_ms) VALUES (?1, ?2, ?3)",
        params![entry.entry, entry.note, entry.added_ms],
    )?;
    Ok(())
}

/// Removes `entry`; whether it was there.
pub fn delete_safe_entry(conn: &Connection, entry: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM guard_safe_list WHERE entry = ?1", [entry])? > 0)
}

/// Replaces the whole stored list, in one transaction.
pub fn replace_safe_list(conn: &mut Connection, entries: &[StoredEntry]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM guard_safe_list", [])?;
    for e in entries {
        put_safe_entry(&tx, e)?;
    }
    tx.commit()
}

/// The backoffs still in force at `now_ms` or within `quiet_ms` of their last
/// send (older ones have reset and are deleted on the way).
pub fn backoffs(
    conn: &Connection,
    now_ms: i64,
    quiet_ms: i64,
) -> rusqlite::Result<Vec<StoredBackoff>> {
    let horizon = now_ms.saturating_sub(quiet_ms);
    conn.execute("DELETE FROM guard_backoff WHERE last_ms < ?1", [horizon])?;
    let mut stmt =
        conn.prepare("SELECT recipient_hash, sends, last_ms, next_ms FROM guard_backoff")?;
    let rows = stmt.query_map([], |row| {
        Ok(StoredBackoff {
            recipient_hash: row.get(0)?,
            sends: row.get(1)?,
            last_ms: row.get(2)?,
            next_ms: row.get(3)?,
        })
    })?;
    rows.collect()
}

/// Stores `backoff`, replacing the number's earlier one.
pub fn put_backoff(conn: &Connection, backoff: &StoredBackoff) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO guard_backoff (recipient_hash, sends, last_ms, next_ms)
         VALUES (?1, ?2, ?3, ?4)",
        params![
            backoff.recipient_hash,
            backoff.sends,
            backoff.last_ms,
            backoff.next_ms
        ],
    )?;
    Ok(())
}

/// Forgets one number's backoff (an admin reset it).
pub fn delete_backoff(conn: &Connection, recipient_hash: &str) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM guard_backoff WHERE recipient_hash = ?1",
        [recipient_hash],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliverylog::{schema, LogError};

    #[test]
    fn the_safe_list_and_backoffs_round_trip() -> Result<(), LogError> {
        let dir = tempfile::tempdir().map_err(LogError::Thread)?;
        let mut conn = schema::open_rw(&dir.path().join("log.db"))?;
        let qa = StoredEntry {
            entry: "+14155550100".into(),
            note: "QA phone".into(),
            added_ms: 1,
        };
        let range = StoredEntry {
            entry: "+1555".into(),
            note: String::new(),
            added_ms: 2,
        };
        put_safe_entry(&conn, &qa)?;
        put_safe_entry(&conn, &range)?;
        assert_eq!(safe_list(&conn)?, vec![qa.clone(), range.clone()]);
        assert!(delete_safe_entry(&conn, "+1555")?);
        assert!(!delete_safe_entry(&conn, "+1555")?);
        replace_safe_list(&mut conn, std::slice::from_ref(&range))?;
        assert_eq!(safe_list(&conn)?, vec![range]);

        let fresh = StoredBackoff {
            recipient_hash: "aa".into(),
            sends: 4,
            last_ms: 10_000,
            next_ms: 70_000,
        };
        let stale = StoredBackoff {
            recipient_hash: "bb".into(),
            sends: 5,
            last_ms: 1_000,
            next_ms: 2_000,
        };
        put_backoff(&conn, &fresh)?;
        put_backoff(&conn, &stale)?;
        // At 20 s with a 15 s quiet period, only the fresh one still holds.
        assert_eq!(backoffs(&conn, 20_000, 15_000)?, vec![fresh]);
        delete_backoff(&conn, "aa")?;
        assert_eq!(backoffs(&conn, 20_000, 15_000)?, vec![]);
        Ok(())
    }
}
