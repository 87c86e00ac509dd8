//! The requests a plugin asks the host to perform and the replies it gets
//! back. Above `error`, `pair` and the encodings; below `step`.

use abi_stable::std_types::{RSlice, RStr, RString, RVec};
use abi_stable::StableAbi;

use crate::encoding;
use crate::error::PluginError;
use crate::pair::Pair;

/// HTTP methods a plugin may ask for.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get = 0,
    /// POST
    Post = 1,
    /// PUT
    Put = 2,
    /// PATCH
    Patch = 3,
    /// DELETE
    Delete = 4,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// A request the host performs for the plugin.
///
/// The host only sends it to a host the plugin declared in its manifest (or the
/// configured `base_url`), applies its own timeout, and hands the reply to
/// [`crate::Plugin::interpret`] together with `state`.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The absolute URL, `http://` or `https://`.
    pub url: RString,
    /// Request headers. Values may contain secrets; the host never logs them.
    pub headers: RVec<Pair>,
    /// The body, possibly empty.
    pub body: RVec<u8>,
    /// Opaque to the host: returned to the plugin with the reply, so a flow of
    /// several calls knows which step answered.
    pub state: RString,
}

impl HttpRequest {
    /// A request with no headers and no body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        HttpRequest {
            method,
            url: RString::from(url.into()),
            headers: RVec::new(),
            body: RVec::new(),
            state: RString::new(),
        }
    }

    /// A POST request.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// A GET request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers
            .push(Pair::new(name, RString::from(value.into())));
        self
    }

    /// Adds `Authorization: Basic base64(user:password)`.
    pub fn basic_auth(self, user: &str, password: &str) -> Self {
        let value = encoding::basic_auth(user, password);
        self.header("Authorization", value)
    }

    /// Adds `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", format!("Bearer {token}"))
    }

    /// Sets a form-encoded body and its content type.
    pub fn form<K: AsRef<str>, V: AsRef<str>>(mut self, fields: &[(K, V)]) -> Self {
        self.body = encoding::form_encode(fields).into_bytes().into();
        self.header("Content-Type", "application/x-www-form-urlencoded")
    }

    /// Sets a JSON body and its content type, and asks for JSON back.
    pub fn json(mut self, value: &serde_json::Value) -> Self {
        self.body = value.to_string().into_bytes().into();
        self.header("Content-Type", "application/json")
            .header("Accept", "application/json")
    }

    /// Sets a raw body with the given content type.
    pub fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into().into();
        self.header("Content-Type", content_type)
    }

    /// Sets the state handed back with the reply.
    pub fn state(mut self, state: &str) -> Self {
        self.state = state.into();
        self
    }

    /// The first header with this name (case-insensitive).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as text, for tests.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn find_header<'a>(headers: &'a [Pair], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|p| p.name.as_str().eq_ignore_ascii_case(name))
        .map(|p| p.value.as_str())
}

/// The vendor's reply, as the host received it.
///
/// The host caps the body size and reports transport failures (timeouts, resets)
/// itself; a plugin only sees replies that arrived whole.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct HttpReply<'a> {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers (names in lower case).
    pub headers: RSlice<'a, Pair>,
    /// The body.
    pub body: RSlice<'a, u8>,
    /// The `state` of the request this answers.
    pub state: RStr<'a>,
    /// How many requests of this message came before this one (0 for the first).
    pub step: u32,
}

impl<'a> HttpReply<'a> {
    /// A reply for tests and tools.
    pub fn new(status: u16, headers: &'a [Pair], body: &'a [u8]) -> Self {
        HttpReply {
            status,
            headers: headers.into(),
            body: body.into(),
            state: RStr::from(""),
            step: 0,
        }
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        find_header(self.headers.as_slice(), name)
    }

    /// Whether the `Content-Type` names this media type (`application/json`),
    /// ignoring case and parameters such as `; charset=utf-8`.
    pub fn content_type_is(&self, media_type: &str) -> bool {
        self.header("content-type").is_some_and(|ct| {
            ct.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case(media_type)
        })
    }

    /// `Retry-After` in seconds, when the vendor sent it as a number.
    pub fn retry_after_secs(&self) -> Option<u32> {
        self.header("retry-after")?.trim().parse().ok()
    }

    /// The body as UTF-8, or a protocol error that says it was not.
    pub fn text(&self) -> Result<&'a str, PluginError> {
        std::str::from_utf8(self.body.as_slice()).map_err(|_| {
            PluginError::protocol(format!(
                "vendor answered HTTP {} with a body that is not UTF-8",
                self.status
            ))
        })
    }

    /// The body as `application/x-www-form-urlencoded` fields (`id=1&ok=true`),
    /// in order, or a protocol error when it is empty or not UTF-8.
    pub fn form(&self) -> Result<Vec<(String, String)>, PluginError> {
        if self.text()?.trim().is_empty() {
            return Err(self.empty_body());
        }
        Ok(encoding::form_decode(self.body.as_slice()))
    }

    fn empty_body(&self) -> PluginError {
        PluginError::protocol(format!(
            "vendor answered HTTP {} with an empty body",
            self.status
        ))
    }

    /// A vendor error for a non-success reply whose body the plugin could not
    /// read as the vendor's error format (a proxy's HTML page): the HTTP
    /// status as the code, and the start of the body. Retryable on 429 and
    /// 5xx, with the vendor's `Retry-After`.
    pub fn unexpected(&self) -> PluginError {
        let body = String::from_utf8_lossy(self.body.as_slice());
        let text = if body.trim().is_empty() {
            "(empty body)".to_owned()
        } else {
            encoding::snippet(&body)
        };
        PluginError::vendor(
            self.status.to_string(),
            format!("HTTP {}: {text}", self.status),
        )
        .retryable(encoding::status_is_retryable(self.status))
        .retry_after(self.retry_after_secs())
    }

    /// The body as JSON, or a protocol error that quotes the start of it.
    pub fn json(&self) -> Result<serde_json::Value, PluginError> {
        let text = self.text()?;
        if text.trim().is_empty() {
            return Err(self.empty_body());
        }
        serde_json::from_str(text).map_err(|e| {
            PluginError::protocol(format!(
                "vendor answered HTTP {} with a body that is not JSON ({e}): {}",
                self.status,
                encoding::snippet(text)
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_replies_are_read_by_content_type() {
        let headers = [Pair::new(
            "content-type",
            "Application/X-WWW-Form-Urlencoded; charset=utf-8",
        )];
        let reply = HttpReply::new(200, &headers, b"id=m+1&ok=true");
        assert!(reply.content_type_is("application/x-www-form-urlencoded"));
        assert!(!reply.content_type_is("application/json"));
        assert_eq!(
            reply.form().unwrap(),
            [
                ("id".to_owned(), "m 1".to_owned()),
                ("ok".to_owned(), "true".to_owned())
            ]
        );
        let empty = HttpReply::new(200, &headers, b"  ");
        assert_eq!(empty.form().unwrap_err().kind, crate::ErrorKind::Protocol);
        assert!(!HttpReply::new(200, &[], b"").content_type_is("text/plain"));
    }
}
