//! Masking what the host shows: phone numbers for logs, enough to recognise
//! a number in a support ticket (country code and last two digits), not
//! enough to dial it; and long input quoted back in an error, cut to a prefix.

/// `+14155550123` → `+1*******23`.
pub fn mask_number(e164: &str) -> String {
    // Built in one buffer: every message masks its number twice (the log
    // line's span and the delivery log event).
    let digits: String = e164.chars().filter(char::is_ascii_digit).collect();
    let n = digits.len();
    if n < 4 {
        return "*".repeat(n);
    }
    let cc_len = country_code_len(&digits);
    let keep_tail = 2;
    let hidden = n.saturating_sub(cc_len + keep_tail);
    let mut masked = String::with_capacity(n + 1);
    masked.push('+');
    masked.push_str(&digits[..cc_len]);
    masked.extend(std::iter::repeat_n('*', hidden));
    masked.push_str(&digits[n - keep_tail..]);
    masked
}

/// Which of the codes 0–999 are country calling codes, read from the
/// metadata once: looking each up in the metadata's map took longer than
/// the rest of masking a number.
fn calling_codes() -> &'static [bool; 1000] {
    static CODES: std::sync::OnceLock<[bool; 1000]> = std::sync::OnceLock::new();
    CODES.get_or_init(|| {
        let mut codes = [false; 1000];
        for (code, known) in (0u16..).zip(codes.iter_mut()) {
            *known = phonenumber::metadata::DATABASE.by_code(&code).is_some();
        }
        codes
    })
}

/// Length of the E.164 country calling code at the start of `digits` (the
/// number without its `+`); 1 when none is known.
pub fn country_code_len(digits: &str) -> usize {
    let cc = |n: usize| digits.get(..n).and_then(|p| p.parse::<u16>().ok());
    let codes = calling_codes();
    for n in 1..=3 {
        if let Some(code) = cc(n) {
            if codes.get(usize::from(code)).copied().unwrap_or(false) {
                return n;
            }
        }
    }
    1
}

/// The most characters of a caller's input an error quotes back: enough to
/// recognise a value, not enough to echo a body-sized one.
pub const EXCERPT_CHARS: usize = 32;

/// `text` as an error quotes it: whole when short, else its first
/// [`EXCERPT_CHARS`] characters, `…` and the full length.
pub fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}… ({} characters)", &text[..cut], text.chars().count()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{excerpt, mask_number, EXCERPT_CHARS};

    #[test]
    fn keeps_country_code_and_last_two() {
        assert_eq!(mask_number("+14155550123"), "+1********23");
        assert_eq!(mask_number("+447700900123"), "+44********23");
        assert_eq!(mask_number("+353861234567"), "+353*******67");
        assert_eq!(mask_number("+12"), "**");
    }

    #[test]
    fn excerpts_cut_long_input() {
        assert_eq!(excerpt("+1 415 555"), "+1 415 555");
        let long = "9".repeat(60_000);
        let quoted = excerpt(&long);
        assert_eq!(
            quoted,
            format!("{}… (60000 characters)", &long[..EXCERPT_CHARS])
        );
        assert_eq!(excerpt(&"é".repeat(40)).chars().count(), EXCERPT_CHARS + 17);
    }
}
