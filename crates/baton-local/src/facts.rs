//! Facts: the values a user gives (ids, invoice numbers, emails, phone numbers, amounts, dates)
//! read off their messages and keyed by the tool argument they fill. An argument's JSON-schema
//! `pattern` decides what fits it; without one, its name picks a built-in extractor.

use crate::text::{self, name_words as words, ID_WORDS};
use baton_core::Team;
use regex::Regex;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// The keys read off every message, whether or not a tool takes them.
const GENERIC: [(&str, Builtin); 4] =
    [("email", Builtin::Email), ("phone", Builtin::Phone), ("amount", Builtin::Money), ("date", Builtin::Date)];

/// Labels that name the holder of an account; any of them anchors an id of any of them.
const HOLDER_LABELS: [&str; 16] = [
    "customer",
    "client",
    "account",
    "acct",
    "user",
    "member",
    "subscriber",
    "cliente",
    "cuenta",
    "usuario",
    "socio",
    "abonado",
    "compte",
    "kunde",
    "kundennummer",
    "konto",
];

/// The longest value taken as a fact, in characters: ids, e-mail addresses, phone numbers,
/// amounts and dates are far shorter, and a fact is carried into every later handoff and call.
const MAX_FACT_CHARS: usize = 200;

/// Words that come with a bare value without being it ("it's 42", "sure, INV-2041").
const FILLER: [&str; 15] =
    ["it", "its", "sure", "yes", "yeah", "ok", "okay", "here", "thats", "that", "si", "oui", "ja", "sim", "mine"];

static EMAIL: LazyLock<Option<Regex>> =
    LazyLock::new(|| compiled(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"));
static PHONE: LazyLock<Option<Regex>> = LazyLock::new(|| compiled(r"\+?\d[\d ().-]{6,}\d"));
static MONEY: LazyLock<Option<Regex>> = LazyLock::new(|| {
    compiled(
        r"(?i)[$€£]\s?\d+(?:[.,]\d+)*|\b\d+(?:[.,]\d+)*\s?(?:€|\$|£|eur\b|euros?\b|usd\b|dollars?\b|gbp\b|pounds?\b)",
    )
});
static DATE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let month = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|ene|abr|ago|dic)[a-z]*\.?";
    let forms = [
        r"\b\d{4}-\d{2}-\d{2}\b".to_string(),
        r"\b\d{1,2}/\d{1,2}/\d{2,4}\b".to_string(),
        format!(r"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:de\s+|of\s+)?{month}(?:,?\s+\d{{4}})?"),
        format!(r"\b{month}\s+\d{{1,2}}(?:st|nd|rd|th)?\b(?:,?\s+\d{{4}})?"),
        r"\b(?:yesterday|today|tomorrow|ayer|hoy|anteayer)\b".to_string(),
    ];
    compiled(&format!("(?i){}", forms.join("|")))
});
static CODE: LazyLock<Option<Regex>> = LazyLock::new(|| compiled(r"(?i)\b([a-z]{2,5})-?\d+\b"));

/// A regex the crate writes itself. One that did not compile would find nothing rather than
/// panic; the tests show that each finds what it should.
fn compiled(pattern: &str) -> Option<Regex> {
    Regex::new(pattern).ok()
}

/// The matches of `regex` in `text`, trimmed.
fn found(regex: &Option<Regex>, text: &str) -> Vec<String> {
    regex.iter().flat_map(|regex| regex.find_iter(text)).map(|m| m.as_str().trim().to_string()).collect()
}

/// How a value is found when an argument has no pattern (or as candidates for its pattern).
#[derive(Clone, Debug)]
enum Builtin {
    Email,
    Phone,
    Money,
    Date,
    /// An id after one of the labels, or written as a code whose letters start a label
    /// ("customer 42", "invoice #2041", "INV-2041").
    Labelled {
        regex: Option<Regex>,
        labels: Vec<String>,
    },
    /// A free value, found only as the answer to a question.
    Free,
}

/// An argument's JSON-schema pattern.
#[derive(Clone, Debug)]
struct Pattern {
    /// The pattern anchored at both ends.
    full: Regex,
    /// The pattern unanchored, to search a message.
    search: Option<Regex>,
    /// The literal text every value starts with ("INV-"), to complete "invoice 2041".
    prefix: String,
}

#[derive(Clone, Debug)]
struct Argument {
    pattern: Option<Pattern>,
    builtin: Builtin,
    kind: String,
}

/// The fact extractors of a team: one per tool argument name, and the generic keys.
#[derive(Clone, Debug)]
pub struct Extractors {
    arguments: BTreeMap<String, Argument>,
}

impl Extractors {
    /// The extractors for every argument of every tool of `team`.
    pub fn new(team: &Team) -> Extractors {
        let mut arguments = BTreeMap::new();
        for tool in team.tools.values() {
            let properties = tool.parameters.get("properties").and_then(Value::as_object);
            for (name, property) in properties.into_iter().flatten() {
                let pattern = property.get("pattern").and_then(Value::as_str).and_then(pattern);
                let kind = property.get("type").and_then(Value::as_str).unwrap_or("string").to_string();
                let entry =
                    arguments.entry(name.clone()).or_insert(Argument { pattern: None, builtin: builtin(name), kind });
                if entry.pattern.is_none() {
                    entry.pattern = pattern;
                }
            }
        }
        for (name, builtin) in GENERIC {
            arguments.entry(name.to_string()).or_insert(Argument { pattern: None, builtin, kind: "string".into() });
        }
        Extractors { arguments }
    }

    /// The facts in `text`, by argument name.
    pub fn extract(&self, text: &str) -> BTreeMap<String, String> {
        self.arguments
            .iter()
            .filter_map(|(name, argument)| Some((name.clone(), argument.find(text).filter(|v| short(v))?)))
            .collect()
    }

    /// `value` as argument `name` takes it (completed or uppercased to fit its pattern), if it
    /// fits.
    pub fn fit(&self, name: &str, value: &str) -> Option<String> {
        match self.arguments.get(name) {
            Some(argument) => argument.fit(value, true),
            None => Some(value.trim().to_string()),
        }
    }

    /// The value of argument `name` when `text` answers a question for it ("42", "it's 42",
    /// "INV-2041", "cutomer 42"): the one word that fits the argument's pattern; without a
    /// pattern, the one word with a digit for an id, the words left after fillers ("it's",
    /// "sure", the argument's own name) for a free value.
    pub fn bare_value(&self, name: &str, text: &str) -> Option<String> {
        self.bare(name, text).filter(|value| short(value))
    }

    fn bare(&self, name: &str, text: &str) -> Option<String> {
        let chunks: Vec<&str> = text
            .split_whitespace()
            .map(|chunk| chunk.trim_matches(|c: char| !c.is_alphanumeric() && !"@+$€£".contains(c)))
            .filter(|chunk| !chunk.is_empty())
            .collect();
        let one = |values: Vec<String>| match values.as_slice() {
            [value] => Some(value.clone()),
            _ => None,
        };
        match self.arguments.get(name) {
            Some(argument @ Argument { pattern: Some(_), .. }) => {
                let mut fitting: Vec<String> = chunks.iter().filter_map(|chunk| argument.fit(chunk, true)).collect();
                fitting.dedup();
                one(fitting)
            }
            Some(Argument { builtin: Builtin::Free, .. }) | None => {
                let labels = words(name);
                let rest: Vec<&str> = chunks
                    .into_iter()
                    .filter(|chunk| {
                        let folded: String = text::normalise(chunk).chars().filter(|c| c.is_alphanumeric()).collect();
                        !(text::is_stopword(&folded)
                            || FILLER.contains(&folded.as_str())
                            || labels.iter().any(|label| folded == *label || folded == format!("{label}s")))
                    })
                    .collect();
                (1..=4).contains(&rest.len()).then(|| rest.join(" "))
            }
            Some(_) => one(chunks
                .iter()
                .filter(|chunk| chunk.chars().any(|c| c.is_ascii_digit()))
                .map(|chunk| chunk.trim_start_matches('#').to_string())
                .collect()),
        }
    }

    /// The JSON value of argument `name` for the string `value`, by the argument's type.
    pub fn typed(&self, name: &str, value: &str) -> Option<Value> {
        match self.arguments.get(name).map(|argument| argument.kind.as_str()) {
            Some("integer") => value.trim().parse::<i64>().ok().map(Value::from),
            Some("number") => first_number(value).map(Value::from),
            Some("boolean") => value.trim().parse::<bool>().ok().map(Value::from),
            _ => Some(Value::from(value)),
        }
    }
}

/// Whether `value` is short enough to be a fact.
fn short(value: &str) -> bool {
    value.chars().nth(MAX_FACT_CHARS).is_none()
}

/// The first number written in `text`, with a decimal point or comma: 49.99 of "$49.99" or of
/// "49,99 €".
fn first_number(text: &str) -> Option<f64> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let tail = &text[start..];
    let end = tail.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ',')).unwrap_or(tail.len());
    tail[..end].trim_end_matches(['.', ',']).replace(',', ".").parse().ok()
}

impl Argument {
    /// The first value of this argument in `text`: an anchored one (after a label, or a code),
    /// then any word that fits the pattern, then anything the pattern finds that stands alone.
    /// Bare numbers count only after a label: "2041" of "INV-2041" is no customer id.
    fn find(&self, text: &str) -> Option<String> {
        if let Some(found) = self.builtin_candidates(text).into_iter().find_map(|value| self.fit(&value, true)) {
            return Some(found);
        }
        let pattern = self.pattern.as_ref()?;
        let words = text
            .split_whitespace()
            .map(|chunk| chunk.trim_matches(|c: char| !c.is_alphanumeric() && !"@+$€£".contains(c)))
            .filter(|word| !word.is_empty() && !word.chars().all(|c| c.is_ascii_digit()));
        if let Some(found) = words.into_iter().find_map(|word| self.fit(word, false)) {
            return Some(found);
        }
        let joined = |c: char| c.is_alphanumeric() || c == '-' || c == '_';
        let alone = |m: &regex::Match<'_>| {
            let before = text[..m.start()].chars().next_back();
            let after = text[m.end()..].chars().next();
            !before.is_some_and(joined) && !after.is_some_and(joined) && !m.as_str().chars().all(|c| c.is_ascii_digit())
        };
        let search = pattern.search.as_ref()?;
        search.find_iter(text).filter(alone).map(|m| m.as_str()).find(|m| pattern.full.is_match(m)).map(str::to_string)
    }

    fn builtin_candidates(&self, text: &str) -> Vec<String> {
        match &self.builtin {
            Builtin::Email => found(&EMAIL, text),
            Builtin::Money => found(&MONEY, text),
            Builtin::Date => found(&DATE, text),
            Builtin::Phone => found(&PHONE, text)
                .into_iter()
                .filter(|candidate| {
                    let digits = candidate.chars().filter(char::is_ascii_digit).count();
                    (digits >= 9 || (candidate.starts_with('+') && digits >= 7)) && found(&DATE, candidate).is_empty()
                })
                .collect(),
            Builtin::Labelled { regex, labels } => {
                let captures = |regex: &Option<Regex>| {
                    regex.iter().flat_map(|regex| regex.captures_iter(text)).collect::<Vec<_>>()
                };
                let codes = captures(&CODE).into_iter().filter_map(|c| {
                    let letters = c.get(1)?.as_str().to_lowercase();
                    let code = c.get(0)?.as_str().to_string();
                    labels.iter().any(|label| label.starts_with(&letters)).then_some(code)
                });
                let after_label = captures(regex).into_iter().filter_map(|c| Some(c.get(1)?.as_str().to_string()));
                codes.chain(after_label).collect()
            }
            Builtin::Free => Vec::new(),
        }
    }

    /// `value` as this argument takes it, if it fits the pattern as written, uppercased, or (when
    /// `complete`) after the pattern's literal prefix.
    fn fit(&self, value: &str, complete: bool) -> Option<String> {
        let value = value.trim();
        let Some(pattern) = &self.pattern else {
            return (!value.is_empty()).then(|| value.to_string());
        };
        let completed = (complete && !pattern.prefix.is_empty()).then(|| format!("{}{value}", pattern.prefix));
        [Some(value.to_string()), Some(value.to_uppercase()), completed]
            .into_iter()
            .flatten()
            .find(|candidate| pattern.full.is_match(candidate))
    }
}

/// The extractor an argument's name calls for.
fn builtin(name: &str) -> Builtin {
    let words = words(name);
    let has = |options: &[&str]| words.iter().any(|word| options.contains(&word.as_str()));
    if has(&["email", "mail"]) {
        return Builtin::Email;
    }
    if has(&["phone", "mobile", "telephone", "tel", "cell"]) {
        return Builtin::Phone;
    }
    if has(&["amount", "price", "total", "cost", "fee", "sum"]) {
        return Builtin::Money;
    }
    if has(&["date", "day"]) {
        return Builtin::Date;
    }
    let mut labels: Vec<String> = words.iter().filter(|word| !ID_WORDS.contains(&word.as_str())).cloned().collect();
    if labels.is_empty() || labels.len() == words.len() {
        return Builtin::Free;
    }
    if labels.iter().any(|label| HOLDER_LABELS.contains(&label.as_str())) {
        labels.extend(HOLDER_LABELS.iter().map(|label| label.to_string()));
        labels.sort();
        labels.dedup();
    }
    let alternatives = labels.iter().map(|label| regex::escape(label)).collect::<Vec<_>>().join("|");
    let label = format!(r"\b(?:{alternatives})s?\b[\s:#=]*");
    let id_word = r"(?:(?:id|number|num|no|nr|code|ref|n[º°o]|numero|número)\b\.?[\s:#=]*)?";
    let verb = r"(?:(?:is|es|est|ist|é)\s+)?#?";
    let regex = compiled(&format!(r"(?i){label}{id_word}{verb}([a-z]{{0,5}}-?\d[\w-]*)"));
    Builtin::Labelled { regex, labels }
}

/// An argument's pattern, if it compiles.
fn pattern(source: &str) -> Option<Pattern> {
    let full = Regex::new(&format!("^(?:{source})$")).ok()?;
    let bare = source.strip_prefix('^').unwrap_or(source);
    let bare = match bare.strip_suffix('$') {
        Some(stripped) if !stripped.ends_with('\\') => stripped,
        _ => bare,
    };
    let prefix = bare.chars().take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ').collect();
    Some(Pattern { full, search: Regex::new(bare).ok(), prefix })
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_core::ToolDef;
    use serde_json::json;

    fn extractors() -> Extractors {
        let mut team = Team::new("t", "a");
        for (name, properties) in [
            ("lookup_invoice", json!({"invoice_number": {"type": "string", "pattern": "^INV-\\d{4}$"}})),
            ("check", json!({"customer_id": {"type": "string"}, "order_number": {"type": "string"}})),
            ("status", json!({"account_id": {"type": "string", "pattern": "^[0-9]{1,8}$"}})),
            ("find", json!({"city": {"type": "string"}, "count": {"type": "integer"}})),
        ] {
            let parameters = json!({"type": "object", "properties": properties});
            team.tools.insert(
                name.into(),
                ToolDef {
                    name: name.into(),
                    description: String::new(),
                    parameters,
                    examples: Vec::new(),
                    idempotent: true,
                    approval: Default::default(),
                },
            );
        }
        Extractors::new(&team)
    }

    #[test]
    fn labelled_ids_codes_and_generic_values_are_read() {
        let facts = extractors();
        let read = |text: &str| facts.extract(text);
        for text in
            ["customer 42", "my customer id is 42", "Customer ID: 42.", "account #42", "acct 42", "client number 42"]
        {
            assert_eq!(read(text).get("customer_id").map(String::as_str), Some("42"), "{text:?}");
        }
        assert_eq!(read("invoice 2041 is wrong")["invoice_number"], "INV-2041");
        assert_eq!(read("what about inv-2041?")["invoice_number"], "INV-2041");
        assert_eq!(read("INV-2041")["invoice_number"], "INV-2041");
        assert!(!read("INV-20411").contains_key("invoice_number"));
        assert!(!read("INV-2041").contains_key("account_id"));
        assert_eq!(read("account 2041")["account_id"], "2041");
        assert_eq!(read("order ORD-77 never came")["order_number"], "ORD-77");
        assert_eq!(read("where is order 981")["order_number"], "981");
        let all = read("I'm ada@example.com, call +34 600 123 456; charged $49.99 on 3 Nov 2026");
        assert_eq!(all["email"], "ada@example.com");
        assert_eq!(all["phone"], "+34 600 123 456");
        assert_eq!(all["amount"], "$49.99");
        assert_eq!(all["date"], "3 Nov 2026");
        assert_eq!(read("paid 49,99 € on 2026-11-03")["amount"], "49,99 €");
        assert_eq!(read("paid 20 EUR on 03/11/2026")["date"], "03/11/2026");
        assert!(read("I was charged 2 times, my internet is down").is_empty());
        let runaway = format!("customer 4{}", "2".repeat(10_000));
        assert!(!read(&runaway).contains_key("customer_id"), "a 10,000-digit id is no fact");
        assert_eq!(facts.bare_value("customer_id", &format!("4{}", "2".repeat(10_000))), None);
    }

    #[test]
    fn bare_answers_fill_the_argument_asked_for() {
        let facts = extractors();
        assert_eq!(facts.bare_value("customer_id", "42").as_deref(), Some("42"));
        assert_eq!(facts.bare_value("customer_id", "it's 42").as_deref(), Some("42"));
        assert_eq!(facts.bare_value("customer_id", "my customer id is #42.").as_deref(), Some("42"));
        assert_eq!(facts.bare_value("customer_id", "cutomer 42").as_deref(), Some("42"));
        assert_eq!(facts.bare_value("customer_id", "42 or 43"), None);
        assert_eq!(facts.bare_value("invoice_number", "sure, 2041").as_deref(), Some("INV-2041"));
        assert_eq!(facts.bare_value("invoice_number", "hello there"), None);
        assert_eq!(facts.bare_value("customer_id", "my internet is down"), None);
        assert_eq!(facts.bare_value("city", "Buenos Aires").as_deref(), Some("Buenos Aires"));
        assert_eq!(facts.typed("count", "3"), Some(json!(3)));
        assert_eq!(facts.typed("count", "three"), None);
        assert_eq!(first_number("$49.99"), Some(49.99));
        assert_eq!(first_number("49,99 €."), Some(49.99));
        assert_eq!(first_number("no amount"), None);
    }
}
