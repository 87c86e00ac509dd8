//! Where a number leads: its country and the kind of line, from
//! libphonenumber's metadata (the `phonenumber` crate), for the country
//! policy and the number-type rule.

use std::collections::HashMap;
use std::sync::OnceLock;

use phonenumber::country::Id;
use phonenumber::metadata::{Descriptor, DATABASE};
use phonenumber::Metadata;
use regex::Regex;
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

/// Classifies an E.164 number (as validation produced it), as
/// libphonenumber's `number_type` does: the number's region among those that
/// share its calling code (leading digits, else the first whose ranges hold
/// it), then the first kind whose range holds it, in the metadata's order.
///
/// Done here on regexes compiled once per region, rather than through the
/// `phonenumber` crate's parser: that one looks every pattern up in a
/// process-wide, mutex-guarded LRU of compiled regexes, which cost ~20 µs a
/// number and serialised every thread of the server.
pub fn classify(e164: &str) -> Destination {
    let unknown = Destination {
        region: None,
        kind: NumberKind::Unknown,
    };
    let Some(digits) = e164.strip_prefix('+') else {
        return unknown;
    };
    for cc_len in 1..=3 {
        let Some(code) = digits.get(..cc_len).and_then(|c| c.parse::<u16>().ok()) else {
            return unknown;
        };
        let Some(regions) = table().get(&code) else {
            continue;
        };
        let national = &digits[cc_len..];
        for region in regions {
            let rules = region.rules();
            if rules.leading.as_ref().is_some_and(|l| l.is_match(national)) {
                return Destination {
                    region: rules.id,
                    kind: rules.kind_of(national),
                };
            }
            let kind = rules.kind_of(national);
            if kind != NumberKind::Unknown || regions.len() == 1 {
                return Destination {
                    region: rules.id,
                    kind,
                };
            }
        }
        return unknown;
    }
    unknown
}

/// A descriptor's range: its pattern, anchored at the start as the crate
/// matches it, and the national lengths it allows (none: any).
struct Range {
    pattern: Option<Regex>,
    lengths: Vec<u16>,
}

impl Range {
    fn of(d: &Descriptor) -> Range {
        Range {
            pattern: anchored(d.national_number().as_str()),
            lengths: d.possible_length().to_vec(),
        }
    }

    fn holds(&self, national: &str) -> bool {
        let length_ok = self.lengths.is_empty()
            || u16::try_from(national.len()).is_ok_and(|l| self.lengths.contains(&l));
        length_ok && self.pattern.as_ref().is_some_and(|p| p.is_match(national))
    }
}

/// A pattern from the metadata, compiled as the crate compiles it (white
/// space in a pattern is layout). One that does not compile matches nothing
/// (the guard fails open). Separate regexes, not one `RegexSet`: a set
/// reports every pattern that matches and so cannot stop at the first, and
/// measured slower.
fn anchored(pattern: &str) -> Option<Regex> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})"))
        .ignore_whitespace(true)
        .build()
        .ok()
}

/// One region's compiled ranges.
struct Rules {
    id: Option<Id>,
    leading: Option<Regex>,
    general: Range,
    /// The special kinds, in the order `number_type` tries them.
    special: Vec<(NumberKind, Range)>,
    fixed_line: Option<Range>,
    mobile: Option<Range>,
    /// The metadata gives fixed lines and mobiles one pattern (the US).
    fixed_is_mobile: bool,
}

impl Rules {
    fn of(meta: &Metadata) -> Rules {
        let d = meta.descriptors();
        let special = [
            (NumberKind::PremiumRate, d.premium_rate()),
            (NumberKind::TollFree, d.toll_free()),
            (NumberKind::SharedCost, d.shared_cost()),
            (NumberKind::Voip, d.voip()),
            (NumberKind::PersonalNumber, d.personal_number()),
            (NumberKind::Pager, d.pager()),
            (NumberKind::Uan, d.uan()),
            (NumberKind::Voicemail, d.voicemail()),
        ]
        .into_iter()
        .filter_map(|(kind, d)| d.map(|d| (kind, Range::of(d))))
        .collect();
        let pattern = |d: Option<&Descriptor>| d.map(|d| d.national_number().as_str().to_owned());
        Rules {
            id: meta.id().parse().ok(),
            leading: meta.leading_digits().and_then(|l| anchored(l.as_str())),
            general: Range::of(d.general()),
            special,
            fixed_line: d.fixed_line().map(Range::of),
            mobile: d.mobile().map(Range::of),
            fixed_is_mobile: pattern(d.fixed_line()) == pattern(d.mobile()),
        }
    }

    fn kind_of(&self, national: &str) -> NumberKind {
        if !self.general.holds(national) {
            return NumberKind::Unknown;
        }
        if let Some((kind, _)) = self.special.iter().find(|(_, r)| r.holds(national)) {
            return *kind;
        }
        let holds = |r: &Option<Range>| r.as_ref().is_some_and(|r| r.holds(national));
        if holds(&self.fixed_line) {
            if self.fixed_is_mobile || holds(&self.mobile) {
                return NumberKind::FixedLineOrMobile;
            }
            return NumberKind::FixedLine;
        }
        if holds(&self.mobile) {
            return NumberKind::Mobile;
        }
        NumberKind::Unknown
    }
}

/// A region of the metadata, compiled on first use: a number for a region
/// pays its compilation once, the rest of the table costs nothing.
struct Region {
    meta: &'static Metadata,
    rules: OnceLock<Rules>,
}

impl Region {
    fn rules(&self) -> &Rules {
        self.rules.get_or_init(|| Rules::of(self.meta))
    }
}

/// Every calling code's regions, in the metadata's order.
fn table() -> &'static HashMap<u16, Vec<Region>> {
    static TABLE: OnceLock<HashMap<u16, Vec<Region>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let database: &'static phonenumber::metadata::Database = &DATABASE;
        let mut table: HashMap<u16, Vec<Region>> = HashMap::new();
        let codes: std::collections::BTreeSet<u16> =
            database.iter().map(Metadata::country_code).collect();
        for code in codes {
            let regions = database
                .by_code(&code)
                .unwrap_or_default()
                .into_iter()
                .map(|meta| Region {
                    meta,
                    rules: OnceLock::new(),
                })
                .collect();
            table.insert(code, regions);
        }
        table
    })
}

/// Numbers already classified, by the guard's key for the number: a user
/// who asks for a second code costs a hash lookup, not the metadata's
/// regexes. Bounded: when full it starts again empty (a number's class never
/// changes, so a miss only costs time).
pub struct Memo {
    capacity: usize,
    known: std::sync::Mutex<HashMap<u64, Destination>>,
}

impl Memo {
    /// A memo of at most `capacity` numbers.
    pub fn new(capacity: usize) -> Memo {
        Memo {
            capacity,
            known: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The number's class, from the memo or by `classify`.
    pub fn classify(&self, key: u64, e164: &str) -> Destination {
        let lock = || self.known.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = lock().get(&key) {
            return *d;
        }
        // Outside the lock: classifying takes microseconds.
        let d = classify(e164);
        let mut known = lock();
        if known.len() >= self.capacity {
            known.clear();
        }
        known.insert(key, d);
        d
    }
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

    /// The crate's own reading of a number, where it reads the number back
    /// unchanged (see `crate::e164` for the numbers it misreads).
    fn crate_reading(e164: &str) -> Option<(Option<Id>, phonenumber::Type)> {
        let n = phonenumber::parse(None, e164).ok()?;
        (n.format().mode(phonenumber::Mode::E164).to_string() == e164)
            .then(|| (n.country().id(), n.number_type(&DATABASE)))
    }

    /// Every example number the metadata carries, for every region and kind:
    /// this classifier and the crate's parser agree on each.
    #[test]
    fn agrees_with_the_crate_on_every_example_number_of_the_metadata() {
        let mut compared = 0;
        for meta in DATABASE.iter() {
            let examples = crate::e164::kinds_of(meta)
                .into_iter()
                .flatten()
                .filter_map(|d| d.example())
                // The crate keeps the national number as an integer, so it loses
                // a leading zero and types such numbers (Tonga's 0800...)
                // `Unknown`; this classifier reads the digits as written.
                .filter(|example| !example.starts_with('0'));
            for example in examples {
                let e164 = format!("+{}{example}", meta.country_code());
                let Some((region, kind)) = crate_reading(&e164) else {
                    continue;
                };
                let ours = classify(&e164);
                let theirs = Destination {
                    region,
                    kind: kind_of_type(kind),
                };
                assert_eq!(ours, theirs, "{e164} ({})", meta.id());
                compared += 1;
            }
        }
        assert!(compared > 1000, "only {compared} examples compared");
    }

    fn kind_of_type(kind: phonenumber::Type) -> NumberKind {
        use phonenumber::Type;
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
