//! Amazon SNS: one-time codes by SMS through the `Publish` action of SNS's
//! Query API (`POST https://sns.{region}.amazonaws.com/`, a form body, an XML
//! reply), signed with AWS Signature Version 4 ([`sigv4`]).
//!
//! SNS sends text messages only, so the manifest lists the SMS channel alone.

use phonehook_plugin_api::{
    date, encoding, export_plugin, Call, Channel, Config, HttpReply, HttpRequest, Manifest, Plugin,
    PluginError, Step,
};

pub mod publish;
pub mod reply;
pub mod sigv4;

#[cfg(test)]
mod tests;

/// The SigV4 service name of SNS.
pub const SERVICE: &str = "sns";

/// The content type SNS's Query API documents for the form body.
pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

const DEFAULT_REGION: &str = "us-east-1";
const ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
const SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
const SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";

/// The Amazon SNS plugin.
#[derive(Default)]
pub struct Sns;

impl Plugin for Sns {
    fn manifest(&self) -> Manifest {
        Manifest::new("sns", env!("CARGO_PKG_VERSION"))
            .vendor("Amazon SNS")
            .description("SMS through Amazon SNS Publish (Query API, SigV4-signed)")
            .channel(Channel::Sms)
            .secret(
                ACCESS_KEY_ID,
                true,
                "AWS access key id of an identity allowed sns:Publish",
            )
            .secret(
                SECRET_ACCESS_KEY,
                true,
                "The secret access key of that identity",
            )
            .secret(
                SESSION_TOKEN,
                false,
                "Session token, when the keys are temporary (STS)",
            )
            .setting(
                "region",
                false,
                "AWS region, e.g. eu-west-1; default us-east-1",
            )
            .setting("sms_type", false, "Transactional (default) or Promotional")
            .setting(
                "sender_id",
                false,
                "Alphanumeric sender id, where the destination country allows one",
            )
            .setting(
                "origination_number",
                false,
                "Origination number (E.164) registered with AWS",
            )
            .setting(
                "base_url",
                false,
                "Endpoint; default https://sns.{region}.amazonaws.com",
            )
            .host("*.amazonaws.com")
            .host("*.amazonaws.com.cn")
    }

    fn check(&self, config: &Config<'_>) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = region(config) {
            problems.push(e.message.into_string());
        }
        if let Err(e) = publish::SmsType::from_setting(config.setting("sms_type")) {
            problems.push(e);
        }
        if let Some(url) = config.setting("base_url") {
            if sigv4::url_parts(url).is_none() {
                problems.push("setting `base_url` must be an http:// or https:// URL".to_owned());
            }
        }
        problems
    }

    fn prepare(&self, call: &Call<'_>) -> Result<HttpRequest, PluginError> {
        let msg = call.message;
        if msg.channel != Channel::Sms {
            return Err(PluginError::unsupported(format!(
                "Amazon SNS sends text messages only, not {}",
                msg.channel.as_str()
            )));
        }
        let text = msg.text.as_str();
        if text.len() > publish::MAX_MESSAGE_BYTES {
            return Err(PluginError::invalid_message(format!(
                "the text is {} bytes; SNS takes at most {} per SMS publish",
                text.len(),
                publish::MAX_MESSAGE_BYTES
            )));
        }
        let config = call.config;
        let access_key_id = config.require_secret(ACCESS_KEY_ID)?;
        let secret_access_key = config.require_secret(SECRET_ACCESS_KEY)?;
        let session_token = config.secret(SESSION_TOKEN);
        let region = region(&config)?;
        let options = publish::Options::from_config(&config)?;

        let body = encoding::form_encode(&publish::form_fields(
            msg.recipient.as_str(),
            text,
            &options,
        ));
        let url = format!("{}/", endpoint(&config, region));
        let parts = sigv4::url_parts(&url).ok_or_else(|| {
            PluginError::config("setting `base_url` must be an http:// or https:// URL")
        })?;
        let amz_date = date::iso_basic(call.now_unix_ms);

        let mut signed_headers = vec![
            ("Content-Type", CONTENT_TYPE),
            ("Host", parts.host.as_str()),
            ("X-Amz-Date", amz_date.as_str()),
        ];
        if let Some(token) = session_token {
            signed_headers.push(("X-Amz-Security-Token", token));
        }
        let request = sigv4::Request {
            method: "POST",
            path: &parts.path,
            query: &parts.query,
            headers: &signed_headers,
            payload: body.as_bytes(),
        };
        let credentials = sigv4::Credentials {
            access_key_id,
            secret_access_key,
        };
        let signed = sigv4::sign(&request, &credentials, &amz_date, region, SERVICE);

        // `Host` is left to the HTTP client, which derives it from the URL
        // exactly as `url_parts` did for the signature.
        let mut http = HttpRequest::post(url.as_str())
            .body(CONTENT_TYPE, body)
            .header("X-Amz-Date", amz_date.as_str());
        if let Some(token) = session_token {
            http = http.header("X-Amz-Security-Token", token);
        }
        Ok(http
            .header("Authorization", signed.authorization)
            .state("publish"))
    }

    fn interpret(&self, call: &Call<'_>, reply: &HttpReply<'_>) -> Result<Step, PluginError> {
        reply::read(reply, &call.config).map(Step::Delivered)
    }
}

/// The `region` setting, or `us-east-1`. It becomes part of a host name, so
/// only the characters of AWS region names are accepted.
fn region<'a>(config: &Config<'a>) -> Result<&'a str, PluginError> {
    let region = config.setting_or("region", DEFAULT_REGION).trim();
    let valid = region
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if region.is_empty() || !valid {
        return Err(PluginError::config(
            "setting `region` must be an AWS region name such as `us-east-1`",
        ));
    }
    Ok(region)
}

/// The `base_url` setting, or the regional endpoint (China's regions live
/// under `amazonaws.com.cn`).
fn endpoint(config: &Config<'_>, region: &str) -> String {
    if let Some(base) = config.setting("base_url") {
        return base.trim_end_matches('/').to_owned();
    }
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://sns.{region}.{suffix}")
}

export_plugin!(Sns);
