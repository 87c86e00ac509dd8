//! Encodings most vendor plugins share: base64, hex, form and percent
//! encoding, Basic auth, text cuts, GSM-7, XML. Kept here so each plugin reads
//! like its vendor's API page and nothing is copied from plugin to plugin.
//!
//! The bottom layer of the crate: it uses no type of the crate (strings and
//! bytes in, strings and bytes out), so the contract above it can change
//! without touching it and it never changes the contract. See
//! `tests/layers.rs`.

use base64::Engine;

/// `Basic base64(user:password)`, the value of an `Authorization` header.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64_encode(format!("{user}:{password}").as_bytes())
    )
}

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Standard base64 decoding, tolerant of missing padding.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text.trim()))
        .ok()
}

/// URL-safe base64 without padding (JWT segments).
pub fn base64url_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// URL-safe base64 decoding, with or without padding (JWT segments).
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim().trim_end_matches('=');
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

/// Lower-case hexadecimal, two digits a byte (hashes, signatures, ids).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// `application/x-www-form-urlencoded` encoding of fields, in order.
pub fn form_encode<K: AsRef<str>, V: AsRef<str>>(fields: &[(K, V)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        out.append_pair(k.as_ref(), v.as_ref());
    }
    out.finish()
}

/// Decodes a form body into pairs (for mocks and tests).
pub fn form_decode(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// Percent-encoding of one path segment or query value (RFC 3986 unreserved kept).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A phone number as most vendors want a sender or recipient: its digits
/// without the `+` (`+14155550100` or `14155550100` → `14155550100`). `None`
/// for anything that is not all digits, such as an alphanumeric sender id
/// (`Acme`), which vendors take as it is.
pub fn phone_digits(value: &str) -> Option<&str> {
    let value = value.trim();
    let digits = value.strip_prefix('+').unwrap_or(value);
    let all_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    all_digits.then_some(digits)
}

/// The start of a text, cut at 200 characters, for error messages that quote a
/// vendor's reply without flooding logs.
pub fn snippet(text: &str) -> String {
    const MAX: usize = 200;
    let trimmed = text.trim();
    match trimmed.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_owned(),
    }
}

/// Whether a vendor HTTP status is worth retrying: throttling or a server fault.
pub fn status_is_retryable(status: u16) -> bool {
    status == 429 || status >= 500
}

/// The characters of the GSM 03.38 default alphabet and its extension table.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENDED: &str = "^{}\\[~]|€\x0c";

/// The ASCII characters of `chars` as a 128-bit set. ASCII, nearly every
/// character of a one-time-code text, is looked up by bit rather than by
/// scanning the alphabet strings (the delivery log counts the segments of
/// every message; scanning was 6k instructions a message).
const fn ascii_table(chars: &str) -> u128 {
    let bytes = chars.as_bytes();
    let mut table = 0u128;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] < 0x80 {
            table |= 1 << bytes[i];
        }
        i += 1;
    }
    table
}

/// The ASCII characters of [`GSM7_BASIC`] and of [`GSM7_EXTENDED`], as bits.
const GSM7_BASIC_ASCII: u128 = ascii_table(GSM7_BASIC);
const GSM7_EXTENDED_ASCII: u128 = ascii_table(GSM7_EXTENDED);

/// Whether `c` is in the basic table, the extension table, or neither.
fn gsm7_class(c: char) -> Gsm7 {
    let (basic, extended) = if c.is_ascii() {
        let bit = 1u128 << (c as u32);
        (GSM7_BASIC_ASCII & bit != 0, GSM7_EXTENDED_ASCII & bit != 0)
    } else {
        (GSM7_BASIC.contains(c), GSM7_EXTENDED.contains(c))
    };
    match (basic, extended) {
        (true, _) => Gsm7::Basic,
        (false, true) => Gsm7::Extended,
        (false, false) => Gsm7::Outside,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Gsm7 {
    Basic,
    Extended,
    Outside,
}

/// Whether a text fits the GSM-7 alphabet (otherwise it is sent as UCS-2).
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm7_class(c) != Gsm7::Outside)
}

/// How many SMS segments a text needs (GSM-7: 160 alone, 153 per part;
/// UCS-2: 70 alone, 67 per part).
pub fn sms_segments(text: &str) -> usize {
    let (units, single, part) = if is_gsm7(text) {
        let units: usize = text
            .chars()
            .map(|c| {
                if gsm7_class(c) == Gsm7::Extended {
                    2
                } else {
                    1
                }
            })
            .sum();
        (units, 160, 153)
    } else {
        (text.encode_utf16().count(), 70, 67)
    };
    if units <= single {
        1
    } else {
        units.div_ceil(part)
    }
}

/// Escapes text for an XML element or attribute.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The text of the first element found at `path` (local names, namespaces
/// ignored), e.g. `["PublishResponse", "PublishResult", "MessageId"]`.
/// `None` when the path is absent or the document is not well-formed.
pub fn xml_text(doc: &str, path: &[&str]) -> Option<String> {
    xml_walk(doc, path, None)
}

/// The value of attribute `attr` on the first element found at `path`.
pub fn xml_attr(doc: &str, path: &[&str], attr: &str) -> Option<String> {
    xml_walk(doc, path, Some(attr))
}

fn at(stack: &[String], path: &[&str]) -> bool {
    stack.iter().map(String::as_str).eq(path.iter().copied())
}

fn xml_walk(doc: &str, path: &[&str], attr: Option<&str>) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(doc);
    let mut stack: Vec<String> = Vec::new();
    let mut text = String::new();
    loop {
        let event = reader.read_event().ok()?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                stack.push(name);
                if at(&stack, path) {
                    if let Some(attr) = attr {
                        let found = e
                            .attributes()
                            .flatten()
                            .find(|a| a.key.local_name().as_ref() == attr.as_bytes())?;
                        return found.unescape_value().ok().map(|v| v.into_owned());
                    }
                }
                if matches!(event, Event::Empty(_)) {
                    stack.pop();
                }
            }
            Event::Text(t) if attr.is_none() && at(&stack, path) => {
                text.push_str(&t.unescape().ok()?);
            }
            Event::CData(t) if attr.is_none() && at(&stack, path) => {
                text.push_str(&String::from_utf8_lossy(&t));
            }
            Event::End(_) => {
                if attr.is_none() && at(&stack, path) {
                    return Some(text.trim().to_owned());
                }
                stack.pop();
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ascii_lookup_agrees_with_the_alphabet_strings() {
        for b in 0u8..0x80 {
            let c = char::from(b);
            let want = if GSM7_BASIC.contains(c) {
                Gsm7::Basic
            } else if GSM7_EXTENDED.contains(c) {
                Gsm7::Extended
            } else {
                Gsm7::Outside
            };
            assert!(gsm7_class(c) == want, "{c:?}");
        }
    }

    use super::*;

    #[test]
    fn basic_auth_matches_rfc7617_example() {
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn form_encoding_escapes_plus_and_spaces() {
        assert_eq!(
            form_encode(&[("To", "+1 555"), ("Body", "a&b=c")]),
            "To=%2B1+555&Body=a%26b%3Dc"
        );
    }

    #[test]
    fn gsm7_and_segments() {
        assert!(is_gsm7("Your code is 123456"));
        assert!(!is_gsm7("Votre code : 123 ✓"));
        assert_eq!(sms_segments(&"a".repeat(160)), 1);
        assert_eq!(sms_segments(&"a".repeat(161)), 2);
        assert_eq!(sms_segments(&"ж".repeat(70)), 1);
        assert_eq!(sms_segments(&"ж".repeat(71)), 2);
    }

    #[test]
    fn xml_paths_ignore_namespaces() {
        let doc = r#"<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>abc-1</MessageId></PublishResult></PublishResponse>"#;
        assert_eq!(
            xml_text(doc, &["PublishResponse", "PublishResult", "MessageId"]).as_deref(),
            Some("abc-1")
        );
        assert_eq!(xml_text(doc, &["PublishResponse", "Missing"]), None);
        let doc = r#"<messageheaders batchid="b" xmlns="http://api.esendex.com/ns/"><messageheader id="m-1" uri="u"/></messageheaders>"#;
        assert_eq!(
            xml_attr(doc, &["messageheaders", "messageheader"], "id").as_deref(),
            Some("m-1")
        );
        assert_eq!(xml_text("<a><b>", &["a", "b"]), None);
    }

    #[test]
    fn hex_and_base64url() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        let bytes = [0xfb, 0xff, 0x3e];
        assert_eq!(base64url_encode(&bytes), "-_8-");
        assert_eq!(base64url_decode("-_8-").as_deref(), Some(&bytes[..]));
        assert_eq!(
            base64url_decode("eyJhIjoxfQ").as_deref(),
            Some(&b"{\"a\":1}"[..])
        );
        assert_eq!(
            base64url_decode("eyJhIjoxfQ==").as_deref(),
            Some(&b"{\"a\":1}"[..])
        );
        assert_eq!(base64url_decode("not base64!"), None);
    }

    #[test]
    fn numeric_senders_lose_their_plus_and_names_stay() {
        let cases = [
            ("+41793026727", Some("41793026727")),
            ("41793026727", Some("41793026727")),
            (" +1415 ", Some("1415")),
            ("InfoSMS", None),
            ("+", None),
            ("", None),
            ("+41 79", None),
        ];
        for (value, want) in cases {
            assert_eq!(phone_digits(value), want, "{value:?}");
        }
    }

    #[test]
    fn snippet_cuts_on_char_boundary() {
        let long = "é".repeat(300);
        assert_eq!(snippet(&long).chars().count(), 201);
    }
}
