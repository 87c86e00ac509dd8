//! The application JWT the Voice API wants as its bearer token: RS256 over the
//! claims `application_id`, `iat`, `exp` and `jti`, signed with the Vonage
//! application's private key. Time and the token id come from the host.

use phonehook_plugin_api::serde_json::json;
use phonehook_plugin_api::{encoding, Call, PluginError};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;

use crate::settings::{APPLICATION_ID, PRIVATE_KEY};

/// How long a token stays valid; Vonage's SDKs default to 15 minutes too.
pub const TTL_SECS: i64 = 900;

/// Why a configured private key cannot sign. Its text never quotes the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Not a PEM block at all (often a file path or a truncated paste).
    NotPem,
    /// A PEM block, but not an RSA private key we can read.
    NotRsaPrivateKey,
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::NotPem => f.write_str(
                "is not a PEM private key (expected `-----BEGIN PRIVATE KEY-----`, the key file's content)",
            ),
            KeyError::NotRsaPrivateKey => {
                f.write_str("could not be read as an RSA private key (PKCS#8 or PKCS#1 PEM)")
            }
        }
    }
}

impl std::error::Error for KeyError {}

/// Reads a PEM RSA private key: PKCS#8 (what the Vonage dashboard hands out)
/// or PKCS#1. Environment variables often carry the key on one line with
/// literal `\n`, so those are turned back into line breaks.
pub fn parse_private_key(pem: &str) -> Result<RsaPrivateKey, KeyError> {
    let pem = pem.trim().replace("\\n", "\n");
    if !pem.starts_with("-----BEGIN ") {
        return Err(KeyError::NotPem);
    }
    RsaPrivateKey::from_pkcs8_pem(&pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(&pem))
        .map_err(|_| KeyError::NotRsaPrivateKey)
}

/// A signed token for this call, from the configured application id and key.
pub fn bearer_token(call: &Call<'_>) -> Result<String, PluginError> {
    let application_id = call.config.require_secret(APPLICATION_ID)?;
    let pem = call.config.require_secret(PRIVATE_KEY)?;
    let key = parse_private_key(pem)
        .map_err(|err| PluginError::config(format!("secret `{PRIVATE_KEY}` {err}")))?;
    let iat = call.now_unix_secs();
    let claims = json!({
        "application_id": application_id,
        "iat": iat,
        "exp": iat + TTL_SECS,
        "jti": call.random_uuid(),
    });
    sign(key, &claims.to_string())
}

/// `header.claims.signature`, each part base64url without padding.
fn sign(key: RsaPrivateKey, claims_json: &str) -> Result<String, PluginError> {
    let header = json!({"alg": "RS256", "typ": "JWT"}).to_string();
    let signing_input = format!(
        "{}.{}",
        encoding::base64url_encode(header.as_bytes()),
        encoding::base64url_encode(claims_json.as_bytes())
    );
    // PKCS#1 v1.5 signatures are deterministic, so no randomness is needed here.
    let signature = SigningKey::<Sha256>::new(key)
        .try_sign(signing_input.as_bytes())
        .map_err(|_| {
            PluginError::config(format!("secret `{PRIVATE_KEY}` could not sign a token"))
        })?;
    Ok(format!(
        "{signing_input}.{}",
        encoding::base64url_encode(&signature.to_bytes())
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use phonehook_plugin_api::serde_json::{self, Value};
    use phonehook_plugin_api::testing::Harness;
    use phonehook_plugin_api::Message;
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::pkcs8::{DecodePublicKey, LineEnding};
    use rsa::signature::Verifier;
    use rsa::RsaPublicKey;

    pub const TEST_KEY: &str = include_str!("../../../tests/fixtures-data/vonage-test-key.pem");
    pub const TEST_PUBLIC_KEY: &str =
        include_str!("../../../tests/fixtures-data/vonage-test-key.pub.pem");

    /// Checks a token's signature with the test public key; returns header and claims.
    pub fn verify(token: &str) -> (Value, Value) {
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
        let decode = |part: &str| encoding::base64url_decode(part).expect("base64url");
        let public = RsaPublicKey::from_public_key_pem(TEST_PUBLIC_KEY).unwrap();
        let signature = Signature::try_from(decode(parts[2]).as_slice()).unwrap();
        VerifyingKey::<Sha256>::new(public)
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("signature verifies with the public key");
        let header = serde_json::from_slice(&decode(parts[0])).unwrap();
        let claims = serde_json::from_slice(&decode(parts[1])).unwrap();
        (header, claims)
    }

    fn harness(key: &str) -> Harness<crate::Vonage> {
        Harness::new()
            .secret(APPLICATION_ID, "aaaaaaaa-bbbb-cccc-dddd-0123456789ab")
            .secret(PRIVATE_KEY, key)
            .setting("from", "+14155550199")
            .at_unix_ms(1_700_000_000_123)
            .random([0x11; 32])
    }

    fn token_of(h: &Harness<crate::Vonage>) -> String {
        let msg = Message::new("+14155550100", "Your code is 123456")
            .with_channel(phonehook_plugin_api::Channel::Voice);
        let req = h.prepare(&msg).unwrap();
        let auth = req.header_value("authorization").unwrap();
        auth.strip_prefix("Bearer ").expect("bearer").to_owned()
    }

    #[test]
    fn token_is_rs256_with_vonage_claims_and_verifies() {
        let (header, claims) = verify(&token_of(&harness(TEST_KEY)));
        assert_eq!(header, serde_json::json!({"alg": "RS256", "typ": "JWT"}));
        assert_eq!(
            claims["application_id"],
            "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
        );
        assert_eq!(claims["iat"], 1_700_000_000);
        assert_eq!(claims["exp"], 1_700_000_900);
        assert_eq!(claims["jti"], "11111111-1111-4111-9111-111111111111");
    }

    #[test]
    fn pkcs1_and_one_line_keys_are_accepted() {
        let key = parse_private_key(TEST_KEY).unwrap();
        let pkcs1 = key.to_pkcs1_pem(LineEnding::LF).unwrap().to_string();
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        verify(&token_of(&harness(&pkcs1)));
        let one_line = TEST_KEY.trim().replace('\n', "\\n");
        verify(&token_of(&harness(&one_line)));
    }

    #[test]
    fn bad_keys_are_config_errors_that_do_not_quote_the_key() {
        let err = harness("/etc/vonage/private.key")
            .prepare(
                &Message::new("+14155550100", "x")
                    .with_channel(phonehook_plugin_api::Channel::Voice),
            )
            .unwrap_err();
        assert_eq!(err.kind, phonehook_plugin_api::ErrorKind::Config);
        assert!(err.message.contains("VONAGE_PRIVATE_KEY"), "{err}");
        assert!(!err.message.contains("/etc/vonage"), "{err}");

        let garbled = "-----BEGIN PRIVATE KEY-----\nTUlJRXZRSUJBREFOQmdrcWhraUc5dzBC\n-----END PRIVATE KEY-----";
        assert_eq!(
            parse_private_key(garbled).unwrap_err(),
            KeyError::NotRsaPrivateKey
        );
        let err = harness(garbled)
            .prepare(
                &Message::new("+14155550100", "x")
                    .with_channel(phonehook_plugin_api::Channel::Voice),
            )
            .unwrap_err();
        assert!(!err.message.contains("TUlJ"), "{err}");
    }
}
