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

/// Why a number was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NumberError {
    /// Not a phone number at all.
    #[error("`{0}` is not a phone number")]
    Unparseable(String),
    /// A number, but not one that can be dialled.
    #[error("`{0}` is not a valid phone number for its country")]
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

fn is_possible(number: &phonenumber::PhoneNumber) -> bool {
    let len = number.national().to_string().len();
    let Ok(len) = u16::try_from(len) else {
        return false;
    };
    phonenumber::metadata::DATABASE
        .by_code(&number.code().value())
        .is_some_and(|metas| metas.iter().any(|m| possible_lengths(m).contains(&len)))
}

/// Every length the country uses for any kind of number. The crate's general
/// descriptor carries no lengths, so take the union of the specific ones.
fn possible_lengths(meta: &phonenumber::metadata::Metadata) -> Vec<u16> {
    let d = meta.descriptors();
    let specific = [
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
    ];
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
pub fn normalize(raw: &str, default_region: Id, strictness: Strictness) -> Result<String, NumberError> {
    let trimmed = raw.trim();
    // A leading 00 is the international prefix in most of the world; the
    // parser only knows it relative to a region, so make it explicit.
    let candidate = match trimmed.strip_prefix("00") {
        Some(rest) if !rest.is_empty() => format!("+{rest}"),
        _ => trimmed.to_owned(),
    };
    if candidate.is_empty() || candidate.chars().any(|c| c.is_alphabetic()) {
        return Err(NumberError::Unparseable(raw.to_owned()));
    }
    let number = phonenumber::parse(Some(default_region), &candidate)
        .map_err(|_| NumberError::Unparseable(raw.to_owned()))?;
    let acceptable = match strictness {
        Strictness::Possible => is_possible(&number),
        Strictness::Valid => phonenumber::is_valid(&number),
    };
    if !acceptable {
        return Err(NumberError::Invalid(raw.to_owned()));
    }
    Ok(number.format().mode(Mode::E164).to_string())
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
            assert_eq!(normalize(raw, us(), Strictness::Possible).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn refuses_non_numbers() {
        for raw in ["", "   ", "hello", "+", "12", "+1 555", "+999 123456789", "555-CALL-NOW"] {
            assert!(normalize(raw, us(), Strictness::Possible).is_err(), "{raw:?} should be refused");
        }
        // Ofcom's drama range is possible but not assigned.
        assert!(normalize("+447700900123", us(), Strictness::Valid).is_err());
        assert!(normalize("+14155552671", us(), Strictness::Valid).is_ok());
    }

    #[test]
    fn default_region_applies_to_national_numbers() {
        let gb = region("gb").expect("GB");
        assert_eq!(normalize("07700 900123", gb, Strictness::Possible).as_deref(), Ok("+447700900123"));
        assert!(region("XX").is_none());
    }
}
