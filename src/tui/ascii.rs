//! Plain terminals: where the locale is not UTF-8 (or `--ascii`), the
//! console draws in ASCII. The marks that carry meaning are chosen where they
//! are drawn (bars `#`/`.`, sparkline levels, `ok` for ✓); this module then
//! turns whatever else is left in a frame into ASCII, so that no byte above
//! 0x7F ever reaches such a terminal (it would show as `____` or `qqqq`).

use ratatui::buffer::Buffer;

/// Whether the locale says UTF-8: the first of `LC_ALL`, `LC_CTYPE`, `LANG`
/// that is set decides, as in POSIX; none set is the C locale (not UTF-8).
pub fn locale_is_utf8() -> bool {
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    locale.is_some_and(|l| {
        let l = l.to_ascii_lowercase();
        l.contains("utf-8") || l.contains("utf8")
    })
}

/// Sparkline levels, lowest to highest.
pub const LEVELS: [char; 8] = ['_', '.', ',', '-', '=', '+', '*', '#'];

/// Every cell of `buffer` in ASCII: box drawing to `+-|`, arrows and
/// punctuation to their nearest ASCII, anything else to `?`.
pub fn asciify(buffer: &mut Buffer) {
    for cell in &mut buffer.content {
        let symbol = cell.symbol();
        if symbol.is_ascii() {
            continue;
        }
        let plain = symbol.chars().next().map_or(' ', to_ascii);
        cell.set_char(plain);
    }
}

fn to_ascii(c: char) -> char {
    match c {
        '─' | '━' | '═' | '–' | '—' => '-',
        '│' | '┃' | '║' => '|',
        '┌' | '┐' | '└' | '┘' | '├' | '┤' | '┬' | '┴' | '┼' | '╭' | '╮' | '╯' | '╰' => {
            '+'
        }
        '█' | '▇' => '#',
        '▆' | '▅' => '*',
        '▄' | '▃' => '=',
        '▂' | '▁' => '_',
        '░' | '·' | '…' => '.',
        '←' => '<',
        '→' => '>',
        '↑' => '^',
        '↓' => 'v',
        '×' => 'x',
        '◆' => '>',
        '✓' => 'v',
        '⚠' | '‼' => '!',
        '≠' => '#',
        '␣' => '_',
        '≈' => '~',
        '≤' => '<',
        '≥' => '>',
        _ => '?',
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;

    #[test]
    fn every_cell_ends_ascii() {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 12, 1));
        buffer.set_string(0, 0, "┌─✓ é → ▇█░", ratatui::style::Style::default());
        asciify(&mut buffer);
        let text: String = buffer
            .content
            .iter()
            .map(ratatui::buffer::Cell::symbol)
            .collect();
        assert_eq!(text, "+-v ? > ##. ");
        assert!(text.is_ascii());
    }
}
