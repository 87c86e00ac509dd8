//! What a plugin gets for one call: the message, its configuration and the
//! host's clock and randomness. Above the data it carries (`message`, `pair`),
//! `error` and the encodings.

use abi_stable::std_types::{RSlice, RStr};
use abi_stable::StableAbi;

use crate::encoding;
use crate::error::PluginError;
use crate::message::Message;
use crate::pair::Pair;
use crate::redact::Redactor;

fn lookup<'a>(pairs: &'a [Pair], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|p| p.name.as_str() == name)
        .map(|p| p.value.as_str())
        .filter(|v| !v.is_empty())
}

/// A plugin's configuration: its settings and its secrets, as the host resolved
/// them from the configuration file and the environment.
///
/// Non-string settings (tables, arrays, numbers) arrive as JSON text. An empty
/// value counts as unset.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct Config<'a> {
    /// Plain settings (sender number, API flavour, base URL...).
    pub settings: RSlice<'a, Pair>,
    /// Secrets (tokens, keys). A plugin must never copy them into an error.
    pub secrets: RSlice<'a, Pair>,
}

impl<'a> Config<'a> {
    /// A configuration over the given pairs.
    pub fn new(settings: &'a [Pair], secrets: &'a [Pair]) -> Self {
        Config {
            settings: settings.into(),
            secrets: secrets.into(),
        }
    }

    /// A setting, if set and not empty.
    pub fn setting(&self, name: &str) -> Option<&'a str> {
        lookup(self.settings.as_slice(), name)
    }

    /// A setting, or `default` when unset.
    pub fn setting_or(&self, name: &str, default: &'a str) -> &'a str {
        self.setting(name).unwrap_or(default)
    }

    /// A secret, if set and not empty.
    pub fn secret(&self, name: &str) -> Option<&'a str> {
        lookup(self.secrets.as_slice(), name)
    }

    /// A setting that must be present; the error names it.
    pub fn require_setting(&self, name: &str) -> Result<&'a str, PluginError> {
        self.setting(name)
            .ok_or_else(|| PluginError::config(format!("setting `{name}` is not set")))
    }

    /// A secret that must be present; the error names it (never its value).
    pub fn require_secret(&self, name: &str) -> Result<&'a str, PluginError> {
        self.secret(name)
            .ok_or_else(|| PluginError::config(format!("secret `{name}` is not set")))
    }

    /// The vendor's base URL: the `base_url` setting when the host configured one
    /// (tests point it at a loopback mock), otherwise the vendor's default.
    /// Never ends with `/`.
    pub fn base_url(&self, default: &'a str) -> &'a str {
        self.setting_or("base_url", default).trim_end_matches('/')
    }

    /// `text` with every secret value replaced by `[redacted]`, in every
    /// encoding a request may carry it in (the host's own
    /// [`Redactor`](crate::redact::Redactor), so the same values go, by the
    /// same rule: four characters or more).
    ///
    /// The host already strips secrets from every error a plugin returns. A
    /// plugin needs this only before it *shortens* vendor text (with
    /// [`crate::encoding::snippet`]): redact first, then cut, so no part of a
    /// secret longer than the snippet is left behind.
    pub fn redact(&self, text: &str) -> String {
        let secrets = self.secrets.iter().map(|p| p.value.as_str());
        Redactor::for_secrets(secrets).redact(text)
    }
}

/// Everything a plugin gets for one call: the message, its configuration, and
/// what a sans-IO plugin may not fetch itself — the time and fresh randomness.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct Call<'a> {
    /// The message being delivered.
    pub message: &'a Message,
    /// The plugin's settings and secrets.
    pub config: Config<'a>,
    /// The current time, milliseconds since the Unix epoch (for signatures).
    pub now_unix_ms: i64,
    /// 32 fresh random bytes (for nonces and ids); different on every call.
    pub random: [u8; 32],
    /// The host's own base URL, e.g. `http://127.0.0.1:8080` (the sandbox uses it).
    pub host_url: RStr<'a>,
}

impl<'a> Call<'a> {
    /// The current time in whole seconds since the Unix epoch.
    pub fn now_unix_secs(&self) -> i64 {
        self.now_unix_ms.div_euclid(1000)
    }

    /// The random bytes as a UUID-shaped string (version 4 layout), for nonces.
    pub fn random_uuid(&self) -> String {
        let mut b = [0u8; 16];
        b.copy_from_slice(&self.random[..16]);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let hex = encoding::hex(&b);
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_replaces_secrets_of_four_characters_or_more() {
        let secrets = [Pair::new("TOKEN", " tok-123456 "), Pair::new("PIN", "123")];
        let config = Config::new(&[], &secrets);
        assert_eq!(
            config.redact("bad token tok-123456 (pin 123)"),
            "bad token [redacted] (pin 123)"
        );
    }
}
