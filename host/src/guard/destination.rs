//! Where a number leads: its country and the kind of line, from
//! libphonenumber's metadata (the `phonenumber` crate), for the country
//! policy and the number-type rule.

use phonenumber::country::Id;
use phonenumber::metadata::DATABASE;
use phonenumber::Type;
use phonenumber::Mode;
use serde::{Deserialize, Serialize};

/// The kind of line a number belongs to, as the metadata types it.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum NumberKind {
    /// Premium-rate services: where SMS pumping earns its money.
    PremiumRate,
    /// Shared-cost services.
    SharedCost,
    /// Universal access (company) numbers.
    Uan,
    /// Voicemail access numbers.
    Voicemail,
    /// Pagers.
    Pager,
    /// Freephone numbers.
    TollFree,
    /// Personal (follow-me) numbers.
    PersonalNumber,
    /// Voice over IP.
    Voip,
    /// Mobile.
    Mobile,
    /// Fixed line.
    FixedLine,
    /// Fixed line or mobile (the metadata cannot tell, e.g. in the US).
    FixedLineOrMobile,
    /// Not in any range the metadata knows (new allocations are: the guard
    /// does not refuse a number for being unknown).
    Unknown,
}

impl NumberKind {
    /// The kinds no person signs in with, refused by default.
    pub const NON_PERSONAL: [NumberKind; 5] = [
        NumberKind::PremiumRate,
        NumberKind::SharedCost,
        NumberKind::Uan,
        NumberKind::Voicemail,
        NumberKind::Pager,
    ];

    /// The name as configured (`premium_rate`).
    pub fn as_str(self) -> &'static str {
        match self {
            NumberKind::PremiumRate => "premium_rate",
            NumberKind::SharedCost => "shared_cost",
            NumberKind::Uan => "uan",
            NumberKind::Voicemail => "voicemail",
            NumberKind::Pager => "pager",
            NumberKind::TollFree => "toll_free",
            NumberKind::PersonalNumber => "personal_number",
            NumberKind::Voip => "voip",
            NumberKind::Mobile => "mobile",
            NumberKind::FixedLine => "fixed_line",
            NumberKind::FixedLineOrMobile => "fixed_line_or_mobile",
            NumberKind::Unknown => "unknown",
        }
    }

    fn of(kind: Type) -> NumberKind {
        match kind {
            Type::PremiumRate => NumberKind::PremiumRate,
            Type::SharedCost => NumberKind::SharedCost,
            Type::Uan => NumberKind::Uan,
            Type::Voicemail => NumberKind::Voicemail,
            Type::Pager => NumberKind::Pager,
            Type::TollFree => NumberKind::TollFree,
            Type::PersonalNumber => NumberKind::PersonalNumber,
            Type::Voip => NumberKind::Voip,
            Type::Mobile => NumberKind::Mobile,
            Type::FixedLine => NumberKind::FixedLine,
            Type::FixedLineOrMobile => NumberKind::FixedLineOrMobile,
            _ => NumberKind::Unknown,
        }
    }
}

/// A number's country and kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destination {
    /// The region, when the metadata can tell (a shared calling code such as
    /// +1 needs the number's leading digits).
    pub region: Option<Id>,
    /// The kind of line.
    pub kind: NumberKind,
}

/// Classifies an E.164 number (as validation produced it). A number the
/// parser reads back differently (see `crate::e164` for the crate's defect)
/// keeps only what its calling code tells, and counts as `Unknown`: the guard
/// fails open rather than refuse a real number on a misreading.
pub fn classify(e164: &str) -> Destination {
    match phonenumber::parse(None, e164) {
        Ok(n) if n.format().mode(Mode::E164).to_string() == e164 => Destination {
            region: n.country().id(),
            kind: NumberKind::of(n.number_type(&DATABASE)),
        },
        _ => Destination {
            region: region_of_code(e164),
            kind: NumberKind::Unknown,
        },
    }
}

/// The region of a calling code that only one region uses.
fn region_of_code(e164: &str) -> Option<Id> {
    let digits = e164.strip_prefix('+')?;
    (1..=3).find_map(|len| {
        let code: u16 = digits.get(..len)?.parse().ok()?;
        match DATABASE.by_code(&code)?.as_slice() {
            [only] => only.id().parse().ok(),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_classified_by_country_and_kind() {
        let cases = [
            // A US 900 number: premium rate.
            ("+19005550123", Some("US"), NumberKind::PremiumRate),
            ("+14155552671", Some("US"), NumberKind::FixedLineOrMobile),
            // UK mobile and UK premium rate (09).
            ("+447400123456", Some("GB"), NumberKind::Mobile),
            ("+449098790000", Some("GB"), NumberKind::PremiumRate),
            ("+33612345678", Some("FR"), NumberKind::Mobile),
            // Canada shares +1 and is told apart by its area code.
            ("+16135550123", Some("CA"), NumberKind::FixedLineOrMobile),
        ];
        for (number, region, kind) in cases {
            let d = classify(number);
            assert_eq!(
                (d.region.as_ref().map(|r| r.as_ref()), d.kind),
                (region, kind),
                "{number}"
            );
        }
    }
}
