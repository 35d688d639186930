//! What the local model says: a team's reply templates (minijinja) when it gives one, else plain
//! sentences: a tool's result read out, a question for a missing argument, a greeting, thanks, a
//! fallback.

use crate::text::{name_words as words, ID_WORDS};
use baton_core::{ToolDef, ToolOutput};
use minijinja::value::Serde;
use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde_json::Value;

/// Renders `template` with `context`; `None` when it does not render (a syntax error, a missing
/// value) or renders to nothing, so that the caller falls back to a plain sentence.
pub fn render(template: &str, context: &Value) -> Option<String> {
    let mut environment = Environment::new();
    environment.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    let text = environment.render_str(template, minijinja::Value::from(Serde(context))).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// Why a reply template does not parse ([`check_template`]); `Display` is minijinja's own
/// description, with the place.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template's syntax is wrong: an unclosed tag, an unknown statement, a stray token.
    #[error("{0}")]
    Syntax(String),
    /// A string literal in the template has an escape sequence that does not exist.
    #[error("{0}")]
    BadEscape(String),
}

impl TemplateError {
    /// The case, as a short stable name.
    pub fn kind(&self) -> &'static str {
        match self {
            TemplateError::Syntax(_) => "syntax",
            TemplateError::BadEscape(_) => "bad_escape",
        }
    }
}

/// Whether `template` parses as a reply template, or what is wrong with it (for the team file's
/// checks; a template that parses can still fail to render, and then falls back).
pub fn check_template(template: &str) -> Result<(), TemplateError> {
    Environment::new().template_from_str(template).map(|_| ()).map_err(|error| match error.kind() {
        ErrorKind::BadEscape => TemplateError::BadEscape(error.to_string()),
        // Parsing fails with syntax errors only (and delimiter errors, with a custom syntax).
        _ => TemplateError::Syntax(error.to_string()),
    })
}

/// How an argument is called in a sentence: `customer_id` → "customer id".
pub fn label(argument: &str) -> String {
    words(argument).join(" ")
}

/// What an argument's value is called before it: `customer_id` → "customer", `invoice_number` →
/// "invoice".
fn noun(argument: &str) -> String {
    let words = words(argument);
    let kept: Vec<&str> = words.iter().map(String::as_str).filter(|word| !ID_WORDS.contains(word)).collect();
    if kept.is_empty() {
        words.join(" ")
    } else {
        kept.join(" ")
    }
}

/// Verbs tools are named with: base, as the infinitive reads, and past.
const VERBS: [(&str, &str, &str); 40] = [
    ("lookup", "look up", "looked up"),
    ("look", "look up", "looked up"),
    ("get", "get", "got"),
    ("fetch", "fetch", "fetched"),
    ("find", "find", "found"),
    ("search", "search", "searched"),
    ("check", "check", "checked"),
    ("list", "list", "listed"),
    ("create", "create", "created"),
    ("update", "update", "updated"),
    ("delete", "delete", "deleted"),
    ("remove", "remove", "removed"),
    ("cancel", "cancel", "cancelled"),
    ("issue", "issue", "issued"),
    ("send", "send", "sent"),
    ("book", "book", "booked"),
    ("reset", "reset", "reset"),
    ("open", "open", "opened"),
    ("close", "close", "closed"),
    ("submit", "submit", "submitted"),
    ("verify", "verify", "verified"),
    ("validate", "validate", "validated"),
    ("add", "add", "added"),
    ("set", "set", "set"),
    ("schedule", "schedule", "scheduled"),
    ("track", "track", "tracked"),
    ("refund", "refund", "refunded"),
    ("calculate", "calculate", "calculated"),
    ("query", "query", "queried"),
    ("read", "read", "read"),
    ("show", "show", "showed"),
    ("request", "request", "requested"),
    ("report", "report", "reported"),
    ("pay", "pay", "paid"),
    ("change", "change", "changed"),
    ("renew", "renew", "renewed"),
    ("restart", "restart", "restarted"),
    ("run", "run", "ran"),
    ("retrieve", "retrieve", "retrieved"),
    ("locate", "locate", "located"),
];

/// Verbs of tools that only read: calling one again gives fresh news, not a second effect.
const READING_VERBS: [&str; 17] = [
    "lookup",
    "look",
    "get",
    "fetch",
    "find",
    "search",
    "check",
    "list",
    "query",
    "read",
    "show",
    "track",
    "retrieve",
    "locate",
    "calculate",
    "verify",
    "validate",
];

/// Whether a tool's name says it changes something (issues, cancels, sends...): a known verb that
/// does not only read.
pub fn changes_something(tool: &str) -> bool {
    words(tool)
        .first()
        .is_some_and(|verb| VERBS.iter().any(|(base, ..)| base == verb) && !READING_VERBS.contains(&verb.as_str()))
}

/// A tool's action in words: (infinitive, past, object), e.g. ("check", "checked", "the line
/// status"). A name that starts with no known verb reads as something checked.
fn action(tool: &str) -> (String, String, String) {
    let words = words(tool);
    let known =
        words.split_first().and_then(|(first, rest)| Some((VERBS.iter().find(|(base, ..)| base == first)?, rest)));
    match known {
        Some(((_, infinitive, past), rest)) => {
            let rest = rest.strip_prefix(&["up".to_string()]).unwrap_or(rest);
            let object = if rest.is_empty() { String::new() } else { format!("the {}", rest.join(" ")) };
            (infinitive.to_string(), past.to_string(), object)
        }
        None => ("check".to_string(), "checked".to_string(), words.join(" ")),
    }
}

/// "for customer 42 and invoice INV-2041", from a call's arguments.
fn about(arguments: &Value) -> String {
    let parts: Vec<String> = arguments
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, value)| format!("{} {}", noun(name), describe(value)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" for {}", join(&parts, "and"))
    }
}

/// What a tool did: "checked the line status for customer 42" (or "looked up customer 42" when
/// the object is what the argument names).
fn did(tool: &str, arguments: &Value, past: bool) -> String {
    let (infinitive, past_tense, object) = action(tool);
    let verb = if past { past_tense } else { infinitive };
    let only_argument = arguments.as_object().filter(|object| object.len() == 1).and_then(|o| o.iter().next());
    match only_argument {
        Some((name, value)) if object == format!("the {}", noun(name)) || object.is_empty() => {
            format!("{verb} {} {}", noun(name), describe(value))
        }
        _ if object.is_empty() => format!("{verb}{}", about(arguments)),
        _ => format!("{verb} {object}{}", about(arguments)),
    }
}

/// A tool's result as a sentence: "I checked the line status for customer 42: status outage,
/// since 09:10." An error says what failed and what the tool said.
pub fn result_sentence(tool: &str, arguments: &Value, output: &ToolOutput) -> String {
    let content = output.content.trim();
    if output.is_error {
        let tried = format!("I tried to {}, but it failed", did(tool, arguments, false));
        return sentence(&if content.is_empty() { tried } else { format!("{tried}: {content}") });
    }
    let result = parse(content);
    let described = describe(&result);
    if described.is_empty() {
        sentence(&format!("I {}", did(tool, arguments, true)))
    } else {
        sentence(&format!("I {}: {described}", did(tool, arguments, true)))
    }
}

/// A tool output as a template sees it: JSON when it is JSON, else the text.
pub fn parse(content: &str) -> Value {
    serde_json::from_str(content).unwrap_or_else(|_| Value::String(content.to_string()))
}

/// A JSON value in words: objects as "key value" pairs (underscores as spaces), lists joined,
/// lists of objects numbered.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "none".to_string(),
        Value::Bool(true) => "yes".to_string(),
        Value::Bool(false) => "no".to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => text.trim().to_string(),
        Value::Array(items) if items.is_empty() => "none".to_string(),
        Value::Array(items) if items.iter().any(|item| item.is_object() || item.is_array()) => match items.as_slice() {
            [only] => describe(only),
            _ => {
                let numbered: Vec<String> = items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| format!("{}) {}", index + 1, describe(item)))
                    .collect();
                format!("{} entries: {}", items.len(), numbered.join("; "))
            }
        },
        Value::Array(items) => join(&items.iter().map(describe).collect::<Vec<_>>(), "and"),
        Value::Object(fields) => fields
            .iter()
            .map(|(key, value)| {
                let key = key.replace('_', " ");
                match value {
                    Value::Object(_) => format!("{key} ({})", describe(value)),
                    Value::Array(items) if items.len() > 1 && items.iter().any(Value::is_object) => {
                        format!("{key}: {}", describe(value))
                    }
                    _ => format!("{key} {}", describe(value)),
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// "a", "a and b", "a, b and c".
fn join(parts: &[String], and: &str) -> String {
    match parts {
        [] => String::new(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} {and} {last}", init.join(", ")),
    }
}

/// `text` ending with one full stop (or the question or exclamation mark it has).
fn sentence(text: &str) -> String {
    let text = text.trim();
    if text.ends_with(['.', '!', '?']) {
        text.to_string()
    } else {
        format!("{text}.")
    }
}

/// The question for a missing argument: "To check the status of a customer's line I need your
/// customer id. What is it?"
pub fn ask_sentence(tool: &ToolDef, argument: &str) -> String {
    let label = label(argument);
    let description = without_parentheses(&tool.description);
    let clause = description.split(['.', ':', ';', '\n']).next().unwrap_or_default().trim();
    let clause = match clause.rsplit_once(" by ") {
        Some((head, tail)) if words(tail).iter().any(|word| words(argument).contains(word) || word == "id") => head,
        _ => clause,
    };
    let what = match clause.chars().next() {
        Some(first) if !clause.chars().nth(1).is_some_and(char::is_uppercase) => {
            format!("{}{}", first.to_lowercase(), &clause[first.len_utf8()..])
        }
        Some(_) => clause.to_string(),
        None => {
            let (infinitive, _, object) = action(&tool.name);
            format!("{infinitive} {object}").trim().to_string()
        }
    };
    format!("To {what} I need your {label}. What is it?")
}

/// `text` without its parenthesised remarks.
fn without_parentheses(text: &str) -> String {
    let mut depth = 0usize;
    let mut kept = String::new();
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => kept.push(c),
            _ => {}
        }
    }
    glue_punctuation(&kept)
}

/// `text` with its whitespace collapsed and the punctuation a removed remark left standing alone
/// joined to the word before it ("refunds , invoices ." → "refunds, invoices."); a dot that
/// starts a word stays where it is ("and .NET support").
fn glue_punctuation(text: &str) -> String {
    let mut glued = String::new();
    for word in text.split_whitespace() {
        let only_punctuation = word.chars().all(|c| matches!(c, '.' | ',' | ';' | ':' | '!' | '?'));
        if !(glued.is_empty() || only_punctuation) {
            glued.push(' ');
        }
        glued.push_str(word);
    }
    glued
}

/// The greeting: what the agent can help with, taken from its description, and an offer
/// ("Hello! I can help with charges, invoices and refunds. What can I do for you?"); the
/// agent's name when its description says nothing usable.
pub fn greeting(agent: &str, description: &str) -> String {
    match offer(description) {
        Some(topics) => format!("Hello! I can help with {topics}. What can I do for you?"),
        None => format!("Hello! I'm {agent}. How can I help?"),
    }
}

/// The answer to thanks and acknowledgements.
pub fn thanks() -> String {
    "You're welcome! Is there anything else I can help you with?".to_string()
}

/// What the agent says when nothing it knows fits: what it can help with (as the greeting
/// offers it) or, when its description names no topics, its name; and a request for details.
pub fn fallback(agent: &str, description: &str) -> String {
    const MORE: &str = "Could you tell me a bit more about what you need?";
    match (offer(description), description.trim()) {
        (Some(topics), _) => format!("I'm not sure I understood. I can help with {topics}. {MORE}"),
        (None, "") => format!("I'm not sure I understood. {MORE}"),
        (None, _) => format!("I'm not sure I understood. I'm {agent}. {MORE}"),
    }
}

/// How many of a description's topics a greeting names before "and more".
const OFFERED_TOPICS: usize = 3;

/// Topics that say what a desk does rather than something it helps with.
const META_TOPICS: [&str; 5] = ["greeting", "hello", "small talk", "what this desk", "what we do"];

/// Words that start a phrase about a topic rather than the topic itself ("questions about
/// billing"), so the word before them is a noun, not a verb.
const PREPOSITIONS: [&str; 7] = ["about", "on", "for", "of", "with", "in", "to"];

/// Abbreviations that never end a sentence, in lower case without their last dot.
const ABBREVIATIONS: [&str; 9] = ["e.g", "i.e", "eg", "ie", "incl", "vs", "cf", "approx", "esp"];

/// Words that end a topic: what follows them is examples or a vague rest ("e.g. refunds", "etc."),
/// in lower case without their last dot.
const TOPIC_ENDS: [&str; 5] = ["e.g", "i.e", "eg", "ie", "etc"];

/// Endings of a topic that add nothing to it ("invoices and so on").
const VAGUE_RESTS: [&str; 5] = ["and so on", "and so forth", "and the like", "and more", "or similar"];

/// First words that make a description a sentence about the agent rather than a list of topics
/// ("You help users…", "The billing agent…", "A human operator…"), in lower case.
const CLAUSE_STARTS: [&str; 16] =
    ["i", "you", "we", "they", "he", "she", "it", "this", "that", "these", "those", "a", "an", "the", "there", "here"];

/// Words that make a phrase a clause rather than a topic: pronouns, auxiliaries and "help"
/// itself ("I can help with help with billing" would not read).
const CLAUSE_WORDS: [&str; 19] = [
    "you", "we", "they", "he", "she", "is", "are", "am", "was", "were", "be", "can", "should", "must", "does", "help",
    "helps", "helping", "who",
];

/// Who is helped, where a topic would stand after a leading verb ("Helps users with anything").
const HELPED_PEOPLE: [&str; 9] = ["users", "customers", "people", "clients", "callers", "visitors", "them", "me", "us"];

/// Nouns that name a role rather than a topic ("Triage agent", "Billing assistant").
const ROLE_NOUNS: [&str; 18] = [
    "agent",
    "assistant",
    "bot",
    "chatbot",
    "desk",
    "operator",
    "specialist",
    "expert",
    "team",
    "helper",
    "advisor",
    "adviser",
    "representative",
    "officer",
    "manager",
    "consultant",
    "receptionist",
    "router",
];

/// What an agent helps with, in a few words, from its description: the list after a label
/// ("Front desk: opening hours, plans, …" → "opening hours, plans, …"), else its first sentence
/// without a leading verb ("Handles charges and refunds." → "charges and refunds"); at most
/// three topics and "more", without topics about the desk itself ("greetings") or what follows
/// "e.g.", "i.e." and "etc.". `None` when the description says nothing usable, or when its first
/// sentence is not a list of topics (a sentence about the agent, a bare role name).
fn offer(description: &str) -> Option<String> {
    let description = without_parentheses(description);
    let first_sentence = first_sentence(&description);
    let (topics, after_a_label) = match first_sentence.split_once(':') {
        Some((_, list)) if !list.trim().is_empty() => (list.trim(), true),
        _ if starts_a_clause(first_sentence) => return None,
        _ => (without_leading_verb(first_sentence), false),
    };
    let all: Vec<&str> = topics.split([',', ';']).map(str::trim).filter(|topic| !topic.is_empty()).collect();
    // A label promises a list; a sentence without one must read as topics throughout.
    if !after_a_label && !all.iter().all(|topic| reads_as_a_topic(topic)) {
        return None;
    }
    let kept: Vec<String> = all
        .iter()
        .map(|topic| before_examples(topic.strip_prefix("and ").unwrap_or(topic)))
        .filter(|topic| !topic.is_empty())
        .filter(|topic| !META_TOPICS.iter().any(|meta| topic.to_lowercase().starts_with(meta)))
        .collect();
    let ends_with_a_pair = kept.last().is_some_and(|last| last.contains(" and ") || last.contains(" or "));
    let text = if kept.len() > OFFERED_TOPICS {
        format!("{} and more", kept[..OFFERED_TOPICS].join(", "))
    } else if kept.len() == all.len() && ends_with_a_pair {
        // "charges, invoices and refunds" reads as written.
        kept.join(", ")
    } else {
        join(&kept, "and")
    };
    (!text.is_empty()).then(|| lowercase_first(&text))
}

/// The first sentence of `text`, without its full stop: up to the first ". " that does not follow
/// an abbreviation such as "e.g.".
fn first_sentence(text: &str) -> &str {
    let end = text
        .match_indices(". ")
        .map(|(index, _)| index)
        .find(|&index| {
            let word_before = text[..index].rsplit(' ').next().unwrap_or_default().to_lowercase();
            !ABBREVIATIONS.contains(&word_before.as_str())
        })
        .unwrap_or(text.len());
    text[..end].trim().trim_end_matches('.')
}

/// Whether `sentence` starts like a sentence about the agent ("You help…", "The billing agent…")
/// rather than a topic; an acronym ("IT support") is a topic.
fn starts_a_clause(sentence: &str) -> bool {
    let first = sentence.split_whitespace().next().unwrap_or_default();
    let is_acronym = first.chars().filter(|c| c.is_alphabetic()).count() > 1 && !first.chars().any(char::is_lowercase);
    !is_acronym && CLAUSE_STARTS.contains(&first.to_lowercase().as_str())
}

/// Whether `topic` names something to help with: not a clause ("you help users"), not a role
/// ("triage agent"), not the people helped ("users with anything").
fn reads_as_a_topic(topic: &str) -> bool {
    let words: Vec<String> =
        topic.split_whitespace().map(|word| word.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase()).collect();
    let names_who_is_helped = words.first().is_some_and(|first| HELPED_PEOPLE.contains(&first.as_str()));
    !names_who_is_helped
        && !words.iter().any(|word| CLAUSE_WORDS.contains(&word.as_str()) || ROLE_NOUNS.contains(&word.as_str()))
}

/// `topic` up to an "e.g.", "i.e." or "etc.", without a dangling "and" or "or" before it nor a
/// vague rest ("refunds and etc." → "refunds", "e.g. invoices" → "", "invoices and so on" →
/// "invoices").
fn before_examples(topic: &str) -> String {
    let mut words: Vec<&str> = topic
        .split_whitespace()
        .take_while(|word| !TOPIC_ENDS.contains(&word.trim_end_matches('.').to_lowercase().as_str()))
        .collect();
    while words.last().is_some_and(|word| matches!(*word, "and" | "or")) {
        words.pop();
    }
    let topic = words.join(" ");
    let vague_rest = VAGUE_RESTS.iter().find_map(|rest| topic.strip_suffix(rest));
    vague_rest.unwrap_or(&topic).trim_end().to_string()
}

/// `phrase` without its first word when that word is a verb in the third person ("Handles",
/// "Fixes"): a capitalised word ending in "s" followed by a word that is neither "and", a
/// preposition nor the end of a list item.
fn without_leading_verb(phrase: &str) -> &str {
    let mut words = phrase.splitn(3, ' ');
    let (Some(first), Some(second)) = (words.next(), words.next()) else { return phrase };
    let is_verb = first.chars().next().is_some_and(char::is_uppercase)
        && first.ends_with('s')
        && !first.ends_with("ss")
        && first.chars().all(char::is_alphabetic)
        && second != "and"
        && !PREPOSITIONS.contains(&second);
    if is_verb {
        phrase[first.len()..].trim_start()
    } else {
        phrase
    }
}

/// `text` with its first letter in lower case, unless the first word is an acronym ("BPMN").
fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(first), second) if !second.is_some_and(char::is_uppercase) => {
            format!("{}{}", first.to_lowercase(), &text[first.len_utf8()..])
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn results_read_as_sentences() {
        let args = json!({"customer_id": "42"});
        let output = ToolOutput::ok(r#"{"status":"outage","since":"09:10"}"#);
        assert_eq!(
            result_sentence("check_line_status", &args, &output),
            "I checked the line status for customer 42: status outage, since 09:10."
        );
        assert_eq!(
            result_sentence("lookup_customer", &args, &ToolOutput::ok(r#"{"name":"Ada","vip":true}"#)),
            "I looked up customer 42: name Ada, vip yes."
        );
        let invoices =
            ToolOutput::ok(r#"[{"month":"2026-10","amount_eur":24.9},{"month":"2026-11","amount_eur":24.9}]"#);
        assert_eq!(
            result_sentence("look_up_invoices", &args, &invoices),
            "I looked up the invoices for customer 42: 2 entries: 1) month 2026-10, amount eur 24.9; 2) month \
             2026-11, amount eur 24.9."
        );
        assert_eq!(
            result_sentence("check_line_status", &json!({"customer_id": "7"}), &ToolOutput::error("no entry for 7")),
            "I tried to check the line status for customer 7, but it failed: no entry for 7."
        );
        assert_eq!(result_sentence("ping", &json!({}), &ToolOutput::ok("pong")), "I checked ping: pong.");
    }

    #[test]
    fn templates_render_or_fall_back() {
        let context = json!({"result": {"status": "up"}, "args": {"customer_id": "42"}});
        assert_eq!(
            render("Line {{ result.status }} for {{ args.customer_id }}", &context).as_deref(),
            Some("Line up for 42")
        );
        assert_eq!(render("{{ result.missing }}", &context), None);
        assert_eq!(render("{% if result.missing %}x{% endif %}ok", &context).as_deref(), Some("ok"));
        assert_eq!(render("{{ broken", &context), None);
        assert!(check_template("Hello {{ agent }}!").is_ok());
    }

    #[test]
    fn a_template_that_does_not_parse_says_why_and_where() {
        let error = check_template("{{ broken").unwrap_err();
        assert_eq!(error.kind(), "syntax");
        assert_eq!(
            error.to_string(),
            "syntax error: unexpected end of input, expected end of variable block (in <string>:1)"
        );
        let error = check_template("Plan: {{ \"\\xZZ\" }}").unwrap_err();
        assert_eq!(error.kind(), "bad_escape");
        assert_eq!(error.to_string(), "bad string escape (in <string>:1)");
    }

    #[test]
    fn greetings_offer_a_few_topics_of_the_description_without_reciting_it() {
        let check = |description: &str, expected: &str| assert_eq!(greeting("triage", description), expected);
        check(
            "Front desk: greetings, opening hours, broadband and mobile plans, packages, prices and deals, coverage, \
             shops and contact details.",
            "Hello! I can help with opening hours, broadband and mobile plans, packages and more. What can I do for you?",
        );
        check(
            "Front desk: greetings, what this desk does, opening hours and how to reach us.",
            "Hello! I can help with opening hours and how to reach us. What can I do for you?",
        );
        check(
            "Handles charges, invoices and refunds.",
            "Hello! I can help with charges, invoices and refunds. What can I do for you?",
        );
        check(
            "Requirements: user stories, business requirements documents (BRD), acceptance criteria.",
            "Hello! I can help with user stories, business requirements documents and acceptance criteria. What can I \
             do for you?",
        );
        check(
            "Questions about billing. Anything else goes to the front desk.",
            "Hello! I can help with questions about billing. What can I do for you?",
        );
        check("BPMN and process maps.", "Hello! I can help with BPMN and process maps. What can I do for you?");
        check("", "Hello! I'm triage. How can I help?");
        check("Greetings.", "Hello! I'm triage. How can I help?");
    }

    #[test]
    fn greetings_read_as_english_for_ordinary_descriptions() {
        let table = [
            (
                "Handles billing questions, e.g. refunds and invoices.",
                "Hello! I can help with billing questions. What can I do for you?",
            ),
            (
                "Billing: refunds, invoices (incl. VAT), etc.",
                "Hello! I can help with refunds and invoices. What can I do for you?",
            ),
            (
                "Handles questions about our Paris office and .NET support.",
                "Hello! I can help with questions about our Paris office and .NET support. What can I do for you?",
            ),
            (
                "Refunds, invoices and so on, i.e. billing. Anything else goes to the front desk.",
                "Hello! I can help with refunds and invoices. What can I do for you?",
            ),
            ("Charges, refunds etc.", "Hello! I can help with charges and refunds. What can I do for you?"),
            ("IT support and printers.", "Hello! I can help with IT support and printers. What can I do for you?"),
            ("You help users with anything.", "Hello! I'm triage. How can I help?"),
            ("Helps customers with anything.", "Hello! I'm triage. How can I help?"),
            ("Triage agent", "Hello! I'm triage. How can I help?"),
            ("The billing assistant.", "Hello! I'm triage. How can I help?"),
            ("A human support operator, for customers who ask for a person.", "Hello! I'm triage. How can I help?"),
        ];
        for (description, expected) in table {
            assert_eq!(greeting("triage", description), expected, "description {description:?}");
        }
    }

    #[test]
    fn removed_remarks_leave_no_stray_spaces_and_glue_no_leading_dots() {
        assert_eq!(without_parentheses("Refunds (see below) , invoices (incl. VAT) ."), "Refunds, invoices.");
        assert_eq!(
            without_parentheses("Our Paris office (9 to 5) and .NET support."),
            "Our Paris office and .NET support."
        );
    }

    #[test]
    fn the_fallback_offers_the_same_topics() {
        assert_eq!(
            fallback("triage", "Front desk: greetings, opening hours, broadband and mobile plans, packages, coverage."),
            "I'm not sure I understood. I can help with opening hours, broadband and mobile plans, packages and more. \
             Could you tell me a bit more about what you need?"
        );
        assert_eq!(
            fallback("triage", ""),
            "I'm not sure I understood. Could you tell me a bit more about what you need?"
        );
        assert_eq!(
            fallback("triage", "You help users with anything."),
            "I'm not sure I understood. I'm triage. Could you tell me a bit more about what you need?",
            "a description that names no topics is not recited"
        );
    }

    #[test]
    fn questions_name_the_missing_argument() {
        let tool = ToolDef {
            name: "check_line_status".into(),
            description: "Check the status of a customer's line by customer id.".into(),
            parameters: json!({}),
            examples: Vec::new(),
            idempotent: true,
            approval: Default::default(),
        };
        assert_eq!(
            ask_sentence(&tool, "customer_id"),
            "To check the status of a customer's line I need your customer id. What is it?"
        );
        let remarked =
            ToolDef { description: "Refund an invoice (stands in for the API: see data).".into(), ..tool.clone() };
        assert_eq!(
            ask_sentence(&remarked, "invoice_number"),
            "To refund an invoice I need your invoice number. What is it?"
        );
        let bare = ToolDef { description: String::new(), ..tool };
        assert_eq!(ask_sentence(&bare, "customer_id"), "To check the line status I need your customer id. What is it?");
    }
}
