//! Esendex: SMS and text-to-speech calls through the REST message dispatcher
//! (`POST /v1.0/messagedispatcher`), one message per request, JSON both ways.
//!
//! The account reference may be kept as a secret or as a setting, since it is
//! not a credential by itself; the login (username and password) is always secret.

mod dispatch;
mod reply;

use phonehook_plugin_api::{
    export_plugin, Call, Channel, Config, HttpReply, HttpRequest, Manifest, Plugin, PluginError,
    Step,
};

/// The REST API's host; the `base_url` setting replaces it (tests use a mock).
pub const DEFAULT_BASE_URL: &str = "https://api.esendex.com";
/// The login's user name (usually the account's e-mail address).
pub const USERNAME: &str = "ESENDEX_USERNAME";
/// The login's password or API password.
pub const SECRET: &str = "ESENDEX_SECRET";
/// The account reference (`EX0000000`); a secret or a setting.
pub const ACCOUNT: &str = "ESENDEX_ACCOUNT";

/// The Esendex plugin.
#[derive(Default)]
pub struct Esendex;

impl Plugin for Esendex {
    fn manifest(&self) -> Manifest {
        Manifest::new("esendex", env!("CARGO_PKG_VERSION"))
            .vendor("Esendex")
            .description("SMS and text-to-speech calls through the Esendex REST message dispatcher")
            .channel(Channel::Sms)
            .channel(Channel::Voice)
            .secret(
                USERNAME,
                true,
                "Esendex login user name (the account's e-mail address)",
            )
            .secret(SECRET, true, "Esendex password or API password")
            .secret(
                ACCOUNT,
                false,
                "Account reference (EX0000000); may be a setting instead",
            )
            .setting(
                ACCOUNT,
                false,
                "Account reference (EX0000000), when not kept as a secret",
            )
            .setting(
                "from",
                false,
                "Originator: up to 11 letters and digits, or up to 20 digits",
            )
            .setting(
                "voice_retries",
                false,
                "How often Esendex redials an unanswered call (default 1)",
            )
            .setting(
                "base_url",
                false,
                "API base URL; defaults to https://api.esendex.com",
            )
            .host("api.esendex.com")
    }

    /// The host reports the manifest's required secrets by name; this adds the
    /// account reference (secret or setting) and malformed settings.
    fn check(&self, config: &Config<'_>) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = account(config) {
            problems.push(e.message.into_string());
        }
        if let Err(e) = dispatch::voice_retries(config) {
            problems.push(e.message.into_string());
        }
        problems
    }

    fn prepare(&self, call: &Call<'_>) -> Result<HttpRequest, PluginError> {
        let config = &call.config;
        let username = config.require_secret(USERNAME)?;
        let password = config.require_secret(SECRET)?;
        let body = dispatch::body(call.message, account(config)?, config)?;
        let url = format!(
            "{}/v1.0/messagedispatcher",
            config.base_url(DEFAULT_BASE_URL)
        );
        Ok(HttpRequest::post(url)
            .basic_auth(username, password)
            .json(&body))
    }

    fn interpret(&self, _call: &Call<'_>, reply: &HttpReply<'_>) -> Result<Step, PluginError> {
        reply::read(reply).map(Step::Delivered)
    }
}

/// The account reference: the secret when there is one, else the setting.
fn account<'a>(config: &Config<'a>) -> Result<&'a str, PluginError> {
    config
        .secret(ACCOUNT)
        .or_else(|| config.setting(ACCOUNT))
        .ok_or_else(|| PluginError::config(format!("secret or setting `{ACCOUNT}` is not set")))
}

export_plugin!(Esendex);

#[cfg(test)]
mod tests {
    use super::*;
    use phonehook_plugin_api::serde_json::{json, Value};
    use phonehook_plugin_api::testing::{Harness, Reply};
    use phonehook_plugin_api::{encoding, ErrorKind, Message};

    fn harness() -> Harness<Esendex> {
        Harness::new()
            .secret(USERNAME, "user@example.com")
            .secret(SECRET, "pa55word")
            .secret(ACCOUNT, "EX0000000")
    }

    fn msg() -> Message {
        Message::new("+447700900123", "Your code is 123456").with_code("123456")
    }

    fn body(req: &HttpRequest) -> Value {
        phonehook_plugin_api::serde_json::from_slice(&req.body).unwrap()
    }

    #[test]
    fn posts_json_with_basic_auth_to_the_dispatcher() {
        let req = harness().prepare(&msg()).unwrap();
        assert_eq!(req.method.as_str(), "POST");
        assert_eq!(
            req.url.as_str(),
            "https://api.esendex.com/v1.0/messagedispatcher"
        );
        assert_eq!(
            req.header_value("authorization"),
            Some(encoding::basic_auth("user@example.com", "pa55word").as_str())
        );
        assert_eq!(req.header_value("content-type"), Some("application/json"));
        assert_eq!(req.header_value("accept"), Some("application/json"));
        assert_eq!(
            body(&req),
            json!({"accountreference": "EX0000000",
                   "messages": [{"to": "447700900123", "body": "Your code is 123456"}]})
        );
    }

    #[test]
    fn from_and_base_url_settings_apply() {
        let req = harness()
            .setting("from", "Acme")
            .setting("base_url", "http://127.0.0.1:9/")
            .prepare(&msg())
            .unwrap();
        assert_eq!(
            req.url.as_str(),
            "http://127.0.0.1:9/v1.0/messagedispatcher"
        );
        assert_eq!(body(&req)["messages"][0]["from"], "Acme");
    }

    #[test]
    fn account_may_be_a_setting() {
        let h = Harness::<Esendex>::new()
            .secret(USERNAME, "u")
            .secret(SECRET, "p")
            .setting(ACCOUNT, "EX0000042");
        assert!(h.check().is_empty(), "{:?}", h.check());
        assert_eq!(
            body(&h.prepare(&msg()).unwrap())["accountreference"],
            "EX0000042"
        );
    }

    #[test]
    fn login_is_required_and_check_names_the_account() {
        let manifest = harness().manifest().unwrap();
        let required: Vec<&str> = manifest
            .secrets
            .iter()
            .filter(|f| f.required)
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(required, [USERNAME, SECRET]);
        let problems = Harness::<Esendex>::new().check();
        assert_eq!(
            problems,
            [format!("secret or setting `{ACCOUNT}` is not set")]
        );
        assert!(harness().check().is_empty());
        let bad = harness().setting("voice_retries", "many").check();
        assert_eq!(bad.len(), 1);
        assert!(bad[0].contains("voice_retries"));
    }

    #[test]
    fn prepare_refuses_to_send_without_credentials() {
        let err = Harness::<Esendex>::new()
            .secret(USERNAME, "u")
            .prepare(&msg())
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
        assert!(err.message.contains(SECRET));
        let err = Harness::<Esendex>::new()
            .secret(USERNAME, "login-name")
            .secret(SECRET, "hunter2-secret")
            .prepare(&msg())
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
        assert!(err.message.contains(ACCOUNT));
        assert!(!err.message.contains("hunter2") && !err.message.contains("login-name"));
    }

    #[test]
    fn voice_is_a_voice_message_in_a_supported_language() {
        let voice = msg().with_channel(Channel::Voice).with_language("fr-CA");
        let req = harness()
            .setting("voice_retries", "2")
            .prepare(&voice)
            .unwrap();
        assert_eq!(
            body(&req)["messages"][0],
            json!({"to": "447700900123", "body": "Your code is 1, 2, 3, 4, 5, 6",
                   "type": "Voice", "lang": "fr-FR", "retries": 2})
        );
        let plain = harness()
            .prepare(&Message::new("+447700900123", "hi").with_channel(Channel::Voice))
            .unwrap();
        assert_eq!(body(&plain)["messages"][0]["lang"], "en-GB");
        assert_eq!(body(&plain)["messages"][0]["retries"], 1);
    }

    #[test]
    fn json_reply_gives_the_message_header_id() {
        let reply = Reply::json(
            200,
            json!({"batch": {"batchid": "b-1", "messageheaders": [
                {"id": "1183c73d-2e6d-4d52-8bb7-0e5c1a2b3c4d", "uri": "https://api.esendex.com/v1.0/messageheaders/1183c73d-2e6d-4d52-8bb7-0e5c1a2b3c4d"}]}}),
        );
        let d = harness().run(&msg(), |_| reply.clone()).unwrap();
        assert_eq!(
            d.message_id.as_str(),
            "1183c73d-2e6d-4d52-8bb7-0e5c1a2b3c4d"
        );
    }

    #[test]
    fn xml_reply_gives_the_message_header_id() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<messageheaders batchid="F8BF9867-FF81-49E4-ACC5-774DE793B776" xmlns="https://api.esendex.com/ns/">
  <messageheader uri="https://api.esendex.com/v1.0/MessageHeaders/1183C73D-2E62-4F60-B610-30F160BDFBD5" id="1183C73D-2E62-4F60-B610-30F160BDFBD5" />
</messageheaders>"#;
        let reply = Reply::text(200, xml).header("content-type", "application/xml");
        let d = harness().run(&msg(), |_| reply.clone()).unwrap();
        assert_eq!(
            d.message_id.as_str(),
            "1183C73D-2E62-4F60-B610-30F160BDFBD5"
        );
    }

    #[test]
    fn unreadable_success_replies_are_protocol_errors() {
        for reply in [
            Reply::text(200, ""),
            Reply::text(200, "OK"),
            Reply::json(200, json!({"batch": {"messageheaders": []}})),
            Reply::json(200, json!({"batch": {"messageheaders": [{"id": ""}]}})),
            Reply::text(200, "<messageheaders batchid=\"b\"></messageheaders>"),
        ] {
            let err = harness().run(&msg(), |_| reply.clone()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Protocol, "{reply:?} gave {err}");
        }
    }

    #[test]
    fn json_errors_carry_code_and_description() {
        let reply = Reply::json(
            400,
            json!({"errors": [{"code": "accountreference_invalid",
                               "description": "Invalid Account Reference EX0000000"}]}),
        );
        let err = harness().run(&msg(), |_| reply.clone()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Vendor);
        assert_eq!(err.code.as_str(), "accountreference_invalid");
        assert_eq!(err.message.as_str(), "Invalid Account Reference EX0000000");
        assert!(!err.retryable);
    }

    #[test]
    fn plain_text_errors_fall_back_to_the_body() {
        let reply =
            Reply::text(403, "Invalid user credentials").header("content-type", "text/plain");
        let err = harness().run(&msg(), |_| reply.clone()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Vendor);
        assert_eq!(err.code.as_str(), "403");
        assert!(err.message.contains("Invalid user credentials"), "{err}");
        assert!(!err.retryable);
    }

    #[test]
    fn no_credit_is_final_throttling_and_faults_are_retryable() {
        let err = harness()
            .run(&msg(), |_| {
                Reply::text(402, "Payment Required: insufficient credit")
            })
            .unwrap_err();
        assert_eq!((err.code.as_str(), err.retryable), ("402", false));

        let err = harness()
            .run(&msg(), |_| {
                Reply::json(
                    429,
                    json!({"errors": [{"code": "too_many_requests", "description": "Slow down"}]}),
                )
                .header("Retry-After", "7")
            })
            .unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.retryable, err.retry_after_secs),
            ("too_many_requests", true, 7)
        );

        let err = harness().run(&msg(), |_| Reply::text(503, "")).unwrap_err();
        assert_eq!(
            (err.kind, err.code.as_str(), err.retryable),
            (ErrorKind::Vendor, "503", true)
        );
    }

    /// Every reply kept in `fuzz/regressions/` (documented replies, and inputs
    /// the fuzzer once broke a plugin with) is still read without a panic.
    #[test]
    fn kept_fuzz_replies_still_pass() {
        phonehook_plugin_api::testing::fuzz::replay(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../fuzz/regressions/reply_esendex"
            ),
            |_| harness(),
        );
    }
}
