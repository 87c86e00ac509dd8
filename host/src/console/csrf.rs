//! The CSRF check: every state-changing console request (every `POST` but
//! the login) carries the session's token in its form field `csrf`. The
//! comparison is constant-time, so a forger learns nothing from timing.
//! `SameSite=Strict` already keeps the cookie off other sites' requests;
//! the token is the second, independent lock.

use subtle::ConstantTimeEq;

/// The form field that carries the token.
pub const FIELD: &str = "csrf";

/// Whether the urlencoded `form` carries `expected` in [`FIELD`] (exactly
/// once: a repeated field is refused rather than guessed at).
pub fn form_carries(form: &[u8], expected: &str) -> bool {
    let mut presented = url::form_urlencoded::parse(form)
        .filter(|(name, _)| name == FIELD)
        .map(|(_, value)| value);
    match (presented.next(), presented.next()) {
        (Some(value), None) => {
            value.len() == expected.len() && bool::from(value.as_bytes().ct_eq(expected.as_bytes()))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::form_carries;

    #[test]
    fn only_the_exact_token_once_passes() {
        assert!(form_carries(b"name=x&csrf=abc123", "abc123"));
        assert!(!form_carries(b"name=x", "abc123"));
        assert!(!form_carries(b"csrf=", "abc123"));
        assert!(!form_carries(b"csrf=abc12", "abc123"));
        assert!(!form_carries(b"csrf=abc1234", "abc123"));
        assert!(!form_carries(b"csrf=abc123&csrf=abc123", "abc123"));
        assert!(!form_carries(b"csrf=ABC123", "abc123"));
    }
}
