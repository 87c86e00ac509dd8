//! A phonehook plugin to copy: texts through "Acme Messaging", an imaginary
//! in-house JSON gateway. Rename it, point it at your vendor, and keep the
//! shape; `docs/writing-a-plugin.md` explains each part.
//!
//! The vendor's API, as its documentation would say:
//!
//! ```text
//! POST {base_url}/v1/messages
//! Authorization: Bearer <token>
//! {"to": "+14155550100", "from": "Acme", "text": "Your code is 123456"}
//!
//! 201 {"id": "msg_42", "status": "queued"}
//! 4xx/5xx {"error": {"code": "invalid_number", "message": "..."}}, with
//! Retry-After on a 429
//! ```

// ---- Your part: the plugin. -------------------------------------------------

use phonehook_plugin_api::serde_json::json;
use phonehook_plugin_api::{
    encoding, export_plugin, Call, Channel, Delivery, HttpReply, HttpRequest, Manifest, Plugin,
    PluginError, Step,
};

/// The vendor's API host, the only one the plugin may call by default.
const DEFAULT_HOST: &str = "api.sms.example.com";
/// The vendor's API; the `base_url` setting replaces it (tests use a mock).
const DEFAULT_BASE_URL: &str = "https://api.sms.example.com";
/// The secret holding the API token (also read from this environment variable).
const API_TOKEN: &str = "TEMPLATE_API_TOKEN";

/// The plugin. The host creates it with `Default` for every call: keep it empty.
#[derive(Default)]
pub struct Template;

impl Plugin for Template {
    fn manifest(&self) -> Manifest {
        Manifest::new("template", env!("CARGO_PKG_VERSION"))
            .vendor("Acme Messaging (in-house)")
            .description("Texts through Acme's in-house JSON gateway")
            .channel(Channel::Sms)
            .secret(API_TOKEN, true, "API token, sent as a Bearer token")
            .setting("from", true, "Sender name or number the user sees")
            .setting("base_url", false, "Overrides the vendor's default URL")
            .host(DEFAULT_HOST)
    }

    fn prepare(&self, call: &Call<'_>) -> Result<HttpRequest, PluginError> {
        let token = call.config.require_secret(API_TOKEN)?;
        let from = call.config.require_setting("from")?;
        let url = format!("{}/v1/messages", call.config.base_url(DEFAULT_BASE_URL));
        let body = json!({
            "to": call.message.recipient.as_str(),
            "from": from,
            "text": call.message.text.as_str(),
        });
        Ok(HttpRequest::post(url).bearer(token).json(&body))
    }

    fn interpret(&self, _call: &Call<'_>, reply: &HttpReply<'_>) -> Result<Step, PluginError> {
        if !reply.is_success() {
            return Err(refusal(reply));
        }
        let body = reply.json()?;
        let id = body["id"].as_str().filter(|id| !id.trim().is_empty());
        let id = id.ok_or_else(|| {
            PluginError::protocol(format!(
                "Acme's reply has no `id`: {}",
                encoding::snippet(&body.to_string())
            ))
        })?;
        let status = body["status"].as_str().unwrap_or_default();
        Ok(Step::Delivered(Delivery::new(id, status)))
    }
}

/// Acme's error object as a vendor error; any other body (a proxy's HTML page,
/// an empty 503) as its HTTP status and first characters.
fn refusal(reply: &HttpReply<'_>) -> PluginError {
    let Ok(body) = reply.json() else {
        return reply.unexpected();
    };
    let error = &body["error"];
    let (Some(code), Some(message)) = (error["code"].as_str(), error["message"].as_str()) else {
        return reply.unexpected();
    };
    PluginError::vendor(code, message)
        .retryable(encoding::status_is_retryable(reply.status))
        .retry_after(reply.retry_after_secs())
}

export_plugin!(Template);

// ---- Tests: the plugin against canned replies, no host, no network. ---------

#[cfg(test)]
mod tests {
    use super::*;
    use phonehook_plugin_api::serde_json::{json, Value};
    use phonehook_plugin_api::testing::{Harness, Reply};
    use phonehook_plugin_api::{ErrorKind, Message};

    fn harness() -> Harness<Template> {
        Harness::new()
            .secret(API_TOKEN, "tok-123")
            .setting("from", "Acme")
    }

    fn sms() -> Message {
        Message::new("+14155550100", "Your code is 123456")
    }

    fn acme_error(status: u16, code: &str, message: &str) -> Reply {
        Reply::json(status, json!({"error": {"code": code, "message": message}}))
    }

    #[test]
    fn posts_json_with_a_bearer_token() {
        // Derived from the constants, so renaming them (as
        // docs/writing-a-plugin.md says) keeps the tests true.
        let req = harness().prepare(&sms()).unwrap();
        assert_eq!(req.url.as_str(), format!("{DEFAULT_BASE_URL}/v1/messages"));
        assert_eq!(req.header_value("authorization"), Some("Bearer tok-123"));
        assert_eq!(req.header_value("content-type"), Some("application/json"));
        let body: Value = phonehook_plugin_api::serde_json::from_slice(&req.body).unwrap();
        assert_eq!(
            body,
            json!({"to": "+14155550100", "from": "Acme", "text": "Your code is 123456"})
        );
        let mock = harness().setting("base_url", "http://127.0.0.1:9/");
        let req = mock.prepare(&sms()).unwrap();
        assert_eq!(req.url.as_str(), "http://127.0.0.1:9/v1/messages");
    }

    #[test]
    fn the_default_url_is_on_a_declared_host() {
        let manifest = Harness::<Template>::new().manifest().unwrap();
        let hosts: Vec<&str> = manifest.hosts.iter().map(|h| h.as_str()).collect();
        let url_host = DEFAULT_BASE_URL
            .split_once("://")
            .map_or(DEFAULT_BASE_URL, |(_, rest)| rest)
            .split(['/', ':'])
            .next()
            .unwrap_or_default();
        assert_eq!(url_host, DEFAULT_HOST);
        assert!(hosts.contains(&DEFAULT_HOST), "{hosts:?}");
    }

    #[test]
    fn an_accepted_message_is_delivered_with_acmes_id() {
        let reply = Reply::json(201, json!({"id": "msg_42", "status": "queued"}));
        let delivery = harness().run(&sms(), |_| reply.clone()).unwrap();
        assert_eq!(delivery.message_id.as_str(), "msg_42");
        assert_eq!(delivery.status.as_str(), "queued");
    }

    #[test]
    fn refusals_keep_acmes_code_and_say_whether_to_retry() {
        let cases = [
            // (reply, code, retryable, retry after)
            (
                acme_error(400, "invalid_number", "not a number"),
                "invalid_number",
                false,
                0,
            ),
            (
                acme_error(429, "throttled", "slow down").header("Retry-After", "7"),
                "throttled",
                true,
                7,
            ),
            (acme_error(500, "internal", "oops"), "internal", true, 0),
            (
                Reply::text(503, "<html>Service Unavailable</html>"),
                "503",
                true,
                0,
            ),
        ];
        for (reply, code, retryable, retry_after) in cases {
            let err = harness().run(&sms(), |_| reply.clone()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Vendor, "{reply:?}");
            assert_eq!(
                (err.code.as_str(), err.retryable, err.retry_after_secs),
                (code, retryable, retry_after),
                "{reply:?}"
            );
        }
    }

    #[test]
    fn unreadable_replies_are_protocol_errors() {
        for reply in [
            Reply::text(201, ""),
            Reply::text(201, "queued"),
            Reply::json(201, json!({"status": "queued"})),
            Reply::json(201, json!({"id": ""})),
        ] {
            let err = harness().run(&sms(), |_| reply.clone()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Protocol, "{reply:?}");
        }
    }

    #[test]
    fn a_missing_token_is_named_before_anything_is_sent() {
        let err = Harness::<Template>::new()
            .setting("from", "Acme")
            .prepare(&sms())
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Config);
        assert!(err.message.contains(API_TOKEN), "{err}");
    }

    #[test]
    fn voice_is_not_offered() {
        let err = harness()
            .prepare(&sms().with_channel(Channel::Voice))
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unsupported);
    }

    /// Every reply kept in `fuzz/regressions/` (documented replies, and inputs
    /// the fuzzer once broke a plugin with) is still read without a panic.
    #[test]
    fn kept_fuzz_replies_still_pass() {
        phonehook_plugin_api::testing::fuzz::replay(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../fuzz/regressions/reply_template"
            ),
            |_| {
                Harness::<Template>::new()
                    .secret(API_TOKEN, "t0ken")
                    .setting("from", "Acme")
            },
        );
    }
}
