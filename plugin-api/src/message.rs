use abi_stable::std_types::RString;
use abi_stable::StableAbi;

/// How the one-time code reaches the user.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Channel {
    /// A text message.
    #[default]
    Sms = 0,
    /// A phone call that reads the message out.
    Voice = 1,
}

impl Channel {
    /// The name used on the wire (`sms` / `voice`), as in Auth0's `message_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Voice => "voice",
        }
    }
}

/// One message to deliver: Auth0's Send Phone Message contract, already
/// validated by the host.
///
/// Fields the caller did not send are empty strings. `recipient` is always E.164
/// with a leading `+`; `recipient_raw` is what the caller sent.
/// `metadata_json` is a JSON object with `client_metadata`, `user_metadata`,
/// `app_metadata` and `extra` (unknown fields of the request, passed through).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, Default, PartialEq)]
pub struct Message {
    /// The destination in E.164 form, e.g. `+14155552345`.
    pub recipient: RString,
    /// The destination as the caller wrote it.
    pub recipient_raw: RString,
    /// The text to send (for voice, the text to read out).
    pub text: RString,
    /// SMS or voice.
    pub channel: Channel,
    /// `enrollment` or `second-factor-authentication`.
    pub action: RString,
    /// The user's language, e.g. `en` or `fr-CA`.
    pub language: RString,
    /// The one-time code, when the caller sent it separately from the text.
    pub code: RString,
    /// The IP address of the user who asked for the code.
    pub ip: RString,
    /// The user agent of that user.
    pub user_agent: RString,
    /// The identity platform's client (application) id.
    pub client_id: RString,
    /// The client's display name.
    pub client_name: RString,
    /// The user's id.
    pub user_id: RString,
    /// The user's name.
    pub user_name: RString,
    /// The user's email address.
    pub user_email: RString,
    /// Everything else, as a JSON object (see the type's documentation).
    pub metadata_json: RString,
}

impl Message {
    /// A message with only a recipient (E.164) and a text, for tests and tools.
    pub fn new(recipient: &str, text: &str) -> Self {
        Message {
            recipient: recipient.into(),
            recipient_raw: recipient.into(),
            text: text.into(),
            metadata_json: "{}".into(),
            ..Message::default()
        }
    }

    /// The same message on another channel.
    pub fn with_channel(mut self, channel: Channel) -> Self {
        self.channel = channel;
        self
    }

    /// The same message with a language.
    pub fn with_language(mut self, language: &str) -> Self {
        self.language = language.into();
        self
    }

    /// The same message with a one-time code.
    pub fn with_code(mut self, code: &str) -> Self {
        self.code = code.into();
        self
    }

    /// The recipient's digits without the leading `+`, the form most vendors want.
    pub fn recipient_digits(&self) -> &str {
        self.recipient.as_str().trim_start_matches('+')
    }

    /// The language tag as the caller sent it (trimmed), or `default` when
    /// there is none. See [`Message::primary_language`] for the language alone.
    pub fn language_or<'a>(&'a self, default: &'a str) -> &'a str {
        let lang = self.language.as_str().trim();
        if lang.is_empty() {
            default
        } else {
            lang
        }
    }

    /// The language's primary subtag in lower case (`fr` for `fr-CA`), empty
    /// when the caller sent no language (see [`crate::lang::primary`]).
    pub fn primary_language(&self) -> String {
        crate::lang::primary(&self.language)
    }

    /// The language's region in upper case (`CA` for `fr-CA`, `TW` for
    /// `zh-Hant-TW`), when it has one (see [`crate::lang::region`]).
    pub fn language_region(&self) -> Option<String> {
        crate::lang::region(&self.language)
    }
}
