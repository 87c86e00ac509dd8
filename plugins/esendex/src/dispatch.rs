//! The dispatcher request body: one message, in the JSON shape whose keys are
//! the XML element names of Esendex's `messages` document.

use phonehook_plugin_api::serde_json::{json, Map, Value};
use phonehook_plugin_api::speech::{self, Otherwise};
use phonehook_plugin_api::{lang, Channel, Config, Message, PluginError};

/// The languages Esendex's text-to-speech reads; anything else is read in
/// British English, Esendex's own default.
const DEFAULT_LANG: &str = "en-GB";

/// Esendex redials an unanswered call once unless told otherwise (SDK default).
const DEFAULT_RETRIES: u32 = 1;

/// The JSON body for one message to `message.recipient`.
pub fn body(message: &Message, account: &str, config: &Config<'_>) -> Result<Value, PluginError> {
    let mut entry = Map::new();
    entry.insert("to".into(), message.recipient_digits().into());
    if let Some(from) = config.setting("from") {
        entry.insert("from".into(), from.into());
    }
    match message.channel {
        Channel::Sms => {
            entry.insert("body".into(), message.text.as_str().into());
        }
        Channel::Voice => {
            entry.insert("body".into(), spoken_text(message).into());
            entry.insert("type".into(), "Voice".into());
            entry.insert("lang".into(), voice_lang(message.language.as_str()).into());
            entry.insert("retries".into(), voice_retries(config)?.into());
        }
    }
    Ok(json!({"accountreference": account, "messages": [Value::Object(entry)]}))
}

/// The `voice_retries` setting, a non-negative whole number.
pub fn voice_retries(config: &Config<'_>) -> Result<u32, PluginError> {
    match config.setting("voice_retries") {
        None => Ok(DEFAULT_RETRIES),
        Some(text) => text.trim().parse().map_err(|_| {
            PluginError::config("setting `voice_retries` must be a whole number (0 or more)")
        }),
    }
}

/// Maps a BCP 47 tag (`en`, `fr-CA`, `en_AU`) to the nearest language Esendex
/// reads aloud: en-GB, en-AU, es-ES, fr-FR or de-DE.
pub fn voice_lang(language: &str) -> &'static str {
    let region = lang::region(language);
    match (lang::primary(language).as_str(), region.as_deref()) {
        ("en", Some("AU")) => "en-AU",
        ("es", _) => "es-ES",
        ("fr", _) => "fr-FR",
        ("de", _) => "de-DE",
        _ => DEFAULT_LANG,
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

    #[test]
    fn languages_map_to_the_supported_set() {
        for (tag, lang) in [
            ("", "en-GB"),
            ("en", "en-GB"),
            ("en-US", "en-GB"),
            ("en-AU", "en-AU"),
            ("en_au", "en-AU"),
            ("es-MX", "es-ES"),
            ("fr-CA", "fr-FR"),
            ("de", "de-DE"),
            ("ja", "en-GB"),
        ] {
            assert_eq!(voice_lang(tag), lang, "{tag}");
        }
    }

    #[test]
    fn code_is_spelled_only_when_present() {
        let m = Message::new("+1", "Code 4321. Again: 4321").with_code("4321");
        assert_eq!(spoken_text(&m), "Code 4, 3, 2, 1. Again: 4, 3, 2, 1");
        let m = Message::new("+1", "Code 4321");
        assert_eq!(spoken_text(&m), "Code 4321");
        let m = Message::new("+1", "Call us").with_code("999");
        assert_eq!(spoken_text(&m), "Call us");
    }
}
