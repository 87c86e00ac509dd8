//! An answer as kept for repeats, in one buffer.
//!
//! A store keeps up to `idempotency.max_entries` (100,000) answers, nearly
//! all of them never asked for again: each is kept as small as it can be —
//! its status, and the body followed by the header lines in a single
//! allocation — rather than as a header list and buffers of their own (about
//! 720 bytes an entry that way, 72 MB for a full store). Reading the headers
//! back parses them; only a repeat does that.

use bytes::Bytes;
use http::{HeaderName, HeaderValue};

/// An answer as kept for repeats.
#[derive(Clone)]
pub struct Stored {
    status: u16,
    /// Where the body ends in `buf`; `name:value\n` lines follow it (a
    /// header name has no `:`, and a value no line break).
    body_len: usize,
    buf: Bytes,
}

impl Stored {
    /// Keeps `status`, `headers` and `body`.
    pub fn new<'a>(
        status: u16,
        headers: impl IntoIterator<Item = (&'a HeaderName, &'a HeaderValue), IntoIter: Clone>,
        body: &[u8],
    ) -> Stored {
        // Walked twice, so that the buffer is allocated once, at its size.
        let headers = headers.into_iter();
        let len = body.len()
            + headers
                .clone()
                .map(|(n, v)| n.as_str().len() + v.len() + 2)
                .sum::<usize>();
        let mut buf = Vec::with_capacity(len);
        buf.extend_from_slice(body);
        for (name, value) in headers {
            buf.extend_from_slice(name.as_str().as_bytes());
            buf.push(b':');
            buf.extend_from_slice(value.as_bytes());
            buf.push(b'\n');
        }
        Stored {
            status,
            body_len: body.len(),
            buf: Bytes::from(buf),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The body (shares the buffer).
    pub fn body(&self) -> Bytes {
        self.buf.slice(..self.body_len)
    }

    /// The headers, in the order they were kept.
    pub fn headers(&self) -> impl Iterator<Item = (HeaderName, HeaderValue)> + '_ {
        self.buf[self.body_len..]
            .split(|&b| b == b'\n')
            .filter_map(|line| {
                let at = line.iter().position(|&b| b == b':')?;
                Some((
                    HeaderName::from_bytes(&line[..at]).ok()?,
                    HeaderValue::from_bytes(&line[at + 1..]).ok()?,
                ))
            })
    }
}

// Compared by what a repeat gets, as tests do.
impl PartialEq for Stored {
    fn eq(&self, other: &Stored) -> bool {
        self.status == other.status && self.buf == other.buf && self.body_len == other.body_len
    }
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stored")
            .field("status", &self.status)
            .field("headers", &self.headers().collect::<Vec<_>>())
            .field("body", &self.body())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{CONTENT_TYPE, RETRY_AFTER};

    #[test]
    fn what_is_kept_is_read_back() {
        let event = HeaderName::from_static("x-phonehook-event-id");
        let json = HeaderValue::from_static("application/json");
        let id = HeaderValue::from_static("ev_01:with:colons");
        let retry = HeaderValue::from_static("");
        let body = br#"{"MessageID":"SM1"}"#;
        let stored = Stored::new(
            200,
            [
                (&CONTENT_TYPE, &json),
                (&event, &id),
                (&RETRY_AFTER, &retry),
            ],
            body,
        );
        assert_eq!(stored.status(), 200);
        assert_eq!(stored.body(), Bytes::from_static(body));
        assert_eq!(
            stored.headers().collect::<Vec<_>>(),
            [(CONTENT_TYPE, json), (event, id), (RETRY_AFTER, retry)]
        );
        let bare = Stored::new(502, [], b"");
        assert!(bare.body().is_empty() && bare.headers().next().is_none());
    }
}
