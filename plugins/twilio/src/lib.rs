//! Twilio: one-time codes by text (Programmable Messaging), by phone call
//! (Voice, with inline TwiML that reads the code out), or through Twilio
//! Verify with the caller's own code (`api = "verify"`).
//!
//! Each message is one request; Twilio answers `201` with the new resource,
//! whose `sid` becomes the message id.

use phonehook_plugin_api::{
    export_plugin, Call, Channel, Config, HttpReply, HttpRequest, Manifest, Plugin, PluginError,
    Step,
};

mod messaging;
mod reply;
mod settings;
mod verify;
mod voice;

use settings::{Api, Credentials};

/// The Twilio plugin.
#[derive(Default)]
pub struct Twilio;

impl Plugin for Twilio {
    fn manifest(&self) -> Manifest {
        use settings::*;
        Manifest::new("twilio", env!("CARGO_PKG_VERSION"))
            .vendor("Twilio")
            .description("Texts through Programmable Messaging, calls reading the code through Voice, or Twilio Verify with your own code")
            .channel(Channel::Sms)
            .channel(Channel::Voice)
            .secret(ACCOUNT_SID, true, "Account SID (AC followed by 32 hex digits)")
            .secret(AUTH_TOKEN, false, "Auth token; not needed with TWILIO_API_KEY and TWILIO_API_SECRET")
            .secret(API_KEY, false, "API key SID (SK…), to log in with an API key instead of the auth token")
            .secret(API_SECRET, false, "The API key's secret")
            .secret(PHONE_NUMBER, false, "Twilio number texts and calls come from (E.164); the `from` setting overrides it")
            .secret(MESSAGING_SERVICE_SID, false, "Messaging Service (MG…) that picks the sender of texts, instead of a From number")
            .secret(VERIFY_SID, false, "Verify service (VA…); required when api = verify")
            .setting(API, false, "`messaging` (default: Messaging for texts, Voice for calls) or `verify`")
            .setting(FROM, false, "Sender number (E.164), alphanumeric sender ID or short code")
            .setting(VOICE, false, "<Say> voice for calls, e.g. Polly.Joanna; Twilio's default when unset")
            .setting("base_url", false, "Messaging and Voice API base URL; defaults to https://api.twilio.com")
            .setting(VERIFY_BASE_URL, false, "Verify API base URL; defaults to base_url when set, else https://verify.twilio.com")
            .host("api.twilio.com")
            .host("verify.twilio.com")
    }

    fn check(&self, config: &Config<'_>) -> Vec<String> {
        settings::problems(config)
    }

    fn prepare(&self, call: &Call<'_>) -> Result<HttpRequest, PluginError> {
        let api = Api::from_config(&call.config)?;
        let creds = Credentials::from_config(&call.config)?;
        match (api, call.message.channel) {
            (Api::Messaging, Channel::Sms) => messaging::request(call, &creds),
            (Api::Messaging, Channel::Voice) => voice::request(call, &creds),
            (Api::Verify, _) => verify::request(call, &creds),
        }
    }

    fn interpret(&self, _call: &Call<'_>, reply: &HttpReply<'_>) -> Result<Step, PluginError> {
        reply::read(reply).map(Step::Delivered)
    }
}

export_plugin!(Twilio);

#[cfg(test)]
mod tests;
