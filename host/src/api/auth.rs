//! Bearer tokens: one for the identity platform (sending), one for admins.
//! Tokens are compared as SHA-256 digests in constant time, so neither the
//! content nor the length of a configured token leaks through timing. A
//! refused request learns nothing but 401.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::api::ApiError;
use crate::state::AppState;

/// Which token a route needs.
#[derive(Clone, Copy, Debug)]
pub enum Role {
    /// The identity platform.
    Send,
    /// An administrator.
    Admin,
    /// A plugin this host runs, delivering to the sandbox inbox (the token
    /// is the host's own, see [`crate::inbox::token`]).
    Inbox,
}

/// Whether `presented` matches `expected`.
pub fn token_matches(expected: &str, presented: &str) -> bool {
    let a = expected_digest(expected);
    let b = Sha256::digest(presented.as_bytes());
    a.as_slice().ct_eq(b.as_slice()).into()
}

thread_local! {
    /// The last configured token this thread checked against, and its
    /// digest: every send request is checked against the same token, and
    /// hashing it again was half of the check's cost.
    static EXPECTED: std::cell::RefCell<Option<(String, [u8; 32])>> =
        const { std::cell::RefCell::new(None) };
}

/// The SHA-256 of a configured token, from this thread's one-entry cache.
/// The cache is keyed by comparing configured tokens with each other (the
/// send and the admin token, say): what a caller presents never takes part
/// in that comparison, so its timing tells a caller nothing.
fn expected_digest(expected: &str) -> [u8; 32] {
    EXPECTED.with(|cell| {
        let mut last = cell.borrow_mut();
        match last.as_ref() {
            Some((token, digest)) if token == expected => *digest,
            _ => {
                let digest: [u8; 32] = Sha256::digest(expected.as_bytes()).into();
                *last = Some((expected.to_owned(), digest));
                digest
            }
        }
    })
}

fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn unauthorized() -> Response {
    let mut resp = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "a valid bearer token is required",
    )
    .into_response();
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

/// Whether `req` carries the token `role` needs (a refused request is
/// answered with [`unauthorized`]).
fn authorized(state: &AppState, role: Role, req: &Request) -> bool {
    let expected = match role {
        Role::Send => state.config.send_token(),
        Role::Admin => state.config.admin_token(),
        // Without tokens the server is loopback-only dev mode and the inbox
        // stays open to curl; with them, only the host's plugins may write.
        Role::Inbox => {
            let tokens =
                state.config.send_token().is_some() || state.config.admin_token().is_some();
            tokens.then(crate::inbox::token)
        }
    };
    match expected {
        // No token configured: the server refuses to listen beyond loopback.
        None => true,
        Some(expected) => bearer(req).is_some_and(|presented| token_matches(expected, presented)),
    }
}

async fn check(state: &AppState, role: Role, req: Request, next: Next) -> Response {
    if authorized(state, role, &req) {
        next.run(req).await
    } else {
        unauthorized()
    }
}

/// Middleware for the send routes: the send token, then the whole body
/// ([`super::body_limit::read_whole_body`]), in one layer. Every message
/// passes here, and each layer costs a boxed future and a clone of the
/// routes behind it.
pub async fn require_send_then_read_body(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    if authorized(&state, Role::Send, &req) {
        super::body_limit::read_whole_body(State(state), req, next).await
    } else {
        unauthorized()
    }
}

/// Middleware for the admin routes.
pub async fn require_admin(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    check(&state, Role::Admin, req, next).await
}

/// Middleware for the sandbox inbox's receiving end.
pub async fn require_inbox(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    check(&state, Role::Inbox, req, next).await
}

#[cfg(test)]
mod tests {
    use super::token_matches;

    #[test]
    fn tokens_match_exactly() {
        assert!(token_matches("s3cret-token", "s3cret-token"));
        assert!(!token_matches("s3cret-token", "s3cret-toke"));
        assert!(!token_matches("s3cret-token", ""));
        assert!(!token_matches("s3cret-token", "S3CRET-TOKEN"));
    }
}
