//! Removing secrets and one-time codes from free text: the one [`Redactor`]
//! the host uses for delivery errors, the delivery log and the answer to the
//! caller, and a plugin uses (through [`crate::Config::redact`]) before it
//! shortens vendor text.
//!
//! Vendors echo what they were sent — the `Authorization` header, a form
//! field, the TwiML of a call — so a value is looked for in every encoding a
//! request can carry it in, not only as configured: percent- and
//! form-encoded, JSON- and XML-escaped, base64 (as HTTP Basic builds it). A
//! one-time code is also found spelled out for a voice (`9, 1, 8`, `9%2C+1`,
//! `9 <break/> 1`).
//!
//! This module uses no type of this crate: it sits below the contract, so the
//! contract can use it and the host can share it without touching the ABI.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use base64::Engine;

use crate::encoding::xml_escape;

/// What a redacted value is replaced with.
pub const MASK: &str = "[redacted]";

/// The shortest value (in characters, after trimming) that is redacted, and
/// the shortest prefix of one that is redacted where a text was cut.
///
/// Four, because the shortest one-time code is four digits, and anything
/// shorter would match ordinary words and numbers ("PIN 123" would redact
/// every `123`); counted in characters, not bytes, so a value's length does
/// not depend on its script.
pub const MIN_CHARS: usize = 4;

/// The digit runs in a text that are taken for a one-time code when the
/// message names none: as short and as long as codes are.
pub const CODE_DIGITS: std::ops::RangeInclusive<usize> = 4..=10;

/// The longest gap between two characters of a spelled-out code: `, `,
/// `%2C+`, `%2C%20`, or a short SSML tag such as `<break time="500ms"/>`.
const MAX_GAP: usize = 32;

/// Where a cut text ends: [`crate::encoding::snippet`] appends this.
const ELLIPSIS: char = '…';

/// Sensitive values, with every encoding precomputed, and the text they
/// are removed from.
///
/// Built once per plugin binding from its secrets; each message gets one of
/// its own with its code, number and text, which *includes* the binding's
/// (and the expanded credentials of each request actually sent).
///
/// This runs for every message, so it is built to be cheap there: a
/// binding's dozens of precomputed forms are included by reference
/// ([`Redactor::include`]: one `Arc`, no copy and no deduplication against
/// the message's values — matches are merged when redacting, so a value
/// found twice still makes one mask), an encoding that leaves a value
/// unchanged is not allocated again, and [`Redactor::redact`] skips every
/// value longer than the text (a vendor's message id or status word is
/// shorter than most of them).
#[derive(Clone, Default)]
pub struct Redactor {
    /// Literal forms, no duplicates, in no particular order: every match
    /// of every form is collected before any is replaced.
    needles: Vec<Arc<str>>,
    /// Codes (their characters, whitespace dropped), also found spelled out.
    codes: Vec<Vec<char>>,
    /// Redactors whose values this one removes as well, shared.
    included: Vec<Arc<Redactor>>,
}

// It holds the very values it hides: never print them.
impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("needles", &self.needles.len())
            .field("codes", &self.codes.len())
            .field("included", &self.included.len())
            .finish()
    }
}

fn long_enough(value: &str) -> bool {
    // A character is at most 4 bytes: a long value needs no counting (this
    // runs for every candidate form of every value of every message).
    value.len() >= 4 * MIN_CHARS || value.chars().count() >= MIN_CHARS
}

/// Whether every encoding [`Redactor::value`] adds leaves `value` as it is:
/// form and percent encoding keep ASCII letters, digits and `-._`, and JSON
/// and XML escape none of them. Most secrets, ids and numbers are such.
fn encodes_as_itself(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// Texts up to this many bytes are searched byte by byte from each
/// occurrence of a value's first byte; longer ones with the standard
/// library's two-way searcher, whose set-up per value costs more than a
/// short text's whole scan (it was 5% of the host's CPU in the end-to-end
/// benchmark, redacting vendor message ids).
const SHORT_TEXT: usize = 256;

/// Every non-overlapping occurrence of `needle` in `text`, left to right, as
/// [`str::match_indices`] finds them.
fn occurrences(text: &str, needle: &str, found: &mut Vec<Range<usize>>) {
    let (hay, pat) = (text.as_bytes(), needle.as_bytes());
    let Some(&first) = pat.first() else {
        return;
    };
    if pat.len() > hay.len() {
        return;
    }
    if hay.len() > SHORT_TEXT {
        found.extend(text.match_indices(needle).map(|(at, n)| at..at + n.len()));
        return;
    }
    // `needle` is a whole `str`, so its first byte is never a continuation
    // byte: a match starts on a character boundary.
    let mut from = 0;
    while let Some(offset) = hay[from..=hay.len() - pat.len()]
        .iter()
        .position(|&b| b == first)
    {
        let at = from + offset;
        if hay[at..].starts_with(pat) {
            found.push(at..at + pat.len());
            from = at + pat.len();
        } else {
            from = at + 1;
        }
        if from + pat.len() > hay.len() {
            break;
        }
    }
}

impl Redactor {
    /// A redactor that removes nothing yet.
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// A redactor for these secrets.
    pub fn for_secrets<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Redactor {
        let mut redactor = Redactor::new();
        for secret in secrets {
            redactor.secret(secret);
        }
        redactor
    }

    /// Adds a secret (an API key, a token, a password) in every encoding a
    /// request may carry it in, base64 included.
    pub fn secret(&mut self, value: &str) -> &mut Self {
        // Plugins trim values before use, so a secret with stray whitespace
        // (from an env file, say) appears trimmed in what a vendor echoes.
        let value = value.trim();
        if !long_enough(value) {
            return self;
        }
        self.value(value);
        use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
        let standard = STANDARD_NO_PAD.encode(value.as_bytes());
        // The two alphabets differ only in `+` and `/`.
        let url_safe = if standard.contains(['+', '/']) {
            URL_SAFE_NO_PAD.encode(value.as_bytes())
        } else {
            String::new()
        };
        self.add([standard, url_safe]);
        self
    }

    /// Adds the credential HTTP Basic builds from `user` and `password`
    /// (`base64(user:password)`), and the pair in clear.
    pub fn basic_credential(&mut self, user: &str, password: &str) -> &mut Self {
        let (user, password) = (user.trim(), password.trim());
        if !long_enough(password) {
            return self;
        }
        let pair = format!("{user}:{password}");
        let standard = base64::engine::general_purpose::STANDARD;
        self.add([standard.encode(pair.as_bytes())]);
        self.value(&pair);
        self
    }

    /// Adds the value of a request header that carries a credential
    /// (`Authorization`): the whole value, the credential after its scheme,
    /// and for `Basic` the password it decodes to.
    pub fn authorization(&mut self, value: &str) -> &mut Self {
        let value = value.trim();
        self.secret(value);
        if let Some((scheme, credential)) = value.split_once(' ') {
            let credential = credential.trim();
            self.secret(credential);
            if scheme.eq_ignore_ascii_case("basic") {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(credential)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok());
                if let Some((user, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) {
                    self.secret(password);
                    self.basic_credential(user, password);
                }
            }
        }
        self
    }

    /// Adds a sensitive value that is not a credential (a phone number, a
    /// message text) as it is and in the encodings a request or a vendor's
    /// echo of it may use.
    pub fn value(&mut self, value: &str) -> &mut Self {
        let value = value.trim();
        if !long_enough(value) {
            return self;
        }
        self.add_str(value);
        if encodes_as_itself(value) {
            return self;
        }
        let form: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
        // RFC 3986 percent-encoding: a space is `%20`, `~` stays as it is.
        let percent = if form.contains('+') || form.contains("%7E") {
            Cow::Owned(form.replace('+', "%20").replace("%7E", "~"))
        } else {
            Cow::Borrowed(form.as_str())
        };
        self.add_str(&percent);
        self.add([form]);
        // JSON escapes only quotes, backslashes and control characters, XML
        // only its five specials: most values (a number, a sentence) are
        // spelled the same in both, and need no copy.
        if value.bytes().any(|b| matches!(b, b'"' | b'\\') || b < 0x20) {
            let json = serde_json::to_string(value).unwrap_or_default();
            let json = json
                .strip_prefix('"')
                .and_then(|j| j.strip_suffix('"'))
                .unwrap_or_default();
            self.add_str(json);
        }
        if value.contains(['&', '<', '>', '"', '\'']) {
            self.add_str(&xml_escape(value));
        }
        self
    }

    /// Adds a one-time code: as it is, spelled out with any separators a
    /// voice script uses (`9, 1, 8`, `9. 1. 8`), and those encoded
    /// (`9%2C+1%2C+8`, inside TwiML, SSML, NCCO or JSON).
    pub fn code(&mut self, code: &str) -> &mut Self {
        let chars: Vec<char> = code.chars().filter(|c| !c.is_whitespace()).collect();
        if chars.len() >= MIN_CHARS && !self.codes.contains(&chars) {
            self.codes.push(chars);
        }
        self
    }

    /// Adds every run of [`CODE_DIGITS`] ASCII digits in `text` as a code: a
    /// message that names no code may still carry one in its text.
    pub fn digit_runs(&mut self, text: &str) -> &mut Self {
        for run in text.split(|c: char| !c.is_ascii_digit()) {
            if CODE_DIGITS.contains(&run.len()) {
                self.code(run);
            }
        }
        self
    }

    /// Removes everything `other` removes too, sharing it rather than
    /// copying its values: what a message's redactor does with its binding's
    /// precomputed secrets. Including the same redactor twice is a no-op.
    pub fn include(&mut self, other: Arc<Redactor>) -> &mut Self {
        if !self.included.iter().any(|r| Arc::ptr_eq(r, &other)) {
            self.included.push(other);
        }
        self
    }

    /// Every match of this redactor's values and codes, and of those of the
    /// redactors it includes (recursively: an included one cannot include
    /// its includer, so this ends), unmerged.
    fn matches(&self, text: &str, found: &mut Vec<Range<usize>>) {
        for needle in &self.needles {
            occurrences(text, needle, found);
        }
        for code in &self.codes {
            found.extend(spelled_matches(text, code));
        }
        for included in &self.included {
            included.matches(text, found);
        }
    }

    /// Adds everything `other` removes, copying its values (see
    /// [`Redactor::include`] for sharing them).
    pub fn extend(&mut self, other: &Redactor) -> &mut Self {
        if self.needles.is_empty() {
            // Nothing to deduplicate against: share them all.
            self.needles.clone_from(&other.needles);
        } else {
            for needle in &other.needles {
                if !self.needles.contains(needle) {
                    self.needles.push(Arc::clone(needle));
                }
            }
        }
        for code in &other.codes {
            if !self.codes.contains(code) {
                self.codes.push(code.clone());
            }
        }
        for included in &other.included {
            self.include(Arc::clone(included));
        }
        self
    }

    fn add(&mut self, values: impl IntoIterator<Item = String>) {
        for value in values {
            if long_enough(&value) && !self.knows(&value) {
                self.needles.push(Arc::from(value));
            }
        }
    }

    /// [`Redactor::add`] for a borrowed value, copied only when it is new.
    fn add_str(&mut self, value: &str) {
        if long_enough(value) && !self.knows(value) {
            self.needles.push(Arc::from(value));
        }
    }

    fn knows(&self, value: &str) -> bool {
        self.needles.iter().any(|n| **n == *value)
    }

    /// `text` with every value replaced by [`MASK`]; a prefix of a value (of
    /// [`MIN_CHARS`] or more) where `text` was cut — before a `…`, as
    /// [`crate::encoding::snippet`] marks a cut — is replaced too, since the rest
    /// of it was cut off.
    pub fn redact(&self, text: &str) -> String {
        let mut found: Vec<Range<usize>> = Vec::new();
        self.matches(text, &mut found);
        for cut in cut_points(text) {
            if let Some(start) = self.cut_prefix_start(text, cut) {
                found.push(start..cut);
            }
        }
        if found.is_empty() {
            return text.to_owned();
        }
        found.sort_by_key(|r| r.start);
        // Overlapping or touching matches (the number and its national part)
        // make one mask.
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(found.len());
        for range in found {
            match merged.last_mut() {
                Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
                _ => merged.push(range),
            }
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for range in merged {
            out.push_str(&text[at..range.start]);
            out.push_str(MASK);
            at = range.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// Where the longest prefix of a value (its own or an included
    /// redactor's) that ends at `cut` starts, if one of [`MIN_CHARS`] or
    /// more does.
    fn cut_prefix_start(&self, text: &str, cut: usize) -> Option<usize> {
        let before = &text[..cut];
        let needle_start = self.needles.iter().filter_map(|needle| {
            // Proper prefixes only: a whole value is matched anyway.
            let ends = needle.char_indices().map(|(i, _)| i).skip(MIN_CHARS);
            ends.filter(|&len| before.ends_with(&needle[..len]))
                .last()
                .map(|len| cut - len)
        });
        let code_start = self
            .codes
            .iter()
            .filter_map(|code| spelled_prefix_start(before, code));
        let included_start = self
            .included
            .iter()
            .filter_map(|r| r.cut_prefix_start(text, cut));
        needle_start.chain(code_start).chain(included_start).min()
    }
}

/// Byte offsets where a text was cut: before each `…`. Only there: at the
/// plain end of a text, a value's prefix is as likely an ordinary word or
/// number (`-30000` ends with the start of a customer id `00000000-…`).
fn cut_points(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.match_indices(ELLIPSIS).map(|(at, _)| at)
}

/// The byte length of the separator at the start of `s`: one character of
/// punctuation or space, a percent-encoded one (`%2C`, `%20`), or a short
/// markup tag (`<break time="1s"/>`); `None` when `s` starts with anything
/// else.
fn separator_len(s: &str) -> Option<usize> {
    let first = s.chars().next()?;
    let is_sep = |c: char| {
        c.is_whitespace() || matches!(c, ',' | '.' | ';' | ':' | '-' | '+' | '_' | '/' | '|')
    };
    if is_sep(first) {
        return Some(first.len_utf8());
    }
    match first {
        '%' => {
            let hex = s.get(1..3)?;
            let byte = u8::from_str_radix(hex, 16).ok()?;
            is_sep(char::from(byte)).then_some(3)
        }
        '<' => {
            let end = s.find('>')?;
            let tag = &s[..=end];
            let ok = end < MAX_GAP && !tag[1..].contains('<');
            ok.then_some(end + 1)
        }
        '&' if s.starts_with("&#") || s.starts_with("&nbsp;") => {
            // An escaped space or comma (`&#32;`, `&#x2C;`, `&nbsp;`).
            let end = s.find(';')?;
            (end <= 6).then_some(end + 1)
        }
        _ => None,
    }
}

/// The end of the gap of separators at the start of `s`, at most
/// [`MAX_GAP`] bytes.
fn skip_gap(s: &str) -> usize {
    let mut at = 0;
    while let Some(len) = separator_len(&s[at..]) {
        if at + len > MAX_GAP {
            break;
        }
        at += len;
    }
    at
}

/// How far `code` matches spelled out from the start of `s`: the number of
/// its characters matched and the byte length of the match.
fn spelled_match_len(s: &str, code: &[char]) -> (usize, usize) {
    let mut at = 0;
    let mut matched = 0;
    for (i, want) in code.iter().enumerate() {
        // A code may hold a separator itself (`12-34`): try it before a gap.
        let direct = s[at..].starts_with(*want);
        let gap = if direct || i == 0 {
            0
        } else {
            skip_gap(&s[at..])
        };
        if !s[at + gap..].starts_with(*want) {
            break;
        }
        at += gap + want.len_utf8();
        matched += 1;
    }
    (matched, at)
}

/// Every place `code` occurs, spelled out or not.
fn spelled_matches(text: &str, code: &[char]) -> Vec<Range<usize>> {
    let Some(first) = code.first() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = text[from..].find(*first) {
        let start = from + offset;
        let (matched, len) = spelled_match_len(&text[start..], code);
        if matched == code.len() {
            found.push(start..start + len);
            from = start + len;
        } else {
            from = start + first.len_utf8();
        }
    }
    found
}

/// Where a prefix of [`MIN_CHARS`] or more of `code`, spelled out or not,
/// ends `before` (a proper prefix: the whole code is matched anyway).
fn spelled_prefix_start(before: &str, code: &[char]) -> Option<usize> {
    let first = *code.first()?;
    before.match_indices(first).map(|(at, _)| at).find(|&at| {
        let (matched, len) = spelled_match_len(&before[at..], code);
        matched >= MIN_CHARS
            && matched < code.len()
            && at + len + skip_gap(&before[at + len..]) == before.len()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(redactor: &Redactor, text: &str, want: &str) {
        assert_eq!(redactor.redact(text), want, "{text:?}");
    }

    const TOKEN: &str = "TOKzq7Xr9VbN3sQw2Ly";
    const SID: &str = "AC0123456789abcdef";

    fn secrets() -> Redactor {
        Redactor::for_secrets([SID, TOKEN, " pad-secret ", "123"])
    }

    #[rustfmt::skip]
    #[test]
    fn secrets_are_found_in_every_encoding() {
        let r = secrets();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"));
        let mut auth = r.clone();
        auth.authorization(&format!("Basic {basic}"));
        check(&r, &format!("token {TOKEN}."), "token [redacted].");
        check(&r, "bad pad-secret here", "bad [redacted] here");
        check(&r, "pin 123 stays", "pin 123 stays");
        check(&auth, &format!("you sent Authorization: Basic {basic}"), "you sent Authorization: [redacted]");
        check(&auth, &format!("credential {basic}"), "credential [redacted]");
        let mut pairs = Redactor::new();
        pairs.basic_credential(SID, TOKEN);
        check(&pairs, &format!("credential {basic}"), "credential [redacted]");
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(TOKEN);
        check(&r, &format!("key={b64}"), "key=[redacted]");
        let mut odd = Redactor::new();
        odd.secret("p@ss word/+~\"<x>");
        check(&odd, "form p%40ss+word%2F%2B%7E%22%3Cx%3E end", "form [redacted] end");
        check(&odd, "url p%40ss%20word%2F%2B~%22%3Cx%3E end", "url [redacted] end");
        check(&odd, r#"json "p@ss word/+~\"<x>" end"#, r#"json "[redacted]" end"#);
        check(&odd, "xml p@ss word/+~&quot;&lt;x&gt; end", "xml [redacted] end");
    }

    #[test]
    fn bearer_and_other_schemes_lose_their_credential() {
        let mut r = Redactor::new();
        r.authorization("Bearer eyJhbGciOi.payload.sig");
        check(
            &r,
            "token eyJhbGciOi.payload.sig expired",
            "token [redacted] expired",
        );
        check(&r, "hello", "hello");
    }

    #[test]
    fn redaction_comes_before_the_cut_and_cut_prefixes_go_too() {
        let r = secrets();
        // What a plugin's 200-character snippet leaves of a quoted token.
        check(
            &r,
            &format!("HTTP 500: <p>{SID}:{}…", &TOKEN[..14]),
            "HTTP 500: <p>[redacted]:[redacted]…",
        );
        check(
            &r,
            &format!("quoted {}… (more)", &TOKEN[..5]),
            "quoted [redacted]… (more)",
        );
        // Only a marked cut: a text's plain end is ordinary text.
        check(
            &r,
            &format!("ends {}", &TOKEN[..6]),
            &format!("ends {}", &TOKEN[..6]),
        );
        let mut zeros = Redactor::new();
        zeros.secret("00000000-0000-0000");
        check(&zeros, "-30000", "-30000");
        check(&zeros, "id 0000…", "id [redacted]…");
        // Fewer than MIN_CHARS characters of a value are left alone.
        check(&r, "ends TOK…", "ends TOK…");
        check(&r, "TOKEN", "TOKEN");
    }

    #[rustfmt::skip]
    #[test]
    fn codes_are_found_spelled_out_in_every_form() {
        let mut r = Redactor::new();
        r.code("918273");
        for (text, want) in [
            ("Your code is 918273", "Your code is [redacted]"),
            ("Say 9, 1, 8, 2, 7, 3.", "Say [redacted]."),
            ("<Say>9, 1, 8, 2, 7, 3</Say>", "<Say>[redacted]</Say>"),
            ("Twiml=%3CSay%3E9%2C+1%2C+8%2C+2%2C+7%2C+3", "Twiml=%3CSay%3E[redacted]"),
            ("text=9%2C%201%2C%208%2C%202%2C%207%2C%203&x", "text=[redacted]&x"),
            ("9. 1. 8. 2. 7. 3", "[redacted]"),
            (r#""text":"9 1 8 2 7 3""#, r#""text":"[redacted]""#),
            ("9<break time=\"300ms\"/>1<break/>8 2 7 3", "[redacted]"),
            ("code 9, 1, 8, 2…", "code [redacted]…"),
            ("code 9, 1, 8…", "code 9, 1, 8…"),
            ("918 273 is not 918 274", "[redacted] is not 918 274"),
        ] {
            check(&r, text, want);
        }
        let mut short = Redactor::new();
        short.code("42");
        check(&short, "42 is left", "42 is left");
    }

    #[test]
    fn digit_runs_of_a_text_are_taken_for_codes() {
        let mut r = Redactor::new();
        r.digit_runs("Your code is 918273, valid 5 min, ref 12345678901");
        check(
            &r,
            "said 9, 1, 8, 2, 7, 3 in 5 min",
            "said [redacted] in 5 min",
        );
        check(&r, "ref 12345678901", "ref 12345678901");
    }

    #[test]
    fn overlapping_values_make_one_mask() {
        let mut r = Redactor::new();
        r.value("+14155550123")
            .value("4155550123")
            .value("555-0123");
        check(
            &r,
            "To +14155550123 or (415) 555-0123",
            "To [redacted] or (415) [redacted]",
        );
        check(&r, "+14155550123", "[redacted]");
        let debug = format!("{r:?}");
        assert!(!debug.contains("4155550123"), "{debug}");
    }

    #[test]
    fn included_redactors_count_as_if_their_values_were_copied() {
        let shared = Arc::new(secrets());
        let mut r = Redactor::new();
        r.value("+14155550123").code("918273");
        r.include(Arc::clone(&shared)).include(Arc::clone(&shared));
        check(&r, &format!("{TOKEN} 918273"), "[redacted] [redacted]");
        // A match of an included value touching one of the message's own
        // makes one mask, as if both were in one list.
        check(&r, &format!("+14155550123{TOKEN}!"), "[redacted]!");
        // And a cut prefix of an included value goes too.
        let cut = format!("id {}…", &TOKEN[..TOKEN.len() - 2]);
        check(&r, &cut, "id [redacted]…");
        // Extending by a redactor that includes another keeps that one.
        let mut copied = Redactor::new();
        copied.extend(&r);
        check(&copied, &format!("{TOKEN} 918273"), "[redacted] [redacted]");
        let debug = format!("{r:?}");
        assert!(debug.contains("included: 1"), "{debug}");
    }

    #[test]
    fn extend_adds_the_other_redactors_values() {
        let mut r = Redactor::new();
        r.code("918273");
        r.extend(&secrets());
        check(&r, &format!("{TOKEN} 918273"), "[redacted] [redacted]");
    }
}
