//! Reading a one-time code out loud. A text-to-speech voice reads "123456" as
//! "one hundred twenty-three thousand…", which nobody can type back; spelled
//! "1, 2, 3, 4, 5, 6" it reads digit by digit with a pause after each.

/// The code's characters separated by `sep` (`", "` reads with a pause after
/// each), whitespace dropped: `spell_out("12 34", ", ")` is `1, 2, 3, 4`.
pub fn spell_out(code: &str, sep: &str) -> String {
    let chars: Vec<String> = code
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(String::from)
        .collect();
    chars.join(sep)
}

/// What [`spoken`] does when the text does not contain the message's code
/// (or there is none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Otherwise {
    /// Read the text as it is.
    AsIs,
    /// Read the code after the text: `Here is your code: 4, 3, 2, 1.`
    Append,
    /// Spell every run of at least this many digits, on the guess that the
    /// code is among them (and a shorter run, "5 minutes", is not).
    SpellRuns(usize),
}

/// The text to read out: `text` with every occurrence of `code` spelled out
/// (separated by `", "`); only the code when the text is empty; otherwise as
/// `otherwise` says. Both are trimmed first.
pub fn spoken(text: &str, code: &str, otherwise: Otherwise) -> String {
    const SEP: &str = ", ";
    let text = text.trim();
    let code = code.trim();
    if !code.is_empty() && text.contains(code) {
        return text.replace(code, &spell_out(code, SEP));
    }
    if text.is_empty() {
        return spell_out(code, SEP);
    }
    match otherwise {
        Otherwise::Append if !code.is_empty() => format!("{text} {}.", spell_out(code, SEP)),
        Otherwise::AsIs | Otherwise::Append => text.to_owned(),
        Otherwise::SpellRuns(min) => spell_digit_runs(text, min, SEP),
    }
}

/// The longest run of ASCII digits in a text (the first, on a tie): the code
/// in "Your code is 123456. It expires in 5 minutes".
pub fn longest_digit_run(text: &str) -> Option<&str> {
    digit_runs(text).fold(None, |best: Option<&str>, run| match best {
        Some(b) if b.len() >= run.len() => Some(b),
        _ => Some(run),
    })
}

/// `text` with every run of at least `min` ASCII digits spelled out.
fn spell_digit_runs(text: &str, min: usize, sep: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= min {
            out.push_str(&spell_out(run, sep));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The maximal runs of ASCII digits in a text, in order.
fn digit_runs(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|run| !run.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Otherwise::*;

    #[test]
    fn codes_are_spelled_with_pauses() {
        assert_eq!(spell_out("123", ", "), "1, 2, 3");
        assert_eq!(spell_out(" 12 34 ", " "), "1 2 3 4");
        assert_eq!(spell_out("", ", "), "");
    }

    #[track_caller]
    fn check(text: &str, code: &str, otherwise: Otherwise, want: &str) {
        let got = spoken(text, code, otherwise);
        assert_eq!(got, want, "{text:?} {code:?} {otherwise:?}");
    }

    // One case a line, as a table.
    #[rustfmt::skip]
    #[test]
    fn the_code_is_spelled_wherever_the_text_has_it() {
        check("Your code is 123456", "123456", AsIs, "Your code is 1, 2, 3, 4, 5, 6");
        check("Code 4321. Again: 4321", "4321", AsIs, "Code 4, 3, 2, 1. Again: 4, 3, 2, 1");
        check("Your code: 12 34", "12 34", SpellRuns(4), "Your code: 1, 2, 3, 4");
        check("  Code 42  ", " 42 ", AsIs, "Code 4, 2");
        check("", "4321", AsIs, "4, 3, 2, 1");
        check("", "42", Append, "4, 2");
        check("", "", SpellRuns(3), "");
    }

    #[rustfmt::skip]
    #[test]
    fn without_the_code_in_the_text_otherwise_decides() {
        check("Code 4321", "", AsIs, "Code 4321");
        check("Call us", "999", AsIs, "Call us");
        check("Here is your code:", "4321", Append, "Here is your code: 4, 3, 2, 1.");
        check("Call us back", "", Append, "Call us back");
        check("Code 987654, valid 5 minutes", "", SpellRuns(4), "Code 9, 8, 7, 6, 5, 4, valid 5 minutes");
        check("Code 987654 for app 2", "", SpellRuns(3), "Code 9, 8, 7, 6, 5, 4 for app 2");
        check("Use 123 or 45", "77", SpellRuns(3), "Use 1, 2, 3 or 45");
        check("Use 123 or 45", "77", SpellRuns(4), "Use 123 or 45");
        check("é1234é", "", SpellRuns(4), "é1, 2, 3, 4é");
    }

    #[test]
    fn the_longest_digit_run_is_the_likely_code() {
        assert_eq!(
            longest_digit_run("Your code is 123456. It expires in 5 minutes"),
            Some("123456")
        );
        assert_eq!(longest_digit_run("1234 then 5678"), Some("1234"));
        assert_eq!(longest_digit_run("987654"), Some("987654"));
        assert_eq!(longest_digit_run("no digits"), None);
        assert_eq!(longest_digit_run("é12é"), Some("12"));
    }
}
