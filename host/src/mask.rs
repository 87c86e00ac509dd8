//! Masking phone numbers for logs: enough to recognise a number in a support
//! ticket (country code and last two digits), not enough to dial it.

/// `+14155550123` → `+1*******23`.
pub fn mask_number(e164: &str) -> String {
    let digits: Vec<char> = e164.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 4 {
        return "*".repeat(digits.len());
    }
    let cc_len = country_code_len(&digits);
    let keep_tail = 2;
    let hidden = digits.len().saturating_sub(cc_len + keep_tail);
    let cc: String = digits[..cc_len].iter().collect();
    let tail: String = digits[digits.len() - keep_tail..].iter().collect();
    format!("+{cc}{}{tail}", "*".repeat(hidden))
}

/// Length of the E.164 country calling code at the start of `digits`.
fn country_code_len(digits: &[char]) -> usize {
    let prefix: String = digits.iter().take(3).collect();
    let cc = |n: usize| prefix.get(..n).and_then(|p| p.parse::<u16>().ok());
    for n in 1..=3 {
        if let Some(code) = cc(n) {
            if phonenumber::metadata::DATABASE.by_code(&code).is_some() {
                return n;
            }
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::mask_number;

    #[test]
    fn keeps_country_code_and_last_two() {
        assert_eq!(mask_number("+14155550123"), "+1********23");
        assert_eq!(mask_number("+447700900123"), "+44********23");
        assert_eq!(mask_number("+353861234567"), "+353*******67");
        assert_eq!(mask_number("+12"), "**");
    }
}
