//! TeleSign's two ways of authenticating a request: HTTP Basic with the
//! customer id and API key, or the "TSA" HMAC-SHA256 signature over the
//! method, content type, date, nonce, body and path (TeleSign's SDK default,
//! which never sends the key itself).

use phonehook_plugin_api::crypto::hmac_sha256;
use phonehook_plugin_api::{date, encoding, Call, Config, HttpRequest, PluginError};

/// The customer id (a GUID from the TeleSign portal).
pub const CUSTOMER_ID: &str = "TELESIGN_CUSTOMER_ID";
/// The API key, base64 as the portal shows it.
pub const API_KEY: &str = "TELESIGN_API_KEY";

const HMAC_METHOD: &str = "HMAC-SHA256";

/// How requests are authenticated (the `auth` setting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: TSA customer_id:signature`.
    Hmac,
    /// `Authorization: Basic base64(customer_id:api_key)`.
    Basic,
}

impl Scheme {
    /// The `auth` setting: `hmac` (default) or `basic`.
    pub fn from_config(config: &Config<'_>) -> Result<Scheme, PluginError> {
        match config
            .setting("auth")
            .map(|s| s.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("hmac") => Ok(Scheme::Hmac),
            Some("basic") => Ok(Scheme::Basic),
            Some(_) => Err(PluginError::config(
                "setting `auth` must be `hmac` or `basic`",
            )),
        }
    }
}

/// The credentials in the form the chosen scheme needs, read and checked
/// before anything is sent.
pub enum Credentials<'a> {
    /// Sign with the decoded key.
    Hmac { customer_id: &'a str, key: Vec<u8> },
    /// Send the key as a Basic password.
    Basic {
        customer_id: &'a str,
        api_key: &'a str,
    },
}

impl<'a> Credentials<'a> {
    /// Reads the secrets and the scheme; errors name what is missing or malformed.
    pub fn from_config(config: &Config<'a>) -> Result<Self, PluginError> {
        let customer_id = config.require_secret(CUSTOMER_ID)?;
        let api_key = config.require_secret(API_KEY)?;
        Ok(match Scheme::from_config(config)? {
            Scheme::Hmac => Credentials::Hmac {
                customer_id,
                key: signing_key(api_key)?,
            },
            Scheme::Basic => Credentials::Basic {
                customer_id,
                api_key,
            },
        })
    }

    /// Adds the authentication headers to a request whose body is already set.
    /// `resource` is the URL path that TeleSign signs (`/v1/messaging`).
    pub fn apply(&self, request: HttpRequest, resource: &str, call: &Call<'_>) -> HttpRequest {
        match self {
            Credentials::Basic {
                customer_id,
                api_key,
            } => request.basic_auth(customer_id, api_key),
            Credentials::Hmac { customer_id, key } => {
                let date = date::http_date(call.now_unix_ms);
                let nonce = call.random_uuid();
                let content_type = request
                    .header_value("content-type")
                    .unwrap_or_default()
                    .to_owned();
                let signed = Signed {
                    method: request.method.as_str(),
                    content_type: &content_type,
                    date: &date,
                    nonce: &nonce,
                    body: &request.body_text(),
                    resource,
                };
                let authorization = format!("TSA {customer_id}:{}", signed.signature(key));
                request
                    .header("Authorization", authorization)
                    .header("Date", date)
                    .header("x-ts-auth-method", HMAC_METHOD)
                    .header("x-ts-nonce", nonce)
            }
        }
    }
}

/// The HMAC key: the API key base64-decoded. Characters outside the base64
/// alphabet are skipped, as TeleSign's own SDKs do (their published example
/// key contains dashes).
pub fn signing_key(api_key: &str) -> Result<Vec<u8>, PluginError> {
    let cleaned: String = api_key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        .collect();
    encoding::base64_decode(&cleaned)
        .filter(|key| !key.is_empty())
        .ok_or_else(|| PluginError::config(format!("secret `{API_KEY}` is not valid base64")))
}

/// The parts of a request that TeleSign's signature covers.
pub struct Signed<'a> {
    /// `POST`.
    pub method: &'a str,
    /// The `Content-Type` header, or empty.
    pub content_type: &'a str,
    /// The `Date` header.
    pub date: &'a str,
    /// The `x-ts-nonce` header.
    pub nonce: &'a str,
    /// The URL-encoded body, exactly as sent.
    pub body: &'a str,
    /// The URL path.
    pub resource: &'a str,
}

impl Signed<'_> {
    /// The canonical text TeleSign signs; the body line appears only when the
    /// request has both a content type and a body.
    pub fn string_to_sign(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\nx-ts-auth-method:{HMAC_METHOD}\nx-ts-nonce:{}",
            self.method, self.content_type, self.date, self.nonce
        );
        if !self.content_type.is_empty() && !self.body.is_empty() {
            s.push('\n');
            s.push_str(self.body);
        }
        s.push('\n');
        s.push_str(self.resource);
        s
    }

    /// base64(HMAC-SHA256(key, string to sign)).
    pub fn signature(&self, key: &[u8]) -> String {
        encoding::base64_encode(&hmac_sha256(key, self.string_to_sign().as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TeleSign's published example (python_telesign `tests/test_rest.py`).
    #[test]
    fn signature_matches_telesigns_published_example() {
        let key = signing_key(
            "EXAMPLE----TE8sTgg45yusumoN6BYsBVkh+yRJ5czgsnCehZaOYldPJdmFh6NeX8kunZ2zU1YWaUw/0wV6xfw==",
        )
        .unwrap();
        let signed = Signed {
            method: "POST",
            content_type: "application/x-www-form-urlencoded",
            date: "Wed, 14 Dec 2016 18:20:12 GMT",
            nonce: "A1592C6F-E384-4CDB-BC42-C3AB970369E9",
            body: "test=param",
            resource: "/v1/resource",
        };
        assert_eq!(
            signed.signature(&key),
            "2xVlmbrxLjYrrPun3G3WMNG6Jon4yKcTeOoK9DjXJ/Q="
        );
    }

    #[test]
    fn string_to_sign_omits_the_body_line_without_a_body() {
        let signed = Signed {
            method: "GET",
            content_type: "",
            date: "D",
            nonce: "N",
            body: "",
            resource: "/v1/x",
        };
        assert_eq!(
            signed.string_to_sign(),
            "GET\n\nD\nx-ts-auth-method:HMAC-SHA256\nx-ts-nonce:N\n/v1/x"
        );
    }

    #[test]
    fn malformed_keys_are_config_errors_that_hide_the_key() {
        let err = signing_key("!!!").unwrap_err();
        assert!(err.message.contains(API_KEY));
        assert!(!err.message.contains("!!!"));
    }
}
