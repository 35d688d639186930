//! Counts in words, in the singular for one: "1 tool call", "2 tool calls", "1 journal entry".

use std::fmt::Display;

/// `n` followed by `one` when `n` is 1, by `many` otherwise.
pub fn count<N: Display + PartialEq + From<u8>>(n: N, one: &str, many: &str) -> String {
    let word = if n == N::from(1) { one } else { many };
    format!("{n} {word}")
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(count(1u32, "tool call", "tool calls"), "1 tool call");
        assert_eq!(count(0usize, "agent", "agents"), "0 agents");
        assert_eq!(count(2u64, "journal entry", "journal entries"), "2 journal entries");
    }
}
