//! Language tags as callers send them (`fr`, `fr-CA`, `pt_BR`, `zh-Hant-TW`),
//! taken apart the way vendors' text-to-speech tables are keyed: a primary
//! language and a region. Lenient on purpose: identity platforms pass whatever
//! the user's browser or profile said, and an odd tag should fall back to a
//! default voice, not fail the message.

/// The tag trimmed, with `_` (POSIX locales: `en_GB`) read as `-`.
pub fn normalize(tag: &str) -> String {
    tag.trim().replace('_', "-")
}

/// The primary language subtag in lower case (`fr` for `fr-CA`, `pt` for
/// `PT_br`); empty when the tag is.
pub fn primary(tag: &str) -> String {
    subtags(tag).next().unwrap_or_default().to_ascii_lowercase()
}

/// The region subtag in upper case (`CA` for `fr-CA`, `TW` for `zh-Hant-TW`,
/// `419` for `es-419`): the first subtag after the language that is two
/// letters or three digits, so a script (`Hant`) is skipped. `None` without one.
pub fn region(tag: &str) -> Option<String> {
    subtags(tag)
        .skip(1)
        .find(|s| {
            (s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic()))
                || (s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_ascii_uppercase)
}

fn subtags(tag: &str) -> impl Iterator<Item = &str> {
    tag.trim().split(['-', '_']).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_into_language_and_region() {
        let cases = [
            ("fr-CA", "fr", Some("CA")),
            ("PT_br", "pt", Some("BR")),
            (" en ", "en", None),
            ("zh-Hant-TW", "zh", Some("TW")),
            ("zh-Hant", "zh", None),
            ("es-419", "es", Some("419")),
            ("en-GB-WLS", "en", Some("GB")),
            ("", "", None),
        ];
        for (tag, language, want_region) in cases {
            assert_eq!(primary(tag), language, "{tag}");
            assert_eq!(region(tag).as_deref(), want_region, "{tag}");
        }
        assert_eq!(normalize(" en_gb "), "en-gb");
    }
}
