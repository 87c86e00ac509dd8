//! Logging in and out. The admin token is posted once, in the form's body,
//! and compared as the JSON API compares it (`api::auth::token_matches`:
//! SHA-256 digests in constant time), so the page is no faster for a better
//! guess. The token is never put in a URL, a page or a log line.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;

use super::{form_field, layout, redirect, Frame, Page, Section};
use crate::api::token_matches;
use crate::console::{cookie, secure_cookie, Session};
use crate::state::AppState;

/// The form field that carries the token.
const TOKEN_FIELD: &str = "token";

/// `GET /console/login`.
pub async fn show(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if state.config.admin_token().is_none() {
        return disabled();
    }
    let live = cookie::session_id(&headers).and_then(|id| state.console.touch(id));
    if live.is_some() {
        return redirect("/console");
    }
    login_page(StatusCode::OK, None).into_response()
}

/// `POST /console/login` with `token`.
pub async fn submit(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(expected) = state.config.admin_token() else {
        return disabled();
    };
    let presented = form_field(&body, TOKEN_FIELD).unwrap_or_default();
    if !token_matches(expected, presented.trim()) {
        tracing::info!("console login refused: wrong admin token");
        return login_page(
            StatusCode::UNAUTHORIZED,
            Some("That is not the admin token. Check the value of admin_token (PHONEHOOK_ADMIN_TOKEN) and try again."),
        )
        .into_response();
    }
    // A browser that logs in again gets a new session; the old one ends.
    if let Some(old) = cookie::session_id(&headers).and_then(|id| state.console.touch(id)) {
        state.console.end(&old.id);
    }
    let session = state.console.create();
    tracing::info!("console login");
    let mut response = redirect("/console");
    let secure = secure_cookie(&state, &headers);
    if let Some(value) = cookie::set(session.id.as_str(), state.console.idle(), secure) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `POST /console/logout`: ends the session on the server and clears the
/// cookie; the next page is the login page.
pub async fn logout(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
) -> Response {
    state.console.end(&session.id);
    tracing::info!("console logout");
    let mut response = redirect("/console/login");
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie::clear(secure_cookie(&state, &headers)),
    );
    response
}

fn login_page(status: StatusCode, error: Option<&str>) -> Page {
    let body = html! {
        section.login {
            h1 { "Log in" }
            p { "The console shows and changes what the admin API does. Log in with the admin token." }
            @if let Some(error) = error {
                p.error role="alert" { (error) }
            }
            form method="post" action="/console/login" {
                label for="token" { "Admin token" }
                input #token type="password" name=(TOKEN_FIELD) autocomplete="current-password" required autofocus;
                button type="submit" { "Log in" }
            }
        }
    };
    Page::with_status(
        status,
        layout("Log in", None, Section::None, Frame::default(), body),
    )
}

/// Without an admin token nobody can log in, so the page says how to set one
/// instead of offering a form that cannot work.
fn disabled() -> Response {
    let body = html! {
        section.login {
            h1 { "The console is off" }
            p.error role="alert" { "No admin token is configured, so nobody can log in." }
            p { "Set one and restart phonehook, for example:" }
            pre { "PHONEHOOK_ADMIN_TOKEN=\"$(openssl rand -hex 24)\" phonehook serve ..." }
            p { "or " code { "admin_token = \"...\"" } " in the configuration file. Then log in here with that token." }
        }
    };
    Page::with_status(
        StatusCode::SERVICE_UNAVAILABLE,
        layout("Console off", None, Section::None, Frame::default(), body),
    )
    .into_response()
}
