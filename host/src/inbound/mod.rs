//! Inbound payloads: Auth0's Send Phone Message hook and its newer Actions
//! event, both read into one [`Inbound`] and validated into the plugin API's
//! [`Message`].

mod actions;
mod fields;
mod hook;

use phonehook_plugin_api::{Channel, Message};
use serde_json::{Map, Value};

use crate::e164::{self, NumberError};
// Error texts quote caller input through this, so a body-sized value is
// never echoed whole.
use crate::mask::excerpt;

pub use actions::parse_actions_event;
pub use hook::parse_hook;

/// Why a request body was refused. Each maps to a stable error code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InputError {
    /// The body is not JSON.
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(String),
    /// The body is JSON but not an object.
    #[error("the body must be a JSON object")]
    NotAnObject,
    /// A field has the wrong JSON type.
    #[error("`{field}` must be {expected}")]
    FieldType {
        /// The field's path.
        field: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// No recipient.
    #[error("`{0}` is required")]
    Missing(&'static str),
    /// The recipient cannot be made E.164.
    #[error("recipient {0}")]
    InvalidRecipient(NumberError),
    /// `message_type` is neither sms nor voice.
    #[error("message_type `{}` is not supported (use `sms` or `voice`)", excerpt(.0))]
    InvalidMessageType(String),
    /// The text is longer than the configured limit.
    #[error("text is {len} characters long; the limit is {max}")]
    TextTooLong {
        /// Its length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl InputError {
    /// The stable error code callers can match on.
    pub fn code(&self) -> &'static str {
        match self {
            InputError::InvalidJson(_) => "invalid_json",
            InputError::NotAnObject => "invalid_json",
            InputError::FieldType { .. } => "invalid_field",
            InputError::Missing("recipient") => "missing_recipient",
            InputError::Missing("text") => "missing_text",
            InputError::Missing(_) => "missing_field",
            InputError::InvalidRecipient(_) => "invalid_recipient",
            InputError::InvalidMessageType(_) => "invalid_message_type",
            InputError::TextTooLong { .. } => "text_too_long",
        }
    }
}

/// A message as the caller described it, before validation.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Inbound {
    /// The destination as written.
    pub recipient: Option<String>,
    /// The text.
    pub text: Option<String>,
    /// `sms` / `voice`, as written.
    pub message_type: Option<String>,
    /// What the message is for, as written (see [`KNOWN_ACTIONS`]).
    pub action: Option<String>,
    /// The user's language.
    pub language: Option<String>,
    /// The one-time code.
    pub code: Option<String>,
    /// The user's IP.
    pub ip: Option<String>,
    /// The user's user agent.
    pub user_agent: Option<String>,
    /// Client id.
    pub client_id: Option<String>,
    /// Client name.
    pub client_name: Option<String>,
    /// User id.
    pub user_id: Option<String>,
    /// User name.
    pub user_name: Option<String>,
    /// User email.
    pub user_email: Option<String>,
    /// `client_metadata`, `user_metadata`, `app_metadata` and `extra`.
    pub metadata: Map<String, Value>,
}

/// Every spelling of `context.action` Auth0 documents: the hook reference
/// says `enrollment` or `second-factor-authentication`, its Twilio and
/// Infobip guides `enrollment` or `authentication` (with `factor_type`
/// `first`/`second` beside it).
pub const KNOWN_ACTIONS: [&str; 3] = [
    "enrollment",
    "authentication",
    "second-factor-authentication",
];

/// Validation settings.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// Region for national numbers.
    pub default_region: phonenumber::country::Id,
    /// Longest text, in characters.
    pub max_text_chars: usize,
    /// How strictly recipients are checked.
    pub strictness: e164::Strictness,
}

impl Inbound {
    /// Validates and normalizes into the message a plugin receives.
    pub fn validate(self, rules: &Rules) -> Result<Message, InputError> {
        let raw = self.recipient.filter(|r| !r.trim().is_empty());
        let raw = raw.ok_or(InputError::Missing("recipient"))?;
        let text = self.text.filter(|t| !t.trim().is_empty());
        let text = text.ok_or(InputError::Missing("text"))?;
        let len = text.chars().count();
        if len > rules.max_text_chars {
            return Err(InputError::TextTooLong {
                len,
                max: rules.max_text_chars,
            });
        }
        let channel = match self.message_type.as_deref().map(str::trim) {
            None | Some("") => Channel::Sms,
            Some(t) if t.eq_ignore_ascii_case("sms") => Channel::Sms,
            Some(t) if t.eq_ignore_ascii_case("voice") => Channel::Voice,
            Some(other) => return Err(InputError::InvalidMessageType(other.to_owned())),
        };
        let action = self.action.unwrap_or_default();
        // Refusing its identity platform's message would lock users out, and
        // the action changes nothing about how a code is sent: an unknown
        // one is delivered and recorded as written, and counted so it shows.
        if !action.is_empty() && !KNOWN_ACTIONS.contains(&action.as_str()) {
            tracing::warn!(action = %action, known = ?KNOWN_ACTIONS,
                "message with an unknown action; delivered and recorded as it came");
            crate::metrics::unknown_action();
        }
        let recipient = e164::normalize(&raw, rules.default_region, rules.strictness)
            .map_err(InputError::InvalidRecipient)?;
        let s = |v: Option<String>| v.unwrap_or_default().into();
        Ok(Message {
            recipient: recipient.into(),
            recipient_raw: raw.into(),
            text: text.into(),
            channel,
            action: action.into(),
            language: s(self.language),
            code: s(self.code),
            ip: s(self.ip),
            user_agent: s(self.user_agent),
            client_id: s(self.client_id),
            client_name: s(self.client_name),
            user_id: s(self.user_id),
            user_name: s(self.user_name),
            user_email: s(self.user_email),
            metadata_json: Value::Object(self.metadata).to_string().into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> Rules {
        Rules {
            default_region: e164::region("US").expect("US"),
            max_text_chars: 20,
            strictness: e164::Strictness::Possible,
        }
    }

    fn hook(v: Value) -> Result<Message, InputError> {
        parse_hook(v.to_string().as_bytes())?.validate(&rules())
    }

    #[test]
    fn hook_payload_becomes_a_message() {
        let m = hook(json!({
            "recipient": "1-808-555-5555", "text": "code 123456",
            "context": {"message_type": "voice", "action": "enrollment", "language": "fr",
                        "code": "123456", "request": {"ip": "2001:db8::1"}, "user_agent": "UA",
                        "client": {"client_id": "c1", "name": "App", "client_metadata": {"k": 1}},
                        "user": {"user_id": "u1", "name": "Ann", "email": "a@x", "app_metadata": {}, "user_metadata": {"tz": "x"}},
                        "tenant": "t1"},
            "unknown_top": true
        }))
        .expect("valid");
        assert_eq!(m.recipient.as_str(), "+18085555555");
        assert_eq!(m.recipient_raw.as_str(), "1-808-555-5555");
        assert_eq!(m.channel, Channel::Voice);
        assert_eq!(
            (m.ip.as_str(), m.client_id.as_str(), m.user_id.as_str()),
            ("2001:db8::1", "c1", "u1")
        );
        let meta: Value = serde_json::from_str(&m.metadata_json).expect("json");
        assert_eq!(meta["client_metadata"]["k"], 1);
        assert_eq!(meta["user_metadata"]["tz"], "x");
        assert_eq!(meta["extra"]["unknown_top"], true);
        assert_eq!(meta["extra"]["context"]["tenant"], "t1");
    }

    #[test]
    fn bad_inputs_have_codes() {
        let cases = [
            (json!({"text": "x"}), "missing_recipient"),
            (json!({"recipient": "+14155550100"}), "missing_text"),
            (
                json!({"recipient": "+14155550100", "text": "  "}),
                "missing_text",
            ),
            (
                json!({"recipient": "nope", "text": "x"}),
                "invalid_recipient",
            ),
            (
                json!({"recipient": "+14155550100", "text": "x", "context": {"message_type": "fax"}}),
                "invalid_message_type",
            ),
            (
                json!({"recipient": "+14155550100", "text": "x".repeat(21)}),
                "text_too_long",
            ),
            (json!({"recipient": ["+1"], "text": "x"}), "invalid_field"),
            (
                json!({"recipient": "+14155550100", "text": "x", "context": "sms"}),
                "invalid_field",
            ),
            (json!([1, 2]), "invalid_json"),
        ];
        for (body, code) in cases {
            assert_eq!(
                hook(body.clone()).map(|_| ()).map_err(|e| e.code()),
                Err(code),
                "{body}"
            );
        }
        assert_eq!(
            parse_hook(b"{not json").map(|_| ()).map_err(|e| e.code()),
            Err("invalid_json")
        );
    }

    #[test]
    fn every_documented_action_and_client_placement_is_accepted() {
        let cases = [
            // (context, action kept, client id)
            (json!({"action": "enrollment"}), "enrollment", ""),
            (
                json!({"action": "authentication", "factor_type": "second"}),
                "authentication",
                "",
            ),
            (
                json!({"action": "second-factor-authentication", "client": {"client_id": "c1"}}),
                "second-factor-authentication",
                "c1",
            ),
            (
                json!({"action": "authentication", "factor_type": "first", "client_id": "c2", "name": "App"}),
                "authentication",
                "c2",
            ),
            (json!({"action": "login"}), "login", ""),
            (json!({}), "", ""),
        ];
        for (ctx, action, client) in cases {
            let m = hook(json!({"recipient": "+14155550100", "text": "x", "context": ctx.clone()}))
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert_eq!(
                (m.action.as_str(), m.client_id.as_str()),
                (action, client),
                "{ctx}"
            );
        }
        let m = hook(json!({"recipient": "+14155550100", "text": "x",
            "context": {"client_id": "c2", "name": "App", "client_metadata": {"k": 2}, "factor_type": "first"}}))
        .expect("valid");
        assert_eq!(m.client_name.as_str(), "App");
        let meta: Value = serde_json::from_str(&m.metadata_json).expect("json");
        assert_eq!(meta["client_metadata"]["k"], 2);
        assert_eq!(meta["extra"]["context"]["factor_type"], "first");
    }

    #[test]
    fn actions_event_maps_onto_the_same_message() {
        let event = json!({
            "message_options": {"recipient": "+14155550100", "text": "code 1", "code": "1",
                                "message_type": "sms", "action": "second-factor-authentication"},
            "request": {"ip": "1.2.3.4", "language": "de", "user_agent": "UA"},
            "client": {"client_id": "c1", "name": "App", "metadata": {"a": "b"}},
            "user": {"user_id": "u1", "email": "u@x"},
            "tenant": {"id": "t1"}
        });
        let m = parse_actions_event(event.to_string().as_bytes())
            .expect("parses")
            .validate(&rules())
            .expect("valid");
        assert_eq!(
            (m.language.as_str(), m.ip.as_str(), m.code.as_str()),
            ("de", "1.2.3.4", "1")
        );
        assert_eq!((m.client_id.as_str(), m.user_email.as_str()), ("c1", "u@x"));
        let meta: Value = serde_json::from_str(&m.metadata_json).expect("json");
        assert_eq!(meta["client_metadata"]["a"], "b");
        assert_eq!(meta["extra"]["tenant"]["id"], "t1");
        let missing = parse_actions_event(br#"{"request":{}}"#)
            .expect("parses")
            .validate(&rules());
        assert_eq!(missing.map_err(|e| e.code()), Err("missing_recipient"));
    }
}
