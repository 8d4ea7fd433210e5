//! Stored text shown on a terminal: reasons, operator names, times and notes
//! come from documents and audit lines that anyone with write access can
//! edit, so control characters in them are shown escaped, never sent raw (an
//! ESC could clear another operator's screen or forge lines).

use std::borrow::Cow;

/// Whether `c` would act on a terminal or reorder text instead of showing:
/// C0/C1 controls, DEL, and the Unicode bidirectional controls.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every unsafe character written as `\u{…}`.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The first unsafe character of `s` and its 1-based position, if any.
pub fn first_unsafe(s: &str) -> Option<(usize, char)> {
    s.chars()
        .enumerate()
        .find(|(_, c)| is_unsafe_char(*c))
        .map(|(i, c)| (i + 1, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_plain_text_is_untouched() {
        assert!(matches!(printable("plain é ✓"), Cow::Borrowed(_)));
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(
            printable("x\ny\r\u{7f}\u{9b}"),
            "x\\u{a}y\\u{d}\\u{7f}\\u{9b}"
        );
        assert_eq!(printable("\u{202e}evil"), "\\u{202e}evil");
        assert_eq!(first_unsafe("ok\tno"), Some((3, '\t')));
        assert_eq!(first_unsafe("fine"), None);
    }
}
