//! One send attempt as the log keeps it, and the builder the send path uses to
//! make it.
//!
//! The send path creates a [`Pending`] as soon as it has a validated
//! [`Message`] (so the event id exists before the plugin runs and can go into
//! the tracing span and the response header), names the plugin, and finishes
//! it with [`Pending::delivered`] or [`Pending::failed`].
//!
//! **Invariant:** an [`Event`] cannot hold the one-time code, the text, the
//! full number or a secret: it has no field for them. The recipient is kept as
//! a mask plus a keyed hash ([`RecipientHasher`]); free texts (failure
//! messages, vendor codes and ids) pass through the attempt's [`Redactor`],
//! which removes the code, the number (in several spellings), the text and
//! the plugin's secrets, each in every encoding.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use phonehook_plugin_api::{crypto, encoding, Channel, Message};
use serde::{Deserialize, Serialize};

use super::time;
use crate::mask::mask_number;
use crate::redact::{self, Redactor};

/// Auth0's event type codes for phone messages, so logs read the same in
/// both places.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// An SMS the vendor accepted.
    #[serde(rename = "gd_send_sms")]
    SendSms,
    /// An SMS that was not sent.
    #[serde(rename = "gd_send_sms_failure")]
    SendSmsFailure,
    /// A voice call the vendor accepted.
    #[serde(rename = "gd_send_voice")]
    SendVoice,
    /// A voice call that was not placed.
    #[serde(rename = "gd_send_voice_failure")]
    SendVoiceFailure,
    /// A message the abuse guard refused before any plugin saw it.
    #[serde(rename = "guard_blocked")]
    GuardBlocked,
    /// A message the guard, in monitor mode, would have refused; it was sent
    /// on, and its send has an event of its own.
    #[serde(rename = "guard_would_block")]
    GuardWouldBlock,
}

impl EventType {
    /// Every type, in a stable order.
    pub const ALL: [EventType; 6] = [
        EventType::SendSms,
        EventType::SendSmsFailure,
        EventType::SendVoice,
        EventType::SendVoiceFailure,
        EventType::GuardBlocked,
        EventType::GuardWouldBlock,
    ];

    /// The type of an attempt on `channel` that did or did not succeed.
    pub fn of(channel: Channel, delivered: bool) -> EventType {
        match (channel, delivered) {
            (Channel::Sms, true) => EventType::SendSms,
            (Channel::Sms, false) => EventType::SendSmsFailure,
            (Channel::Voice, true) => EventType::SendVoice,
            (Channel::Voice, false) => EventType::SendVoiceFailure,
        }
    }

    /// The Auth0 code, e.g. `gd_send_sms_failure`.
    pub fn code(self) -> &'static str {
        match self {
            EventType::SendSms => "gd_send_sms",
            EventType::SendSmsFailure => "gd_send_sms_failure",
            EventType::SendVoice => "gd_send_voice",
            EventType::SendVoiceFailure => "gd_send_voice_failure",
            EventType::GuardBlocked => "guard_blocked",
            EventType::GuardWouldBlock => "guard_would_block",
        }
    }

    /// The type with this code.
    pub fn parse(code: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.code() == code)
    }

    /// Whether this is a failure type.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            EventType::SendSmsFailure | EventType::SendVoiceFailure | EventType::GuardBlocked
        )
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Who reported a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureSource {
    /// The vendor refused or answered something unreadable.
    Vendor,
    /// The host or the plugin (no plugin, configuration, timeout, contract).
    Host,
    /// The abuse guard (a limit or the destination policy).
    Guard,
}

/// Why an attempt failed: Auth0's `details` for a failure event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The host's stable error code, as the API answered (`vendor_error`,
    /// `vendor_timeout`, `no_active_plugin`, ...).
    pub code: String,
    /// What happened, for people (scrubbed before it is stored).
    pub message: String,
    /// Whether trying again may succeed.
    pub retryable: bool,
    /// Who reported it.
    pub source: FailureSource,
    /// The vendor's own error code, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_code: Option<String>,
    /// The HTTP status of the vendor's last reply, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_status: Option<u16>,
    /// The guard's rule that refused the message (`per_number`, `backoff`,
    /// `country`...), for guard events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// One send attempt as stored and as `GET /api/v1/logs` returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// `ev_` + 12 hex digits of Unix milliseconds + 20 random hex digits:
    /// unique, roughly time-ordered, and short enough to paste into a ticket.
    pub id: String,
    /// When the attempt started, in Unix milliseconds (RFC 3339 in JSON).
    #[serde(rename = "time", with = "time::rfc3339")]
    pub time_ms: i64,
    /// The Auth0 event type code.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// How the message came in: `hook`, `actions` or `runner`.
    pub route: String,
    /// The plugin's manifest name (empty when none was active).
    pub plugin: String,
    /// The plugin's version.
    pub plugin_version: String,
    /// The loaded generation of the plugin (changes on every reload).
    pub generation: u64,
    /// `enrollment` or `second-factor-authentication` (may be empty).
    pub action: String,
    /// The user's language (may be empty).
    pub language: String,
    /// The recipient, masked: country code and last two digits.
    pub recipient: String,
    /// HMAC-SHA256 of the E.164 number under the log's key; searched, never
    /// shown.
    #[serde(skip)]
    pub recipient_hash: String,
    /// The identity platform's client id.
    pub client_id: String,
    /// The user id.
    pub user_id: String,
    /// The IP address of the user who asked for the code.
    pub ip: String,
    /// The vendor's message id (success only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_message_id: Option<String>,
    /// The vendor's status word (success only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_status: Option<String>,
    /// Time in the host, from the start of the attempt to the answer.
    pub latency_ms: f64,
    /// Time spent waiting for the vendor, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_latency_ms: Option<f64>,
    /// Length of the text in characters (the text itself is never kept).
    pub text_chars: u32,
    /// SMS segments the text needs (none for voice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<u32>,
    /// Why it failed (failures only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Failure>,
    /// The message this attempt belongs to: the event id of its first
    /// attempt. Every attempt of a message that fell over to a fallback
    /// carries it, so the log shows "twilio 503 → vonage delivered".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// Keyed hash of a phone number: lets an admin search by full number without
/// the number being stored (see the module docs of `deliverylog`).
#[derive(Clone)]
pub struct RecipientHasher {
    key: Arc<crypto::HmacKey>,
}

impl RecipientHasher {
    /// A hasher with this key.
    pub fn new(key: &[u8]) -> RecipientHasher {
        RecipientHasher {
            key: Arc::new(crypto::HmacKey::new(key)),
        }
    }

    /// HMAC-SHA256 of the E.164 number.
    pub fn digest(&self, e164: &str) -> [u8; 32] {
        self.key.mac(e164.as_bytes())
    }

    /// Hex HMAC-SHA256 of the E.164 number.
    pub fn hash(&self, e164: &str) -> String {
        encoding::hex(&self.digest(e164))
    }
}

impl fmt::Debug for RecipientHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecipientHasher(..)")
    }
}

/// An attempt in progress: everything the log keeps that is known before the
/// plugin runs, plus the attempt's redactor for the texts it learns later.
pub struct Pending {
    id: String,
    time_ms: i64,
    started: Instant,
    channel: Channel,
    route: String,
    plugin: String,
    plugin_version: String,
    generation: u64,
    action: String,
    language: String,
    recipient: String,
    recipient_hash: String,
    client_id: String,
    user_id: String,
    ip: String,
    text_chars: u32,
    segments: Option<u32>,
    message_id: Option<String>,
    redactor: Redactor,
}

// The redactor holds the code, the number and the text: never print it.
impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("id", &self.id)
            .field("plugin", &self.plugin)
            .field("recipient", &self.recipient)
            .finish_non_exhaustive()
    }
}

impl Pending {
    /// Starts an attempt for `message`, which came in by `route` (`hook`,
    /// `actions`, `runner`).
    pub fn new(message: &Message, route: &str, hasher: &RecipientHasher) -> Pending {
        let time_ms = time::now_ms();
        let e164 = message.recipient.as_str();
        let text = message.text.as_str();
        let recipient = mask_number(e164);
        let redactor = redact::for_message(message);
        Pending {
            id: new_event_id(time_ms),
            time_ms,
            started: Instant::now(),
            channel: message.channel,
            route: route.to_owned(),
            plugin: String::new(),
            plugin_version: String::new(),
            generation: 0,
            action: message.action.to_string(),
            language: message.language.to_string(),
            recipient_hash: hasher.hash(e164),
            recipient,
            client_id: message.client_id.to_string(),
            user_id: message.user_id.to_string(),
            ip: message.ip.to_string(),
            text_chars: u32::try_from(text.chars().count()).unwrap_or(u32::MAX),
            segments: (message.channel == Channel::Sms)
                .then(|| u32::try_from(encoding::sms_segments(text)).unwrap_or(u32::MAX)),
            message_id: None,
            redactor,
        }
    }

    /// Marks the attempt as one of a message whose first attempt had event
    /// id `message_id`.
    pub fn part_of(&mut self, message_id: &str) {
        self.message_id = Some(message_id.to_owned());
    }

    /// The event id (for the tracing span and the response header).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Names the plugin that handles the attempt.
    pub fn plugin(&mut self, name: &str, version: &str, generation: u64) {
        self.plugin = name.to_owned();
        self.plugin_version = version.to_owned();
        self.generation = generation;
    }

    /// The attempt's redactor: it starts with the message's code, number and
    /// text; the send path adds the plugin's secrets and the credentials of
    /// the requests it sends, and redacts its errors with it.
    pub fn redactor_mut(&mut self) -> &mut Redactor {
        &mut self.redactor
    }

    /// The vendor accepted the message as `message_id` with its status word
    /// `vendor_status`, after `vendor_latency` spent waiting for it.
    pub fn delivered(
        self,
        message_id: &str,
        vendor_status: &str,
        vendor_latency: Duration,
    ) -> Event {
        let vendor_message_id = self.redactor.redact(message_id);
        let vendor_status = self.redactor.redact(vendor_status);
        let mut event = self.finish(true, None);
        event.vendor_message_id = Some(vendor_message_id);
        event.vendor_status = Some(vendor_status).filter(|s| !s.is_empty());
        event.vendor_latency_ms = Some(millis(vendor_latency));
        event
    }

    /// The guard refused the message (`enforced`) or, in monitor mode, would
    /// have: one event of its own type, with the rule in `failure.rule`.
    pub fn guarded(self, failure: Failure, enforced: bool) -> Event {
        let mut event = self.failed(failure);
        event.kind = if enforced {
            EventType::GuardBlocked
        } else {
            EventType::GuardWouldBlock
        };
        event
    }

    /// The attempt failed; `failure.message` and the vendor code are
    /// redacted here (again, for failures the send path redacted: the log
    /// keeps its invariant whoever built the failure).
    pub fn failed(self, mut failure: Failure) -> Event {
        failure.message = self.redactor.redact(&failure.message);
        failure.vendor_code = failure.vendor_code.map(|c| self.redactor.redact(&c));
        self.finish(false, Some(failure))
    }

    fn finish(self, delivered: bool, details: Option<Failure>) -> Event {
        Event {
            id: self.id,
            time_ms: self.time_ms,
            kind: EventType::of(self.channel, delivered),
            route: self.route,
            plugin: self.plugin,
            plugin_version: self.plugin_version,
            generation: self.generation,
            action: self.action,
            language: self.language,
            recipient: self.recipient,
            recipient_hash: self.recipient_hash,
            client_id: self.client_id,
            user_id: self.user_id,
            ip: self.ip,
            vendor_message_id: None,
            vendor_status: None,
            latency_ms: millis(self.started.elapsed()),
            vendor_latency_ms: None,
            text_chars: self.text_chars,
            segments: self.segments,
            details,
            message_id: self.message_id,
        }
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `ev_` + the time (so ids sort roughly by time and reveal it to support)
/// + 80 random bits (so two hosts never collide).
fn new_event_id(time_ms: i64) -> String {
    let time = u64::try_from(time_ms).unwrap_or(0) & 0xffff_ffff_ffff;
    let random: [u8; 10] = rand::random();
    format!("ev_{time:012x}{}", hex::encode(random))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(channel: Channel) -> Message {
        let mut m = Message::new("+14155550123", "Your code is 493817");
        m.channel = channel;
        m.code = "493817".into();
        m.recipient_raw = "(415) 555-0123".into();
        m.client_id = "client-1".into();
        m.user_id = "auth0|user-1".into();
        m.ip = "203.0.113.7".into();
        m.action = "second-factor-authentication".into();
        m.language = "en".into();
        m
    }

    fn hasher() -> RecipientHasher {
        RecipientHasher::new(b"test key")
    }

    /// Finishes `pending` as the vendor's acceptance `SM123`.
    fn delivered(pending: Pending) -> Event {
        pending.delivered("SM123", "queued", Duration::from_millis(12))
    }

    fn vendor_failure(message: &str) -> Failure {
        Failure {
            code: "vendor_error".into(),
            message: message.into(),
            retryable: false,
            source: FailureSource::Vendor,
            vendor_code: Some("21211".into()),
            vendor_status: Some(400),
            rule: None,
        }
    }

    fn host_failure(code: &str) -> Failure {
        Failure {
            code: code.into(),
            message: "no plugin is active".into(),
            retryable: false,
            source: FailureSource::Host,
            vendor_code: None,
            vendor_status: None,
            rule: None,
        }
    }

    #[test]
    fn type_codes_follow_auth0() {
        let cases = [
            (Channel::Sms, true, "gd_send_sms"),
            (Channel::Sms, false, "gd_send_sms_failure"),
            (Channel::Voice, true, "gd_send_voice"),
            (Channel::Voice, false, "gd_send_voice_failure"),
        ];
        for (channel, ok, code) in cases {
            let kind = EventType::of(channel, ok);
            assert_eq!(kind.code(), code);
            assert_eq!(EventType::parse(code), Some(kind));
            assert_eq!(kind.is_failure(), !ok);
            assert_eq!(serde_json::to_value(kind).ok(), Some(code.into()));
        }
        assert_eq!(EventType::parse("gd_send_email"), None);
    }

    #[test]
    fn events_from_the_send_path_carry_the_right_type() {
        let sms_ok = delivered(Pending::new(&message(Channel::Sms), "hook", &hasher()));
        let voice_ok = delivered(Pending::new(&message(Channel::Voice), "hook", &hasher()));
        let sms_fail =
            Pending::new(&message(Channel::Sms), "hook", &hasher()).failed(vendor_failure("x"));
        let voice_fail = Pending::new(&message(Channel::Voice), "runner", &hasher())
            .failed(host_failure("no_active_plugin"));
        assert_eq!(sms_ok.kind, EventType::SendSms);
        assert_eq!(voice_ok.kind, EventType::SendVoice);
        assert_eq!(sms_fail.kind, EventType::SendSmsFailure);
        assert_eq!(voice_fail.kind, EventType::SendVoiceFailure);
        assert_eq!(voice_fail.route, "runner");
        assert_eq!(sms_ok.vendor_message_id.as_deref(), Some("SM123"));
        assert_eq!(sms_ok.vendor_latency_ms, Some(12.0));
        assert_eq!(sms_ok.segments, Some(1));
        assert_eq!(voice_ok.segments, None);
    }

    #[test]
    fn recipient_is_masked_and_hashed() {
        let event = delivered(Pending::new(&message(Channel::Sms), "hook", &hasher()));
        assert_eq!(event.recipient, "+1********23");
        assert_eq!(event.recipient_hash, hasher().hash("+14155550123"));
        assert_ne!(
            event.recipient_hash,
            RecipientHasher::new(b"other").hash("+14155550123")
        );
        assert_eq!(event.recipient_hash.len(), 64);
        let json = serde_json::to_string(&event).expect("an event serialises");
        // The JSON must be the event's, or not holding the hash proves nothing.
        assert!(json.contains(r#""recipient":"+1********23""#), "{json}");
        assert!(
            !json.contains(&event.recipient_hash),
            "the hash is never shown"
        );
    }

    #[test]
    fn failure_texts_lose_the_code_number_text_and_secrets() {
        let echo =
            "To +14155550123 (14155550123, 4155550123, (415) 555-0123) said 'Your code is 493817' \
                    code 493817 with token sk_live_abcdef";
        let mut pending = Pending::new(&message(Channel::Sms), "hook", &hasher());
        pending.redactor_mut().secret("sk_live_abcdef").secret("ab");
        let event = pending.failed(vendor_failure(echo));
        let details = event.details.expect("a failure has details");
        for leaked in [
            "493817",
            "4155550123",
            "555-0123",
            "sk_live_abcdef",
            "Your code",
        ] {
            assert!(
                !details.message.contains(leaked),
                "{leaked} in {}",
                details.message
            );
        }
        assert!(
            details.message.starts_with("To [redacted]"),
            "{}",
            details.message
        );
    }

    #[test]
    fn debug_output_hides_the_message() {
        let pending = Pending::new(&message(Channel::Sms), "hook", &hasher());
        let debug = format!("{pending:?}");
        assert!(
            !debug.contains("493817") && !debug.contains("4155550123"),
            "{debug}"
        );
    }

    #[test]
    fn ids_are_unique_and_time_prefixed() {
        let a = new_event_id(1_700_000_000_000);
        let b = new_event_id(1_700_000_000_000);
        assert_ne!(a, b);
        assert!(a.starts_with("ev_018bcfe56800"), "{a}");
        assert_eq!(a.len(), 3 + 12 + 20);
    }

    #[test]
    fn sms_segments_follow_the_encoding() {
        // Counted by `encoding::sms_segments`, the plugins' own count; these cases
        // pin the extension table and the UCS-2 switch the log relies on.
        let cases = [
            ("Your code is 123456", 1),
            (&"a".repeat(160), 1),
            (&"a".repeat(161), 2),
            (&"a".repeat(306), 2),
            (&"a".repeat(307), 3),
            (&"{".repeat(80), 1),
            (&"{".repeat(81), 2),
            (&"é".repeat(160), 1),
            (&"ł".repeat(70), 1),
            (&"ł".repeat(71), 2),
            ("Ваш код 123456", 1),
        ];
        for (text, want) in cases {
            let m = Message::new("+14155550123", text);
            let event = delivered(Pending::new(&m, "hook", &hasher()));
            assert_eq!(event.segments, Some(want), "{text}");
        }
    }
}
