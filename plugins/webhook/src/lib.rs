//! A plugin for in-house gateways: "an HTTP endpoint that takes a number and a
//! text", added by configuration alone. The request is built from templates
//! (`url`, `headers`, `query`, `body`) and the reply read with JSON pointers
//! (`id_pointer`, `success_pointer`...), for JSON or form-encoded replies.
//!
//! Every template and rule is checked by [`Plugin::check`], so a typo in a
//! placeholder or a pointer is refused when the plugin is activated or tested,
//! not at the first real message.
//!
//! The gateway's host is only known from the `url` setting, so the manifest
//! declares none: the host allows the host of the configured `url`.

pub mod examples;
mod request;
mod rules;
mod settings;
mod template;

use phonehook_plugin_api::{
    export_plugin, Call, Channel, Config, HttpReply, HttpRequest, Manifest, Plugin, PluginError,
    Step,
};

use crate::settings::{Settings, FIELDS};
use crate::template::Values;

/// The webhook plugin.
#[derive(Default)]
pub struct Webhook;

impl Plugin for Webhook {
    fn manifest(&self) -> Manifest {
        let manifest = Manifest::new("webhook", env!("CARGO_PKG_VERSION"))
            .vendor("In-house HTTP gateway")
            .description(
                "Sends through any HTTP endpoint that takes a number and a text, configured by templates",
            )
            .channel(Channel::Sms)
            .channel(Channel::Voice);
        FIELDS
            .iter()
            .fold(manifest, |m, (name, required, description)| {
                m.setting(name, *required, description)
            })
    }

    fn check(&self, config: &Config<'_>) -> Vec<String> {
        match Settings::read(config) {
            Ok(_) => Vec::new(),
            Err(problems) => problems.0,
        }
    }

    fn prepare(&self, call: &Call<'_>) -> Result<HttpRequest, PluginError> {
        let settings = Settings::read(&call.config)?;
        request::check_message(&settings, call.message)?;
        request::build(&settings, &Values::new(call.message, call.config))
    }

    fn interpret(&self, call: &Call<'_>, reply: &HttpReply<'_>) -> Result<Step, PluginError> {
        let settings = Settings::read(&call.config)?;
        settings.rules.outcome(reply).map(Step::Delivered)
    }
}

export_plugin!(Webhook);

#[cfg(test)]
mod tests;
