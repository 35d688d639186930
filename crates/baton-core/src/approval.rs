//! When a tool call needs a person's approval before it runs: always, never, or when its
//! arguments match a rule such as `amount > 100`.
//!
//! A rule compares one argument (a dotted path into the arguments object) with a literal. An
//! argument that is missing, or that cannot be compared with the literal, counts as a match:
//! when in doubt, a person is asked.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// Whether calls of a tool need approval.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// Calls run at once.
    #[default]
    Never,
    /// Every call waits for a decision.
    Required,
    /// A call waits when any of the rules matches its arguments.
    When(Vec<Rule>),
}

impl Approval {
    /// Whether a call with these arguments needs approval.
    pub fn needed(&self, arguments: &Value) -> bool {
        match self {
            Approval::Never => false,
            Approval::Required => true,
            Approval::When(rules) => rules.iter().any(|rule| rule.matches(arguments)),
        }
    }
}

/// One rule: `field op value`, e.g. `amount > 100` or `currency != "EUR"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// The argument, as a dotted path (`refund.amount`).
    pub field: String,
    /// The comparison.
    pub op: Comparison,
    /// The literal compared with: a number, a string or a boolean.
    pub value: Value,
}

/// How a rule compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    /// `>`
    #[serde(rename = ">")]
    Greater,
    /// `>=`
    #[serde(rename = ">=")]
    GreaterOrEqual,
    /// `<`
    #[serde(rename = "<")]
    Less,
    /// `<=`
    #[serde(rename = "<=")]
    LessOrEqual,
    /// `==`
    #[serde(rename = "==")]
    Equal,
    /// `!=`
    #[serde(rename = "!=")]
    NotEqual,
}

impl Comparison {
    const ALL: [(&'static str, Comparison); 6] = [
        (">=", Comparison::GreaterOrEqual),
        ("<=", Comparison::LessOrEqual),
        ("==", Comparison::Equal),
        ("!=", Comparison::NotEqual),
        (">", Comparison::Greater),
        ("<", Comparison::Less),
    ];

    fn symbol(self) -> &'static str {
        Self::ALL.iter().find(|(_, op)| *op == self).map(|(symbol, _)| *symbol).unwrap_or("?")
    }

    fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Comparison::Greater => ordering == Greater,
            Comparison::GreaterOrEqual => ordering != Less,
            Comparison::Less => ordering == Less,
            Comparison::LessOrEqual => ordering != Greater,
            Comparison::Equal => ordering == Equal,
            Comparison::NotEqual => ordering != Equal,
        }
    }
}

/// How a rule is written, told with every [`BadRule`].
const FORM: &str = "write a rule as FIELD OP VALUE, e.g. \"amount > 100\" or \"currency != 'EUR'\" (OP is one of \
                    > >= < <= == !=)";

/// Why a rule does not read; each case shows the form of a rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadRule {
    /// The rule (given) has no comparison operator.
    #[error("'{0}' has no comparison: {FORM}")]
    NoComparison(String),
    /// The rule (given) does not start with an argument name.
    #[error("'{0}' does not start with an argument name: {FORM}")]
    NoArgumentName(String),
    /// The literal is not a value.
    #[error("'{literal}' in '{rule}' is not a value: {FORM}")]
    NotAValue {
        /// The literal.
        literal: String,
        /// The rule.
        rule: String,
    },
    /// The rule (given) orders by a value that is neither a number nor a string.
    #[error("'{0}' orders by a value that is neither a number nor a string: {FORM}")]
    NotOrderable(String),
}

impl BadRule {
    /// The case, as a short stable name.
    pub fn kind(&self) -> &'static str {
        match self {
            BadRule::NoComparison(_) => "no_comparison",
            BadRule::NoArgumentName(_) => "no_argument_name",
            BadRule::NotAValue { .. } => "not_a_value",
            BadRule::NotOrderable(_) => "not_orderable",
        }
    }
}

impl Rule {
    /// Reads `field op value`; the error says what is wrong and shows the form.
    pub fn parse(text: &str) -> Result<Rule, BadRule> {
        let Some((at, symbol, op)) = Comparison::ALL
            .iter()
            .filter_map(|(symbol, op)| text.find(symbol).map(|at| (at, *symbol, *op)))
            .min_by_key(|(at, symbol, _)| (*at, usize::MAX - symbol.len()))
        else {
            return Err(BadRule::NoComparison(text.to_string()));
        };
        let field = text[..at].trim();
        let literal = text[at + symbol.len()..].trim();
        let valid_field = !field.is_empty()
            && field.split('.').all(|part| !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_'));
        if !valid_field {
            return Err(BadRule::NoArgumentName(text.to_string()));
        }
        let value = parse_literal(literal)
            .ok_or_else(|| BadRule::NotAValue { literal: literal.to_string(), rule: text.to_string() })?;
        if !matches!(op, Comparison::Equal | Comparison::NotEqual) && !value.is_number() && !value.is_string() {
            return Err(BadRule::NotOrderable(text.to_string()));
        }
        Ok(Rule { field: field.to_string(), op, value })
    }

    /// Whether the arguments match; a missing or incomparable argument matches.
    pub fn matches(&self, arguments: &Value) -> bool {
        let found = self.field.split('.').try_fold(arguments, |value, part| value.get(part));
        let Some(found) = found else { return true };
        match compare(found, &self.value) {
            Some(ordering) => self.op.holds(ordering),
            None => true,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.field, self.op.symbol(), self.value)
    }
}

/// A number, a quoted string (single or double quotes), `true` or `false`.
fn parse_literal(literal: &str) -> Option<Value> {
    let quoted = |q: char| literal.len() >= 2 && literal.starts_with(q) && literal.ends_with(q);
    if quoted('"') || quoted('\'') {
        return Some(Value::String(literal[1..literal.len() - 1].to_string()));
    }
    match literal {
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        _ => {}
    }
    let number: f64 = literal.parse().ok()?;
    serde_json::Number::from_f64(number).map(Value::Number)
}

/// How an argument compares with a literal: numbers as numbers (a string argument holding a
/// number counts as one, models often send amounts so), strings and booleans for equality.
fn compare(argument: &Value, literal: &Value) -> Option<std::cmp::Ordering> {
    match literal {
        Value::Number(expected) => {
            let expected = expected.as_f64()?;
            let actual = match argument {
                Value::Number(n) => n.as_f64()?,
                Value::String(s) => s.trim().parse::<f64>().ok()?,
                _ => return None,
            };
            actual.partial_cmp(&expected)
        }
        Value::String(expected) => argument.as_str().map(|actual| actual.cmp(expected.as_str())),
        Value::Bool(expected) => argument.as_bool().map(|actual| actual.cmp(expected)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn needs(rules: &[&str], arguments: Value) -> bool {
        let rules = rules.iter().map(|rule| Rule::parse(rule).unwrap()).collect();
        Approval::When(rules).needed(&arguments)
    }

    #[test]
    fn rules_compare_numbers_strings_and_nested_arguments() {
        assert!(needs(&["amount > 100"], json!({"amount": 150})));
        assert!(!needs(&["amount > 100"], json!({"amount": 100})));
        assert!(needs(&["amount >= 100"], json!({"amount": 100})));
        assert!(needs(&["amount > 100"], json!({"amount": "250.50"})), "a number in a string is a number");
        assert!(!needs(&["amount<=10"], json!({"amount": 11})));
        assert!(needs(&["currency != 'EUR'"], json!({"currency": "USD"})));
        assert!(!needs(&["currency != \"EUR\""], json!({"currency": "EUR"})));
        assert!(needs(&["refund.amount > 5", "urgent == true"], json!({"refund": {"amount": 1}, "urgent": true})));
        assert!(!needs(&["refund.amount > 5"], json!({"refund": {"amount": 1}})));
    }

    #[test]
    fn a_missing_or_incomparable_argument_asks_a_person() {
        assert!(needs(&["amount > 100"], json!({})));
        assert!(needs(&["amount > 100"], json!({"amount": "lots"})));
        assert!(needs(&["amount > 100"], json!({"amount": [1]})));
        assert!(!Approval::Never.needed(&json!({})));
        assert!(Approval::Required.needed(&json!({})));
    }

    #[test]
    fn malformed_rules_say_what_is_wrong() {
        assert!(Rule::parse("amount 100").unwrap_err().to_string().contains("has no comparison"));
        assert!(Rule::parse("> 100").unwrap_err().to_string().contains("argument name"));
        assert!(Rule::parse("amount > lots").unwrap_err().to_string().contains("not a value"));
        assert!(Rule::parse("flag > true").unwrap_err().to_string().contains("neither a number nor a string"));
        assert_eq!(Rule::parse("a.b >= 2.5").unwrap().to_string(), "a.b >= 2.5");
        assert_eq!(Rule::parse("a == 'x'").unwrap().to_string(), "a == \"x\"");
    }
}
