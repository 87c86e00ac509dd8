//! The plugin's settings and secrets, and the configuration rules the manifest
//! cannot express ("this or that", "needed only for voice").

use phonehook_plugin_api::{encoding, Channel, Config, PluginError};

use crate::jwt;

/// Secret: the account's API key (SMS API, Basic auth user).
pub const API_KEY: &str = "VONAGE_API_KEY";
/// Secret: the account's API secret (SMS API, Basic auth password).
pub const API_SECRET: &str = "VONAGE_API_SECRET";
/// Secret: the Voice application's id (the JWT's `application_id` claim).
pub const APPLICATION_ID: &str = "VONAGE_APPLICATION_ID";
/// Secret: the Voice application's RSA private key, PEM.
pub const PRIVATE_KEY: &str = "VONAGE_PRIVATE_KEY";
/// Secret alternative to the `from` setting.
pub const FROM_SECRET: &str = "VONAGE_FROM_NUMBER";
/// Setting: the sender (number or alphanumeric sender id).
pub const FROM_SETTING: &str = "from";
/// Setting: which channels this deployment offers (`sms`, `voice`, or both).
pub const CHANNELS: &str = "channels";
/// Setting: the Voice API base URL, when it differs from `base_url`.
pub const VOICE_BASE_URL: &str = "voice_base_url";

/// The SMS API's host.
pub const SMS_DEFAULT_BASE: &str = "https://rest.nexmo.com";
/// The Voice API's global host.
pub const VOICE_DEFAULT_BASE: &str = "https://api.nexmo.com";

/// Where the sender came from, so errors name the right field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sender<'a> {
    /// `setting `from`` or `secret `VONAGE_FROM_NUMBER``.
    pub source: &'static str,
    /// The value as configured.
    pub value: &'a str,
}

impl<'a> Sender<'a> {
    /// The sender for the SMS API: a number loses its `+`, a sender id stays.
    pub fn for_sms(&self) -> &'a str {
        encoding::phone_digits(self.value).unwrap_or(self.value)
    }

    /// The sender for the Voice API, which only calls from phone numbers.
    pub fn for_voice(&self) -> Result<&'a str, PluginError> {
        encoding::phone_digits(self.value).ok_or_else(|| PluginError::config(self.not_a_number()))
    }

    /// Whether the Voice API can call from this sender.
    pub fn is_number(&self) -> bool {
        encoding::phone_digits(self.value).is_some()
    }

    /// Why voice calls cannot come from this sender.
    pub fn not_a_number(&self) -> String {
        format!(
            "{} must be a phone number for voice calls (a sender name only works for SMS)",
            self.source
        )
    }
}

/// The sender: the `from` setting, else the `VONAGE_FROM_NUMBER` secret.
pub fn sender<'a>(config: &Config<'a>) -> Option<Sender<'a>> {
    if let Some(value) = config.setting(FROM_SETTING) {
        return Some(Sender {
            source: "setting `from`",
            value,
        });
    }
    config.secret(FROM_SECRET).map(|value| Sender {
        source: "secret `VONAGE_FROM_NUMBER`",
        value,
    })
}

/// The sender, or a configuration error naming both places it may come from.
pub fn require_sender<'a>(config: &Config<'a>) -> Result<Sender<'a>, PluginError> {
    sender(config).ok_or_else(|| PluginError::config(missing_sender()))
}

fn missing_sender() -> String {
    format!("setting `{FROM_SETTING}` (or secret `{FROM_SECRET}`) is not set")
}

/// The Voice API base URL: `voice_base_url`, else `base_url` (so one loopback
/// mock can stand in for both APIs), else Vonage's global host.
pub fn voice_base<'a>(config: &Config<'a>) -> &'a str {
    config
        .setting(VOICE_BASE_URL)
        .or_else(|| config.setting("base_url"))
        .unwrap_or(VOICE_DEFAULT_BASE)
        .trim_end_matches('/')
}

/// The channels this deployment offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channels {
    /// SMS through the SMS API.
    pub sms: bool,
    /// Calls through the Voice API.
    pub voice: bool,
}

impl Channels {
    /// Whether a channel is offered.
    pub fn offers(&self, channel: Channel) -> bool {
        match channel {
            Channel::Sms => self.sms,
            Channel::Voice => self.voice,
        }
    }
}

/// The `channels` setting: `sms`, `voice`, or a list of them, as a
/// comma-separated string or a TOML array (which reaches the plugin as JSON
/// text). When unset, whatever the sender allows: both, or SMS alone when
/// the sender is a name (Vonage calls only from numbers), so an alphanumeric
/// `from` keeps SMS working instead of failing the whole configuration.
pub fn channels(config: &Config<'_>) -> Result<Channels, String> {
    let Some(raw) = config.setting(CHANNELS) else {
        return Ok(Channels {
            sms: true,
            voice: sender(config).is_none_or(|from| from.is_number()),
        });
    };
    let mut found = Channels {
        sms: false,
        voice: false,
    };
    let names = raw
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|name| name.trim().trim_matches('"').trim())
        .filter(|name| !name.is_empty());
    for name in names {
        match name.to_ascii_lowercase().as_str() {
            "sms" => found.sms = true,
            "voice" => found.voice = true,
            _ => {
                return Err(format!(
                    "setting `{CHANNELS}` lists `{name}`; use `sms`, `voice` or both"
                ))
            }
        }
    }
    if !found.sms && !found.voice {
        return Err(format!(
            "setting `{CHANNELS}` names no channel; use `sms`, `voice` or both"
        ));
    }
    Ok(found)
}

/// Every configuration problem, one line each, naming the field and never
/// quoting a secret.
pub fn problems(config: &Config<'_>) -> Vec<String> {
    let channels = match channels(config) {
        Ok(channels) => channels,
        Err(problem) => return vec![problem],
    };
    let mut out = Vec::new();
    let mut need_secret = |name: &str, why: &str| {
        if config.secret(name).is_none() {
            out.push(format!("secret `{name}` is not set ({why})"));
        }
    };
    if channels.sms {
        need_secret(API_KEY, "SMS API key");
        need_secret(API_SECRET, "SMS API secret");
    }
    if channels.voice {
        need_secret(APPLICATION_ID, "Voice API application id");
        need_secret(PRIVATE_KEY, "Voice API application private key");
    }
    match sender(config) {
        None => out.push(missing_sender()),
        Some(from) if channels.voice && from.for_voice().is_err() => out.push(from.not_a_number()),
        Some(_) => {}
    }
    if channels.voice {
        if let Some(Err(err)) = config.secret(PRIVATE_KEY).map(jwt::parse_private_key) {
            out.push(format!("secret `{PRIVATE_KEY}` {err}"));
        }
    }
    out
}
