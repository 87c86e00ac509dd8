//! The stored API swap: which plugin an admin made active through the API,
//! the configured active plugin in force at that moment, and when. Read at
//! start to decide whether the swap still holds (see `crate::control`).
//!
//! Plain functions over a connection; the caller reaches the connection
//! through [`super::DeliveryLog::with_connection`].

use rusqlite::{params, Connection, OptionalExtension};

/// One stored swap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSwap {
    /// The plugin the API made active.
    pub plugin: String,
    /// The configured active plugin when the swap happened.
    pub configured: Option<String>,
    /// When, in Unix milliseconds.
    pub time_ms: i64,
}

/// The stored swap, if there is one.
pub fn load(conn: &Connection) -> rusqlite::Result<Option<StoredSwap>> {
    conn.query_row(
        "SELECT plugin, configured, time_ms FROM active_swap WHERE id = 1",
        [],
        |row| {
            Ok(StoredSwap {
                plugin: row.get(0)?,
                configured: row.get(1)?,
                time_ms: row.get(2)?,
            })
        },
    )
    .optional()
}

/// Stores `swap`, replacing any earlier one.
pub fn store(conn: &Connection, swap: &StoredSwap) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO active_swap (id, plugin, configured, time_ms)
         VALUES (1, ?1, ?2, ?3)",
        params![swap.plugin, swap.configured, swap.time_ms],
    )?;
    Ok(())
}

/// Forgets the stored swap (the configuration took over).
pub fn clear(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM active_swap", [])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliverylog::{schema, LogError};

    #[test]
    fn a_swap_is_stored_replaced_and_cleared() -> Result<(), LogError> {
        let dir = tempfile::tempdir().map_err(LogError::Thread)?;
        let conn = schema::open_rw(&dir.path().join("log.db"))?;
        assert_eq!(load(&conn)?, None);
        let first = StoredSwap {
            plugin: "echo".to_owned(),
            configured: Some("sandbox".to_owned()),
            time_ms: 1_700_000_000_000,
        };
        store(&conn, &first)?;
        assert_eq!(load(&conn)?, Some(first));
        let second = StoredSwap {
            plugin: "twilio".to_owned(),
            configured: None,
            time_ms: 1_700_000_000_001,
        };
        store(&conn, &second)?;
        assert_eq!(load(&conn)?, Some(second));
        clear(&conn)?;
        assert_eq!(load(&conn)?, None);
        Ok(())
    }
}
