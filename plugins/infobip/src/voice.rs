//! Voice calls through Infobip's text-to-speech API (`POST /tts/3/single`).

use phonehook_plugin_api::serde_json::{json, Value};
use phonehook_plugin_api::{wire, ErrorKind, Message, PluginError};

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
    let primary = message
        .language
        .as_str()
        .trim()
        .split(['-', '_'])
        .next()
        .unwrap_or_default();
    let plain =
        (2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_alphabetic());
    if plain {
        primary.to_ascii_lowercase()
    } else {
        "en".to_owned()
    }
}

/// What the call says: the message with its code read digit by digit, said
/// twice so the user can note it down.
pub fn speech(message: &Message) -> Result<String, PluginError> {
    let code = message.code.trim();
    let text = message.text.trim();
    let once = if text.is_empty() {
        wire::spell_out(code, ", ")
    } else if !code.is_empty() && text.contains(code) {
        text.replace(code, &wire::spell_out(code, ", "))
    } else {
        spell_digit_runs(text)
    };
    if once.trim().is_empty() {
        return Err(PluginError::new(
            ErrorKind::InvalidMessage,
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
        return Err(PluginError::new(
            ErrorKind::InvalidMessage,
            format!(
                "the text to read out is {chars} characters said twice; Infobip reads at most {MAX_TEXT_CHARS}"
            ),
        ));
    }
    Ok(twice)
}

/// Reads every run of [`MIN_CODE_DIGITS`] or more digits one digit at a time.
fn spell_digit_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().count() >= MIN_CODE_DIGITS {
            out.push_str(&wire::spell_out(run, ", "));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The JSON body of a single text-to-speech call (`from`, `to`: digits).
pub fn body(text: &str, language: &str, from: &str, to: &str) -> Value {
    json!({ "text": text, "language": language, "from": from, "to": to })
}

#[cfg(test)]
mod tests {
    use super::*;

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
