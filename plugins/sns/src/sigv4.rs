//! AWS Signature Version 4, header flavour: the `Authorization` header for one
//! request, as described in AWS's "Signature Version 4 signing process" and
//! checked against AWS's SigV4 test suite (see the tests below).
//!
//! The signer is pure: it takes the time as an `X-Amz-Date` string and signs
//! exactly the headers it is given, so the caller decides what is signed (for
//! SNS: `content-type`, `host`, `x-amz-date` and, with temporary credentials,
//! `x-amz-security-token`). It is public so a test mock can recompute a
//! signature from the request it received.

use std::collections::BTreeMap;
use std::fmt;

use phonehook_plugin_api::crypto::{hmac_sha256 as hmac, sha256_hex};
use phonehook_plugin_api::encoding;

/// The signing algorithm's name, first word of the `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The last element of every credential scope.
const TERMINATOR: &str = "aws4_request";

/// The long-term part of AWS credentials (the session token, when there is
/// one, is signed as an ordinary `x-amz-security-token` header).
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    /// `AKID...`, sent in clear in the credential scope.
    pub access_key_id: &'a str,
    /// The secret key; only ever used as HMAC key material.
    pub secret_access_key: &'a str,
}

impl fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[redacted]")
            .finish()
    }
}

/// Where a signature is valid: a day, a region and a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// `YYYYMMDD`.
    pub date: String,
    /// `us-east-1`.
    pub region: String,
    /// `sns`.
    pub service: String,
}

impl Scope {
    /// The scope of a signature made at `amz_date` (`YYYYMMDDTHHMMSSZ`).
    pub fn new(amz_date: &str, region: &str, service: &str) -> Self {
        Scope {
            date: amz_date.get(..8).unwrap_or(amz_date).to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{TERMINATOR}",
            self.date, self.region, self.service
        )
    }
}

/// A request as it will go over the wire.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// `POST`, `GET`...
    pub method: &'a str,
    /// The path as sent (already percent-encoded once), e.g. `/`.
    pub path: &'a str,
    /// The raw query string without `?`, or empty.
    pub query: &'a str,
    /// Every header to sign, `host` and `x-amz-date` included. Names are
    /// case-insensitive; a repeated name is signed as one comma-joined value.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub payload: &'a [u8],
}

/// A signature and the intermediate texts it was made from (the tests compare
/// each of them with AWS's published vectors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// Task 1: the canonical request.
    pub canonical_request: String,
    /// Task 2: the string to sign.
    pub string_to_sign: String,
    /// The `;`-joined lower-case names of the signed headers.
    pub signed_headers: String,
    /// Task 3: the hex signature.
    pub signature: String,
    /// Task 4: the value of the `Authorization` header.
    pub authorization: String,
}

/// Signs `request` made at `amz_date` (`YYYYMMDDTHHMMSSZ`, the value of its
/// `X-Amz-Date` header) for `region` and `service`.
pub fn sign(
    request: &Request<'_>,
    credentials: &Credentials<'_>,
    amz_date: &str,
    region: &str,
    service: &str,
) -> Signed {
    let scope = Scope::new(amz_date, region, service);
    let (canonical_request, signed_headers) = canonical_request(request);
    let string_to_sign = string_to_sign(amz_date, &scope, &canonical_request);
    let key = signing_key(credentials.secret_access_key, &scope);
    let signature = encoding::hex(&hmac(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    );
    Signed {
        canonical_request,
        string_to_sign,
        signed_headers,
        signature,
        authorization,
    }
}

/// The canonical request and the signed-header list it names.
pub fn canonical_request(request: &Request<'_>) -> (String, String) {
    let (headers, signed_headers) = canonical_headers(request.headers);
    let canonical = format!(
        "{}\n{}\n{}\n{headers}\n{signed_headers}\n{}",
        request.method.to_ascii_uppercase(),
        canonical_uri(request.path),
        canonical_query(request.query),
        sha256_hex(request.payload),
    );
    (canonical, signed_headers)
}

/// The string to sign for a canonical request.
pub fn string_to_sign(amz_date: &str, scope: &Scope, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// The key derived from the secret for one scope.
pub fn signing_key(secret_access_key: &str, scope: &Scope) -> [u8; 32] {
    let k_date = hmac(
        format!("AWS4{secret_access_key}").as_bytes(),
        scope.date.as_bytes(),
    );
    let k_region = hmac(&k_date, scope.region.as_bytes());
    let k_service = hmac(&k_region, scope.service.as_bytes());
    hmac(&k_service, TERMINATOR.as_bytes())
}

/// Lower-case names, values trimmed with inner runs of whitespace collapsed,
/// sorted by name, repeated names joined with `,` in the order given.
fn canonical_headers(headers: &[(&str, &str)]) -> (String, String) {
    let mut merged: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        merged
            .entry(name.trim().to_ascii_lowercase())
            .or_default()
            .push(value);
    }
    let canonical = merged
        .iter()
        .map(|(name, values)| format!("{name}:{}\n", values.join(",")))
        .collect();
    let signed = merged.keys().cloned().collect::<Vec<_>>().join(";");
    (canonical, signed)
}

/// Each path segment encoded once more: services other than S3 sign the path
/// encoded twice, and the path on the wire is already encoded once.
fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    path.split('/')
        .map(encoding::percent_encode)
        .collect::<Vec<_>>()
        .join("/")
}

/// Parameters decoded, re-encoded the AWS way, sorted by name then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            (
                encoding::percent_encode(&percent_decode(name)),
                encoding::percent_encode(&percent_decode(value)),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The parts of a URL a signature covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlParts {
    /// The `Host` header an HTTP client sends for the URL: lower case, with
    /// the port only when it is not the scheme's default.
    pub host: String,
    /// The path, `/` when empty.
    pub path: String,
    /// The query without `?`, or empty.
    pub query: String,
}

/// Splits an `http(s)://` URL; `None` for other schemes or no host.
pub fn url_parts(url: &str) -> Option<UrlParts> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return None,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = authority
        .strip_suffix(default_port)
        .unwrap_or(authority)
        .to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let tail = tail.split('#').next().unwrap_or_default();
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    Some(UrlParts {
        host,
        path: if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        },
        query: query.to_owned(),
    })
}

/// An `Authorization` header taken apart, for servers (and mocks) that
/// verify a signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    /// The access key id of the credential.
    pub access_key_id: String,
    /// The credential scope.
    pub scope: Scope,
    /// The signed header names, as listed.
    pub signed_headers: Vec<String>,
    /// The hex signature.
    pub signature: String,
}

impl Authorization {
    /// Parses `AWS4-HMAC-SHA256 Credential=.../aws4_request,
    /// SignedHeaders=a;b, Signature=hex`; `None` when anything is missing.
    pub fn parse(header: &str) -> Option<Self> {
        let rest = header.trim().strip_prefix(ALGORITHM)?.strip_prefix(' ')?;
        let mut credential = None;
        let mut signed_headers = None;
        let mut signature = None;
        for part in rest.split(',') {
            let (key, value) = part.trim().split_once('=')?;
            match key {
                "Credential" => credential = Some(value),
                "SignedHeaders" => signed_headers = Some(value),
                "Signature" => signature = Some(value),
                _ => return None,
            }
        }
        let mut fields = credential?.split('/');
        let access_key_id = fields.next()?.to_owned();
        let scope = Scope {
            date: fields.next()?.to_owned(),
            region: fields.next()?.to_owned(),
            service: fields.next()?.to_owned(),
        };
        if fields.next()? != TERMINATOR || fields.next().is_some() {
            return None;
        }
        Some(Authorization {
            access_key_id,
            scope,
            signed_headers: signed_headers?.split(';').map(str::to_owned).collect(),
            signature: signature?.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    //! The vectors are AWS's SigV4 test suite (the `v4` directory of
    //! awslabs/aws-c-auth `tests/aws-signing-test-suite`, which republishes the
    //! suite from the AWS General Reference; the classic
    //! `post-x-www-form-urlencoded` signature without `content-length` is the
    //! one in aws-sdk-js-v3 `packages/signature-v4/src/suite.fixture.ts`).
    use super::*;

    const CREDS: Credentials<'static> = Credentials {
        access_key_id: "AKIDEXAMPLE",
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    };
    const DATE: &str = "20150830T123600Z";

    /// One case of the suite, as `sigv4_suite.json` holds it (data, so the
    /// suite grows by a file entry, not by code).
    struct Vector {
        name: String,
        method: String,
        query: String,
        headers: Vec<(String, String)>,
        payload: String,
        canonical_request: String,
        string_to_sign: String,
        authorization: String,
    }

    fn vectors() -> Vec<Vector> {
        use phonehook_plugin_api::serde_json::{self, Value};
        let suite: Value =
            serde_json::from_str(include_str!("sigv4_suite.json")).expect("the suite is JSON");
        let text = |v: &Value, key: &str| -> String {
            v[key]
                .as_str()
                .unwrap_or_else(|| panic!("`{key}` is a string in every case"))
                .to_owned()
        };
        let cases = suite.as_array().expect("the suite is a list of cases");
        cases
            .iter()
            .map(|v| Vector {
                name: text(v, "name"),
                method: text(v, "method"),
                query: text(v, "query"),
                headers: v["headers"]
                    .as_array()
                    .expect("headers are a list")
                    .iter()
                    .map(|pair| {
                        let part = |i: usize| pair[i].as_str().expect("a header is two strings");
                        (part(0).to_owned(), part(1).to_owned())
                    })
                    .collect(),
                payload: text(v, "payload"),
                canonical_request: text(v, "canonical_request"),
                string_to_sign: text(v, "string_to_sign"),
                authorization: text(v, "authorization"),
            })
            .collect()
    }

    #[test]
    fn matches_the_aws_sigv4_test_suite() {
        let vectors = vectors();
        assert_eq!(vectors.len(), 9, "every case of the suite is read");
        for v in vectors {
            let headers: Vec<(&str, &str)> = v
                .headers
                .iter()
                .map(|(k, val)| (k.as_str(), val.as_str()))
                .collect();
            let request = Request {
                method: &v.method,
                path: "/",
                query: &v.query,
                headers: &headers,
                payload: v.payload.as_bytes(),
            };
            let signed = sign(&request, &CREDS, DATE, "us-east-1", "service");
            assert_eq!(
                signed.canonical_request, v.canonical_request,
                "{}: canonical request",
                v.name
            );
            assert_eq!(
                signed.string_to_sign, v.string_to_sign,
                "{}: string to sign",
                v.name
            );
            assert_eq!(
                signed.authorization, v.authorization,
                "{}: authorization",
                v.name
            );
        }
    }

    #[test]
    fn authorization_parses_back() {
        let v = &vectors()[5];
        let auth = Authorization::parse(&v.authorization).unwrap();
        assert_eq!(auth.access_key_id, "AKIDEXAMPLE");
        assert_eq!(auth.scope, Scope::new(DATE, "us-east-1", "service"));
        assert_eq!(
            auth.signed_headers,
            ["host", "x-amz-date", "x-amz-security-token"]
        );
        assert_eq!(
            auth.signature,
            "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"
        );
        assert_eq!(
            Authorization::parse("AWS4-HMAC-SHA256 Credential=A/B/C/D/aws4_request"),
            None
        );
        assert_eq!(Authorization::parse("Basic abc"), None);
    }

    #[test]
    fn url_parts_give_the_host_a_client_sends() {
        let p = url_parts("https://SNS.us-east-1.amazonaws.com:443/").unwrap();
        assert_eq!(
            (p.host.as_str(), p.path.as_str(), p.query.as_str()),
            ("sns.us-east-1.amazonaws.com", "/", "")
        );
        let p = url_parts("http://127.0.0.1:8123/x/?a=b#f").unwrap();
        assert_eq!(
            (p.host.as_str(), p.path.as_str(), p.query.as_str()),
            ("127.0.0.1:8123", "/x/", "a=b")
        );
        assert_eq!(url_parts("http://example.com").unwrap().path, "/");
        assert_eq!(url_parts("ftp://example.com/"), None);
        assert_eq!(url_parts("https:///"), None);
    }

    #[test]
    fn canonical_uri_and_query_encode_the_aws_way() {
        assert_eq!(canonical_uri("/a b/%41"), "/a%20b/%2541");
        assert_eq!(canonical_query("b=2&a=%7e&a=1&c"), "a=1&a=~&b=2&c=");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn credentials_debug_hides_the_secret() {
        assert!(!format!("{CREDS:?}").contains("EXAMPLEKEY"));
    }
}
