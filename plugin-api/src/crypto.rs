//! The hashes vendors authenticate requests with: SHA-256 and HMAC-SHA256
//! (AWS Signature Version 4, TeleSign's TSA signature, webhook signatures).
//! Here once so a plugin never pulls in and wraps its own copy.

use hmac::{Hmac, Mac};
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

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // RFC 2104 HMAC takes a key of any length (a long one is hashed first), so
    // `new_from_slice` has no error case for SHA-256; the fallback only keeps
    // the function total.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().into()
        }
        Err(_) => [0; 32],
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
