//! The form fields of a Messaging or Voice request.

use phonehook_plugin_api::speech::{self, Otherwise};
use phonehook_plugin_api::{lang, Channel, Message, PluginError};

/// One-time passwords get TeleSign's OTP routing and pricing.
const MESSAGE_TYPE: &str = "OTP";

/// TeleSign's documented maximum for `message`; longer texts are refused
/// (11009) rather than split.
pub const MAX_MESSAGE_CHARS: usize = 1600;

/// TeleSign's default text-to-speech voice.
const DEFAULT_VOICE: &str = "f-en-US";

/// TeleSign's text-to-speech voices, by BCP 47 tag.
const VOICES: &[(&str, &str)] = &[
    ("ca-es", "f-ca-ES"),
    ("da-dk", "f-da-DK"),
    ("de-de", "f-de-DE"),
    ("en-au", "f-en-AU"),
    ("en-ca", "f-en-CA"),
    ("en-gb", "f-en-GB"),
    ("en-in", "f-en-IN"),
    ("en-us", "f-en-US"),
    ("es-es", "f-es-ES"),
    ("es-mx", "f-es-MX"),
    ("fi-fi", "f-fi-FI"),
    ("fr-ca", "f-fr-CA"),
    ("fr-fr", "f-fr-FR"),
    ("it-it", "f-it-IT"),
    ("ja-jp", "f-ja-JP"),
    ("ko-kr", "f-ko-KR"),
    ("nb-no", "f-nb-NO"),
    ("nl-nl", "f-nl-NL"),
    ("pl-pl", "f-pl-PL"),
    ("pt-br", "f-pt-BR"),
    ("pt-pt", "f-pt-PT"),
    ("ru-ru", "f-ru-RU"),
    ("sv-se", "f-sv-SE"),
    ("zh-cn", "f-zh-CN"),
    ("zh-hk", "f-zh-HK"),
    ("zh-tw", "f-zh-TW"),
];

/// The voice for a language given without a region (or with one TeleSign lacks).
const PRIMARY: &[(&str, &str)] = &[
    ("ca", "f-ca-ES"),
    ("da", "f-da-DK"),
    ("de", "f-de-DE"),
    ("en", "f-en-US"),
    ("es", "f-es-ES"),
    ("fi", "f-fi-FI"),
    ("fr", "f-fr-FR"),
    ("it", "f-it-IT"),
    ("ja", "f-ja-JP"),
    ("ko", "f-ko-KR"),
    ("nb", "f-nb-NO"),
    ("no", "f-nb-NO"),
    ("nl", "f-nl-NL"),
    ("pl", "f-pl-PL"),
    ("pt", "f-pt-BR"),
    ("ru", "f-ru-RU"),
    ("sv", "f-sv-SE"),
    ("zh", "f-zh-CN"),
];

/// The URL path of the API for a channel; TeleSign signs it too.
pub fn resource(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "/v1/messaging",
        Channel::Voice => "/v1/voice",
    }
}

/// The form fields, in the order they are sent; an `invalid_message` error
/// for a text longer than TeleSign takes.
pub fn fields(message: &Message) -> Result<Vec<(&'static str, String)>, PluginError> {
    let text = match message.channel {
        Channel::Sms => message.text.as_str().to_owned(),
        Channel::Voice => spoken_text(message),
    };
    let chars = text.chars().count();
    if chars > MAX_MESSAGE_CHARS {
        return Err(PluginError::invalid_message(format!(
            "the text has {chars} characters; TeleSign takes at most {MAX_MESSAGE_CHARS}"
        )));
    }
    let mut fields = vec![
        ("phone_number", message.recipient_digits().to_owned()),
        ("message", text),
        ("message_type", MESSAGE_TYPE.to_owned()),
    ];
    if message.channel == Channel::Voice {
        fields.push(("voice", voice(message.language.as_str()).to_owned()));
    }
    if let Some(event) = lifecycle_event(message.action.as_str()) {
        fields.push(("account_lifecycle_event", event.to_owned()));
    }
    Ok(fields)
}

/// The TeleSign voice nearest to a BCP 47 tag (`fr-CA`, `pt`, `en_GB`).
pub fn voice(language: &str) -> &'static str {
    let primary = lang::primary(language);
    let region = lang::region(language).unwrap_or_default();
    let full = format!("{primary}-{}", region.to_ascii_lowercase());
    lookup(VOICES, &full)
        .or_else(|| lookup(PRIMARY, &primary))
        .unwrap_or(DEFAULT_VOICE)
}

fn lookup(table: &[(&str, &'static str)], key: &str) -> Option<&'static str> {
    table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// TeleSign scores fraud risk by the account event a message belongs to.
fn lifecycle_event(action: &str) -> Option<&'static str> {
    match action {
        "enrollment" => Some("create"),
        // Auth0's hook reference and its vendor guides spell it both ways.
        "second-factor-authentication" | "authentication" => Some("sign-in"),
        _ => None,
    }
}

/// The text to read out, with the one-time code spelled digit by digit so the
/// voice does not read "123456" as a number.
pub fn spoken_text(message: &Message) -> String {
    speech::spoken(&message.text, &message.code, Otherwise::AsIs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonehook_plugin_api::ErrorKind;

    #[test]
    fn voices_follow_the_language() {
        for (tag, voice_name) in [
            ("", "f-en-US"),
            ("en", "f-en-US"),
            ("en-GB", "f-en-GB"),
            ("en_au", "f-en-AU"),
            ("en-NZ", "f-en-US"),
            ("fr", "f-fr-FR"),
            ("fr-CA", "f-fr-CA"),
            ("fr-BE", "f-fr-FR"),
            ("pt-PT", "f-pt-PT"),
            ("zh-Hant-TW", "f-zh-TW"),
            ("xx", "f-en-US"),
        ] {
            assert_eq!(voice(tag), voice_name, "{tag}");
        }
    }

    #[test]
    fn sms_fields() {
        let mut m = Message::new("+14155550100", "Your code is 123456");
        m.action = "enrollment".into();
        assert_eq!(
            fields(&m).unwrap(),
            vec![
                ("phone_number", "14155550100".to_owned()),
                ("message", "Your code is 123456".to_owned()),
                ("message_type", "OTP".to_owned()),
                ("account_lifecycle_event", "create".to_owned()),
            ]
        );
    }

    #[test]
    fn voice_fields_spell_the_code() {
        let m = Message::new("+33612345678", "Votre code : 4821")
            .with_code("4821")
            .with_language("fr")
            .with_channel(Channel::Voice);
        assert_eq!(
            fields(&m).unwrap(),
            vec![
                ("phone_number", "33612345678".to_owned()),
                ("message", "Votre code : 4, 8, 2, 1".to_owned()),
                ("message_type", "OTP".to_owned()),
                ("voice", "f-fr-FR".to_owned()),
            ]
        );
    }

    #[test]
    fn texts_over_1600_characters_are_refused() {
        assert!(fields(&Message::new("+1", &"é".repeat(1600))).is_ok());
        let err = fields(&Message::new("+1", &"é".repeat(1601))).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidMessage);
        assert!(err.message.contains("1601"));
    }
}
