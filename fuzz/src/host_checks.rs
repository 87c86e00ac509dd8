//! What the host's fuzz targets check, as plain functions of the input bytes.
//!
//! The fuzz targets call these; so does the normal test suite
//! (`tests/tests/fuzz_regressions.rs` includes this file), which replays every
//! input kept under `fuzz/regressions/<target>/`. A check panics when a
//! property breaks; anything else is a pass.

use phonehook::e164::{self, Strictness};
use phonehook::inbound::{parse_actions_event, parse_hook, Rules};

/// The inbound payload parsers and validation: no input panics, and a
/// message that validates carries an E.164 recipient and a non-blank text.
pub fn hook_payload(data: &[u8]) {
    let Some(us) = e164::region("US") else { return };
    let rules = Rules {
        default_region: us,
        max_text_chars: 1_600,
        strictness: Strictness::Possible,
    };
    for parsed in [parse_hook(data), parse_actions_event(data)] {
        let Ok(inbound) = parsed else { continue };
        let Ok(message) = inbound.validate(&rules) else {
            continue;
        };
        assert_e164(message.recipient.as_str());
        assert!(
            !message.text.as_str().trim().is_empty(),
            "validated a blank text"
        );
        assert!(message.text.as_str().chars().count() <= rules.max_text_chars);
        assert!(
            phonehook_plugin_api::serde_json::from_str::<phonehook_plugin_api::serde_json::Value>(
                message.metadata_json.as_str()
            )
            .is_ok(),
            "metadata_json is not JSON"
        );
    }
}

/// E.164 normalization: no input panics; whatever it accepts is `+` and at
/// most 15 digits, and normalizing that again gives the same number.
pub fn e164(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for (code, strictness) in [
        ("US", Strictness::Possible),
        ("GB", Strictness::Valid),
        ("DE", Strictness::Possible),
    ] {
        let Some(region) = e164::region(code) else {
            continue;
        };
        let Ok(number) = e164::normalize(text, region, strictness) else {
            continue;
        };
        assert_e164(&number);
        assert_eq!(
            e164::normalize(&number, region, strictness).as_deref(),
            Ok(number.as_str()),
            "normalizing {number:?} (from {text:?}) again changed it"
        );
    }
}

fn assert_e164(number: &str) {
    let digits = number
        .strip_prefix('+')
        .unwrap_or_else(|| panic!("{number:?} has no +"));
    assert!(
        (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()),
        "{number:?} is not E.164"
    );
}
