//! The sandbox inbox: where the sandbox plugin "delivers". A bounded in-memory
//! list, like a mail catcher, plus a few magic numbers that make it fail the
//! way real vendors do, so error handling can be tried without an account.

use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};

use serde::Serialize;

/// The secret through which the host hands a plugin the inbox token; the
/// sandbox plugin declares it and sends it as `Authorization: Bearer`.
pub const TOKEN_SECRET: &str = "SANDBOX_INBOX_TOKEN";

/// The token `POST /sandbox/messages` takes when the server has tokens
/// configured: random, drawn once per process and never configured or shown,
/// so only a plugin this host runs can put a message into the inbox.
pub fn token() -> &'static str {
    static TOKEN: OnceLock<String> = OnceLock::new();
    TOKEN.get_or_init(|| hex::encode(rand::random::<[u8; 32]>()))
}

/// A message the inbox received.
#[derive(Clone, Debug, Serialize)]
pub struct InboxMessage {
    /// Inbox id (returned to the plugin as the vendor message id).
    pub id: String,
    /// E.164 recipient.
    pub to: String,
    /// The text.
    pub text: String,
    /// `sms` or `voice`.
    pub channel: String,
    /// Language, if any.
    pub language: String,
    /// When it arrived (RFC 3339).
    pub received_at: String,
}

/// A failure the inbox simulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Simulated {
    /// HTTP status.
    pub status: u16,
    /// Error code.
    pub code: &'static str,
    /// Error text.
    pub message: &'static str,
    /// Retry-After seconds, if any.
    pub retry_after: Option<u32>,
}

/// Recipients that fail on purpose (documented in the README).
pub fn simulated_failure(to: &str) -> Option<Simulated> {
    let sim = |status, code, message, retry_after| {
        Some(Simulated {
            status,
            code,
            message,
            retry_after,
        })
    };
    match to {
        "+15005550001" => sim(
            400,
            "invalid_number",
            "the sandbox treats +15005550001 as an invalid number",
            None,
        ),
        "+15005550002" => sim(
            429,
            "throttled",
            "the sandbox is throttling +15005550002",
            Some(1),
        ),
        "+15005550003" => sim(
            503,
            "unavailable",
            "the sandbox simulates an outage for +15005550003",
            None,
        ),
        _ => None,
    }
}

/// The inbox.
#[derive(Debug)]
pub struct Inbox {
    capacity: usize,
    messages: Mutex<(u64, VecDeque<InboxMessage>)>,
}

impl Inbox {
    /// An empty inbox keeping at most `capacity` messages.
    pub fn new(capacity: usize) -> Inbox {
        Inbox {
            capacity: capacity.max(1),
            messages: Mutex::new((0, VecDeque::new())),
        }
    }

    /// Stores a message and returns its id.
    pub fn push(&self, to: String, text: String, channel: String, language: String) -> String {
        let mut guard = self.messages.lock().unwrap_or_else(|p| p.into_inner());
        guard.0 += 1;
        let id = format!("sbx_{:08}", guard.0);
        if guard.1.len() >= self.capacity {
            guard.1.pop_front();
        }
        guard.1.push_back(InboxMessage {
            id: id.clone(),
            to,
            text,
            channel,
            language,
            received_at: crate::plugins::rfc3339(std::time::SystemTime::now()),
        });
        id
    }

    /// The messages, oldest first, optionally for one recipient.
    pub fn list(&self, to: Option<&str>) -> Vec<InboxMessage> {
        let guard = self.messages.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .1
            .iter()
            .filter(|m| to.is_none_or(|t| m.to == t))
            .cloned()
            .collect()
    }

    /// Removes every message, or only those for one recipient; returns how
    /// many were removed.
    pub fn remove(&self, to: Option<&str>) -> usize {
        let mut guard = self.messages.lock().unwrap_or_else(|p| p.into_inner());
        let before = guard.1.len();
        match to {
            None => guard.1.clear(),
            Some(to) => guard.1.retain(|m| m.to != to),
        }
        before - guard.1.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_takes_only_the_recipients_messages() {
        let inbox = Inbox::new(10);
        for to in ["+14155550100", "+14155550101", "+14155550100"] {
            inbox.push(to.into(), "x".into(), "sms".into(), String::new());
        }
        assert_eq!(inbox.remove(Some("+19999999999")), 0);
        assert_eq!(inbox.list(None).len(), 3);
        assert_eq!(inbox.remove(Some("+14155550100")), 2);
        assert_eq!(inbox.list(None).len(), 1);
        assert_eq!(inbox.remove(None), 1);
        assert!(inbox.list(None).is_empty());
    }

    #[test]
    fn the_token_is_long_random_and_stable() {
        assert_eq!(token().len(), 64);
        assert_eq!(token(), token());
    }
}
