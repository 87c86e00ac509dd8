//! The `[guard]` section: every rule with its default, and the checks that
//! refuse a configuration that could not work.

use serde::{Deserialize, Serialize};

use super::destination::NumberKind;

/// Whether the guard refuses or only records.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GuardMode {
    /// Refuse what a rule refuses.
    #[default]
    Enforce,
    /// Evaluate every rule and record what would be refused, refuse nothing:
    /// for tuning limits on real traffic before enforcing them.
    Monitor,
}

impl GuardMode {
    /// `enforce` or `monitor`.
    pub fn as_str(self) -> &'static str {
        match self {
            GuardMode::Enforce => "enforce",
            GuardMode::Monitor => "monitor",
        }
    }
}

/// At most `limit` messages per `window_secs` for one key; `limit = 0` turns
/// the rule off.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Limit {
    /// Messages per window (0: no limit).
    pub limit: u32,
    /// The window, in seconds, from the key's first message.
    pub window_secs: u64,
}

impl Default for Limit {
    fn default() -> Self {
        Limit {
            limit: 0,
            window_secs: 3600,
        }
    }
}

impl Limit {
    const fn per_hour(limit: u32) -> Limit {
        Limit {
            limit,
            window_secs: 3600,
        }
    }

    /// Whether the rule is on.
    pub fn is_on(&self) -> bool {
        self.limit > 0
    }
}

/// Waits after a burst to one number: after `after` messages, each next one
/// must wait `base_secs`, then twice that, ... up to `max_secs`, plus up to
/// 20% jitter; `quiet_secs` without a message ends the burst.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct BackoffConfig {
    /// Messages to one number before waits start (0: no backoff).
    pub after: u32,
    /// The first wait, in seconds.
    pub base_secs: u64,
    /// The longest wait, in seconds.
    pub max_secs: u64,
    /// Quiet time that ends a burst, in seconds.
    pub quiet_secs: u64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            after: 3,
            base_secs: 60,
            max_secs: 32 * 60,
            quiet_secs: 3600,
        }
    }
}

/// The abuse guard (`[guard]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GuardConfig {
    /// Whether the guard runs (`PHONEHOOK_GUARD__ENABLED=false` turns it off:
    /// benchmarks and load tests that send thousands of messages to one
    /// number from one address).
    pub enabled: bool,
    /// `enforce` or `monitor`.
    pub mode: GuardMode,
    /// Per destination number (Auth0 allows 10 an hour to one device).
    pub per_number: Limit,
    /// Per caller IP address (IPv6: per `ipv6_prefix_len` network).
    pub per_ip: Limit,
    /// Per number prefix: the number without its last `prefix_hidden_digits`
    /// digits, where pumping shows as many numbers in one range.
    pub per_prefix: Limit,
    /// Per destination country. Off by default: a sane limit depends on the
    /// deployment's size (monitor mode shows what one would refuse).
    pub per_country: Limit,
    /// Digits dropped from the end of a number to make its prefix.
    pub prefix_hidden_digits: u8,
    /// IPv6 callers are counted per network of this many bits.
    pub ipv6_prefix_len: u8,
    /// Backoff after a burst to one number.
    pub backoff: BackoffConfig,
    /// When not empty, only these countries (ISO 3166 codes) may be texted.
    pub allow_countries: Vec<String>,
    /// These countries may not be texted.
    pub deny_countries: Vec<String>,
    /// Number types refused whatever the limits say.
    pub block_number_types: Vec<NumberKind>,
    /// Numbers and prefixes no limit applies to (QA phones), besides those an
    /// admin adds through the API.
    pub safe_list: Vec<String>,
    /// The most keys (number, IP, prefix, country) tracked at once; memory
    /// stays under 80 bytes a key (80 MiB at the default million). When full of live keys, a new key is
    /// not tracked (its message passes) and counted in
    /// `phonehook_guard_untracked_total`.
    pub max_tracked_keys: usize,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            enabled: true,
            mode: GuardMode::Enforce,
            per_number: Limit::per_hour(10),
            per_ip: Limit::per_hour(50),
            per_prefix: Limit::per_hour(30),
            per_country: Limit::per_hour(0),
            prefix_hidden_digits: 4,
            ipv6_prefix_len: 64,
            backoff: BackoffConfig::default(),
            allow_countries: Vec::new(),
            deny_countries: Vec::new(),
            block_number_types: NumberKind::NON_PERSONAL.to_vec(),
            safe_list: Vec::new(),
            max_tracked_keys: 1_000_000,
        }
    }
}

/// A `[guard]` setting that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("guard.{key}: {problem}")]
pub struct GuardConfigError {
    /// The key, as written under `[guard]`.
    pub key: String,
    /// What is wrong with it.
    pub problem: String,
}

impl GuardConfig {
    /// Refuses settings that cannot work: zero windows, unknown country
    /// codes, a country both allowed and denied, malformed safe-list entries.
    pub fn validate(&self) -> Result<(), GuardConfigError> {
        let err = |key: &str, problem: String| GuardConfigError {
            key: key.to_owned(),
            problem,
        };
        for (key, limit) in self.limits() {
            if limit.is_on() && limit.window_secs == 0 {
                return Err(err(
                    &format!("{key}.window_secs"),
                    "must be positive".into(),
                ));
            }
        }
        if self.backoff.after > 0 && (self.backoff.base_secs == 0 || self.backoff.max_secs == 0) {
            return Err(err(
                "backoff",
                "base_secs and max_secs must be positive when `after` is set".into(),
            ));
        }
        if !(1..=14).contains(&self.prefix_hidden_digits) {
            return Err(err(
                "prefix_hidden_digits",
                "must be between 1 and 14".into(),
            ));
        }
        if !(1..=128).contains(&self.ipv6_prefix_len) {
            return Err(err("ipv6_prefix_len", "must be between 1 and 128".into()));
        }
        if self.max_tracked_keys == 0 {
            return Err(err("max_tracked_keys", "must be positive".into()));
        }
        for (key, list) in [
            ("allow_countries", &self.allow_countries),
            ("deny_countries", &self.deny_countries),
        ] {
            if let Some(bad) = list.iter().find(|c| crate::e164::region(c).is_none()) {
                return Err(err(
                    key,
                    format!("`{bad}` is not an ISO 3166 region code such as US or GB"),
                ));
            }
        }
        if let Some(both) = self.allow_countries.iter().find(|a| {
            self.deny_countries
                .iter()
                .any(|d| d.eq_ignore_ascii_case(a))
        }) {
            return Err(err(
                "deny_countries",
                format!("`{both}` is both allowed and denied"),
            ));
        }
        for entry in &self.safe_list {
            super::safelist::check_entry(entry).map_err(|e| err("safe_list", e.to_string()))?;
        }
        Ok(())
    }

    /// The four counting rules, by their names.
    pub fn limits(&self) -> [(&'static str, Limit); 4] {
        [
            ("per_number", self.per_number),
            ("per_ip", self.per_ip),
            ("per_prefix", self.per_prefix),
            ("per_country", self.per_country),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_unworkable_settings_are_named() {
        assert_eq!(GuardConfig::default().validate(), Ok(()));
        let cases: [(GuardConfig, &str); 5] = [
            (
                GuardConfig {
                    per_ip: Limit {
                        limit: 5,
                        window_secs: 0,
                    },
                    ..GuardConfig::default()
                },
                "guard.per_ip.window_secs",
            ),
            (
                GuardConfig {
                    allow_countries: vec!["XX".into()],
                    ..GuardConfig::default()
                },
                "guard.allow_countries: `XX`",
            ),
            (
                GuardConfig {
                    allow_countries: vec!["US".into()],
                    deny_countries: vec!["us".into()],
                    ..GuardConfig::default()
                },
                "both allowed and denied",
            ),
            (
                GuardConfig {
                    safe_list: vec!["555-0100".into()],
                    ..GuardConfig::default()
                },
                "guard.safe_list",
            ),
            (
                GuardConfig {
                    prefix_hidden_digits: 0,
                    ..GuardConfig::default()
                },
                "guard.prefix_hidden_digits",
            ),
        ];
        for (config, expected) in cases {
            let error = config.validate().err().map(|e| e.to_string());
            assert!(
                error.as_deref().is_some_and(|e| e.contains(expected)),
                "{error:?} should name {expected}"
            );
        }
    }
}
