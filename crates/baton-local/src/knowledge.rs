//! Knowledge: the passages of an agent's instructions a user's general question can be answered
//! with ("Opening hours: Monday to Saturday 9:00–18:00."), found by the same text model.

use crate::index::{Space, Vector};
use crate::text;

/// How well a passage must fit a question to answer it: the mean of their cosine and of how much
/// of the question the passage covers.
const MIN_FIT: f64 = 0.4;
/// How much of a `Label: value` passage's label the question must name for the label to count:
/// "we need a UAT plan for the new CRM" names all of "UAT plan".
const LABEL_NAMED: f64 = 0.75;
/// What a named label adds to the fit: a long passage shares little of its wording with a short
/// question, but its label says what it is about.
const LABEL_BONUS: f64 = 0.25;

/// One answerable passage.
#[derive(Clone, Debug)]
struct Passage {
    text: String,
    vector: Vector,
    label: Option<Vector>,
}

/// The answerable passages of one agent's instructions.
#[derive(Clone, Debug, Default)]
pub struct Knowledge {
    passages: Vec<Passage>,
}

impl Knowledge {
    /// The answerable passages of `instructions`: sentences addressed to the agent ("You are
    /// ...") or about the team's machinery (naming one of `names`: agents, tools) are
    /// instructions, not knowledge, and are left out; a `Label: value` line is knowledge even when
    /// it names an agent ("Data quality: ..." in a team with a `data` agent).
    pub fn passages(instructions: &str, names: &[&str]) -> Vec<String> {
        passages(instructions)
            .into_iter()
            .filter(|passage| {
                let tokens = text::tokens(passage);
                let addressed = tokens.first().is_some_and(|first| matches!(first.norm.as_str(), "you" | "your"));
                let machinery = tokens.iter().any(|token| names.iter().any(|name| token.norm == text::normalise(name)));
                !addressed && (!machinery || is_labelled(passage))
            })
            .collect()
    }

    /// The knowledge made of `passages`, vectorised in `space` (passages included in its corpus).
    pub fn new(space: &Space, passages: Vec<String>) -> Knowledge {
        let passages = passages
            .into_iter()
            .map(|text| {
                let label = text.split_once(':').filter(|_| is_labelled(&text)).map(|(label, _)| space.vector(label));
                Passage { vector: space.vector(&text), label: label.filter(|label| !label.is_empty()), text }
            })
            .collect();
        Knowledge { passages }
    }

    /// The passage that answers `question`, if one clearly does. Words the team never wrote (a
    /// town's name) are left out of the question: no passage could have them.
    pub fn answer(&self, space: &Space, question: &str) -> Option<&str> {
        let question = space.vector(&space.known_words(question));
        if question.is_empty() {
            return None;
        }
        let (passage, fit) = self
            .passages
            .iter()
            .map(|passage| {
                let fit = (question.similarity(&passage.vector) + question.coverage(&passage.vector)) / 2.0;
                let named = passage.label.as_ref().is_some_and(|label| label.coverage(&question) >= LABEL_NAMED);
                (passage.text.as_str(), if named { (fit + LABEL_BONUS).max(MIN_FIT) } else { fit })
            })
            .fold(None, |best: Option<(&str, f64)>, (passage, fit)| match best {
                Some((_, top)) if top >= fit => best,
                _ => Some((passage, fit)),
            })?;
        (fit >= MIN_FIT).then_some(passage)
    }
}

/// Splits instructions into passages: each bullet or `Label: value` line on its own, prose
/// (lines wrapped inside a paragraph joined again) sentence by sentence. Headings are left out.
fn passages(instructions: &str) -> Vec<String> {
    let mut passages = Vec::new();
    let mut prose = String::new();
    let flush = |prose: &mut String, passages: &mut Vec<String>| {
        passages.extend(sentences(prose));
        prose.clear();
    };
    for line in instructions.lines().map(str::trim) {
        let bullet = strip_bullet(line);
        if line.is_empty() || line.starts_with('#') || (line.ends_with(':') && bullet.is_none()) {
            flush(&mut prose, &mut passages);
        } else if let Some(item) = bullet {
            flush(&mut prose, &mut passages);
            passages.push(item.to_string());
        } else if is_labelled(line) {
            flush(&mut prose, &mut passages);
            passages.push(line.to_string());
        } else {
            if !prose.is_empty() {
                prose.push(' ');
            }
            prose.push_str(line);
        }
    }
    flush(&mut prose, &mut passages);
    passages.retain(|passage| !passage.is_empty());
    passages
}

/// The text of a bullet line (`- `, `* `, `• `, `1. `, `1) `), if it is one.
fn strip_bullet(line: &str) -> Option<&str> {
    if let Some(rest) = line.strip_prefix(['-', '*', '•']) {
        return rest.starts_with(' ').then(|| rest.trim());
    }
    let digits = line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let rest = line[digits..].strip_prefix(['.', ')'])?;
    (digits > 0 && rest.starts_with(' ')).then(|| rest.trim())
}

/// Whether a line reads `Label: value`, the label being one to four words.
fn is_labelled(line: &str) -> bool {
    match line.split_once(':') {
        Some((label, value)) => {
            let words = label.split_whitespace().count();
            (1..=4).contains(&words)
                && !value.trim().is_empty()
                && label.chars().all(|c| c.is_alphanumeric() || c == ' ')
        }
        None => false,
    }
}

/// The sentences of a paragraph.
fn sentences(paragraph: &str) -> Vec<String> {
    let mut sentences = Vec::new();
    let mut current = String::new();
    let mut chars = paragraph.chars().peekable();
    while let Some(c) = chars.next() {
        current.push(c);
        if matches!(c, '.' | '?' | '!') && chars.peek().is_none_or(|next| next.is_whitespace()) {
            sentences.push(current.trim().to_string());
            current.clear();
        }
    }
    sentences.push(current.trim().to_string());
    sentences.retain(|sentence| !sentence.is_empty());
    sentences
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_split_into_answerable_passages() {
        let instructions =
            "You are the front desk. Greet the customer and hand off to billing\nfor money questions.\n\n\
            Facts:\n- Opening hours: Monday to Saturday 9:00–18:00.\n- We are closed on Sundays.\n\
            Address: 12 Analytical Row, London.\n";
        assert_eq!(
            passages(instructions),
            [
                "You are the front desk.",
                "Greet the customer and hand off to billing for money questions.",
                "Opening hours: Monday to Saturday 9:00–18:00.",
                "We are closed on Sundays.",
                "Address: 12 Analytical Row, London.",
            ]
        );
        let passages = Knowledge::passages(instructions, &["billing"]);
        let space = Space::new(passages.iter().map(String::as_str));
        let knowledge = Knowledge::new(&space, passages);
        let answer = |question: &str| knowledge.answer(&space, question);
        assert_eq!(answer("when are you open on saturday?"), Some("Opening hours: Monday to Saturday 9:00–18:00."));
        assert_eq!(answer("what is your address"), Some("Address: 12 Analytical Row, London."));
        assert_eq!(answer("are you open on saturday in Leeds?"), Some("Opening hours: Monday to Saturday 9:00–18:00."));
        assert_eq!(answer("my router is broken"), None);
        assert_eq!(answer("money questions"), None);
    }

    #[test]
    fn a_named_label_answers_with_its_long_passage_even_when_it_names_an_agent() {
        let instructions = "You are the data specialist; hand testing questions to testing.\n\
            Data quality: profile the data for completeness, uniqueness, validity, consistency and timeliness, \
            and agree a threshold for each one with the owners of every source system.\n\
            UAT plan: state the scope, who tests, the entry and exit criteria, the schedule and the sign-off.\n";
        let passages = Knowledge::passages(instructions, &["data", "testing"]);
        assert_eq!(passages.len(), 2, "the labelled lines are knowledge, the instruction is not: {passages:?}");
        let space = Space::new(passages.iter().map(String::as_str));
        let knowledge = Knowledge::new(&space, passages);
        let answer = |question: &str| knowledge.answer(&space, question).map(|passage| &passage[..8]);
        assert_eq!(answer("how do we measure data quality in the new warehouse"), Some("Data qua"));
        assert_eq!(answer("we need a UAT plan"), Some("UAT plan"));
        assert_eq!(answer("my router is broken"), None);
    }
}
