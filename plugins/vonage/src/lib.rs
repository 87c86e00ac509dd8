//! Vonage (formerly Nexmo): texts through the SMS API (`rest.nexmo.com/sms/json`),
//! calls through the Voice API (`api.nexmo.com/v1/calls`) with an NCCO `talk`
//! action that reads the code out.
//!
//! The two APIs authenticate differently: the SMS API with the account's API key
//! and secret (Basic auth), the Voice API with a JWT signed by a Vonage
//! application's private key. A deployment that only needs one channel can say
//! so with the `channels` setting, and then only needs that channel's secrets.

mod jwt;
mod language;
mod problem;
mod settings;
mod sms;
mod voice;

use phonehook_plugin_api::{
    export_plugin, Call, Channel, Config, HttpReply, HttpRequest, Manifest, Plugin, PluginError,
    Step,
};

use settings::{
    API_KEY, API_SECRET, APPLICATION_ID, CHANNELS, FROM_SECRET, FROM_SETTING, PRIVATE_KEY,
    VOICE_BASE_URL,
};

/// The Vonage plugin.
#[derive(Default)]
pub struct Vonage;

impl Plugin for Vonage {
    fn manifest(&self) -> Manifest {
        Manifest::new("vonage", env!("CARGO_PKG_VERSION"))
            .vendor("Vonage")
            .description("SMS through the Vonage SMS API, voice calls through the Vonage Voice API")
            .channel(Channel::Sms)
            .channel(Channel::Voice)
            .secret(
                API_KEY,
                false,
                "API key from the Vonage dashboard (needed for SMS)",
            )
            .secret(
                API_SECRET,
                false,
                "API secret from the Vonage dashboard (needed for SMS)",
            )
            .secret(
                APPLICATION_ID,
                false,
                "Voice-enabled application id (needed for voice)",
            )
            .secret(
                PRIVATE_KEY,
                false,
                "That application's private key, PEM (needed for voice)",
            )
            .secret(
                FROM_SECRET,
                false,
                "Sender number, if not given as the `from` setting",
            )
            .setting(
                FROM_SETTING,
                false,
                "Sender: a Vonage number (E.164) or, for SMS only, a sender name",
            )
            .setting(CHANNELS, false, "`sms`, `voice` or both (default both)")
            .setting(
                "base_url",
                false,
                "SMS API base URL (default https://rest.nexmo.com)",
            )
            .setting(
                VOICE_BASE_URL,
                false,
                "Voice API base URL (default base_url, else https://api.nexmo.com)",
            )
            .host("rest.nexmo.com")
            .host("api.nexmo.com")
            .host("api-us-3.vonage.com")
            .host("api-us-4.vonage.com")
            .host("api-eu-3.vonage.com")
            .host("api-eu-4.vonage.com")
            .host("api-ap-3.vonage.com")
            .host("api-ap-4.vonage.com")
    }

    fn check(&self, config: &Config<'_>) -> Vec<String> {
        settings::problems(config)
    }

    fn prepare(&self, call: &Call<'_>) -> Result<HttpRequest, PluginError> {
        let channel = call.message.channel;
        let channels = settings::channels(&call.config).map_err(PluginError::config)?;
        if !channels.offers(channel) {
            let reason = match (
                call.config.setting(CHANNELS),
                settings::sender(&call.config),
            ) {
                (None, Some(from)) => {
                    format!("{}; this configuration sends SMS only", from.not_a_number())
                }
                _ => format!("{} is turned off by setting `{CHANNELS}`", channel.as_str()),
            };
            return Err(PluginError::unsupported(reason));
        }
        match channel {
            Channel::Sms => sms::request(call),
            Channel::Voice => voice::request(call),
        }
    }

    fn interpret(&self, _call: &Call<'_>, reply: &HttpReply<'_>) -> Result<Step, PluginError> {
        match reply.state.as_str() {
            sms::STATE => sms::interpret(reply),
            voice::STATE => voice::interpret(reply),
            other => Err(PluginError::protocol(format!(
                "reply to a request this plugin did not make (state `{other}`)"
            ))),
        }
    }
}

export_plugin!(Vonage);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::tests::TEST_KEY;
    use phonehook_plugin_api::testing::Harness;
    use phonehook_plugin_api::{ErrorKind, Message};

    fn full() -> Harness<Vonage> {
        Harness::new()
            .secret(API_KEY, "abcd1234")
            .secret(API_SECRET, "s3cr3tValue")
            .secret(APPLICATION_ID, "aaaaaaaa-bbbb-cccc-dddd-0123456789ab")
            .secret(PRIVATE_KEY, TEST_KEY)
    }

    #[test]
    fn manifest_declares_both_channels_and_real_hosts() {
        let m = Harness::<Vonage>::new().manifest().unwrap();
        assert_eq!(m.name.as_str(), "vonage");
        assert!(m.supports(Channel::Sms) && m.supports(Channel::Voice));
        assert!(m.hosts.iter().any(|h| h.as_str() == "rest.nexmo.com"));
        assert!(m.hosts.iter().any(|h| h.as_str() == "api.nexmo.com"));
    }

    #[test]
    fn check_names_what_is_missing() {
        assert_eq!(
            full().setting("from", "+14155550199").check(),
            Vec::<String>::new()
        );
        let problems = Harness::<Vonage>::new().check();
        for name in [
            API_KEY,
            API_SECRET,
            APPLICATION_ID,
            PRIVATE_KEY,
            FROM_SECRET,
        ] {
            assert!(
                problems.iter().any(|p| p.contains(name)),
                "{name}: {problems:?}"
            );
        }
        let sms_only = Harness::<Vonage>::new()
            .setting(CHANNELS, "sms")
            .setting("from", "Acme")
            .secret(API_KEY, "k")
            .secret(API_SECRET, "s");
        assert_eq!(sms_only.check(), Vec::<String>::new());
        let voice_only = Harness::<Vonage>::new()
            .setting(CHANNELS, r#"["voice"]"#)
            .setting("from", "Acme")
            .secret(APPLICATION_ID, "a")
            .secret(PRIVATE_KEY, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC");
        let problems = voice_only.check();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems
            .iter()
            .any(|p| p.contains("setting `from` must be a phone number")));
        assert!(problems
            .iter()
            .any(|p| p.contains("`VONAGE_PRIVATE_KEY` is not a PEM")));
        assert!(!problems.concat().contains("MIIE"), "never echo the key");
        let typo = Harness::<Vonage>::new()
            .setting(CHANNELS, "sms,fax")
            .check();
        assert_eq!(typo.len(), 1);
        assert!(typo[0].contains("`fax`"));
    }

    #[test]
    fn a_channel_turned_off_is_unsupported() {
        let h = full()
            .setting("from", "+14155550199")
            .setting(CHANNELS, "sms");
        let err = h
            .prepare(&Message::new("+14155550100", "123456").with_channel(Channel::Voice))
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unsupported);
        assert!(h.prepare(&Message::new("+14155550100", "123456")).is_ok());
    }

    #[test]
    fn a_sender_name_with_default_channels_keeps_sms_and_refuses_voice() {
        for h in [
            full().setting("from", "Acme"),
            // Voice secrets are not needed for what cannot be used.
            Harness::<Vonage>::new()
                .setting("from", "Acme")
                .secret(API_KEY, "abcd1234")
                .secret(API_SECRET, "s3cr3tValue"),
        ] {
            assert_eq!(h.check(), Vec::<String>::new());
            let sms = h.prepare(&Message::new("+14155550100", "123456")).unwrap();
            assert!(sms.body_text().contains("from=Acme"), "{}", sms.body_text());
            let err = h
                .prepare(&Message::new("+14155550100", "123456").with_channel(Channel::Voice))
                .unwrap_err();
            assert_eq!(err.kind, ErrorKind::Unsupported);
            assert!(
                err.message
                    .contains("setting `from` must be a phone number"),
                "{err}"
            );
        }
    }

    #[test]
    fn unknown_state_is_a_protocol_error() {
        let h = full().setting("from", "+14155550199");
        let msg = Message::new("+14155550100", "123456");
        let req = h.prepare(&msg).unwrap().state("other");
        let step = h.interpret(
            &msg,
            &req,
            &phonehook_plugin_api::testing::Reply::text(200, "{}"),
        );
        assert!(matches!(step, Step::Failed(e) if e.kind == ErrorKind::Protocol));
    }

    /// Every reply kept in `fuzz/regressions/` (documented replies, and inputs
    /// the fuzzer once broke a plugin with) is still read without a panic.
    #[test]
    fn kept_fuzz_replies_still_pass() {
        phonehook_plugin_api::testing::fuzz::replay(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../fuzz/regressions/reply_vonage"
            ),
            |_| {
                Harness::<Vonage>::new()
                    .secret("VONAGE_API_KEY", "abcd1234")
                    .secret("VONAGE_API_SECRET", "s3cr3tValue")
                    .secret(
                        "VONAGE_APPLICATION_ID",
                        "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
                    )
                    .secret("VONAGE_PRIVATE_KEY", TEST_KEY)
                    .setting("from", "+14155550199")
            },
        );
    }
}
