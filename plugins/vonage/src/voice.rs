//! The Voice API: `POST {voice_base}/v1/calls` with an inline NCCO whose `talk`
//! action reads the message out, authenticated with an application JWT.

use phonehook_plugin_api::serde_json::{json, Value};
use phonehook_plugin_api::speech::{self, Otherwise};
use phonehook_plugin_api::{
    encoding, Call, Delivery, HttpReply, HttpRequest, Message, PluginError, Step,
};

use crate::settings;
use crate::{jwt, language, problem};

/// The state that marks the Voice API's reply.
pub const STATE: &str = "voice";

/// How many times the call reads the message: once more in case the user
/// picked up late or missed a digit.
const PLAYS: u32 = 2;

/// Runs of at least this many digits in a text are read digit by digit.
const CODE_MIN_DIGITS: usize = 4;

/// The create-call request for this call's message.
pub fn request(call: &Call<'_>) -> Result<HttpRequest, PluginError> {
    let config = &call.config;
    let from = settings::require_sender(config)?.for_voice()?;
    let token = jwt::bearer_token(call)?;
    let msg = call.message;
    let body = json!({
        "to": [{"type": "phone", "number": msg.recipient_digits()}],
        "from": {"type": "phone", "number": from},
        "ncco": [{
            "action": "talk",
            "text": speech(msg),
            "language": language::tts_language(&msg.language),
            "loop": PLAYS,
        }],
    });
    let base = settings::voice_base(config);
    Ok(HttpRequest::post(format!("{base}/v1/calls"))
        .bearer(&token)
        .json(&body)
        .state(STATE))
}

/// What the Voice API's reply means: 201 with the call's `uuid`, or a problem.
pub fn interpret(reply: &HttpReply<'_>) -> Result<Step, PluginError> {
    if !reply.is_success() {
        return Err(problem::refusal(reply));
    }
    let body = reply.json()?;
    let id = body
        .get("uuid")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| {
            PluginError::protocol(format!(
                "Vonage Voice reply has no `uuid`: {}",
                encoding::snippet(&body.to_string())
            ))
        })?;
    let status = body.get("status").and_then(Value::as_str).unwrap_or("");
    Ok(Step::Delivered(Delivery::new(id, status)))
}

/// The text to read out, with the code spelled digit by digit so the voice
/// says "1, 2, 3" rather than "one hundred twenty-three"; without the code in
/// the text, every run of [`CODE_MIN_DIGITS`] or more digits.
pub fn speech(msg: &Message) -> String {
    speech::spoken(&msg.text, &msg.code, Otherwise::SpellRuns(CODE_MIN_DIGITS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::tests::{verify, TEST_KEY};
    use crate::Vonage;
    use phonehook_plugin_api::serde_json;
    use phonehook_plugin_api::testing::{Harness, Reply};
    use phonehook_plugin_api::{Channel, ErrorKind};

    fn harness() -> Harness<Vonage> {
        Harness::new()
            .secret(
                "VONAGE_APPLICATION_ID",
                "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
            )
            .secret("VONAGE_PRIVATE_KEY", TEST_KEY)
            .setting("from", "+14155550199")
    }

    fn msg() -> Message {
        Message::new("+14155550100", "Your code is 123456")
            .with_channel(Channel::Voice)
            .with_code("123456")
            .with_language("fr-CA")
    }

    #[test]
    fn creates_a_call_with_a_talk_ncco_and_a_signed_jwt() {
        let req = harness().prepare(&msg()).unwrap();
        assert_eq!(req.url.as_str(), "https://api.nexmo.com/v1/calls");
        assert_eq!(req.header_value("content-type"), Some("application/json"));
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(
            body,
            json!({
                "to": [{"type": "phone", "number": "14155550100"}],
                "from": {"type": "phone", "number": "14155550199"},
                "ncco": [{"action": "talk", "text": "Your code is 1, 2, 3, 4, 5, 6",
                          "language": "fr-CA", "loop": 2}],
            })
        );
        let token = req
            .header_value("authorization")
            .unwrap()
            .strip_prefix("Bearer ")
            .unwrap();
        let (_, claims) = verify(token);
        assert_eq!(
            claims["application_id"],
            "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
        );
    }

    #[test]
    fn voice_base_url_falls_back_to_base_url() {
        let h = harness().setting("base_url", "http://127.0.0.1:9/");
        assert_eq!(
            h.prepare(&msg()).unwrap().url.as_str(),
            "http://127.0.0.1:9/v1/calls"
        );
        let h = h.setting("voice_base_url", "https://api-eu-3.vonage.com");
        assert_eq!(
            h.prepare(&msg()).unwrap().url.as_str(),
            "https://api-eu-3.vonage.com/v1/calls"
        );
    }

    #[test]
    fn speech_spells_codes() {
        let plain = |text: &str| Message::new("+1", text);
        assert_eq!(
            speech(&plain("Code 987654, valid 5 minutes")),
            "Code 9, 8, 7, 6, 5, 4, valid 5 minutes"
        );
        assert_eq!(speech(&plain("").with_code("4321")), "4, 3, 2, 1");
        assert_eq!(
            speech(&plain("Your code: 12 34").with_code("12 34")),
            "Your code: 1, 2, 3, 4"
        );
    }

    #[test]
    fn needs_application_credentials_and_a_numeric_sender() {
        let err = Harness::<Vonage>::new()
            .setting("from", "1415")
            .prepare(&msg())
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
        assert!(err.message.contains("VONAGE_APPLICATION_ID"), "{err}");
        // A sender name: voice is refused, as unsupported when the channels
        // are left to the plugin, as misconfigured when voice was asked for.
        let named = || {
            Harness::<Vonage>::new()
                .secret("VONAGE_APPLICATION_ID", "a")
                .secret("VONAGE_PRIVATE_KEY", TEST_KEY)
                .setting("from", "Acme")
        };
        for (h, kind) in [
            (named(), ErrorKind::Unsupported),
            (named().setting("channels", "voice"), ErrorKind::Config),
        ] {
            let err = h.prepare(&msg()).unwrap_err();
            assert_eq!(err.kind, kind);
            assert!(
                err.message
                    .contains("setting `from` must be a phone number"),
                "{err}"
            );
        }
    }

    #[test]
    fn replies_map_to_outcomes() {
        let ok = harness()
            .run(&msg(), |_| {
                Reply::json(201, json!({"uuid": "63f61863-4a51-4f6b-86e1-46edebcf9356", "status": "started",
                    "direction": "outbound", "conversation_uuid": "CON-f972836a-550f-45fa-956c-12a2ab5b7d22"}))
            })
            .unwrap();
        assert_eq!(
            (ok.message_id.as_str(), ok.status.as_str()),
            ("63f61863-4a51-4f6b-86e1-46edebcf9356", "started")
        );

        let err = harness()
            .run(&msg(), |_| {
                Reply::json(
                    401,
                    json!({"type": "https://developer.nexmo.com/api-errors#unauthorized",
                    "title": "Unauthorized", "detail": "You did not provide correct credentials.",
                    "instance": "797a8f199c45014ab7b08bfe9cc1c12c"}),
                )
            })
            .unwrap_err();
        assert_eq!(
            (err.kind, err.code.as_str(), err.retryable),
            (ErrorKind::Vendor, "unauthorized", false)
        );
        assert_eq!(
            err.message.as_str(),
            "Unauthorized: You did not provide correct credentials."
        );

        for reply in [
            Reply::text(201, ""),
            Reply::text(201, "created"),
            Reply::json(201, json!({"status": "started"})),
        ] {
            let err = harness().run(&msg(), |_| reply.clone()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Protocol, "{err}");
        }
    }
}
