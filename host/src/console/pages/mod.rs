//! The console's pages. Each module renders one page (or one page and the
//! form that posts back to it) with maud, which escapes every value it
//! interpolates; [`layout`] is the frame they share.

pub mod guard;
pub mod login;
pub mod logs;
pub mod overview;
pub mod plugins;
pub mod test_message;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::csrf;
use super::session::Session;
use crate::api::ApiError;

/// A rendered page and its status.
pub struct Page {
    /// The HTTP status.
    pub status: StatusCode,
    /// The document.
    pub body: Markup,
}

impl Page {
    /// A 200 page.
    pub fn ok(body: Markup) -> Page {
        Page {
            status: StatusCode::OK,
            body,
        }
    }

    /// A page with another status.
    pub fn with_status(status: StatusCode, body: Markup) -> Page {
        Page { status, body }
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            self.body.into_string(),
        )
            .into_response()
    }
}

/// The section a page belongs to, for the navigation bar.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The overview.
    Overview,
    /// Plugins, activation, test messages.
    Plugins,
    /// The delivery log.
    Log,
    /// The abuse guard.
    Guard,
    /// Login and other pages outside the navigation.
    None,
}

/// Options of the frame beyond title and content.
#[derive(Default)]
pub struct Frame {
    /// Reload the page every this many seconds (the overview).
    pub refresh_secs: Option<u32>,
}

/// The frame every page shares: head with the stylesheet and script,
/// navigation (with the logout form) for a session, the content.
pub fn layout(
    title: &str,
    session: Option<&Session>,
    section: Section,
    frame: Frame,
    content: Markup,
) -> Markup {
    let nav = [
        (Section::Overview, "/console", "Overview"),
        (Section::Plugins, "/console/plugins", "Plugins"),
        (Section::Log, "/console/logs", "Delivery log"),
        (Section::Guard, "/console/guard", "Guard"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(secs) = frame.refresh_secs {
                    meta http-equiv="refresh" content=(secs);
                }
                title { (title) " · phonehook console" }
                link rel="stylesheet" href="/console/static/console.css";
                script src="/console/static/console.js" defer {}
            }
            body {
                header.top {
                    span.brand { "phonehook" }
                    @if let Some(session) = session {
                        nav {
                            @for (s, href, label) in nav {
                                a href=(href) aria-current=[(s == section).then_some("page")] { (label) }
                            }
                        }
                        form.logout method="post" action="/console/logout" {
                            (csrf_field(session))
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { (content) }
            }
        }
    }
}

/// The hidden field that carries the session's CSRF token.
pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name=(csrf::FIELD) value=(session.csrf); }
}

/// A `303 See Other` to `to` (after a form, and to the login page).
pub fn redirect(to: &'static str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, HeaderValue::from_static(to))],
    )
        .into_response()
}

/// 403: a form without the session's CSRF token.
pub fn forbidden() -> Response {
    let body = layout(
        "Refused",
        None,
        Section::None,
        Frame::default(),
        html! {
            h1 { "Refused" }
            p.error { "This form did not carry this session's security token, so it was not carried out. Go back, reload the page and try again." }
            p { a href="/console" { "Back to the console" } }
        },
    );
    Page::with_status(StatusCode::FORBIDDEN, body).into_response()
}

/// An API error as the JSON API would answer it, for people: status, code,
/// message and every detail field.
pub fn api_error(error: &ApiError) -> Markup {
    html! {
        div.outcome.failed {
            p { strong { (error.code) } " (HTTP " (error.status.as_u16()) ")" }
            p { (error.message) }
            @if !error.details.is_empty() {
                dl {
                    @for (key, value) in &error.details {
                        dt { (key) }
                        dd { (json_text(value)) }
                    }
                }
            }
        }
    }
}

/// A JSON value as text: strings without quotes, lists one item a line.
pub fn json_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => {
            items.iter().map(json_text).collect::<Vec<_>>().join("; ")
        }
        other => other.to_string(),
    }
}

/// The value of form field `name` in a urlencoded body (the first one).
pub fn form_field(form: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(form)
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// A time in RFC 3339 (UTC), marked up so the script can show local time.
pub fn time(rfc3339: &str) -> Markup {
    html! { time datetime=(rfc3339) { (rfc3339) } }
}

/// `text` as one URL path segment: everything but unreserved characters
/// percent-encoded, so a plugin or event name cannot change the path.
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::segment;

    #[test]
    fn segments_keep_unreserved_characters_only() {
        assert_eq!(segment("twilio-2_x.y~"), "twilio-2_x.y~");
        assert_eq!(segment("a/b c?d"), "a%2Fb%20c%3Fd");
    }
}
