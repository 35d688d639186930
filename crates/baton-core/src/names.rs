//! Name helpers: which names are valid for agents and tools, and "did you mean" suggestions.

/// Whether `name` can be used as an agent or tool name: providers accept function names of
/// 1 to 64 ASCII letters, digits, `_` and `-`, and `transfer_to_<agent>` must fit.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64 - crate::team::HANDOFF_PREFIX.len()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The candidate closest to `wanted` by edit distance, if it is close enough to be a likely typo.
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wanted_lower = wanted.to_lowercase();
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(&wanted_lower, &candidate.to_lowercase()), candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len().max(wanted.len()) / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance between two strings, counted in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
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
    }

    #[test]
    fn names_must_fit_provider_function_names() {
        assert!(is_valid_name("billing-eu_2"));
        assert!(!is_valid_name("billing desk"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name(&"a".repeat(60)));
    }

    #[test]
    fn lists_names_readably() {
        assert_eq!(list(["a"]), "'a'");
        assert_eq!(list(["a", "b", "c"]), "'a', 'b' and 'c'");
        assert_eq!(list(Vec::<String>::new()), "none");
    }
}
