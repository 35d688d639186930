//! Byte offsets in a team file turned into 1-based line and column numbers, columns in characters.

/// The 1-based `(line, column)` of byte `offset` in `text`, the column counted in characters.
///
/// An offset past the end points just after the last character; an offset inside a multi-byte
/// character points at that character.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let line = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::line_column;

    #[test]
    fn counts_lines_and_characters_from_one() {
        let text = "a = 1\nname = \"é\" # x\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        let hash = text.find('#').expect("the text has a comment");
        assert_eq!(line_column(text, hash), (2, 12));
        assert_eq!(line_column(text, text.len() + 10), (3, 1));
        let inside_e = text.find('é').expect("the text has an é") + 1;
        assert_eq!(line_column(text, inside_e), (2, 9));
    }
}
