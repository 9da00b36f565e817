//! Text from jobs made storable: whatever a job's error (or an event's refusal) says, it is
//! written, and never holds up the other writes of its batch.
//!
//! PostgreSQL refuses a NUL character in text (`invalid byte sequence for encoding "UTF8":
//! 0x00`); any backend is slowed by an error message of megabytes. So NUL characters become
//! U+FFFD (the replacement character), and text longer than [`MAX_TEXT`] bytes is cut, with a
//! marker that says how much was left out. (Rust strings are valid UTF-8 already: no other
//! sequence needs replacing.)

/// The most bytes of a job's text that are stored.
pub const MAX_TEXT: usize = 64 * 1024;

/// `text` as it is stored: without NUL characters, at most [`MAX_TEXT`] bytes and a marker.
pub fn storable(text: String) -> String {
    let text = if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    };
    if text.len() <= MAX_TEXT {
        return text;
    }
    let mut cut = MAX_TEXT;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{}… [{} more bytes not stored]",
        &text[..cut],
        text.len() - cut
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_are_replaced_and_long_text_is_cut_with_a_marker() {
        assert_eq!(
            storable("cannot open a\0b.pdf".into()),
            "cannot open a\u{FFFD}b.pdf"
        );
        assert_eq!(storable("fine".into()), "fine");
        let long = "é".repeat(MAX_TEXT);
        let stored = storable(long.clone());
        assert!(stored.len() < MAX_TEXT + 64, "{}", stored.len());
        assert!(stored.ends_with(&format!(
            "… [{} more bytes not stored]",
            long.len() - MAX_TEXT
        )));
        assert!(long.starts_with(stored.split('…').next().expect("a prefix")));
    }
}
