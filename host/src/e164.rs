//! Turning whatever a caller wrote into an E.164 number, with libphonenumber's
//! metadata (the `phonenumber` crate): identity platforms pass numbers as users
//! typed them (Auth0's own example is `1-808-555-5555`).
//!
//! By default a number must be *possible* (a known country code and a length
//! that country uses), not *valid* per the metadata's number ranges: the
//! metadata lags new allocations, and refusing a real user's new number would
//! block their sign-in, while a vendor rejects a truly unassigned number anyway.
//! `strict` opts into full validation.

use phonenumber::country::Id;
use phonenumber::Mode;

use crate::mask::excerpt;

/// Why a number was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NumberError {
    /// Not a phone number at all.
    #[error("`{}` is not a phone number", excerpt(.0))]
    Unparseable(String),
    /// A number, but not one that can be dialled.
    #[error("`{}` is not a valid phone number for its country", excerpt(.0))]
    Invalid(String),
}

/// How strictly numbers are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strictness {
    /// A known country code and a length that country uses.
    Possible,
    /// Within a number range the metadata knows to be assigned.
    Valid,
}

/// `+` and 7 to 15 digits whose country code and national length the
/// metadata accepts (the shortest real numbers, Niue's and Saint Helena's,
/// have 7). Also the fast path: most callers send E.164 already.
fn canonical_possible(text: &str) -> Option<String> {
    let digits = text.strip_prefix('+')?;
    if !(7..=15).contains(&digits.len())
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.starts_with('0')
    {
        return None;
    }
    (1..=3).find_map(|cc_len| {
        let code: u16 = digits.get(..cc_len)?.parse().ok()?;
        let metas = phonenumber::metadata::DATABASE.by_code(&code)?;
        let national = u16::try_from(digits.len() - cc_len).ok()?;
        metas
            .iter()
            .any(|m| possible_lengths(m).contains(&national))
            .then(|| text.to_owned())
    })
}

/// A region's descriptor of every specific kind of number (fixed line,
/// mobile, toll-free...), those it has.
pub fn kinds_of(
    meta: &phonenumber::metadata::Metadata,
) -> [Option<&phonenumber::metadata::Descriptor>; 10] {
    let d = meta.descriptors();
    [
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.personal_number(),
        d.voip(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ]
}

/// Every length the country uses for any kind of number. The crate's general
/// descriptor carries no lengths, so take the union of the specific ones.
fn possible_lengths(meta: &phonenumber::metadata::Metadata) -> Vec<u16> {
    let d = meta.descriptors();
    let specific = kinds_of(meta);
    std::iter::once(d.general())
        .chain(specific.into_iter().flatten())
        .flat_map(|desc| desc.possible_length().iter().copied())
        .collect()
}

/// The region for an ISO 3166 alpha-2 code (`US`, `gb`).
pub fn region(code: &str) -> Option<Id> {
    code.trim().to_ascii_uppercase().parse().ok()
}

/// Normalizes `raw` to E.164 (`+18085555555`); numbers without a country code
/// are read as numbers of `default_region`.
pub fn normalize(
    raw: &str,
    default_region: Id,
    strictness: Strictness,
) -> Result<String, NumberError> {
    let trimmed = raw.trim();
    let unparseable = || NumberError::Unparseable(raw.to_owned());
    if trimmed.is_empty() || trimmed.chars().any(|c| c.is_alphabetic()) {
        return Err(unparseable());
    }
    // A leading `+` or 00 (the international prefix in most of the world)
    // means the caller already wrote country code and national number: E.164
    // is those digits. The parser is not consulted here, because the
    // `phonenumber` crate strips a leading digit it mistakes for a national
    // prefix from some international numbers (`+49 151 …` becomes
    // `+49 51 …`), which would send the code to someone else.
    let international = trimmed
        .strip_prefix('+')
        .or_else(|| trimmed.strip_prefix("00").filter(|r| !r.is_empty()));
    if let Some(rest) = international {
        if !rest
            .chars()
            .all(|c| c.is_ascii_digit() || " -.()/".contains(c))
        {
            return Err(unparseable());
        }
        let e164: String = std::iter::once('+')
            .chain(rest.chars().filter(char::is_ascii_digit))
            .collect();
        return accept_e164(e164, raw, strictness);
    }
    let number = phonenumber::parse(Some(default_region), trimmed).map_err(|_| unparseable())?;
    if strictness == Strictness::Valid && !phonenumber::is_valid(&number) {
        return Err(NumberError::Invalid(raw.to_owned()));
    }
    // The same final check as a number written internationally, so that
    // whatever this returns is accepted again as it is (the fuzzer found a
    // national number whose E.164 form the international path refused).
    accept_e164(
        number.format().mode(Mode::E164).to_string(),
        raw,
        strictness,
    )
}

/// The checks every result passes: a possible length for its country code,
/// and with `Valid`, an assigned range.
fn accept_e164(e164: String, raw: &str, strictness: Strictness) -> Result<String, NumberError> {
    let possible = canonical_possible(&e164).ok_or_else(|| NumberError::Invalid(raw.to_owned()))?;
    if strictness == Strictness::Valid && !valid_when_parsed_faithfully(&possible) {
        return Err(NumberError::Invalid(raw.to_owned()));
    }
    Ok(possible)
}

/// Full validation of an E.164 number, trusted only when the parser reads the
/// number back unchanged (see `normalize` for the crate's defect); a number it
/// misreads keeps the possible-length check it already passed.
fn valid_when_parsed_faithfully(e164: &str) -> bool {
    match phonenumber::parse(None, e164) {
        Ok(n) if n.format().mode(Mode::E164).to_string() == e164 => phonenumber::is_valid(&n),
        Ok(_) => true,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us() -> Id {
        region("US").expect("US is a region")
    }

    #[test]
    fn normalizes_common_spellings() {
        let cases = [
            ("1-808-555-5555", "+18085555555"),
            ("+1 (415) 555-0100", "+14155550100"),
            ("415.555.0100", "+14155550100"),
            ("+44 7700 900123", "+447700900123"),
            ("0044 7700 900123", "+447700900123"),
            ("+33 6 12 34 56 78", "+33612345678"),
        ];
        for (raw, want) in cases {
            assert_eq!(
                normalize(raw, us(), Strictness::Possible).as_deref(),
                Ok(want),
                "{raw}"
            );
        }
    }

    #[test]
    fn refuses_non_numbers() {
        for raw in [
            "",
            "   ",
            "hello",
            "+",
            "12",
            "+1 555",
            "+999 123456789",
            "555-CALL-NOW",
        ] {
            assert!(
                normalize(raw, us(), Strictness::Possible).is_err(),
                "{raw:?} should be refused"
            );
        }
        // Ofcom's drama range is possible but not assigned.
        assert!(normalize("+447700900123", us(), Strictness::Valid).is_err());
        assert!(normalize("+14155552671", us(), Strictness::Valid).is_ok());
    }

    #[test]
    fn international_numbers_keep_every_digit() {
        // The crate's parser alone turns the first two into +495123456789
        // and +863812345678: different people.
        let cases = [
            ("+49 151 23456789", "+4915123456789"),
            ("+86 138 1234 5678", "+8613812345678"),
            ("0049 151 23456789", "+4915123456789"),
            ("+61 412 345 678", "+61412345678"),
            ("+55 11 91234-5678", "+5511912345678"),
            ("+971 50 123 4567", "+971501234567"),
        ];
        for strictness in [Strictness::Possible, Strictness::Valid] {
            for (raw, want) in cases {
                assert_eq!(
                    normalize(raw, us(), strictness).as_deref(),
                    Ok(want),
                    "{raw} ({strictness:?})"
                );
            }
        }
        for raw in [
            "+1415555267",
            "+999123456789",
            "+0123456789",
            "+12345678901234567",
            "+49 151 x",
        ] {
            assert!(normalize(raw, us(), Strictness::Possible).is_err(), "{raw}");
        }
    }

    #[test]
    fn every_result_is_accepted_again_unchanged() {
        // Found by the fuzzer: a national number whose E.164 form the
        // international path used to refuse.
        let de = region("DE").expect("DE");
        for raw in ["(5140)0", "030 1234567", "0151 23456789"] {
            for strictness in [Strictness::Possible, Strictness::Valid] {
                if let Ok(e164) = normalize(raw, de, strictness) {
                    assert_eq!(
                        normalize(&e164, de, strictness),
                        Ok(e164.clone()),
                        "{raw} ({strictness:?})"
                    );
                }
            }
        }
        assert!(normalize("(5140)0", de, Strictness::Possible).is_ok());
    }

    #[test]
    fn default_region_applies_to_national_numbers() {
        let gb = region("gb").expect("GB");
        assert_eq!(
            normalize("07700 900123", gb, Strictness::Possible).as_deref(),
            Ok("+447700900123")
        );
        assert!(region("XX").is_none());
    }
}
