//! Name helpers: which names are valid for agents and tools, how long a team's name may be,
//! how a long one is quoted, and "did you mean" suggestions.

/// The longest team name, in characters: a name to pick a team by, not a description.
pub const MAX_TEAM_NAME_CHARS: usize = 128;

/// How many characters of a long name a message quotes.
const SHOWN_CHARS: usize = 40;

/// Whether `name` can be used as an agent or tool name: providers accept function names of
/// 1 to 64 ASCII letters, digits, `_` and `-`, and `transfer_to_<agent>` must fit.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64 - crate::team::HANDOFF_PREFIX.len()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `name` as a message quotes it: whole if short, else its first 40 characters and `…`, so a
/// runaway name does not flood the message.
pub fn shown(name: &str) -> String {
    match name.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{}…", &name[..cut]),
        None => name.to_string(),
    }
}

/// The candidate `wanted` is most likely a typo of: the closest by edit distance (a swap of two
/// neighbouring letters counts as one edit), if close enough, else the one it abbreviates
/// (`timeout` for `timeout_secs`).
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wanted_lower = wanted.to_lowercase();
    let candidates: Vec<&str> = candidates.into_iter().collect();
    candidates
        .iter()
        .map(|candidate| (edit_distance(&wanted_lower, &candidate.to_lowercase()), *candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len().max(wanted.len()) / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
        .or_else(|| candidates.into_iter().find(|candidate| wanted.len() >= 3 && candidate.starts_with(&wanted_lower)))
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of two
/// neighbouring characters each count as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    rows[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let substitution = rows[i - 1][j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let mut best = substitution.min(rows[i - 1][j] + 1).min(rows[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// `'a', 'b' and 'c'` — a readable list of names for messages.
pub fn list(names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let quoted: Vec<String> = names.into_iter().map(|n| format!("'{}'", n.as_ref())).collect();
    match quoted.len() {
        0 => "none".to_string(),
        1 => quoted[0].clone(),
        n => format!("{} and {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_name_for_a_typo() {
        assert_eq!(closest("techincal", ["triage", "technical", "billing"]), Some("technical"));
        assert_eq!(closest("Billing", ["triage", "technical", "billing"]), Some("billing"));
        assert_eq!(closest("zzz", ["triage", "technical", "billing"]), None);
        assert_eq!(closest("fsat", ["fast", "slow"]), Some("fast"));
        assert_eq!(closest("timeout", ["model", "timeout_secs"]), Some("timeout_secs"));
    }

    #[test]
    fn names_must_fit_provider_function_names() {
        assert!(is_valid_name("billing-eu_2"));
        assert!(!is_valid_name("billing desk"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name(&"a".repeat(60)));
    }

    #[test]
    fn a_long_name_is_quoted_by_its_start() {
        assert_eq!(shown("support"), "support");
        assert_eq!(shown(&"é".repeat(1000)), format!("{}…", "é".repeat(40)));
    }

    #[test]
    fn lists_names_readably() {
        assert_eq!(list(["a"]), "'a'");
        assert_eq!(list(["a", "b", "c"]), "'a', 'b' and 'c'");
        assert_eq!(list(Vec::<String>::new()), "none");
    }
}
