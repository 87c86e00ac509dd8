//! Voice calls through Infobip's text-to-speech API (`POST /tts/3/single`).

use phonehook_plugin_api::serde_json::{json, Value};
use phonehook_plugin_api::speech::{self, Otherwise};
use phonehook_plugin_api::{Message, PluginError};

/// The endpoint's path.
pub const PATH: &str = "/tts/3/single";

/// Infobip's limit on the `text` of a text-to-speech message.
pub const MAX_TEXT_CHARS: usize = 1400;

/// Digit runs at least this long are read out one digit at a time when the
/// caller did not say which part of the text is the code.
const MIN_CODE_DIGITS: usize = 3;

/// The TTS language: the primary subtag of the message's language in lower
/// case (`fr` for `fr-CA`), `en` when there is none or it is not a plain tag.
pub fn language(message: &Message) -> String {
    let primary = message.primary_language();
    let plain =
        (2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_alphabetic());
    if plain {
        primary
    } else {
        "en".to_owned()
    }
}

/// What the call says: the message with its code read digit by digit, said
/// twice so the user can note it down.
pub fn speech(message: &Message) -> Result<String, PluginError> {
    let once = speech::spoken(
        &message.text,
        &message.code,
        Otherwise::SpellRuns(MIN_CODE_DIGITS),
    );
    if once.is_empty() {
        return Err(PluginError::invalid_message(
            "the message has neither text nor code to read out",
        ));
    }
    let sep = if once.ends_with(['.', '!', '?']) {
        " "
    } else {
        ". "
    };
    let twice = format!("{once}{sep}{once}");
    let chars = twice.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(PluginError::invalid_message(format!(
            "the text to read out is {chars} characters said twice; Infobip reads at most {MAX_TEXT_CHARS}"
        )));
    }
    Ok(twice)
}

/// The JSON body of a single text-to-speech call (`from`, `to`: digits).
pub fn body(text: &str, language: &str, from: &str, to: &str) -> Value {
    json!({ "text": text, "language": language, "from": from, "to": to })
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonehook_plugin_api::ErrorKind;

    fn msg(text: &str) -> Message {
        Message::new("+41793026727", text)
    }

    #[test]
    fn language_is_the_primary_subtag() {
        assert_eq!(language(&msg("x").with_language("fr-CA")), "fr");
        assert_eq!(language(&msg("x").with_language("PT_br")), "pt");
        assert_eq!(language(&msg("x")), "en");
        assert_eq!(language(&msg("x").with_language("*")), "en");
    }

    #[test]
    fn the_code_is_spelled_out_and_said_twice() {
        let m = msg("Your code is 123456").with_code("123456");
        assert_eq!(
            speech(&m).unwrap(),
            "Your code is 1, 2, 3, 4, 5, 6. Your code is 1, 2, 3, 4, 5, 6"
        );
        let m = msg("Votre code : 4821.").with_code("4821");
        assert_eq!(
            speech(&m).unwrap(),
            "Votre code : 4, 8, 2, 1. Votre code : 4, 8, 2, 1."
        );
    }

    #[test]
    fn without_a_code_long_digit_runs_are_spelled_out() {
        assert_eq!(
            speech(&msg("Code 987654 for app 2")).unwrap(),
            "Code 9, 8, 7, 6, 5, 4 for app 2. Code 9, 8, 7, 6, 5, 4 for app 2"
        );
        assert_eq!(speech(&msg("").with_code("12")).unwrap(), "1, 2. 1, 2");
        assert_eq!(
            speech(&msg(" ")).unwrap_err().kind,
            ErrorKind::InvalidMessage
        );
    }

    #[test]
    fn texts_too_long_to_read_are_refused() {
        assert!(speech(&msg(&"a".repeat(699))).is_ok());
        assert_eq!(
            speech(&msg(&"a".repeat(700))).unwrap_err().kind,
            ErrorKind::InvalidMessage
        );
    }

    #[test]
    fn body_has_exactly_the_documented_fields() {
        assert_eq!(
            body("Hi", "en", "442032864231", "41793026727"),
            json!({"text": "Hi", "language": "en", "from": "442032864231", "to": "41793026727"})
        );
    }
}
