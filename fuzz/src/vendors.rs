//! The plugins whose replies are fuzzed, each with a working configuration
//! (and an alternative one where the plugin has two ways to send). The
//! property itself is `phonehook_plugin_api::testing::fuzz::check_reply`,
//! which each plugin's own tests also replay over `fuzz/regressions/`.

use phonehook_plugin_api::testing::fuzz::{check_reply as reply, FuzzReply};
use phonehook_plugin_api::testing::Harness;
use phonehook_plugin_api::Step;

/// Twilio: Programmable Messaging, or Verify as the alternative.
pub fn twilio(r: &FuzzReply<'_>) -> Option<Step> {
    let h = Harness::<phonehook_plugin_twilio::Twilio>::new()
        .secret("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000")
        .secret("TWILIO_AUTH_TOKEN", "auth-token")
        .secret("TWILIO_PHONE_NUMBER", "+15005550006")
        .secret("TWILIO_VERIFY_SID", "VA00000000000000000000000000000000");
    let h = if r.alternative {
        h.setting("api", "verify")
    } else {
        h
    };
    reply(&h, r)
}

/// Vonage: the SMS API, or the Voice API with an RS256 JWT.
pub fn vonage(r: &FuzzReply<'_>) -> Option<Step> {
    let h = Harness::<phonehook_plugin_vonage::Vonage>::new()
        .secret("VONAGE_API_KEY", "abcd1234")
        .secret("VONAGE_API_SECRET", "s3cr3tValue")
        .secret(
            "VONAGE_APPLICATION_ID",
            "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        )
        .secret("VONAGE_PRIVATE_KEY", VONAGE_TEST_KEY)
        .setting("from", "+14155550199");
    reply(&h, r)
}

const VONAGE_TEST_KEY: &str = include_str!("../../tests/fixtures-data/vonage-test-key.pem");

/// Infobip: `/sms/2/text/advanced`, or `/sms/3/messages` as the alternative.
pub fn infobip(r: &FuzzReply<'_>) -> Option<Step> {
    let h = Harness::<phonehook_plugin_infobip::Infobip>::new()
        .secret("INFOBIP_API_KEY", "key")
        .secret("INFOBIP_BASE_URL", "https://3v5j9n.api.infobip.com")
        .setting("from", "InfoSMS");
    let h = if r.alternative {
        h.setting("sms_api", "v3")
    } else {
        h
    };
    reply(&h, r)
}

/// Esendex's message dispatcher.
pub fn esendex(r: &FuzzReply<'_>) -> Option<Step> {
    let h = Harness::<phonehook_plugin_esendex::Esendex>::new()
        .secret("ESENDEX_USERNAME", "user@example.com")
        .secret("ESENDEX_SECRET", "pa55word")
        .secret("ESENDEX_ACCOUNT", "EX0000000");
    reply(&h, r)
}

/// Amazon SNS Publish.
pub fn sns(r: &FuzzReply<'_>) -> Option<Step> {
    let h = Harness::<phonehook_plugin_sns::Sns>::new()
        .secret("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .secret(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        );
    reply(&h, r)
}

/// TeleSign, with TSA HMAC signing or Basic auth as the alternative.
pub fn telesign(r: &FuzzReply<'_>) -> Option<Step> {
    let h = Harness::<phonehook_plugin_telesign::Telesign>::new()
        .secret(
            "TELESIGN_CUSTOMER_ID",
            "FFFFFFFF-EEEE-DDDD-1234-AB1234567890",
        )
        .secret(
            "TELESIGN_API_KEY",
            "dGVzdC1rZXktZm9yLXBob25laG9vay10ZWxlc2lnbi1wbHVnaW4=",
        );
    let h = if r.alternative {
        h.setting("auth", "basic")
    } else {
        h
    };
    reply(&h, r)
}

/// The webhook plugin: a JSON API with a status field, or a form API.
pub fn webhook(r: &FuzzReply<'_>) -> Option<Step> {
    use phonehook_plugin_webhook::examples::{FORM_API, JSON_API};
    let settings = if r.alternative { FORM_API } else { JSON_API };
    let h = settings
        .iter()
        .fold(Harness::<phonehook_plugin_webhook::Webhook>::new(), |h, (name, value)| {
            h.setting(name, value)
        })
        .secret("GATEWAY_KEY", "gk-1");
    reply(&h, r)
}

/// The sandbox plugin (the host's own inbox).
pub fn sandbox(r: &FuzzReply<'_>) -> Option<Step> {
    reply(&Harness::<phonehook_plugin_sandbox::Sandbox>::new(), r)
}

/// The plugin template.
pub fn template(r: &FuzzReply<'_>) -> Option<Step> {
    let h = Harness::<phonehook_plugin_template::Template>::new()
        .secret("TEMPLATE_API_TOKEN", "t0ken")
        .setting("from", "Acme");
    reply(&h, r)
}

/// One plugin's check: what it made of the reply, `None` if it refused the message.
pub type Check = fn(&FuzzReply<'_>) -> Option<Step>;

/// Every vendor check by fuzz target name.
pub const ALL: &[(&str, Check)] = &[
    ("reply_twilio", twilio),
    ("reply_vonage", vonage),
    ("reply_infobip", infobip),
    ("reply_esendex", esendex),
    ("reply_sns", sns),
    ("reply_telesign", telesign),
    ("reply_webhook", webhook),
    ("reply_sandbox", sandbox),
    ("reply_template", template),
];

/// Runs the named vendor check on raw fuzz bytes.
pub fn vendor_reply(target: &str, data: &[u8]) {
    let Some(reply) = FuzzReply::parse(data) else {
        return;
    };
    if let Some((_, check)) = ALL.iter().find(|(name, _)| *name == target) {
        check(&reply);
    }
}
