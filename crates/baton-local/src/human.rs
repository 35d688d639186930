//! Whether a user asks for a person, for the `asks_for_human` trigger and for handing off to a
//! human agent: the nearest-exemplars classifier over requests for a person and ordinary requests
//! in the six languages, and how much of the message the requests for a person account for.

use crate::exemplar::Exemplars;
use crate::text;
use std::sync::LazyLock;

/// How many of the closest exemplars of each kind a message is compared with.
const CLOSEST: usize = 3;
/// How similar a message must be to those requests for a person.
const MIN_SIMILARITY: f64 = 0.25;
/// How far ahead of the nearest ordinary request it must be.
const MIN_LEAD: f64 = 0.05;
/// How much of the message the requests for a person must account for: "the representative
/// value on my invoice is wrong" shares a word with them but is about something else.
const MIN_COVERAGE: f64 = 0.4;

const PERSON: &[&str] = &[
    "I want to talk to a person",
    "can I speak to a human",
    "let me talk to a real person",
    "I'd like to speak with an agent",
    "connect me to a representative",
    "transfer me to a human agent",
    "I want a human, not a bot",
    "is there a real person I can talk to",
    "speak to someone please",
    "put me through to an operator",
    "I want to speak to your manager",
    "can I talk to a supervisor",
    "human please",
    "agent please",
    "live agent",
    "a service representative",
    "is there someone I can call",
    "stop the bot and get me a person",
    "I need to talk to somebody",
    "quiero hablar con una persona",
    "pásame con un humano",
    "necesito hablar con un agente",
    "quiero hablar con alguien de verdad",
    "un operador por favor",
    "quiero hablar con el encargado",
    "hablar con un asesor",
    "con una persona real por favor",
    "je veux parler à quelqu'un",
    "je voudrais parler à un humain",
    "passez-moi un conseiller",
    "un agent s'il vous plaît",
    "je veux parler au responsable",
    "ich möchte mit einem Menschen sprechen",
    "bitte verbinden Sie mich mit einem Mitarbeiter",
    "kann ich mit jemandem reden",
    "einen Berater bitte",
    "voglio parlare con una persona",
    "passami un operatore",
    "vorrei parlare con un essere umano",
    "posso parlare con qualcuno",
    "quero falar com uma pessoa",
    "quero falar com um atendente",
    "me passa para um humano",
    "posso falar com alguém",
];

const OTHER: &[&str] = &[
    "my internet is down",
    "who is the account holder",
    "I was charged twice",
    "when are you open",
    "what are your opening hours at the weekend",
    "is there a shop near me",
    "my invoice has a strange fee",
    "what is this personal data fee",
    "change the name on my account",
    "I want to talk about my invoice",
    "my router is broken",
    "how do I reset my password",
    "I want a refund",
    "cancel my subscription",
    "update my personal details",
    "the person who installed it damaged the wall",
    "someone used my card",
    "the agent at the store was rude",
    "how do I transfer my line to my new address",
    "I'm moving house",
    "transfer the contract to my partner",
    "I can't connect to the internet",
    "how do I connect the router",
    "my calls keep dropping",
    "thanks for your help",
    "what is my customer number",
    "what does this fee on my bill mean",
    "hello",
    "no tengo internet",
    "quiero un reembolso",
    "mi factura está mal",
    "quién es el titular de la cuenta",
    "a qué hora abren",
    "cambiar mis datos personales",
    "ma facture est fausse",
    "je n'ai plus internet",
    "quand êtes-vous ouverts",
    "meine Rechnung ist falsch",
    "mein Internet geht nicht",
    "la mia fattura è sbagliata",
    "non ho internet",
    "minha fatura está errada",
    "estou sem internet",
];

/// Whether `text`, or one of its clauses, asks to be put through to a person: "my internet is
/// down again, put me through to an operator" asks for one in its second clause. Only the part
/// of `text` the text models read counts (a pasted log has thousands of clauses).
pub fn asks_for_human(text: &str) -> bool {
    let text = text::head(text, text::MAX_READ);
    std::iter::once(text).chain(clauses(text)).any(clause_asks_for_human)
}

fn clause_asks_for_human(text: &str) -> bool {
    static CLASSIFIER: LazyLock<Exemplars<bool>> =
        LazyLock::new(|| Exemplars::new(&[(true, PERSON), (false, OTHER)], CLOSEST));
    let text = text::head(text, text::MAX_READ);
    matches!(CLASSIFIER.nearest(text), Some((true, similarity, lead)) if similarity >= MIN_SIMILARITY && lead >= MIN_LEAD)
        && CLASSIFIER.coverage(text, true) >= MIN_COVERAGE
        && !negated(text)
}

/// Whether `text` says no to a person: a negation shortly before a word for one ("I don't want
/// to talk to a human", "no quiero un operador").
fn negated(text: &str) -> bool {
    /// How many words before the person word a negation still applies to it.
    const REACH: usize = 8;
    const NEGATIONS: &str = "no not don dont never without nobody sin nunca ni pas jamais nicht kein keine nie \
        non nao nem";
    const PERSONS: &str = "human humans person people agent representative rep operator manager supervisor someone \
        somebody humano persona agente operador encargado asesor alguien humain personne conseiller responsable \
        quelqu mensch menschen mitarbeiter berater jemand jemandem umano operatore qualcuno pessoa atendente alguem";
    let words: Vec<String> = text::tokens(text).into_iter().map(|token| token.norm).collect();
    let is = |list: &str, word: &str| list.split_whitespace().any(|listed| listed == word);
    words.iter().enumerate().any(|(at, word)| {
        is(PERSONS, word) && words[at.saturating_sub(REACH)..at].iter().any(|before| is(NEGATIONS, before))
    })
}

/// The clauses of `text`: split at sentence punctuation and at the conjunctions that join two
/// requests, in the six languages.
fn clauses(text: &str) -> Vec<&str> {
    const JOINS: [&str; 10] = [" and ", " but ", " y ", " pero ", " et ", " mais ", " und ", " aber ", " ma ", " mas "];
    let mut parts: Vec<&str> = text.split(['.', ',', ';', '!', '?', '\n']).collect();
    for join in JOINS {
        parts = parts.iter().flat_map(|part| part.split(join)).collect();
    }
    let parts: Vec<&str> = parts.into_iter().map(str::trim).filter(|part| !part.is_empty()).collect();
    if parts.len() > 1 {
        parts
    } else {
        Vec::new()
    }
}
