//! Verify: `POST /v2/Services/{ServiceSid}/Verifications` on Twilio's Verify
//! host, with the host's own code passed as `CustomCode`. Twilio writes and
//! localises the message (from the number's country); the message text here
//! is not sent.

use phonehook_plugin_api::{encoding, Call, Channel, HttpRequest, PluginError};

use crate::settings::{self, Credentials};

/// The `state` of a Verifications request, echoed in the reply.
pub const STATE: &str = "verification";

/// The length Verify accepts for a `CustomCode`.
const CODE_LENGTH: std::ops::RangeInclusive<usize> = 4..=10;

/// The request that starts a verification carrying the message's code.
pub fn request(call: &Call<'_>, creds: &Credentials<'_>) -> Result<HttpRequest, PluginError> {
    let service = settings::verify_sid(&call.config)?;
    let code = custom_code(call.message.code.as_str())?;
    let base = settings::verify_base_url(&call.config);
    let url = format!(
        "{base}/v2/Services/{}/Verifications",
        encoding::percent_encode(service)
    );
    let fields = [
        ("To", call.message.recipient.as_str()),
        ("Channel", channel(call.message.channel)),
        ("CustomCode", code),
    ];
    Ok(HttpRequest::post(url)
        .basic_auth(creds.user, creds.password)
        .header("Accept", "application/json")
        .form(&fields)
        .state(STATE))
}

/// Verify's name for the channel.
fn channel(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "sms",
        Channel::Voice => "call",
    }
}

/// The caller's separate code: Verify would otherwise send a code of its own
/// that the identity platform does not know.
fn custom_code(code: &str) -> Result<&str, PluginError> {
    let code = code.trim();
    if code.is_empty() {
        return Err(PluginError::invalid_message(
            "Twilio Verify needs the one-time code in `context.code` (sent as CustomCode); \
             this message has none",
        ));
    }
    let len = code.chars().count();
    if !CODE_LENGTH.contains(&len) {
        return Err(PluginError::invalid_message(format!(
            "Twilio Verify accepts a code of {} to {} characters; this one has {len}",
            CODE_LENGTH.start(),
            CODE_LENGTH.end()
        )));
    }
    Ok(code)
}
