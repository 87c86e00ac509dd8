//! Fuzzing a plugin's reading of vendor replies, and replaying kept inputs.
//!
//! Whatever a vendor answers — truncated JSON, an HTML error page, bytes that
//! are not UTF-8 — a plugin must turn it into a delivery or a clear error,
//! never a panic. [`check_reply`] states that property for one input;
//! phonehook's `fuzz/` targets call it with libFuzzer's bytes, and each
//! plugin's tests call [`replay`] over the inputs kept in
//! `fuzz/regressions/reply_<plugin>/` (documented replies as seeds, and every
//! input the fuzzer ever broke a plugin with).

use std::path::Path;

use super::{Harness, Reply};
use crate::error::ErrorKind;
use crate::message::{Channel, Message};
use crate::plugin::Plugin;
use crate::step::Step;

/// A vendor reply made from fuzz bytes: two bytes of status, one byte of
/// flags (channel, alternative configuration, content type, a Retry-After
/// header), the rest is the body.
#[derive(Clone, Debug)]
pub struct FuzzReply<'a> {
    /// HTTP status, 100 to 599.
    pub status: u16,
    /// A voice message instead of an SMS.
    pub voice: bool,
    /// Use the plugin's alternative configuration (another API or auth scheme).
    pub alternative: bool,
    /// The reply's content type, if any.
    pub content_type: Option<&'static str>,
    /// Whether the reply carries `Retry-After: 7`.
    pub retry_after: bool,
    /// The body.
    pub body: &'a [u8],
}

impl<'a> FuzzReply<'a> {
    /// Splits fuzz bytes; `None` when there are fewer than three.
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        let ([s0, s1, flags], body) = data.split_first_chunk::<3>()?;
        let content_type = match (flags >> 2) & 0b111 {
            0 => None,
            1 | 2 => Some("application/json"),
            3 => Some("text/xml"),
            4 => Some("application/xml; charset=utf-8"),
            5 => Some("application/x-www-form-urlencoded"),
            6 => Some("application/problem+json"),
            _ => Some("text/html"),
        };
        Some(FuzzReply {
            status: 100 + u16::from_le_bytes([*s0, *s1]) % 500,
            voice: flags & 1 == 1,
            alternative: flags & 2 == 2,
            content_type,
            retry_after: flags & 0x20 == 0x20,
            body,
        })
    }

    /// The reply as the harness hands it to the plugin.
    pub fn reply(&self) -> Reply {
        let mut reply = Reply {
            status: self.status,
            headers: Vec::new(),
            body: self.body.to_vec(),
        };
        if let Some(ct) = self.content_type {
            reply = reply.header("content-type", ct);
        }
        if self.retry_after {
            reply = reply.header("retry-after", "7");
        }
        reply
    }

    /// The message the reply answers: a code by SMS, or by voice.
    pub fn message(&self) -> Message {
        let channel = if self.voice {
            Channel::Voice
        } else {
            Channel::Sms
        };
        Message::new("+14155550100", "Your code is 123456")
            .with_code("123456")
            .with_language("en-US")
            .with_channel(channel)
    }
}

/// Checks one reply: the plugin does not panic, claims a delivery only for a
/// 2xx reply and with a message id, and sends any follow-up request to the
/// host of its first one. Panics when a property breaks; returns what the
/// plugin made of the reply, or `None` when it refused the message itself
/// (a channel it lacks, say) and no reply was read.
pub fn check_reply<P: Plugin>(harness: &Harness<P>, input: &FuzzReply<'_>) -> Option<Step> {
    let message = input.message();
    let request = harness.prepare(&message).ok()?;
    let step = harness.interpret(&message, &request, &input.reply());
    match &step {
        Step::Failed(err) => assert_ne!(err.kind, ErrorKind::Panic, "interpret panicked: {err}"),
        Step::Delivered(d) => {
            assert!(
                (200..300).contains(&input.status),
                "delivered on HTTP {}",
                input.status
            );
            assert!(
                !d.message_id.as_str().trim().is_empty(),
                "delivered with an empty message id"
            );
        }
        Step::Send(next) => {
            let host = |url: &str| url.split('/').nth(2).map(str::to_owned);
            assert_eq!(
                host(next.url.as_str()),
                host(request.url.as_str()),
                "a follow-up went elsewhere"
            );
        }
    }
    Some(step)
}

/// Replays every input kept in `dir` through [`check_reply`], with
/// `harness(input.alternative)`. Inputs named `ok-*` (documented successes)
/// must be delivered and `err-*` (documented errors) must fail, which also
/// proves the harness's configuration reaches the reply code. Panics naming
/// every input that fails, or when `dir` holds none.
// A test helper: it reports a failure by panicking, as `assert!` does.
#[allow(clippy::expect_used)]
pub fn replay<P: Plugin>(dir: impl AsRef<Path>, harness: impl Fn(bool) -> Harness<P>) {
    replay_files(dir, |name, data| {
        let input = FuzzReply::parse(data).expect("at least three bytes");
        let step = check_reply(&harness(input.alternative), &input)
            .expect("the message reaches the vendor");
        if name.starts_with("ok-") {
            assert!(matches!(step, Step::Delivered(_)), "{name}: {step:?}");
        }
        if name.starts_with("err-") {
            assert!(matches!(step, Step::Failed(_)), "{name}: {step:?}");
        }
    });
}

/// Runs `check(file name, bytes)` on every file in `dir`, in name order; a
/// check fails by panicking. Panics naming every file that failed, or when
/// `dir` holds none (an empty replay would prove nothing).
pub fn replay_files(dir: impl AsRef<Path>, check: impl Fn(&str, &[u8])) {
    let dir = dir.as_ref();
    let mut inputs: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no inputs kept in {}", dir.display());
    let failed: Vec<String> = inputs
        .iter()
        .filter(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let data = std::fs::read(path).unwrap_or_default();
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&name, &data))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "kept inputs that fail: {failed:?}");
}
