//! From the caller's language tag (`fr`, `fr-CA`, `pt_BR`, `zh-Hant`) to one of
//! the text-to-speech languages the Voice API's `talk` action accepts.

use phonehook_plugin_api::lang;

/// Vonage's TTS languages (the Voice SDK's `TTSLanguages`).
const SUPPORTED: &[&str] = &[
    "ar",
    "ca-ES",
    "cmn-CN",
    "cmn-TW",
    "cs-CZ",
    "cy-GB",
    "da-DK",
    "de-DE",
    "el-GR",
    "en-AU",
    "en-GB",
    "en-GB-WLS",
    "en-IN",
    "en-US",
    "en-ZA",
    "es-ES",
    "es-MX",
    "es-US",
    "eu-ES",
    "fi-FI",
    "fil-PH",
    "fr-CA",
    "fr-FR",
    "he-IL",
    "hi-IN",
    "hu-HU",
    "id-ID",
    "is-IS",
    "it-IT",
    "ja-JP",
    "ko-KR",
    "nb-NO",
    "nl-NL",
    "no-NO",
    "pl-PL",
    "pt-BR",
    "pt-PT",
    "ro-RO",
    "ru-RU",
    "sk-SK",
    "sv-SE",
    "th-TH",
    "tr-TR",
    "uk-UA",
    "vi-VN",
    "yue-CN",
];

/// What a bare language (or a region Vonage lacks) falls back to.
const BY_PRIMARY: &[(&str, &str)] = &[
    ("ar", "ar"),
    ("ca", "ca-ES"),
    ("cmn", "cmn-CN"),
    ("cs", "cs-CZ"),
    ("cy", "cy-GB"),
    ("da", "da-DK"),
    ("de", "de-DE"),
    ("el", "el-GR"),
    ("en", "en-US"),
    ("es", "es-ES"),
    ("eu", "eu-ES"),
    ("fi", "fi-FI"),
    ("fil", "fil-PH"),
    ("fr", "fr-FR"),
    ("he", "he-IL"),
    ("hi", "hi-IN"),
    ("hu", "hu-HU"),
    ("id", "id-ID"),
    ("is", "is-IS"),
    ("it", "it-IT"),
    ("iw", "he-IL"),
    ("ja", "ja-JP"),
    ("ko", "ko-KR"),
    ("nb", "nb-NO"),
    ("nl", "nl-NL"),
    ("nn", "nb-NO"),
    ("no", "nb-NO"),
    ("pl", "pl-PL"),
    ("pt", "pt-PT"),
    ("ro", "ro-RO"),
    ("ru", "ru-RU"),
    ("sk", "sk-SK"),
    ("sv", "sv-SE"),
    ("th", "th-TH"),
    ("tl", "fil-PH"),
    ("tr", "tr-TR"),
    ("uk", "uk-UA"),
    ("vi", "vi-VN"),
    ("yue", "yue-CN"),
    ("zh", "cmn-CN"),
];

/// Vonage's own default voice.
pub const DEFAULT: &str = "en-US";

/// The Vonage TTS language for a language tag; [`DEFAULT`] when unknown.
pub fn tts_language(tag: &str) -> &'static str {
    let tag = lang::normalize(tag);
    if let Some(exact) = SUPPORTED
        .iter()
        .find(|code| code.eq_ignore_ascii_case(&tag))
    {
        return exact;
    }
    let primary = lang::primary(&tag);
    if primary == "zh" {
        let lower = tag.to_ascii_lowercase();
        let rest: Vec<&str> = lower.split('-').skip(1).collect();
        return chinese(&rest);
    }
    BY_PRIMARY
        .iter()
        .find(|(p, _)| *p == primary)
        .map_or(DEFAULT, |(_, code)| code)
}

/// Taiwan and traditional script → Taiwanese Mandarin, Hong Kong → Cantonese,
/// anything else → Mainland Mandarin.
fn chinese(subtags: &[&str]) -> &'static str {
    if subtags.contains(&"hk") || subtags.contains(&"mo") {
        "yue-CN"
    } else if subtags.contains(&"tw") || subtags.contains(&"hant") {
        "cmn-TW"
    } else {
        "cmn-CN"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_map_to_vonage_codes() {
        for (tag, code) in [
            ("en", "en-US"),
            ("en-GB", "en-GB"),
            ("en_au", "en-AU"),
            ("en-NZ", "en-US"),
            ("fr", "fr-FR"),
            ("fr-CA", "fr-CA"),
            ("fr-BE", "fr-FR"),
            ("pt-BR", "pt-BR"),
            ("pt", "pt-PT"),
            ("de-AT", "de-DE"),
            ("zh", "cmn-CN"),
            ("zh-TW", "cmn-TW"),
            ("zh-Hant-TW", "cmn-TW"),
            ("zh-HK", "yue-CN"),
            ("nb", "nb-NO"),
            ("ar-EG", "ar"),
            ("", "en-US"),
            ("xx", "en-US"),
            ("  ES-mx ", "es-MX"),
        ] {
            assert_eq!(tts_language(tag), code, "{tag}");
        }
    }

    #[test]
    fn every_fallback_is_supported() {
        for (_, code) in BY_PRIMARY {
            assert!(SUPPORTED.contains(code), "{code}");
        }
    }
}
