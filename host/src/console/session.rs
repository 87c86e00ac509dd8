//! Console sessions, held in this process's memory: a login creates one, a
//! logout or [`ConsoleConfig::session_idle_minutes`] without a request ends
//! it, and a restart ends them all. Bounded by
//! [`ConsoleConfig::max_sessions`]: at the bound a new login ends the session
//! that was used least recently, so logins cannot grow memory without end.
//!
//! The browser holds only the session id; the table is keyed by the id's
//! SHA-256, so a lookup compares digests and never leaks, through timing,
//! how much of a guessed id was right.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::ConsoleConfig;

/// A logged-in browser, as a request sees it.
#[derive(Clone)]
pub struct Session {
    /// The id the cookie carries.
    pub id: SessionId,
    /// The session's CSRF token: every state-changing form carries it.
    pub csrf: String,
}

// Neither the id nor the CSRF token may reach a log line.
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session(..)")
    }
}

/// A session id: 32 random bytes in hex. Its `Debug` form hides the value,
/// so no log line can carry a live session.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    /// The id as the cookie carries it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn key(text: &str) -> [u8; 32] {
        Sha256::digest(text.as_bytes()).into()
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(..)")
    }
}

struct Entry {
    csrf: String,
    last_seen: Instant,
}

/// Every live console session.
pub struct Sessions {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    idle: Duration,
    max: usize,
}

impl Sessions {
    /// An empty table with `config`'s lifetime and bound.
    pub fn new(config: &ConsoleConfig) -> Sessions {
        Sessions {
            entries: Mutex::new(HashMap::new()),
            idle: config.idle(),
            max: config.max_sessions.max(1),
        }
    }

    /// How long a session lives without a request.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// A new session (after a correct admin token).
    pub fn create(&self) -> Session {
        let id = SessionId(hex::encode(rand::random::<[u8; 32]>()));
        let csrf = hex::encode(rand::random::<[u8; 32]>());
        let now = Instant::now();
        let mut entries = self.lock();
        entries.retain(|_, e| now.duration_since(e.last_seen) < self.idle);
        while entries.len() >= self.max {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.last_seen)
                .map(|(key, _)| *key);
            match oldest {
                Some(key) => entries.remove(&key),
                None => break,
            };
        }
        entries.insert(
            SessionId::key(&id.0),
            Entry {
                csrf: csrf.clone(),
                last_seen: now,
            },
        );
        Session { id, csrf }
    }

    /// The live session with this id, its idle time restarted; none when it
    /// never existed, was ended, or sat idle too long (then it is removed).
    pub fn touch(&self, id: &str) -> Option<Session> {
        let key = SessionId::key(id);
        let now = Instant::now();
        let mut entries = self.lock();
        let entry = entries.get_mut(&key)?;
        if now.duration_since(entry.last_seen) >= self.idle {
            entries.remove(&key);
            return None;
        }
        entry.last_seen = now;
        Some(Session {
            id: SessionId(id.to_owned()),
            csrf: entry.csrf.clone(),
        })
    }

    /// Ends the session (logout): its cookie no longer opens anything.
    pub fn end(&self, id: &SessionId) {
        self.lock().remove(&SessionId::key(&id.0));
    }

    /// How many sessions are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // A panic while holding the lock leaves a table that is still consistent
    // (every change is one map operation), so a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(idle_minutes: u64, max: usize) -> Sessions {
        Sessions::new(&ConsoleConfig {
            session_idle_minutes: idle_minutes,
            max_sessions: max,
            secure_cookie: false,
        })
    }

    #[test]
    fn a_session_is_found_until_it_is_ended() {
        let table = sessions(60, 4);
        let session = table.create();
        let found = table.touch(session.id.as_str()).unwrap();
        assert_eq!(found.csrf, session.csrf);
        assert!(table.touch("not-a-session").is_none());
        table.end(&session.id);
        assert!(table.touch(session.id.as_str()).is_none());
    }

    #[test]
    fn sessions_do_not_share_ids_or_csrf_tokens() {
        let table = sessions(60, 4);
        let (a, b) = (table.create(), table.create());
        assert_ne!(a.id, b.id);
        assert_ne!(a.csrf, b.csrf);
        assert_eq!(a.id.as_str().len(), 64);
    }

    #[test]
    fn at_the_bound_the_least_recently_used_session_ends() {
        let table = sessions(60, 2);
        let first = table.create();
        let second = table.create();
        // The first is used again, so the second is now the oldest.
        table.touch(first.id.as_str()).unwrap();
        let third = table.create();
        assert_eq!(table.len(), 2);
        assert!(table.touch(second.id.as_str()).is_none());
        assert!(table.touch(first.id.as_str()).is_some());
        assert!(table.touch(third.id.as_str()).is_some());
    }

    #[test]
    fn an_idle_session_expires() {
        // Zero minutes: every session is already idle too long.
        let table = sessions(0, 2);
        let session = table.create();
        assert!(table.touch(session.id.as_str()).is_none());
        assert!(table.is_empty());
    }

    #[test]
    fn the_debug_form_hides_the_id() {
        let table = sessions(60, 2);
        let session = table.create();
        let shown = format!("{session:?} {:?}", session.id);
        assert!(!shown.contains(session.id.as_str()));
        assert!(!shown.contains(&session.csrf));
    }
}
