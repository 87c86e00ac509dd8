//! Programmable Messaging: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`.

use phonehook_plugin_api::{encoding, Call, HttpRequest, PluginError};

use crate::settings::{self, Credentials, Sender};

/// Twilio splits long bodies into segments itself, up to this many characters.
pub const MAX_BODY_CHARS: usize = 1600;

/// The `state` of a Messages request, echoed in the reply.
pub const STATE: &str = "message";

/// The request that sends the message as a text.
pub fn request(call: &Call<'_>, creds: &Credentials<'_>) -> Result<HttpRequest, PluginError> {
    let body = body(call.message.text.as_str())?;
    let sender = Sender::for_texts(&call.config)?;
    let base = call.config.base_url(settings::API_HOST);
    let url = format!(
        "{base}/2010-04-01/Accounts/{}/Messages.json",
        encoding::percent_encode(creds.account_sid)
    );
    let (sender_field, sender_value) = match sender {
        Sender::Service(sid) => ("MessagingServiceSid", sid),
        Sender::Number(number) => ("From", number),
    };
    let fields = [
        ("To", call.message.recipient.as_str()),
        (sender_field, sender_value),
        ("Body", body),
    ];
    Ok(HttpRequest::post(url)
        .basic_auth(creds.user, creds.password)
        .header("Accept", "application/json")
        .form(&fields)
        .state(STATE))
}

/// The text, refused up front when Twilio would refuse it (error 21617) so
/// the caller learns why without a round trip.
fn body(text: &str) -> Result<&str, PluginError> {
    if text.trim().is_empty() {
        return Err(PluginError::invalid_message(
            "the message has no text to send",
        ));
    }
    let chars = text.chars().count();
    if chars > MAX_BODY_CHARS {
        return Err(PluginError::invalid_message(format!(
            "the text is {chars} characters long; Twilio accepts at most {MAX_BODY_CHARS}"
        )));
    }
    Ok(text)
}
