//! TeleSign: SMS through the Messaging API (`POST /v1/messaging`) and calls
//! through the Voice API (`POST /v1/voice`), form-encoded, authenticated by
//! TeleSign's HMAC-SHA256 signature (default) or HTTP Basic.

mod auth;
mod reply;
mod request;

pub use auth::{API_KEY, CUSTOMER_ID};

use auth::{signing_key, Credentials, Scheme};
use phonehook_plugin_api::{
    export_plugin, Call, Channel, Config, HttpReply, HttpRequest, Manifest, Plugin, PluginError,
    Step,
};

/// Standard accounts' REST host (TeleSign's SDK default).
pub const STANDARD_BASE_URL: &str = "https://rest-api.telesign.com";
/// Enterprise accounts' REST host.
pub const ENTERPRISE_BASE_URL: &str = "https://rest-ww.telesign.com";

/// The TeleSign plugin.
#[derive(Default)]
pub struct Telesign;

impl Plugin for Telesign {
    fn manifest(&self) -> Manifest {
        Manifest::new("telesign", env!("CARGO_PKG_VERSION"))
            .vendor("TeleSign")
            .description("SMS through the TeleSign Messaging API, calls through its Voice API")
            .channel(Channel::Sms)
            .channel(Channel::Voice)
            .secret(CUSTOMER_ID, true, "TeleSign customer id")
            .secret(
                API_KEY,
                true,
                "TeleSign API key (base64, as the portal shows it)",
            )
            .setting(
                "auth",
                false,
                "`hmac` (default: signed requests) or `basic`",
            )
            .setting(
                "enterprise",
                false,
                "true for enterprise accounts (rest-ww.telesign.com)",
            )
            .setting("base_url", false, "API base URL; overrides `enterprise`")
            .host("rest-api.telesign.com")
            .host("rest-ww.telesign.com")
    }

    /// The host reports the manifest's required secrets by name; this adds
    /// what it cannot know: a key that is not base64 and malformed settings.
    fn check(&self, config: &Config<'_>) -> Vec<String> {
        let mut problems = Vec::new();
        match Scheme::from_config(config) {
            Err(e) => problems.push(e.message.into_string()),
            Ok(Scheme::Hmac) => {
                if let Some(Err(e)) = config.secret(API_KEY).map(signing_key) {
                    problems.push(e.message.into_string());
                }
            }
            Ok(Scheme::Basic) => {}
        }
        if let Err(e) = base_url(config) {
            problems.push(e.message.into_string());
        }
        problems
    }

    fn prepare(&self, call: &Call<'_>) -> Result<HttpRequest, PluginError> {
        let credentials = Credentials::from_config(&call.config)?;
        let resource = request::resource(call.message.channel);
        let url = format!("{}{resource}", base_url(&call.config)?);
        let fields = request::fields(call.message)?;
        let unsigned = HttpRequest::post(url).form(&fields);
        Ok(credentials.apply(unsigned, resource, call))
    }

    fn interpret(&self, call: &Call<'_>, reply: &HttpReply<'_>) -> Result<Step, PluginError> {
        reply::read(reply, call.message.channel).map(Step::Delivered)
    }
}

/// `base_url` when set, else the enterprise or the standard host.
fn base_url<'a>(config: &Config<'a>) -> Result<&'a str, PluginError> {
    let enterprise = match config
        .setting("enterprise")
        .map(|s| s.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(PluginError::config(
                "setting `enterprise` must be true or false",
            ))
        }
    };
    let default = if enterprise {
        ENTERPRISE_BASE_URL
    } else {
        STANDARD_BASE_URL
    };
    Ok(config.base_url(default))
}

export_plugin!(Telesign);

#[cfg(test)]
mod tests;
