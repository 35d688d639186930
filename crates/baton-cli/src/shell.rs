//! The words of the commands baton suggests (`continue: baton run TEAM …`, `next: baton check
//! …`), quoted for a POSIX shell where they need it, so that a suggestion pasted as it is runs:
//! a path with a space stays one argument.

use std::borrow::Cow;

/// `word` as a shell reads it back: as it is when it holds only characters no shell treats
/// specially, otherwise in single quotes (a `'` inside written `'\''`).
pub fn quote(word: &str) -> Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '@' | '%' | '+' | ',');
    if !word.is_empty() && word.chars().all(plain) {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
    }
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn only_words_a_shell_would_split_or_expand_are_quoted() {
        assert_eq!(quote("teams/desk/team.toml"), "teams/desk/team.toml");
        assert_eq!(quote("sqlite://.baton/baton.db"), "sqlite://.baton/baton.db");
        assert_eq!(quote("my teams/team.toml"), "'my teams/team.toml'");
        assert_eq!(quote("postgres://baton:***@db/baton"), "'postgres://baton:***@db/baton'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
