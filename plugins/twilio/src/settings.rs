//! The plugin's configuration, read once per call: which Twilio API, which
//! credentials, which sender. Every reader returns a config error that names
//! the setting or secret at fault (never its value), so `check` and `prepare`
//! report the same problems in the same words.

use phonehook_plugin_api::{Config, PluginError};

/// Secret: the account's SID (`AC…`), in every URL path of the 2010 API.
pub const ACCOUNT_SID: &str = "TWILIO_ACCOUNT_SID";
/// Secret: the account's auth token, the Basic auth password.
pub const AUTH_TOKEN: &str = "TWILIO_AUTH_TOKEN";
/// Secret: an API key SID (`SK…`), used instead of the account SID to log in.
pub const API_KEY: &str = "TWILIO_API_KEY";
/// Secret: the API key's secret.
pub const API_SECRET: &str = "TWILIO_API_SECRET";
/// Secret: the Twilio number messages and calls come from.
pub const PHONE_NUMBER: &str = "TWILIO_PHONE_NUMBER";
/// Secret: a Messaging Service (`MG…`) that picks the sender for texts.
pub const MESSAGING_SERVICE_SID: &str = "TWILIO_MESSAGING_SERVICE_SID";
/// Secret: the Verify service (`VA…`), needed when `api = "verify"`.
pub const VERIFY_SID: &str = "TWILIO_VERIFY_SID";

/// Setting: `messaging` (default) or `verify`.
pub const API: &str = "api";
/// Setting: the sender number; takes precedence over `TWILIO_PHONE_NUMBER`.
pub const FROM: &str = "from";
/// Setting: the Verify API's base URL.
pub const VERIFY_BASE_URL: &str = "verify_base_url";
/// Setting: a `<Say>` voice for calls (`Polly.Joanna`, `Google.fr-FR-Standard-A`…).
pub const VOICE: &str = "voice";

/// Where Programmable Messaging and Voice live.
pub const API_HOST: &str = "https://api.twilio.com";
/// Where Verify lives.
pub const VERIFY_HOST: &str = "https://verify.twilio.com";

/// Which Twilio product delivers the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// Programmable Messaging for texts, Voice (inline TwiML) for calls.
    Messaging,
    /// Verify, with the host's code passed as `CustomCode`.
    Verify,
}

impl Api {
    /// The `api` setting.
    pub fn from_config(config: &Config<'_>) -> Result<Api, PluginError> {
        match config.setting(API).map(str::trim) {
            None => Ok(Api::Messaging),
            Some(v) if v.eq_ignore_ascii_case("messaging") => Ok(Api::Messaging),
            Some(v) if v.eq_ignore_ascii_case("verify") => Ok(Api::Verify),
            Some(other) => Err(PluginError::config(format!(
                "setting `{API}` must be `messaging` or `verify`, not `{other}`"
            ))),
        }
    }
}

/// What goes into the URL and the `Authorization` header.
#[derive(Clone, Copy, Debug)]
pub struct Credentials<'a> {
    /// The account, in the URL path of the 2010 API.
    pub account_sid: &'a str,
    /// Basic auth user: the account SID or an API key SID.
    pub user: &'a str,
    /// Basic auth password: the auth token or the API key's secret.
    pub password: &'a str,
}

impl<'a> Credentials<'a> {
    /// The account SID plus either the auth token or an API key pair.
    pub fn from_config(config: &Config<'a>) -> Result<Self, PluginError> {
        let account_sid = account_sid(config)?;
        let (user, password) = match login(config)? {
            Some(key_pair) => key_pair,
            None => (account_sid, config.require_secret(AUTH_TOKEN)?),
        };
        Ok(Credentials {
            account_sid,
            user,
            password,
        })
    }
}

/// `TWILIO_ACCOUNT_SID`, checked for Twilio's `AC` + 32 hex digits shape: a
/// malformed SID would only come back as a puzzling 404 or 401.
pub fn account_sid<'a>(config: &Config<'a>) -> Result<&'a str, PluginError> {
    let sid = config.require_secret(ACCOUNT_SID)?.trim();
    if is_sid(sid, "AC") {
        Ok(sid)
    } else {
        Err(PluginError::config(format!(
            "secret `{ACCOUNT_SID}` is malformed: expected `AC` followed by 32 hex digits"
        )))
    }
}

/// The Basic auth pair other than the account SID: an API key and its secret
/// when either is set, otherwise `None` (log in with the account SID and
/// `TWILIO_AUTH_TOKEN`, whose presence this also checks).
fn login<'a>(config: &Config<'a>) -> Result<Option<(&'a str, &'a str)>, PluginError> {
    match (config.secret(API_KEY), config.secret(API_SECRET)) {
        (Some(key), Some(secret)) => Ok(Some((key.trim(), secret))),
        (Some(_), None) => Err(PluginError::config(format!(
            "secret `{API_SECRET}` is not set (it goes with `{API_KEY}`)"
        ))),
        (None, Some(_)) => Err(PluginError::config(format!(
            "secret `{API_KEY}` is not set (it goes with `{API_SECRET}`)"
        ))),
        (None, None) => config.secret(AUTH_TOKEN).map(|_| None).ok_or_else(|| {
            PluginError::config(format!(
                "secret `{AUTH_TOKEN}` is not set (or set `{API_KEY}` and `{API_SECRET}`)"
            ))
        }),
    }
}

/// The sender number: the `from` setting, else `TWILIO_PHONE_NUMBER`.
pub fn from_number<'a>(config: &Config<'a>) -> Option<&'a str> {
    config
        .setting(FROM)
        .or_else(|| config.secret(PHONE_NUMBER))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Who sends a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender<'a> {
    /// A Messaging Service picks the number from its pool.
    Service(&'a str),
    /// A fixed number (or alphanumeric sender ID, or short code).
    Number(&'a str),
}

impl<'a> Sender<'a> {
    /// The Messaging Service when one is configured (it owns sender selection,
    /// so a `from` kept for calls does not pin texts to one pool member),
    /// otherwise the sender number.
    pub fn for_texts(config: &Config<'a>) -> Result<Self, PluginError> {
        if let Some(sid) = config.secret(MESSAGING_SERVICE_SID) {
            return Ok(Sender::Service(sid.trim()));
        }
        from_number(config).map(Sender::Number).ok_or_else(|| {
            PluginError::config(format!(
                "no sender: set setting `{FROM}` or secret `{PHONE_NUMBER}`, \
                 or secret `{MESSAGING_SERVICE_SID}`"
            ))
        })
    }
}

/// The number calls come from: Twilio places calls from a number only, a
/// Messaging Service cannot.
pub fn caller_id<'a>(config: &Config<'a>) -> Result<&'a str, PluginError> {
    from_number(config).ok_or_else(|| {
        PluginError::config(format!(
            "voice calls need a Twilio number: set setting `{FROM}` or secret `{PHONE_NUMBER}` \
             (a Messaging Service cannot place calls)"
        ))
    })
}

/// `TWILIO_VERIFY_SID`, checked for Twilio's `VA` + 32 hex digits shape.
pub fn verify_sid<'a>(config: &Config<'a>) -> Result<&'a str, PluginError> {
    let sid = config.secret(VERIFY_SID).map(str::trim).ok_or_else(|| {
        PluginError::config(format!(
            "secret `{VERIFY_SID}` is not set (required when setting `{API}` is `verify`)"
        ))
    })?;
    if is_sid(sid, "VA") {
        Ok(sid)
    } else {
        Err(PluginError::config(format!(
            "secret `{VERIFY_SID}` is malformed: expected `VA` followed by 32 hex digits"
        )))
    }
}

/// The Verify base URL: its own setting, else `base_url` (so a single mock
/// can stand in for both Twilio hosts), else Twilio's Verify host.
pub fn verify_base_url<'a>(config: &Config<'a>) -> &'a str {
    match config.setting(VERIFY_BASE_URL) {
        Some(url) => url.trim_end_matches('/'),
        None => config.base_url(VERIFY_HOST),
    }
}

/// Every problem with a configuration, one line each; empty when usable.
/// The host has already reported missing required fields.
pub fn problems(config: &Config<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let mut note = |r: Result<(), PluginError>| {
        if let Err(e) = r {
            out.push(e.message.into_string());
        }
    };
    if config.secret(ACCOUNT_SID).is_some() {
        note(account_sid(config).map(drop));
    }
    note(login(config).map(drop));
    match Api::from_config(config) {
        Ok(Api::Messaging) => note(Sender::for_texts(config).map(drop)),
        Ok(Api::Verify) => note(verify_sid(config).map(drop)),
        Err(e) => note(Err(e)),
    }
    out
}

/// Twilio's SID shape: a two-letter prefix and 32 hex digits.
fn is_sid(sid: &str, prefix: &str) -> bool {
    sid.len() == prefix.len() + 32
        && sid.starts_with(prefix)
        && sid
            .get(prefix.len()..)
            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonehook_plugin_api::Pair;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";

    fn pairs(list: &[(&str, &str)]) -> Vec<Pair> {
        list.iter().map(|(k, v)| Pair::new(*k, *v)).collect()
    }

    #[test]
    fn sid_shape() {
        assert!(is_sid(SID, "AC"));
        assert!(is_sid("VA0123456789ABCDEF0123456789ABCDEF", "VA"));
        assert!(!is_sid("AC0123", "AC"));
        assert!(!is_sid("AX0123456789abcdef0123456789abcdef", "AC"));
        assert!(!is_sid("AC0123456789abcdef0123456789abcdeg", "AC"));
        assert!(!is_sid("ACé123456789abcdef0123456789abcde", "AC"));
    }

    #[test]
    fn api_key_replaces_the_auth_token_as_login() {
        let secrets = pairs(&[(ACCOUNT_SID, SID), (API_KEY, "SKkey"), (API_SECRET, "shh")]);
        let config = Config::new(&[], &secrets);
        let creds = Credentials::from_config(&config).unwrap();
        assert_eq!(
            (creds.account_sid, creds.user, creds.password),
            (SID, "SKkey", "shh")
        );
        let secrets = pairs(&[(ACCOUNT_SID, SID), (AUTH_TOKEN, "tok")]);
        let creds = Credentials::from_config(&Config::new(&[], &secrets)).unwrap();
        assert_eq!((creds.user, creds.password), (SID, "tok"));
    }

    #[test]
    fn verify_base_prefers_its_own_setting_then_base_url() {
        let none = Config::new(&[], &[]);
        assert_eq!(verify_base_url(&none), "https://verify.twilio.com");
        let base = pairs(&[("base_url", "http://127.0.0.1:9/")]);
        assert_eq!(
            verify_base_url(&Config::new(&base, &[])),
            "http://127.0.0.1:9"
        );
        let both = pairs(&[
            ("base_url", "http://127.0.0.1:9"),
            (VERIFY_BASE_URL, "http://127.0.0.1:7/"),
        ]);
        assert_eq!(
            verify_base_url(&Config::new(&both, &[])),
            "http://127.0.0.1:7"
        );
    }

    #[test]
    fn texts_prefer_the_messaging_service() {
        let settings = pairs(&[(FROM, "+15005550006")]);
        let secrets = pairs(&[
            (PHONE_NUMBER, "+15005550001"),
            (MESSAGING_SERVICE_SID, "MGabc"),
        ]);
        let config = Config::new(&settings, &secrets);
        assert_eq!(
            Sender::for_texts(&config).unwrap(),
            Sender::Service("MGabc")
        );
        assert_eq!(caller_id(&config).unwrap(), "+15005550006");
        let config = Config::new(&[], &secrets[..1]);
        assert_eq!(
            Sender::for_texts(&config).unwrap(),
            Sender::Number("+15005550001")
        );
    }
}
