//! What one send attempt must never show: the binding's secrets (built once
//! per binding, see [`crate::plugins::Binding`]), extended here with the
//! message's code, number and text, and with the credentials of each request
//! the host actually sends. The attempt's [`Redactor`] cleans the delivery
//! error before it becomes the answer, the log line and the delivery log
//! event; the rule and the encodings live in the plugin API
//! ([`phonehook_plugin_api::redact`]), so plugins redact by the same code.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use phonehook_plugin_api::Message;

use crate::mask;
use crate::plugins::OwnedRequest;

pub use phonehook_plugin_api::redact::Redactor;

/// A redactor for what `message` carries: its code — or, when it names none,
/// every run of 4 to 10 digits of its text — its text, and its number in
/// every spelling a vendor echoes (`+14155550123`, `14155550123`,
/// `4155550123`, as the caller wrote it). The send path then includes the
/// binding's secrets ([`Redactor::include`]).
pub fn for_message(message: &Message) -> Redactor {
    let mut redactor = Redactor::new();
    let e164 = message.recipient.as_str();
    let digits = e164.trim_start_matches('+');
    let national = digits
        .get(mask::country_code_len(digits)..)
        .unwrap_or_default();
    let text = message.text.as_str();
    redactor
        .value(e164)
        .value(digits)
        .value(national)
        .value(message.recipient_raw.as_str())
        .value(text);
    match message.code.as_str().trim() {
        "" => redactor.digit_runs(text),
        code => redactor.code(code),
    };
    redactor
}

/// Adds the credentials `request` carries in its headers (the whole
/// `Authorization` value, its credential, the Basic password), so a vendor
/// that echoes them — in whatever encoding the plugin chose — is redacted.
pub fn add_request(redactor: &mut Redactor, request: &OwnedRequest) {
    for (name, value) in &request.headers {
        if is_credential_header(name) {
            redactor.authorization(value);
        }
    }
}

/// The credentials a binding's last request carried, expanded into every
/// form [`add_request`] adds. A plugin usually sends the same `Authorization`
/// with every message (Twilio's Basic pair), and expanding it — the value,
/// its credential and decoded password, each in every encoding — cost more
/// than the rest of the redactor's work per message. One entry: a plugin
/// that signs each request (SigV4) misses every time and pays what it did
/// before, and nothing grows.
#[derive(Default)]
pub struct CredentialMemo(ArcSwapOption<Expanded>);

struct Expanded {
    /// The credential header values, in request order.
    values: Vec<String>,
    /// What they expand to, included (shared) by each message's redactor.
    redactor: Arc<Redactor>,
}

/// [`add_request`], reusing `memo`'s expansion when `request` carries the
/// same credentials as the last request of its binding.
pub fn add_request_memoized(
    redactor: &mut Redactor,
    request: &OwnedRequest,
    memo: &CredentialMemo,
) {
    let values = || {
        request
            .headers
            .iter()
            .filter(|(name, _)| is_credential_header(name))
            .map(|(_, value)| value.as_str())
    };
    if let Some(last) = memo.0.load().as_deref() {
        if last.values.iter().map(String::as_str).eq(values()) {
            redactor.include(Arc::clone(&last.redactor));
            return;
        }
    }
    let mut expanded = Redactor::new();
    for value in values() {
        expanded.authorization(value);
    }
    let expanded = Arc::new(expanded);
    redactor.include(Arc::clone(&expanded));
    memo.0.store(Some(Arc::new(Expanded {
        values: values().map(str::to_owned).collect(),
        redactor: expanded,
    })));
}

/// Headers whose value is a credential: `Authorization`, and the
/// token/key/secret headers some vendors use instead (`X-Amz-Security-Token`,
/// `X-Api-Key`).
fn is_credential_header(name: &str) -> bool {
    // Without lower-casing a copy: this runs for every header of every request.
    let contains = |word: &str| {
        name.as_bytes()
            .windows(word.len())
            .any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
    };
    name.eq_ignore_ascii_case("authorization")
        || name.eq_ignore_ascii_case("proxy-authorization")
        || ["token", "secret", "api-key", "apikey"]
            .into_iter()
            .any(contains)
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonehook_plugin_api::{encoding, Method};

    fn message(code: &str) -> Message {
        let mut m = Message::new("+14155550123", "Your code is 918273. Valid 5 min.");
        m.code = code.into();
        m.recipient_raw = "(415) 555-0123".into();
        m
    }

    #[test]
    fn a_message_adds_its_code_number_and_text() {
        let base = Arc::new(Redactor::for_secrets(["sk_live_abcdef"]));
        for code in ["918273", ""] {
            let mut r = for_message(&message(code));
            r.include(Arc::clone(&base));
            let echo = "To +14155550123 (14155550123, 4155550123, (415) 555-0123, \
                        %2B14155550123) said 'Your code is 918273. Valid 5 min.': \
                        9, 1, 8, 2, 7, 3 / 9%2C+1%2C+8%2C+2%2C+7%2C+3 key sk_live_abcdef";
            let clean = r.redact(echo);
            for leak in [
                "918273",
                "4155550123",
                "555-0123",
                "Your code",
                "9, 1",
                "9%2C",
                "sk_live",
            ] {
                assert!(!clean.contains(leak), "{leak} in {clean} (code {code:?})");
            }
            assert!(clean.starts_with("To [redacted]"), "{clean}");
        }
    }

    #[test]
    fn request_credentials_are_added_from_their_headers() {
        let basic = encoding::basic_auth("AC0123456789", "tok-987654321");
        let header = |name: &str, value: &str| (name.to_owned(), value.to_owned());
        let request = OwnedRequest {
            method: Method::Post,
            url: "http://127.0.0.1/x".into(),
            headers: vec![
                header("Authorization", &basic),
                header("X-Amz-Security-Token", "session-0123456"),
                header("Accept", "application/json"),
            ],
            body: Vec::new(),
            state: String::new(),
        };
        let mut r = Redactor::new();
        add_request(&mut r, &request);
        let credential = basic.trim_start_matches("Basic ");
        let echo = format!(
            "got {basic}; cred {credential}; pw tok-987654321; session-0123456; application/json"
        );
        assert_eq!(
            r.redact(&echo),
            "got [redacted]; cred [redacted]; pw [redacted]; [redacted]; application/json"
        );
        // The memoized form adds the same, whether it expands or reuses.
        let memo = CredentialMemo::default();
        for _ in 0..2 {
            let mut m = Redactor::new();
            add_request_memoized(&mut m, &request, &memo);
            assert_eq!(m.redact(&echo), r.redact(&echo));
        }
        let mut other = request.clone();
        other.headers[0].1 = encoding::basic_auth("AC0123456789", "other-secret-1");
        let mut m = Redactor::new();
        add_request_memoized(&mut m, &other, &memo);
        assert_eq!(m.redact("pw other-secret-1"), "pw [redacted]");
        assert_eq!(m.redact("pw tok-987654321"), "pw tok-987654321");
    }
}
