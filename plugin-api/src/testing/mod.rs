//! Drive a plugin without a host or a network: build a [`Harness`] with
//! settings and secrets, hand it a [`Message`], and answer its requests with
//! canned [`Reply`]s. Calls go through the same panic guards as the exported
//! entry points, and a message on a channel the manifest does not list is
//! refused before the plugin sees it, so a test sees what the host would.
//!
//! Two things the host adds are left out, so that a test shows what the
//! plugin itself does: the host refuses to call a plugin whose *required*
//! secrets or settings are missing (a test calls [`Harness::check`], and the
//! plugin's own `require_secret` errors show in `prepare`), and it strips
//! configured secret values from every error the plugin returns.
//!
//! ```
//! # use phonehook_plugin_api::*;
//! # #[derive(Default)]
//! # struct MyPlugin;
//! # impl Plugin for MyPlugin {
//! #     fn manifest(&self) -> Manifest { Manifest::new("my", "1.0.0").channel(Channel::Sms) }
//! #     fn prepare(&self, call: &Call<'_>) -> Result<HttpRequest, PluginError> {
//! #         Ok(HttpRequest::post("https://x.test/send").bearer(call.config.require_secret("API_KEY")?))
//! #     }
//! #     fn interpret(&self, _: &Call<'_>, reply: &HttpReply<'_>) -> Result<Step, PluginError> {
//! #         let id = reply.json()?["id"].as_str().unwrap_or_default().to_owned();
//! #         Ok(Step::Delivered(Delivery::new(id, "")))
//! #     }
//! # }
//! use phonehook_plugin_api::serde_json::json;
//! use phonehook_plugin_api::testing::{Harness, Reply};
//!
//! let harness = Harness::<MyPlugin>::new().secret("API_KEY", "k");
//! let msg = Message::new("+14155550100", "code 123456");
//! let req = harness.prepare(&msg).unwrap();
//! assert_eq!(req.header_value("authorization"), Some("Bearer k"));
//! let delivery = harness.run(&msg, |_req| Reply::json(200, json!({"id": "m1"}))).unwrap();
//! assert_eq!(delivery.message_id.as_str(), "m1");
//! ```

pub mod fuzz;

use std::marker::PhantomData;

use abi_stable::std_types::RStr;

use crate::call::{Call, Config};
use crate::error::PluginError;
use crate::export;
use crate::http::{HttpReply, HttpRequest};
use crate::manifest::Manifest;
use crate::message::Message;
use crate::pair::Pair;
use crate::plugin::Plugin;
use crate::step::{Delivery, Step};

/// A canned vendor reply.
#[derive(Clone, Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers (lower-case names, as the host passes them).
    pub headers: Vec<Pair>,
    /// Body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A reply with a raw text body.
    pub fn text(status: u16, body: &str) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    /// A reply with a JSON body and content type.
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Reply::text(status, &body.to_string()).header("content-type", "application/json")
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push(Pair::new(name.to_ascii_lowercase(), value));
        self
    }
}

/// A plugin with a configuration, ready to be called.
pub struct Harness<P: Plugin> {
    settings: Vec<Pair>,
    secrets: Vec<Pair>,
    now_unix_ms: i64,
    random: [u8; 32],
    host_url: String,
    _plugin: PhantomData<P>,
}

impl<P: Plugin> Default for Harness<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Plugin> Harness<P> {
    /// No settings, no secrets, the clock at 2024-01-01T00:00:00Z.
    pub fn new() -> Self {
        Harness {
            settings: Vec::new(),
            secrets: Vec::new(),
            now_unix_ms: 1_704_067_200_000,
            random: [7; 32],
            host_url: "http://127.0.0.1:8080".to_owned(),
            _plugin: PhantomData,
        }
    }

    /// Adds a setting.
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.settings.push(Pair::new(name, value));
        self
    }

    /// Adds a secret.
    pub fn secret(mut self, name: &str, value: &str) -> Self {
        self.secrets.push(Pair::new(name, value));
        self
    }

    /// Sets the clock the plugin sees.
    pub fn at_unix_ms(mut self, now_unix_ms: i64) -> Self {
        self.now_unix_ms = now_unix_ms;
        self
    }

    /// Sets the random bytes the plugin sees.
    pub fn random(mut self, random: [u8; 32]) -> Self {
        self.random = random;
        self
    }

    fn call<'a>(&'a self, message: &'a Message) -> Call<'a> {
        Call {
            message,
            config: Config::new(&self.settings, &self.secrets),
            now_unix_ms: self.now_unix_ms,
            random: self.random,
            host_url: RStr::from_str(&self.host_url),
        }
    }

    /// The plugin's manifest (a panic becomes an error, as in the host).
    pub fn manifest(&self) -> Result<Manifest, PluginError> {
        export::describe::<P>().into_result()
    }

    /// The plugin's configuration problems, empty when the configuration is usable.
    pub fn check(&self) -> Vec<String> {
        export::check::<P>(&Config::new(&self.settings, &self.secrets))
            .into_iter()
            .map(|s| s.into_string())
            .collect()
    }

    /// The first request for a message.
    ///
    /// As in the host, a message on a channel the manifest does not list is
    /// refused as [`crate::ErrorKind::Unsupported`] without calling the plugin.
    pub fn prepare(&self, message: &Message) -> Result<HttpRequest, PluginError> {
        if !self.manifest()?.supports(message.channel) {
            return Err(PluginError::unsupported(format!(
                "the plugin does not deliver {} messages",
                message.channel.as_str()
            )));
        }
        match export::prepare::<P>(&self.call(message)) {
            Step::Send(req) => Ok(req),
            Step::Failed(err) => Err(err),
            Step::Delivered(d) => Err(PluginError::protocol(format!(
                "prepare must return a request, it returned a delivery {}",
                d.message_id
            ))),
        }
    }

    /// What the plugin makes of `reply` to `request` (step 0).
    pub fn interpret(&self, message: &Message, request: &HttpRequest, reply: &Reply) -> Step {
        self.interpret_step(message, request, reply, 0)
    }

    fn interpret_step(
        &self,
        message: &Message,
        request: &HttpRequest,
        reply: &Reply,
        step: u32,
    ) -> Step {
        let mut http = HttpReply::new(reply.status, &reply.headers, &reply.body);
        http.state = request.state.as_rstr();
        http.step = step;
        export::interpret::<P>(&self.call(message), &http)
    }

    /// Runs the whole flow: `vendor` answers every request the plugin makes,
    /// for at most [`MAX_REQUESTS_PER_MESSAGE`](crate::MAX_REQUESTS_PER_MESSAGE)
    /// requests, as the host allows.
    pub fn run(
        &self,
        message: &Message,
        mut vendor: impl FnMut(&HttpRequest) -> Reply,
    ) -> Result<Delivery, PluginError> {
        let mut budget = crate::step::RequestBudget::new();
        let mut request = self.prepare(message)?;
        loop {
            let step = budget
                .spend()
                .map_err(|e| PluginError::protocol(format!("the plugin {e}")))?;
            let reply = vendor(&request);
            match self.interpret_step(message, &request, &reply, step) {
                Step::Send(next) => request = next,
                Step::Delivered(d) => return Ok(d),
                Step::Failed(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Channel;

    #[derive(Default)]
    struct SmsOnly;

    impl Plugin for SmsOnly {
        fn manifest(&self) -> Manifest {
            Manifest::new("sms-only", "1.0.0").channel(Channel::Sms)
        }
        fn prepare(&self, _: &Call<'_>) -> Result<HttpRequest, PluginError> {
            Ok(HttpRequest::post("https://sms.test/send"))
        }
        fn interpret(&self, _: &Call<'_>, _: &HttpReply<'_>) -> Result<Step, PluginError> {
            Ok(Step::Delivered(Delivery::new("m1", "")))
        }
    }

    #[test]
    fn channels_outside_the_manifest_are_refused_as_the_host_does() {
        let harness = Harness::<SmsOnly>::new();
        let voice = Message::new("+14155550100", "123456").with_channel(Channel::Voice);
        let err = harness.prepare(&voice).unwrap_err();
        assert_eq!(err.kind, crate::ErrorKind::Unsupported);
        assert!(err.message.contains("voice"), "{err}");
        assert!(harness.run(&voice, |_| Reply::text(200, "")).is_err());
        let sms = Message::new("+14155550100", "123456");
        assert_eq!(
            harness
                .run(&sms, |_| Reply::text(200, ""))
                .unwrap()
                .message_id
                .as_str(),
            "m1"
        );
    }
}
