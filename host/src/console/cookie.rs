//! The session cookie, read and written by hand (one name, four attributes).
//!
//! `HttpOnly` keeps it from scripts, `SameSite=Strict` keeps other sites'
//! pages from sending it, `Path=/console` keeps it off the JSON API, and
//! `Secure` is added when the console is reached over HTTPS (a proxy in front
//! says so with `X-Forwarded-Proto: https`) or `console.secure_cookie` is set.
//! `Max-Age` is the idle lifetime and is renewed with every page, so the
//! browser forgets the cookie when the server forgets the session.

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue};

/// The cookie's name.
pub const NAME: &str = "phonehook_console";

/// The session id the request's cookies carry, if any.
pub fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == NAME)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// Whether the browser reached the console over HTTPS, as far as this server
/// can tell: it serves plain HTTP itself, so only a proxy's header says so.
/// A forged header only makes the browser withhold the cookie over HTTP.
pub fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// `Set-Cookie` for a session id that lives `idle` without a request.
pub fn set(id: &str, idle: Duration, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{NAME}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        idle.as_secs()
    ))
    .ok()
}

/// `Set-Cookie` that makes the browser drop the cookie (logout).
pub fn clear(secure: bool) -> HeaderValue {
    if secure {
        HeaderValue::from_static(
            "phonehook_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0; Secure",
        )
    } else {
        HeaderValue::from_static(
            "phonehook_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_its_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("x=y; phonehook_console=abc123 ; z=0"),
        );
        assert_eq!(session_id(&headers), Some("abc123"));
        let mut none = HeaderMap::new();
        none.append(
            header::COOKIE,
            HeaderValue::from_static("phonehook_console_other=1; phonehook_console="),
        );
        assert_eq!(session_id(&none), None);
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_when_asked() {
        let idle = Duration::from_secs(8 * 3600);
        let plain = set("abc", idle, false).unwrap();
        let plain = plain.to_str().unwrap();
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Strict"));
        assert!(plain.contains("Max-Age=28800") && !plain.contains("Secure"));
        let secure = set("abc", idle, true).unwrap();
        assert!(secure.to_str().unwrap().ends_with("; Secure"));
        assert!(clear(true).to_str().unwrap().contains("Max-Age=0"));
    }
}
