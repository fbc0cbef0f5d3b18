//! Text quoted from input, made safe to show: the one helper every message that
//! quotes a configuration value, an owner ARN, a name, a path or a client's words
//! goes through.
//!
//! [`escape`] replaces every character that could change how a line reads on a
//! terminal or in a log viewer by a visible escape, and leaves everything else as it
//! is:
//!
//! - control characters (C0, DEL, C1): `\n`, `\r`, `\t`, and `\u{1b}` for the rest;
//! - Unicode format characters and other invisible, default-ignorable code points:
//!   bidirectional embeddings, overrides and isolates (`\u{202e}`, `\u{2066}`, …),
//!   zero-width spaces and joiners, the byte-order mark, soft hyphen, variation
//!   selectors, tag characters, Hangul fillers;
//! - the line and paragraph separators U+2028 and U+2029.
//!
//! A backslash is not itself escaped, so escaping twice gives the same text as
//! escaping once: a message built from escaped parts can be escaped again as a whole.
//! [`escape_ascii`] additionally escapes every non-ASCII character, for values that
//! are ASCII by definition (ARNs, session ids, Linux user names), where a look-alike
//! letter (a Cyrillic `а` for a Latin `a`) is never legitimate. [`escape_max`] and
//! [`escape_ascii_max`] also cut the result after a number of input characters and
//! mark the cut with `…`.
#![forbid(unsafe_code)]

use std::fmt::Write;

/// How many characters of one quoted value messages show by default.
pub const MAX_QUOTED: usize = 256;

/// Code points escaped besides `char::is_control`: general categories Cf (format),
/// Zl and Zp, and the default-ignorable code points (Unicode 16), as inclusive ranges.
const INVISIBLE: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
];

/// Whether `c` is escaped by [`escape`]: a control character, a format character
/// (bidi controls, zero-width characters, …) or another invisible code point.
pub fn is_unsafe(c: char) -> bool {
    if c.is_control() {
        return true;
    }
    let u = u32::from(c);
    // The table is sorted: find the last range starting at or before `u`.
    let i = INVISIBLE.partition_point(|&(lo, _)| lo <= u);
    i > 0 && INVISIBLE.get(i - 1).is_some_and(|&(_, hi)| u <= hi)
}

fn escape_with(s: &str, max: usize, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len().min(max.saturating_mul(4)));
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_unsafe(c) || (ascii_only && !c.is_ascii()) => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// `s` with every control and invisible character escaped (see the module
/// documentation), at most [`MAX_QUOTED`] characters of it.
pub fn escape(s: &str) -> String {
    escape_with(s, MAX_QUOTED, false)
}

/// [`escape`], cut after `max` characters of `s` (a cut ends in `…`).
pub fn escape_max(s: &str, max: usize) -> String {
    escape_with(s, max, false)
}

/// [`escape`], and every non-ASCII character escaped too: for values that are ASCII
/// by definition (ARNs, session ids, account names), so a look-alike letter shows.
pub fn escape_ascii(s: &str) -> String {
    escape_with(s, MAX_QUOTED, true)
}

/// [`escape_ascii`], cut after `max` characters of `s`.
pub fn escape_ascii_max(s: &str, max: usize) -> String {
    escape_with(s, max, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_visible_escapes() {
        assert_eq!(
            escape("bob\nFAKE:1:1: all good\u{1b}[2J"),
            "bob\\nFAKE:1:1: all good\\u{1b}[2J"
        );
        assert_eq!(
            escape("a\r\tb\0c\u{7f}d\u{85}e"),
            "a\\r\\tb\\u{0}c\\u{7f}d\\u{85}e"
        );
    }

    #[test]
    fn format_characters_become_visible_escapes() {
        for (c, shown) in [
            ('\u{202e}', "\\u{202e}"),
            ('\u{2066}', "\\u{2066}"),
            ('\u{200b}', "\\u{200b}"),
            ('\u{200d}', "\\u{200d}"),
            ('\u{feff}', "\\u{feff}"),
            ('\u{ad}', "\\u{ad}"),
            ('\u{2028}', "\\u{2028}"),
            ('\u{2029}', "\\u{2029}"),
            ('\u{fe0f}', "\\u{fe0f}"),
            ('\u{e0041}', "\\u{e0041}"),
            ('\u{61c}', "\\u{61c}"),
            ('\u{3164}', "\\u{3164}"),
        ] {
            assert_eq!(escape(&format!("a{c}b")), format!("a{shown}b"), "{shown}");
        }
    }

    #[test]
    fn ordinary_text_is_kept() {
        for s in [
            "alice",
            "josé",
            "Ärger",
            "日本語",
            "a\\b",
            "*",
            "",
            "\u{2030}",
            "\u{2027}",
        ] {
            assert_eq!(escape(s), s);
        }
    }

    #[test]
    fn ascii_variant_shows_look_alikes() {
        // A Cyrillic а (U+0430) looks like a Latin a.
        assert_eq!(escape_ascii("\u{430}lice"), "\\u{430}lice");
        assert_eq!(escape_ascii("\u{212a}elvin"), "\\u{212a}elvin");
        assert_eq!(escape_ascii("alice"), "alice");
    }

    #[test]
    fn escaping_twice_changes_nothing() {
        for s in ["a\nb", "x\u{202e}y", "\u{430}", "\\u{202e}", "\u{1b}[2J"] {
            assert_eq!(escape(&escape(s)), escape(s));
            assert_eq!(escape_ascii(&escape_ascii(s)), escape_ascii(s));
        }
    }

    #[test]
    fn long_values_are_cut_and_marked() {
        let long = "x".repeat(MAX_QUOTED + 10);
        let shown = escape(&long);
        assert_eq!(shown.chars().count(), MAX_QUOTED + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(escape(&"x".repeat(MAX_QUOTED)), "x".repeat(MAX_QUOTED));
        assert_eq!(escape_max("abcdef", 3), "abc…");
        assert_eq!(escape_ascii_max("\u{202e}bcdef", 2), "\\u{202e}b…");
    }

    #[test]
    fn the_table_is_sorted_and_disjoint() {
        for w in INVISIBLE.windows(2) {
            assert!(w[0].0 <= w[0].1 && w[0].1 < w[1].0, "{w:?}");
        }
    }
}
