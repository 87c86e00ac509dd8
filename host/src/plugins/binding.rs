//! A plugin bound to its configuration: the settings and secrets it receives,
//! the hosts it may reach, and what is missing.

use std::sync::Arc;

use phonehook_plugin_api::{Config, Pair};
use serde::Serialize;

use crate::config::PluginConfig;
use crate::metrics::PluginMetrics;
use crate::redact::{CredentialMemo, Redactor};

use super::generation::Generation;

/// Hosts a plugin may send requests to: the manifest's (`api.twilio.com`,
/// `*.api.infobip.com`), plus the host of every URL setting the admin
/// configured (`url`, `base_url`, `*_url`) — that is how tests and in-house
/// gateways point a plugin elsewhere.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostAllowList {
    exact: Vec<String>,
    suffixes: Vec<String>,
}

fn bare_host(host: &str) -> String {
    host.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

impl HostAllowList {
    fn add(&mut self, pattern: &str) {
        match pattern.trim().strip_prefix("*.") {
            Some(suffix) => self.suffixes.push(format!(".{}", bare_host(suffix))),
            None => self.exact.push(bare_host(pattern)),
        }
    }

    /// Whether a request to `host` is allowed.
    pub fn allows(&self, host: &str) -> bool {
        let host = bare_host(host);
        self.exact.contains(&host) || self.suffixes.iter().any(|s| host.ends_with(s.as_str()))
    }
}

/// Whether a secret is set, for status listings (never the value).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SecretState {
    /// The secret's name.
    pub name: String,
    /// Whether the plugin cannot work without it.
    pub required: bool,
    /// Whether a value was found in the configuration or the environment.
    pub set: bool,
}

/// A plugin's resolved configuration.
pub struct Binding {
    settings: Vec<Pair>,
    secrets: Vec<Pair>,
    /// Where it may send requests.
    pub allow: HostAllowList,
    /// Missing or malformed secrets and settings; empty when usable.
    pub problems: Vec<String>,
    /// Each declared secret, set or not.
    pub secret_states: Vec<SecretState>,
    /// The secrets in every encoding, computed once: each message's redactor
    /// includes it (shared, not copied).
    redactor: Arc<Redactor>,
    /// The last request credentials expanded for redaction
    /// ([`crate::redact::add_request_memoized`]).
    pub credentials: CredentialMemo,
    /// The plugin's per-message series, registered once.
    pub metrics: PluginMetrics,
}

// Secrets by name only: a derived `Debug` would print their values.
impl std::fmt::Debug for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secrets: Vec<&str> = self.secrets.iter().map(|p| p.name.as_str()).collect();
        f.debug_struct("Binding")
            .field("settings", &self.settings)
            .field("secrets", &secrets)
            .field("allow", &self.allow)
            .field("problems", &self.problems)
            .finish_non_exhaustive()
    }
}

fn is_url_setting(name: &str) -> bool {
    name == "url" || name.ends_with("_url")
}

impl Binding {
    /// Resolves `cfg` for `generation` and asks the plugin what is wrong with it.
    pub fn new(generation: &Generation, cfg: &PluginConfig) -> Binding {
        let info = &generation.info;
        let settings: Vec<Pair> = cfg
            .settings
            .iter()
            .map(|(k, v)| Pair::new(k.as_str(), PluginConfig::setting_text(v)))
            .collect();

        // Declared secrets may come from the environment; undeclared ones only
        // from the configuration (a webhook template can reference any name).
        let mut secrets: Vec<Pair> = Vec::new();
        let mut secret_states = Vec::new();
        for field in &info.secrets {
            let value = cfg.secret(&field.name);
            secret_states.push(SecretState {
                name: field.name.clone(),
                required: field.required,
                set: value.is_some(),
            });
            if let Some(value) = value {
                secrets.push(Pair::new(field.name.as_str(), value));
            }
        }
        for (name, value) in &cfg.secrets {
            if !info.secrets.iter().any(|f| f.name == *name) && !value.is_empty() {
                secrets.push(Pair::new(name.as_str(), value.as_str()));
            }
        }

        let mut allow = HostAllowList::default();
        for host in &info.hosts {
            allow.add(host);
        }
        for pair in &settings {
            if is_url_setting(&pair.name) {
                if let Some(host) = url::Url::parse(&pair.value)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                {
                    allow.add(&host);
                }
            }
        }

        let mut problems: Vec<String> = secret_states
            .iter()
            .filter(|s| s.required && !s.set)
            .map(|s| {
                format!(
                    "secret `{}` is not set (configure it or set the environment variable {})",
                    s.name, s.name
                )
            })
            .collect();
        for field in info.settings.iter().filter(|f| f.required) {
            let set = settings
                .iter()
                .any(|p| p.name.as_str() == field.name && !p.value.is_empty());
            if !set {
                problems.push(format!("setting `{}` is not set", field.name));
            }
        }
        let redactor = Arc::new(secrets_redactor(&secrets));
        let mut binding = Binding {
            settings,
            secrets,
            allow,
            problems,
            secret_states,
            redactor,
            credentials: CredentialMemo::default(),
            metrics: PluginMetrics::new(&info.name),
        };
        for problem in generation.check(&binding.config()) {
            if !binding.problems.contains(&problem) {
                binding.problems.push(problem);
            }
        }
        binding
    }

    /// The configuration as the plugin sees it.
    pub fn config(&self) -> Config<'_> {
        Config::new(&self.settings, &self.secrets)
    }

    /// What to redact from anything shown or logged: the secrets, in every
    /// encoding.
    pub fn redactor(&self) -> &Arc<Redactor> {
        &self.redactor
    }
}

/// A redactor for `secrets`, each in every encoding, plus the Basic
/// credential of each ordered pair of them (`sid:token`, `user:password`):
/// which two a plugin pairs is its business, and the pairs are few.
fn secrets_redactor(secrets: &[Pair]) -> Redactor {
    let values: Vec<&str> = secrets.iter().map(|p| p.value.as_str()).collect();
    let mut redactor = Redactor::for_secrets(values.iter().copied());
    for (i, user) in values.iter().enumerate() {
        for (j, password) in values.iter().enumerate() {
            if i != j {
                redactor.basic_credential(user, password);
            }
        }
    }
    redactor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_matches_exact_and_wildcard_hosts() {
        let mut a = HostAllowList::default();
        a.add("api.twilio.com");
        a.add("*.api.infobip.com");
        a.add("::1");
        for ok in [
            "api.twilio.com",
            "API.Twilio.com",
            "xyz.api.infobip.com",
            "[::1]",
        ] {
            assert!(a.allows(ok), "{ok}");
        }
        for no in [
            "twilio.com",
            "api.twilio.com.evil",
            "api.infobip.com.evil",
            "evilapi.infobip.com",
        ] {
            assert!(!a.allows(no), "{no}");
        }
    }

    #[test]
    fn the_redactor_knows_secrets_and_their_basic_pairs() {
        let secrets = [
            Pair::new("SID", "AC0123456789"),
            Pair::new("TOKEN", "tok-987654321"),
        ];
        let redactor = secrets_redactor(&secrets);
        let basic = phonehook_plugin_api::encoding::basic_auth("AC0123456789", "tok-987654321");
        let credential = basic.trim_start_matches("Basic ");
        assert_eq!(
            redactor.redact(&format!("AC0123456789 tok-987654321 {credential}")),
            "[redacted] [redacted] [redacted]"
        );
    }

    #[test]
    fn debug_output_names_secrets_without_their_values() {
        let binding = Binding {
            settings: vec![Pair::new("from", "+15005550006")],
            secrets: vec![Pair::new("TOKEN", "tok-987654321")],
            allow: HostAllowList::default(),
            problems: Vec::new(),
            secret_states: Vec::new(),
            redactor: Arc::new(Redactor::for_secrets(["tok-987654321"])),
            credentials: CredentialMemo::default(),
            metrics: PluginMetrics::new("test"),
        };
        let debug = format!("{binding:?}");
        assert!(debug.contains("TOKEN"), "{debug}");
        assert!(!debug.contains("tok-987654321"), "{debug}");
    }
}
