//! Fuzzing of team-file loading with proptest: any bytes, and the examples' team files mutated
//! where their TOML says a value is (a value replaced by another of any type, a key removed, a
//! string lengthened past the size limits). Loading never panics, and a file that does not load
//! gets errors that each name the file and a line and column inside it. The inputs come from a
//! fixed seed (see [`config`]), so every run tries the same cases; a failure's minimal input is
//! to be kept as a plain test at the end (none so far).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test, with its reason

use baton::config::{load_team, parse_team, LoadError, Loaded};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};

/// The seed every property starts from, unless `PROPTEST_RNG_SEED` gives another.
const SEED: u64 = 0xba70_0019;

/// `cases` cases from [`SEED`], without failure files: a failure's minimal input becomes a plain
/// test here. `PROPTEST_CASES` and `PROPTEST_RNG_SEED` explore more or other cases.
fn config(cases: u32) -> Config {
    let mut config = Config { cases, failure_persistence: None, ..Config::default() };
    if std::env::var_os("PROPTEST_CASES").is_some() {
        config.cases = Config::default().cases;
    }
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(SEED);
    }
    config
}

/// Runs `test` on `cases` inputs of `strategy`; a failure panics with its minimal input.
fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: Debug,
{
    if let Err(failure) = TestRunner::new(config(cases)).run(&strategy, test) {
        panic!("{failure}");
    }
}

/// The examples' team files.
fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    ["minimal", "support", "ba-triage"].iter().map(|name| root.join(name).join("team.toml")).collect()
}

/// A load says where each problem is: a failed load has at least one error, and every
/// diagnostic (warnings too) names `path` and a line and column of `text` (one past its end at
/// most), as its message shows them.
fn placed(loaded: &Result<Loaded, LoadError>, text: &str, path: &Path) -> Result<(), TestCaseError> {
    let (diagnostics, shown) = match loaded {
        Ok(loaded) => (&loaded.warnings, loaded.warnings.iter().map(ToString::to_string).collect()),
        Err(error) => {
            prop_assert!(error.errors().next().is_some(), "a failed load without an error: {error:?}");
            (&error.diagnostics, error.to_string())
        }
    };
    let lines: Vec<&str> = text.split('\n').collect();
    for diagnostic in diagnostics {
        prop_assert_eq!(&diagnostic.file, path);
        prop_assert!((1..=lines.len()).contains(&diagnostic.line), "line {} of {}", diagnostic.line, lines.len());
        let width = lines[diagnostic.line - 1].chars().count();
        prop_assert!((1..=width + 1).contains(&diagnostic.column), "column {} of {width}", diagnostic.column);
        let place = format!("--> {}:{}:{}", path.display(), diagnostic.line, diagnostic.column);
        prop_assert!(shown.contains(&place), "{place} not in {shown}");
    }
    Ok(())
}

/// Characters and words that mean something inside team-file strings: `${VAR}` templates,
/// minijinja replies, approval rules, regular expressions, quotes.
fn text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        2 => any::<char>().prop_map(String::from),
        1 => prop::sample::select(vec![
            "${", "}", "$${", "$", "{{", "}}", "{%", "%}", "{#", "(", ")", "[", "]", "*", "+", "?", "\\", ">", ">=",
            "==", "!=", " and ", " or ", "not ", "amount_eur", "args.", "result.", "^", "|", "\"", "'", "\n", "é",
            "triage", "human", "billing", "technical", "ANTHROPIC_API_KEY", "1e999", "-", ".",
        ])
        .prop_map(str::to_string),
    ];
    prop::collection::vec(token, 0..8).prop_map(|tokens| tokens.concat())
}

/// `text` as a TOML basic string.
fn basic(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// A TOML key, bare or quoted.
fn toml_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "to",
            "kind",
            "description",
            "context",
            "max_uses",
            "when",
            "type",
            "properties",
            "required",
            "model",
            "provider",
            "data",
            "key",
            "pattern",
            "url",
            "method",
            "command",
            "timeout",
            "languages",
            "turns",
        ])
        .prop_map(str::to_string),
        text().prop_map(|text| basic(&text)),
    ]
}

/// Any TOML value, written as TOML (some of it not valid TOML).
fn toml_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        prop::sample::select(vec![
            "0",
            "-1",
            "nan",
            "inf",
            "-inf",
            "1e400",
            "9223372036854775807",
            "18446744073709551616",
            "0xff",
            "1979-05-27T07:32:00Z",
            "07:32:00",
            "1979-05-27",
            "true",
            "false",
            "\"\"",
            "\" \"",
            "'${X}'",
            "\"${UNSET_BATON_FUZZ}\"",
            "\"human\"",
            "\"triage\"",
            "\"billing\"",
            "\"full\"",
            "\"summary\"",
            "\"local\"",
            "\"openai\"",
            "\"lookup\"",
            "\"http\"",
            "\"mcp\"",
            "\"command\"",
            "[]",
            "{}",
        ])
        .prop_map(str::to_string),
        text().prop_map(|text| basic(&text)),
    ]
    .boxed();
    let nested = leaf.clone().prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|items| format!("[{}]", items.join(", "))),
            prop::collection::vec((toml_key(), inner), 0..4).prop_map(|members| {
                let members: Vec<String> = members.into_iter().map(|(key, value)| format!("{key} = {value}")).collect();
                format!("{{ {} }}", members.join(", "))
            }),
        ]
    });
    prop_oneof![2 => leaf, 1 => nested]
}

/// A change to a team file, at the value (or key) its index picks among those the TOML has.
#[derive(Clone, Debug)]
enum Mutation {
    /// The value replaced by another, of any type.
    Replace(Index, String),
    /// A string replaced by another string.
    Retext(Index, String),
    /// An integer replaced by another integer.
    Renumber(Index, i64),
    /// The key and its value removed.
    Remove(Index),
    /// The string made longer by this many characters: a little, past 64 KiB, past 1 MiB.
    Lengthen(Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let number = prop_oneof![
        any::<i64>(),
        prop::sample::select(vec![i64::MIN, -1, 0, 1, 2, u32::MAX.into(), i64::from(u32::MAX) + 1, i64::MAX])
    ];
    prop_oneof![
        4 => (any::<Index>(), toml_value()).prop_map(|(at, value)| Mutation::Replace(at, value)),
        4 => (any::<Index>(), text()).prop_map(|(at, text)| Mutation::Retext(at, basic(&text))),
        2 => (any::<Index>(), number).prop_map(|(at, number)| Mutation::Renumber(at, number)),
        4 => any::<Index>().prop_map(Mutation::Remove),
        2 => (any::<Index>(), 1..300usize).prop_map(|(at, by)| Mutation::Lengthen(at, by)),
        1 => (any::<Index>(), 65_000..66_000usize).prop_map(|(at, by)| Mutation::Lengthen(at, by)),
        1 => (any::<Index>(), 1_048_000..1_049_000usize).prop_map(|(at, by)| Mutation::Lengthen(at, by)),
    ]
}

/// Where a team file's TOML puts things: each value written after a key or in an array, each
/// `key = value` (with a comma after it), each string and each integer, as byte ranges.
#[derive(Default)]
struct Sites {
    values: Vec<(usize, usize)>,
    entries: Vec<(usize, usize)>,
    strings: Vec<(usize, usize)>,
    integers: Vec<(usize, usize)>,
}

impl Sites {
    fn of(text: &str) -> Sites {
        let mut sites = Sites::default();
        let document = DeTable::parse(text).unwrap();
        sites.table(text, document.get_ref());
        sites
    }

    fn table(&mut self, text: &str, table: &DeTable<'_>) {
        for (key, value) in table.iter() {
            let span = value.span();
            let written = self.value(text, value.get_ref(), span.clone());
            if written {
                let mut end = span.end;
                let rest = &text[end..];
                let comma = rest.len() - rest.trim_start_matches([' ', '\t']).len();
                if rest[comma..].starts_with(',') {
                    end += comma + 1;
                }
                self.entries.push((key.span().start, end));
            }
        }
    }

    /// Records `value` at `span`; whether it is written where the span says (a table made by a
    /// `[header]` is not).
    fn value(&mut self, text: &str, value: &DeValue<'_>, span: std::ops::Range<usize>) -> bool {
        let written = &text[span.clone()];
        match value {
            DeValue::Table(table) => {
                self.table(text, table);
                if !written.starts_with('{') {
                    return false;
                }
            }
            DeValue::Array(items) => {
                for item in items {
                    self.value(text, item.get_ref(), item.span());
                }
                if !written.starts_with('[') {
                    return false;
                }
            }
            DeValue::String(_) => self.strings.push((span.start, span.end)),
            DeValue::Integer(_) => self.integers.push((span.start, span.end)),
            _ => {}
        }
        self.values.push((span.start, span.end));
        true
    }
}

/// `text` with `mutation` applied.
fn mutate(text: &str, mutation: &Mutation) -> String {
    let sites = Sites::of(text);
    let pick = |at: &Index, among: &[(usize, usize)]| (!among.is_empty()).then(|| among[at.index(among.len())]);
    let change = match mutation {
        Mutation::Replace(at, value) => pick(at, &sites.values).map(|range| (range, value.clone())),
        Mutation::Retext(at, string) => pick(at, &sites.strings).map(|range| (range, string.clone())),
        Mutation::Renumber(at, number) => pick(at, &sites.integers).map(|range| (range, number.to_string())),
        Mutation::Remove(at) => pick(at, &sites.entries).map(|range| (range, String::new())),
        Mutation::Lengthen(at, by) => pick(at, &sites.strings).map(|(start, _)| {
            // Right after the opening quotes.
            let quotes = if text[start..].starts_with("\"\"\"") || text[start..].starts_with("'''") { 3 } else { 1 };
            ((start + quotes, start + quotes), "Lorem ipsum é ".chars().cycle().take(*by).collect())
        }),
    };
    let Some((range, new)) = change else { return text.to_string() };
    format!("{}{new}{}", &text[..range.0], &text[range.1..])
}

#[test]
fn mutated_examples_load_or_fail_at_a_line_of_the_file() {
    let examples: Vec<(PathBuf, String)> =
        examples().into_iter().map(|path| (path.clone(), std::fs::read_to_string(path).unwrap())).collect();
    for (path, text) in &examples {
        assert!(parse_team(text, path).is_ok(), "{} loads", path.display());
    }
    let strategy = (any::<Index>(), prop::collection::vec(mutation(), 1..3));
    check(256, strategy, |(example, mutations)| {
        let (path, text) = &examples[example.index(examples.len())];
        // Each mutation applies to the text the one before it left, while it is still TOML.
        let mut text = text.clone();
        for mutation in &mutations {
            if DeTable::parse(&text).is_err() {
                break;
            }
            text = mutate(&text, mutation);
        }
        placed(&parse_team(&text, path), &text, path)
    });
}

/// Lines that look like a team file's: headers and keys it knows, with any values.
fn team_like() -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        prop::sample::select(vec![
            "[limits]",
            "[router]",
            "[store]",
            "[agents.a]",
            "[agents.b]",
            "[agents.a.replies]",
            "[tools.t]",
            "[models.m]",
            "[[trigger]]",
            "[agents.a.handoffs]",
            "[[agents.a.handoffs]]",
        ])
        .prop_map(str::to_string),
        (
            prop::sample::select(vec![
                "name",
                "entry",
                "description",
                "instructions",
                "handoffs",
                "tools",
                "model",
                "kind",
                "provider",
                "to",
                "when",
                "max_handoffs",
                "on_limit",
                "fallback",
                "lease_seconds",
                "sync",
                "examples",
                "data",
                "key",
                "args",
                "approval",
                "idempotent",
                "url",
                "command",
            ]),
            toml_value()
        )
            .prop_map(|(key, value)| format!("{key} = {value}")),
        text(),
    ];
    prop::collection::vec(line, 0..16).prop_map(|lines| lines.join("\n").into_bytes())
}

#[test]
fn any_bytes_load_or_fail_at_a_line_of_the_file() {
    let dir = std::env::temp_dir().join(format!("baton-fuzz-team-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("team.toml");
    let bytes = prop_oneof![prop::collection::vec(any::<u8>(), 0..400), team_like()];
    check(256, bytes, |bytes| {
        std::fs::write(&path, &bytes).unwrap();
        placed(&load_team(&path), &String::from_utf8_lossy(&bytes), &path)
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
