//! The default plugin: "delivers" each message to the sandbox inbox the host
//! serves at `/sandbox/messages`, like a mail catcher for SMS. It needs no
//! vendor account, yet exercises the whole path a real vendor takes: the plugin
//! builds the request, the host sends it, the inbox answers, the plugin reads
//! the reply.

use phonehook_plugin_api::serde_json::json;
use phonehook_plugin_api::{
    encoding, export_plugin, Call, Channel, Delivery, HttpReply, HttpRequest, Manifest, Plugin,
    PluginError, Step,
};

/// The host's per-process inbox token, which the host injects as this secret.
pub const INBOX_TOKEN: &str = "SANDBOX_INBOX_TOKEN";

/// The sandbox plugin.
#[derive(Default)]
pub struct Sandbox;

impl Plugin for Sandbox {
    fn manifest(&self) -> Manifest {
        Manifest::new("sandbox", env!("CARGO_PKG_VERSION"))
            .vendor("phonehook sandbox")
            .description(
                "Delivers to the host's own inbox at /sandbox/messages; no vendor account needed",
            )
            .channel(Channel::Sms)
            .channel(Channel::Voice)
            .setting(
                "base_url",
                false,
                "Inbox base URL; defaults to the host itself",
            )
            .secret(
                INBOX_TOKEN,
                false,
                "Given by the host (never configured): the inbox takes it when the server has tokens",
            )
            .host("127.0.0.1")
            .host("localhost")
            .host("::1")
    }

    fn prepare(&self, call: &Call<'_>) -> Result<HttpRequest, PluginError> {
        let msg = call.message;
        let base = call.config.base_url(call.host_url.as_str());
        let body = json!({
            "to": msg.recipient.as_str(),
            "text": msg.text.as_str(),
            "channel": msg.channel.as_str(),
            "language": msg.language.as_str(),
            "action": msg.action.as_str(),
            "segments": encoding::sms_segments(&msg.text),
        });
        let request = HttpRequest::post(format!("{base}/sandbox/messages")).json(&body);
        Ok(match call.config.secret(INBOX_TOKEN) {
            Some(token) => request.bearer(token),
            None => request,
        })
    }

    fn interpret(&self, _call: &Call<'_>, reply: &HttpReply<'_>) -> Result<Step, PluginError> {
        let body = reply.json()?;
        if reply.is_success() {
            let id = body["id"]
                .as_str()
                .filter(|id| !id.trim().is_empty())
                .ok_or_else(|| {
                    PluginError::protocol(format!(
                        "inbox reply has no `id`: {}",
                        encoding::snippet(&body.to_string())
                    ))
                })?;
            return Ok(Step::Delivered(Delivery::new(id, "delivered")));
        }
        let code = body["error"]["code"].as_str().unwrap_or_default();
        let message = body["error"]["message"].as_str().unwrap_or_default();
        if code.is_empty() && message.is_empty() {
            return Err(reply.unexpected());
        }
        Err(PluginError::vendor(code, message)
            .retryable(encoding::status_is_retryable(reply.status))
            .retry_after(reply.retry_after_secs()))
    }
}

export_plugin!(Sandbox);

#[cfg(test)]
mod tests {
    use super::*;
    use phonehook_plugin_api::serde_json::{json, Value};
    use phonehook_plugin_api::testing::{Harness, Reply};
    use phonehook_plugin_api::{ErrorKind, Message};

    fn msg() -> Message {
        Message::new("+14155550100", "Your code is 123456")
    }

    #[test]
    fn posts_json_to_the_hosts_inbox() {
        let req = Harness::<Sandbox>::new().prepare(&msg()).unwrap();
        assert_eq!(req.url.as_str(), "http://127.0.0.1:8080/sandbox/messages");
        let body: Value = phonehook_plugin_api::serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["to"], "+14155550100");
        assert_eq!(body["channel"], "sms");
    }

    #[test]
    fn sends_the_inbox_token_the_host_gives_it() {
        let req = Harness::<Sandbox>::new()
            .secret(INBOX_TOKEN, "t0ken-from-the-host")
            .prepare(&msg())
            .unwrap();
        assert_eq!(
            req.header_value("authorization"),
            Some("Bearer t0ken-from-the-host")
        );
        let req = Harness::<Sandbox>::new().prepare(&msg()).unwrap();
        assert_eq!(req.header_value("authorization"), None);
    }

    #[test]
    fn base_url_setting_overrides_the_host() {
        let h = Harness::<Sandbox>::new().setting("base_url", "http://127.0.0.1:9/");
        assert_eq!(
            h.prepare(&msg()).unwrap().url.as_str(),
            "http://127.0.0.1:9/sandbox/messages"
        );
    }

    #[test]
    fn replies_map_to_outcomes() {
        let h = Harness::<Sandbox>::new();
        let ok = h
            .run(&msg(), |_| Reply::json(201, json!({"id": "sbx_1"})))
            .unwrap();
        assert_eq!(ok.message_id.as_str(), "sbx_1");

        let err = h
            .run(&msg(), |_| {
                Reply::json(
                    429,
                    json!({"error": {"code": "throttled", "message": "slow down"}}),
                )
                .header("Retry-After", "3")
            })
            .unwrap_err();
        assert_eq!(
            (
                err.kind,
                err.code.as_str(),
                err.retryable,
                err.retry_after_secs
            ),
            (ErrorKind::Vendor, "throttled", true, 3)
        );

        let err = h.run(&msg(), |_| Reply::text(200, "<html>")).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Protocol);
        let err = h
            .run(&msg(), |_| Reply::json(200, json!({"id": ""})))
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Protocol);
    }

    /// Every reply kept in `fuzz/regressions/` (documented replies, and inputs
    /// the fuzzer once broke a plugin with) is still read without a panic.
    #[test]
    fn kept_fuzz_replies_still_pass() {
        phonehook_plugin_api::testing::fuzz::replay(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../fuzz/regressions/reply_sandbox"
            ),
            |_| Harness::<Sandbox>::new(),
        );
    }
}
