//! Infobip: SMS through `/sms/2/text/advanced` (default, the endpoint Auth0's
//! hook guide uses) or `/sms/3/messages`, and voice through text-to-speech
//! (`/tts/3/single`).
//!
//! Every Infobip account has its own base URL (`https://xxxxx.api.infobip.com`),
//! given as `INFOBIP_BASE_URL`; requests carry `Authorization: App <key>`.
//! A send is one request; its reply is an acceptance whose per-message status
//! group says whether the message was refused outright.

mod reply;
mod settings;
mod sms;
mod voice;

use phonehook_plugin_api::{
    export_plugin, Call, Channel, Config, HttpReply, HttpRequest, Manifest, Plugin, PluginError,
    Step,
};

use settings::{SmsApi, API_KEY, BASE_URL, FROM, SMS_API, VOICE_FROM};

/// The Infobip plugin.
#[derive(Default)]
pub struct Infobip;

impl Plugin for Infobip {
    fn manifest(&self) -> Manifest {
        Manifest::new("infobip", env!("CARGO_PKG_VERSION"))
            .vendor("Infobip")
            .description("SMS (API v2 or v3) and text-to-speech voice calls through Infobip")
            .channel(Channel::Sms)
            .channel(Channel::Voice)
            .secret(API_KEY, true, "API key, sent as `Authorization: App <key>`")
            .secret(BASE_URL, false, "Your account's API base URL, e.g. https://xxxxx.api.infobip.com (or set it as a setting)")
            .setting(BASE_URL, false, "Your account's API base URL, when not given as a secret")
            .setting(SMS_API, false, "`v2` (default): /sms/2/text/advanced; `v3`: /sms/3/messages")
            .setting(FROM, false, "SMS sender: a number (+41793026727) or an alphanumeric id (InfoSMS)")
            .setting(VOICE_FROM, false, "Caller number for voice calls; defaults to `from`")
            .setting("base_url", false, "Overrides the base URL entirely (for tests and proxies)")
            .host("*.api.infobip.com")
            .host("api.infobip.com")
    }

    fn check(&self, config: &Config<'_>) -> Vec<String> {
        settings::problems(config)
    }

    fn prepare(&self, call: &Call<'_>) -> Result<HttpRequest, PluginError> {
        let config = &call.config;
        let auth = settings::authorization(config)?;
        let base = settings::base_url(config)?;
        let msg = call.message;
        let to = msg.recipient_digits();
        let (url, body) = match msg.channel {
            Channel::Sms => {
                let api = SmsApi::from_config(config)?;
                sms::check_length(&msg.text)?;
                let sender = settings::sms_sender(config, api)?;
                (
                    format!("{base}{}", api.path()),
                    sms::body(api, sender.as_deref(), to, &msg.text),
                )
            }
            Channel::Voice => {
                let from = settings::voice_caller(config)?;
                let text = voice::speech(msg)?;
                let body = voice::body(&text, &voice::language(msg), &from, to);
                (format!("{base}{}", voice::PATH), body)
            }
        };
        Ok(HttpRequest::post(url)
            .header("Authorization", auth)
            .json(&body)
            .state(msg.channel.as_str()))
    }

    fn interpret(&self, _call: &Call<'_>, reply: &HttpReply<'_>) -> Result<Step, PluginError> {
        reply::interpret(reply).map(Step::Delivered)
    }
}

export_plugin!(Infobip);

#[cfg(test)]
mod tests {
    use super::*;
    use phonehook_plugin_api::serde_json::{json, Value};
    use phonehook_plugin_api::testing::{Harness, Reply};
    use phonehook_plugin_api::{ErrorKind, Message};

    const KEY: &str = "003026bbc133714df1834b8638bb496e-8f4b3d9a-e931-478d-a994-28a725159ab9";

    fn harness() -> Harness<Infobip> {
        Harness::<Infobip>::new()
            .secret(API_KEY, KEY)
            .secret(BASE_URL, "https://3v5j9n.api.infobip.com")
            .setting(FROM, "InfoSMS")
    }

    fn msg() -> Message {
        Message::new("+41793026727", "Your code is 123456").with_code("123456")
    }

    fn body(req: &HttpRequest) -> Value {
        phonehook_plugin_api::serde_json::from_slice(&req.body).unwrap()
    }

    fn accepted(to_field: &str) -> Reply {
        Reply::json(
            200,
            json!({"bulkId": "2034072219640523072", "messages": [{
            to_field: "41793026727", "messageId": "2250be2d4219-3af1-78856-aabe-1362af1edfd2",
            "status": {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED",
                       "description": "Message sent to next instance"}}]}),
        )
    }

    #[test]
    fn manifest_declares_both_channels_and_infobip_hosts() {
        let m = harness().manifest().unwrap();
        assert_eq!(m.name.as_str(), "infobip");
        assert!(m.supports(Channel::Sms) && m.supports(Channel::Voice));
        let hosts: Vec<&str> = m.hosts.iter().map(|h| h.as_str()).collect();
        assert_eq!(hosts, ["*.api.infobip.com", "api.infobip.com"]);
    }

    #[test]
    fn sms_v2_is_the_default() {
        let h = harness();
        let req = h.prepare(&msg()).unwrap();
        assert_eq!(
            req.url.as_str(),
            "https://3v5j9n.api.infobip.com/sms/2/text/advanced"
        );
        assert_eq!(
            req.header_value("authorization"),
            Some(format!("App {KEY}").as_str())
        );
        assert_eq!(req.header_value("content-type"), Some("application/json"));
        assert_eq!(
            body(&req),
            json!({"messages": [{"from": "InfoSMS", "destinations": [{"to": "41793026727"}], "text": "Your code is 123456"}]})
        );
        let d = h.run(&msg(), |_| accepted("to")).unwrap();
        assert_eq!(
            d.message_id.as_str(),
            "2250be2d4219-3af1-78856-aabe-1362af1edfd2"
        );
    }

    #[test]
    fn sms_v3_on_request() {
        let h = harness()
            .setting(SMS_API, "v3")
            .setting("base_url", "http://127.0.0.1:9/");
        let req = h.prepare(&msg()).unwrap();
        assert_eq!(req.url.as_str(), "http://127.0.0.1:9/sms/3/messages");
        assert_eq!(
            body(&req),
            json!({"messages": [{"sender": "InfoSMS", "destinations": [{"to": "41793026727"}], "content": {"text": "Your code is 123456"}}]})
        );
        let d = h.run(&msg(), |_| accepted("destination")).unwrap();
        assert_eq!(
            d.message_id.as_str(),
            "2250be2d4219-3af1-78856-aabe-1362af1edfd2"
        );
    }

    #[test]
    fn voice_reads_the_code_in_the_users_language() {
        let h = harness().setting(VOICE_FROM, "+442032864231");
        let m = Message::new("+41793026727", "Votre code est 123456")
            .with_code("123456")
            .with_language("fr-CA")
            .with_channel(Channel::Voice);
        let req = h.prepare(&m).unwrap();
        assert_eq!(
            req.url.as_str(),
            "https://3v5j9n.api.infobip.com/tts/3/single"
        );
        assert_eq!(
            body(&req),
            json!({"text": "Votre code est 1, 2, 3, 4, 5, 6. Votre code est 1, 2, 3, 4, 5, 6",
                   "language": "fr", "from": "442032864231", "to": "41793026727"})
        );
        let d = h.run(&m, |_| accepted("to")).unwrap();
        assert_eq!(d.status.as_str(), "PENDING");
    }

    #[test]
    fn voice_without_a_numeric_caller_is_a_config_error() {
        let m = msg().with_channel(Channel::Voice);
        let err = harness().prepare(&m).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
        assert!(err.message.contains("`from`"), "{err}");
    }

    #[test]
    fn missing_key_or_base_url_is_named_and_never_sent() {
        let h = Harness::<Infobip>::new();
        let problems = h.check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains(BASE_URL));

        let err = Harness::<Infobip>::new()
            .secret(API_KEY, KEY)
            .prepare(&msg())
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
        assert!(
            err.message.contains(BASE_URL) && !err.message.contains(KEY),
            "{err}"
        );
        let err = Harness::<Infobip>::new()
            .secret(BASE_URL, "x.api.infobip.com")
            .prepare(&msg())
            .unwrap_err();
        assert!(err.message.contains(API_KEY), "{err}");

        assert!(harness().check().is_empty());
        assert_eq!(harness().setting(SMS_API, "v9").check().len(), 1);
    }

    #[test]
    fn overlong_texts_are_invalid_messages() {
        let err = harness()
            .prepare(&Message::new("+41793026727", &"a".repeat(1600)))
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidMessage);
    }

    #[test]
    fn vendor_errors_keep_code_and_text_but_not_the_key() {
        let err = harness()
            .run(&msg(), |_| {
                Reply::json(401, json!({"requestError": {"serviceException": {"messageId": "UNAUTHORIZED", "text": "Invalid login details"}}}))
            })
            .unwrap_err();
        assert_eq!(
            (err.kind, err.code.as_str()),
            (ErrorKind::Vendor, "UNAUTHORIZED")
        );
        assert_eq!(err.message.as_str(), "Invalid login details");
        assert!(!err.retryable);
    }

    /// Every reply kept in `fuzz/regressions/` (documented replies, and inputs
    /// the fuzzer once broke a plugin with) is still read without a panic.
    #[test]
    fn kept_fuzz_replies_still_pass() {
        phonehook_plugin_api::testing::fuzz::replay(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../fuzz/regressions/reply_infobip"
            ),
            |v3| {
                if v3 {
                    harness().setting(SMS_API, "v3")
                } else {
                    harness()
                }
            },
        );
    }
}
