//! The hashes vendors authenticate requests with: SHA-256 and HMAC-SHA256
//! (AWS Signature Version 4, TeleSign's TSA signature, webhook signatures).
//! Here once so a plugin never pulls in and wraps its own copy.

use sha2::{Digest, Sha256};

use crate::encoding;

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// SHA-256 of `data` in lower-case hex, as AWS signs payloads.
pub fn sha256_hex(data: &[u8]) -> String {
    encoding::hex(&sha256(data))
}

/// HMAC-SHA256 of `data` under `key` (RFC 2104).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    HmacKey::new(key).mac(data)
}

/// An HMAC-SHA256 key with its two padded blocks already hashed, for code
/// that signs many short messages under one key (the host's recipient hash):
/// each [`HmacKey::mac`] then costs two SHA-256 blocks instead of four.
///
/// Written out on SHA-256 rather than through a MAC crate whose constructor
/// returns a `Result` that cannot fail for this hash: a key of any length is
/// valid, so this is total without a fallback value.
#[derive(Clone)]
pub struct HmacKey {
    inner: Sha256,
    outer: Sha256,
}

impl HmacKey {
    /// Prepares `key` (any length; one longer than a block is hashed first).
    pub fn new(key: &[u8]) -> HmacKey {
        const BLOCK: usize = 64;
        let mut block = [0u8; BLOCK];
        if key.len() > BLOCK {
            block[..32].copy_from_slice(&sha256(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let pad = |byte: u8| block.map(|k| k ^ byte);
        HmacKey {
            inner: Sha256::new().chain_update(pad(0x36)),
            outer: Sha256::new().chain_update(pad(0x5c)),
        }
    }

    /// HMAC-SHA256 of `data` under this key.
    pub fn mac(&self, data: &[u8]) -> [u8; 32] {
        let inner = self.inner.clone().chain_update(data).finalize();
        self.outer.clone().chain_update(inner).finalize().into()
    }
}

// The padded key blocks are key material: never print them.
impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_the_empty_string() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// RFC 4231 test cases 1 (short key) and 6 (key longer than a block).
    #[test]
    fn hmac_matches_rfc4231() {
        assert_eq!(
            encoding::hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            encoding::hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
