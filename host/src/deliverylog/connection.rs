//! The one connection to the database, shared by the writer thread, the
//! queries and [`super::DeliveryLog::with_connection`].
//!
//! The database is in WAL mode with `locking_mode = EXCLUSIVE` (see
//! [`super::schema::open_rw`]). In that mode SQLite keeps the WAL index in
//! this process's heap instead of a memory-mapped `-shm` file. A mapped file
//! that cannot be written or grown (made immutable, a full or vanished tmpfs)
//! kills the process with SIGBUS on the next access; heap memory cannot. The
//! price: the connection holds an exclusive lock on the file for as long as
//! it is open, so everything in this process goes through this one
//! connection, and other processes cannot open the file while the server
//! runs (they get "database is locked").
//!
//! **Architecture Invariant:** no code in this process opens the database
//! file while a [`Shared`] holds it open; after [`Shared::close`] each use
//! opens a connection for that use only, so the file is free between uses.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;

use super::{schema, LogError};

/// The shared connection: opened on first use, dropped after a failure so the
/// next use starts from a fresh one.
pub struct Shared {
    path: PathBuf,
    /// The recipient hash key to store when the database has none.
    key_to_store: Option<Vec<u8>>,
    slot: Mutex<Slot>,
}

struct Slot {
    conn: Option<Connection>,
    closed: bool,
}

impl Shared {
    /// `conn` is the connection opened at start-up, if that worked.
    pub fn new(path: PathBuf, conn: Option<Connection>, key_to_store: Option<Vec<u8>>) -> Shared {
        Shared {
            path,
            key_to_store,
            slot: Mutex::new(Slot {
                conn,
                closed: false,
            }),
        }
    }

    /// Runs `f` on the connection, opening it first when needed. Blocking: it
    /// waits for whoever uses the connection now.
    pub fn with<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, LogError>,
    ) -> Result<R, LogError> {
        let mut slot = self.lock();
        if slot.closed {
            let mut conn = self.open()?;
            return f(&mut conn);
        }
        if slot.conn.is_none() {
            slot.conn = Some(self.open()?);
        }
        match slot.conn.as_mut() {
            Some(conn) => f(conn),
            None => Err(LogError::Closed),
        }
    }

    /// Like [`Shared::with`] for reading only: when the file cannot be opened
    /// for writing (a read-only file or directory), `f` reads through a
    /// read-only connection opened for this call.
    pub fn read<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, LogError>,
    ) -> Result<R, LogError> {
        let mut slot = self.lock();
        if slot.conn.is_none() && !slot.closed {
            match self.open() {
                Ok(conn) => slot.conn = Some(conn),
                Err(_) => return f(&mut schema::open_ro(&self.path)?),
            }
        }
        if let Some(conn) = slot.conn.as_mut() {
            return f(conn);
        }
        // Closed: a connection for this call only.
        match self.open() {
            Ok(mut conn) => f(&mut conn),
            Err(_) => f(&mut schema::open_ro(&self.path)?),
        }
    }

    /// Drops the connection (after a failed write): a database that was
    /// read-only, locked or full may be fine by the next use, and a fresh
    /// connection carries no state from the failure.
    pub fn reset(&self) {
        self.lock().conn = None;
    }

    /// Drops the connection for good, releasing the file (graceful shutdown).
    pub fn close(&self) {
        let mut slot = self.lock();
        slot.conn = None;
        slot.closed = true;
    }

    fn open(&self) -> Result<Connection, LogError> {
        let conn = schema::open_rw(&self.path)?;
        if let Some(key) = &self.key_to_store {
            let stored = schema::load_or_store_key(&conn, key).map_err(|e| e.at(&self.path))?;
            if &stored != key {
                tracing::warn!("the delivery log database has another recipient-hash key than the one in use; \
                    searching by full number misses events written since start-up");
            }
        }
        Ok(conn)
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        // A panic while holding the lock (inside a caller's closure) leaves
        // at worst a connection mid-transaction, which rusqlite rolls back
        // when the transaction is dropped; the slot itself stays usable.
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}
