//! The account configuration: API key, per-account base URL, API flavour and
//! sender ids, read from the plugin's settings and secrets.

use phonehook_plugin_api::{encoding, Config, PluginError};

/// The secret holding the API key.
pub const API_KEY: &str = "INFOBIP_API_KEY";
/// The secret (or setting) holding the account's base URL.
pub const BASE_URL: &str = "INFOBIP_BASE_URL";
/// The setting choosing the SMS API flavour.
pub const SMS_API: &str = "sms_api";
/// The setting holding the SMS sender id.
pub const FROM: &str = "from";
/// The setting holding the caller id of voice calls.
pub const VOICE_FROM: &str = "voice_from";

/// Which SMS endpoint to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsApi {
    /// `POST /sms/2/text/advanced`, the endpoint Auth0's hook guide uses.
    V2,
    /// `POST /sms/3/messages`, Infobip's current SMS API.
    V3,
}

impl SmsApi {
    /// The flavour the `sms_api` setting names (`v2` when unset).
    pub fn from_config(config: &Config<'_>) -> Result<SmsApi, PluginError> {
        match config
            .setting(SMS_API)
            .map(|v| v.trim().to_ascii_lowercase())
        {
            None => Ok(SmsApi::V2),
            Some(v) if v == "v2" => Ok(SmsApi::V2),
            Some(v) if v == "v3" => Ok(SmsApi::V3),
            Some(_) => Err(PluginError::config(format!(
                "setting `{SMS_API}` must be `v2` or `v3`"
            ))),
        }
    }

    /// The endpoint's path.
    pub fn path(self) -> &'static str {
        match self {
            SmsApi::V2 => "/sms/2/text/advanced",
            SmsApi::V3 => "/sms/3/messages",
        }
    }
}

/// The `Authorization` header value.
pub fn authorization(config: &Config<'_>) -> Result<String, PluginError> {
    let key = config.require_secret(API_KEY)?;
    Ok(format!("App {}", key.trim()))
}

/// The account's base URL, without a trailing `/`.
///
/// The generic `base_url` setting wins (tests point it at a mock); otherwise
/// `INFOBIP_BASE_URL`, as a secret or a setting. Infobip's portal shows the
/// value without a scheme (`xxxxx.api.infobip.com`), so `https://` is added
/// when none is given.
pub fn base_url(config: &Config<'_>) -> Result<String, PluginError> {
    let account = config
        .secret(BASE_URL)
        .or_else(|| config.setting(BASE_URL))
        .unwrap_or_default()
        .trim();
    let url = config.base_url(account).trim();
    if url.is_empty() {
        return Err(PluginError::config(format!(
            "secret or setting `{BASE_URL}` is not set (your account's API base URL, e.g. https://xxxxx.api.infobip.com)"
        )));
    }
    match url.split_once("://") {
        None => Ok(format!("https://{url}")),
        Some((scheme, _))
            if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http") =>
        {
            Ok(url.to_owned())
        }
        Some(_) => Err(PluginError::config(format!(
            "`{BASE_URL}` must be an http(s) URL such as https://xxxxx.api.infobip.com"
        ))),
    }
}

/// A phone number as Infobip wants it: international digits without `+`.
/// Anything else (an alphanumeric sender such as `InfoSMS`) is kept as is.
pub fn number_or_name(value: &str) -> String {
    encoding::phone_digits(value)
        .unwrap_or(value.trim())
        .to_owned()
}

/// The SMS sender id. API v2 falls back to the account's default sender
/// without one; v3's message model requires `sender`, so v3 without `from`
/// is a configuration error rather than a request Infobip refuses.
pub fn sms_sender(config: &Config<'_>, api: SmsApi) -> Result<Option<String>, PluginError> {
    let sender = config
        .setting(FROM)
        .map(number_or_name)
        .filter(|s| !s.is_empty());
    match (api, sender) {
        (SmsApi::V3, None) => Err(PluginError::config(format!(
            "setting `{FROM}` is not set; `{SMS_API} = \"v3\"` needs a sender (a number such as +41793026727 or an id such as InfoSMS)"
        ))),
        (_, sender) => Ok(sender),
    }
}

/// The caller id of voice calls: `voice_from`, else `from`. Infobip requires
/// one and it must be a number.
pub fn voice_caller(config: &Config<'_>) -> Result<String, PluginError> {
    let (name, value) = match (config.setting(VOICE_FROM), config.setting(FROM)) {
        (Some(v), _) => (VOICE_FROM, v),
        (None, Some(v)) => (FROM, v),
        (None, None) => {
            let msg = format!(
                "setting `{VOICE_FROM}` (or `{FROM}`) is not set; voice calls need a caller number"
            );
            return Err(PluginError::config(msg));
        }
    };
    let number = number_or_name(value);
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PluginError::config(format!(
            "setting `{name}` must be a phone number for voice calls (e.g. 41793026727), not a sender name"
        )));
    }
    Ok(number)
}

/// Every problem with a configuration, one line each, naming the setting.
/// The API key is not among them: it is a required secret in the manifest,
/// which the host reports itself (twice would be once too many).
pub fn problems(config: &Config<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if let Err(e) = base_url(config) {
        out.push(e.message.into_string());
    }
    match SmsApi::from_config(config) {
        Ok(api) => {
            if let Err(e) = sms_sender(config, api) {
                out.push(e.message.into_string());
            }
        }
        Err(e) => out.push(e.message.into_string()),
    }
    if config.setting(VOICE_FROM).is_some() {
        if let Err(e) = voice_caller(config) {
            out.push(e.message.into_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonehook_plugin_api::Pair;

    fn config<'a>(settings: &'a [Pair], secrets: &'a [Pair]) -> Config<'a> {
        Config::new(settings, secrets)
    }

    #[test]
    fn base_url_prefers_the_generic_setting_then_the_account_url() {
        let secrets = [Pair::new(BASE_URL, "abcd.api.infobip.com/")];
        assert_eq!(
            base_url(&config(&[], &secrets)).unwrap(),
            "https://abcd.api.infobip.com"
        );
        let settings = [Pair::new("base_url", "http://127.0.0.1:9/")];
        assert_eq!(
            base_url(&config(&settings, &secrets)).unwrap(),
            "http://127.0.0.1:9"
        );
        let settings = [Pair::new(BASE_URL, "https://x.api.infobip.com")];
        assert_eq!(
            base_url(&config(&settings, &[])).unwrap(),
            "https://x.api.infobip.com"
        );
    }

    #[test]
    fn missing_or_odd_base_url_is_a_config_error_naming_it() {
        let err = base_url(&config(&[], &[])).unwrap_err();
        assert!(err.message.contains(BASE_URL), "{err}");
        let secrets = [Pair::new(BASE_URL, "ftp://x.api.infobip.com")];
        assert!(base_url(&config(&[], &secrets)).is_err());
    }

    #[test]
    fn sms_api_is_v2_unless_set() {
        assert_eq!(SmsApi::from_config(&config(&[], &[])).unwrap(), SmsApi::V2);
        let s = [Pair::new(SMS_API, " V3 ")];
        assert_eq!(SmsApi::from_config(&config(&s, &[])).unwrap(), SmsApi::V3);
        let s = [Pair::new(SMS_API, "v4")];
        assert!(SmsApi::from_config(&config(&s, &[]))
            .unwrap_err()
            .message
            .contains(SMS_API));
    }

    #[test]
    fn v3_needs_a_sender_and_v2_does_not() {
        let url = [Pair::new(BASE_URL, "x.api.infobip.com")];
        let cases = [
            // (settings, problems mentioning `from`)
            (vec![], 0),
            (vec![Pair::new(SMS_API, "v3")], 1),
            (vec![Pair::new(SMS_API, "v3"), Pair::new(FROM, " ")], 1),
            (
                vec![Pair::new(SMS_API, "v3"), Pair::new(FROM, "InfoSMS")],
                0,
            ),
            (vec![Pair::new(SMS_API, "v2")], 0),
        ];
        for (settings, expected) in cases {
            let c = config(&settings, &url);
            let about_from = problems(&c)
                .iter()
                .filter(|p| p.contains(&format!("`{FROM}`")))
                .count();
            assert_eq!(about_from, expected, "{settings:?}");
            let api = SmsApi::from_config(&c).unwrap();
            assert_eq!(sms_sender(&c, api).is_err(), expected == 1, "{settings:?}");
        }
    }

    #[test]
    fn the_api_key_is_left_to_the_host() {
        // A required secret in the manifest: the host names it when missing.
        let url = [Pair::new(BASE_URL, "x.api.infobip.com")];
        assert!(problems(&config(&[], &url)).is_empty());
    }

    #[test]
    fn numbers_lose_their_plus_and_names_stay() {
        assert_eq!(number_or_name("+41793026727"), "41793026727");
        assert_eq!(number_or_name("InfoSMS"), "InfoSMS");
        assert_eq!(number_or_name("+"), "+");
    }

    #[test]
    fn voice_caller_falls_back_to_from_and_must_be_numeric() {
        let s = [Pair::new(FROM, "+442032864231")];
        assert_eq!(voice_caller(&config(&s, &[])).unwrap(), "442032864231");
        let s = [
            Pair::new(FROM, "InfoSMS"),
            Pair::new(VOICE_FROM, "+442032864231"),
        ];
        assert_eq!(voice_caller(&config(&s, &[])).unwrap(), "442032864231");
        let s = [Pair::new(FROM, "InfoSMS")];
        assert!(voice_caller(&config(&s, &[]))
            .unwrap_err()
            .message
            .contains("`from`"));
        assert!(voice_caller(&config(&[], &[]))
            .unwrap_err()
            .message
            .contains(VOICE_FROM));
    }
}
