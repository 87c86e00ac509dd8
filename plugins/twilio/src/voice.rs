//! Voice: `POST /2010-04-01/Accounts/{AccountSid}/Calls.json` with inline
//! TwiML that reads the message out, the code digit by digit, twice.

use phonehook_plugin_api::speech::{self, Otherwise};
use phonehook_plugin_api::{encoding, lang, Call, HttpRequest, Message, PluginError};

use crate::settings::{self, Credentials};

/// Twilio's limit on the `Twiml` parameter.
pub const MAX_TWIML_CHARS: usize = 4000;

/// The `state` of a Calls request, echoed in the reply.
pub const STATE: &str = "call";

/// The `<Say>` language when the message's language has no Twilio voice.
pub const DEFAULT_LANGUAGE: &str = "en-US";

/// Twilio `<Say>` locales, the first one of each language being the one a
/// bare language tag (`fr`) maps to.
const SAY_LOCALES: &[&str] = &[
    "en-US", "en-GB", "en-AU", "en-CA", "en-IN", "fr-FR", "fr-CA", "de-DE", "es-ES", "es-MX",
    "it-IT", "pt-BR", "pt-PT", "nl-NL", "da-DK", "fi-FI", "nb-NO", "sv-SE", "pl-PL", "ru-RU",
    "ca-ES", "ja-JP", "ko-KR", "zh-CN", "zh-HK", "zh-TW",
];

/// The request that places a call reading the message out.
pub fn request(call: &Call<'_>, creds: &Credentials<'_>) -> Result<HttpRequest, PluginError> {
    let from = settings::caller_id(&call.config)?;
    let twiml = twiml(call.message, call.config.setting(settings::VOICE))?;
    let base = call.config.base_url(settings::API_HOST);
    let url = format!(
        "{base}/2010-04-01/Accounts/{}/Calls.json",
        encoding::percent_encode(creds.account_sid)
    );
    let fields = [
        ("To", call.message.recipient.as_str()),
        ("From", from),
        ("Twiml", twiml.as_str()),
    ];
    Ok(HttpRequest::post(url)
        .basic_auth(creds.user, creds.password)
        .header("Accept", "application/json")
        .form(&fields)
        .state(STATE))
}

/// `<Response>` saying the script, pausing, and saying it again, in the
/// message's language (and the configured voice, if any).
pub fn twiml(message: &Message, voice: Option<&str>) -> Result<String, PluginError> {
    let script = script(message)?;
    let mut attrs = String::new();
    if let Some(voice) = voice.map(str::trim).filter(|v| !v.is_empty()) {
        attrs.push_str(&format!(" voice=\"{}\"", encoding::xml_escape(voice)));
    }
    attrs.push_str(&format!(
        " language=\"{}\"",
        say_language(&message.language)
    ));
    let say = format!("<Say{attrs}>{}</Say>", encoding::xml_escape(&script));
    let twiml = format!("<Response>{say}<Pause length=\"1\"/>{say}</Response>");
    let chars = twiml.chars().count();
    if chars > MAX_TWIML_CHARS {
        return Err(PluginError::invalid_message(format!(
            "the text is too long to read out: its TwiML is {chars} characters, \
             Twilio accepts at most {MAX_TWIML_CHARS}"
        )));
    }
    Ok(twiml)
}

/// What is read out: the text with its code spelled out with commas, so the
/// voice says "1, 2, 3" with a pause after each digit rather than "one
/// hundred twenty-three". Without a separate code, the text's longest digit
/// run is taken for it; a code the text does not contain is read after it.
fn script(message: &Message) -> Result<String, PluginError> {
    let text = message.text.as_str();
    let code = match message.code.as_str().trim() {
        "" => speech::longest_digit_run(text).unwrap_or_default(),
        code => code,
    };
    let script = speech::spoken(text, code, Otherwise::Append);
    if script.is_empty() {
        return Err(PluginError::invalid_message(
            "the message has neither a text nor a code to read out",
        ));
    }
    Ok(script)
}

/// The Twilio locale for a language tag: the exact locale when Twilio has it
/// (`fr-CA`), else the language's main locale (`fr` → `fr-FR`), else en-US.
pub fn say_language(language: &str) -> &'static str {
    let tag = lang::normalize(language);
    let primary = match lang::primary(language).as_str() {
        // Norwegian: Twilio reads Bokmål, the written standard most users mean.
        "no" | "nn" => "nb".to_owned(),
        other => other.to_owned(),
    };
    SAY_LOCALES
        .iter()
        .find(|l| l.eq_ignore_ascii_case(&tag))
        .or_else(|| {
            SAY_LOCALES.iter().find(|l| {
                l.split('-')
                    .next()
                    .is_some_and(|p| p.eq_ignore_ascii_case(&primary))
            })
        })
        .copied()
        .unwrap_or(DEFAULT_LANGUAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(text: &str) -> Message {
        Message::new("+14155550100", text)
    }

    #[test]
    fn languages_map_to_twilio_locales() {
        let cases = [
            ("", "en-US"),
            ("en", "en-US"),
            ("en-GB", "en-GB"),
            ("en_gb", "en-GB"),
            ("en-NZ", "en-US"),
            ("fr", "fr-FR"),
            ("fr-CA", "fr-CA"),
            ("fr-BE", "fr-FR"),
            ("de", "de-DE"),
            ("es", "es-ES"),
            ("es-419", "es-ES"),
            ("pt", "pt-BR"),
            ("no", "nb-NO"),
            ("zh-TW", "zh-TW"),
            ("tlh", "en-US"),
        ];
        for (tag, locale) in cases {
            assert_eq!(say_language(tag), locale, "{tag}");
        }
    }

    #[test]
    fn the_code_is_spelled_out_in_place_and_said_twice() {
        let twiml = twiml(&msg("Votre code est 123456").with_language("fr"), None).unwrap();
        let say = r#"<Say language="fr-FR">Votre code est 1, 2, 3, 4, 5, 6</Say>"#;
        assert_eq!(
            twiml,
            format!("<Response>{say}<Pause length=\"1\"/>{say}</Response>")
        );
    }

    #[test]
    fn a_separate_code_is_read_after_a_text_that_lacks_it() {
        let m = msg("Here is your code:").with_code("4321");
        assert!(script(&m).unwrap().ends_with("code: 4, 3, 2, 1."));
        assert_eq!(script(&msg("").with_code("42")).unwrap(), "4, 2");
        assert_eq!(script(&msg("Call us back")).unwrap(), "Call us back");
        assert!(script(&msg("  ")).is_err());
    }

    #[test]
    fn text_and_voice_are_escaped() {
        let twiml = twiml(&msg("<b>&\"code\" 12</b>"), Some("Polly.\"x\"")).unwrap();
        assert!(twiml.contains(r#"<Say voice="Polly.&quot;x&quot;" language="en-US">&lt;b&gt;&amp;&quot;code&quot; 1, 2&lt;/b&gt;</Say>"#), "{twiml}");
    }

    #[test]
    fn twiml_over_twilios_limit_is_refused() {
        let err = twiml(&msg(&"a".repeat(2000)), None).unwrap_err();
        assert_eq!(err.kind, phonehook_plugin_api::ErrorKind::InvalidMessage);
    }
}
