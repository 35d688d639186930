//! Small talk: whether a message is a greeting or a thanks-and-acknowledgement rather than a
//! request, by the nearest-exemplar classifier over short multilingual exemplars.

use crate::exemplar::Exemplars;
use crate::index::Space;
use std::sync::LazyLock;

/// What kind of small talk a message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmallTalk {
    /// Hello, how are you.
    Greeting,
    /// Thanks, ok, that worked, bye.
    Thanks,
}

/// How similar a message must be to a small-talk exemplar.
const MIN_SIMILARITY: f64 = 0.5;
/// How far ahead of the nearest request it must be.
const MIN_LEAD: f64 = 0.1;

const GREETINGS: &[&str] = &[
    "hello",
    "hi",
    "hey",
    "hi there",
    "good morning",
    "good afternoon",
    "good evening",
    "how are you",
    "hola",
    "buenos días",
    "buenas tardes",
    "buenas noches",
    "qué tal",
    "bonjour",
    "bonsoir",
    "salut",
    "hallo",
    "guten Tag",
    "guten Morgen",
    "ciao",
    "buongiorno",
    "buonasera",
    "olá",
    "oi",
    "bom dia",
    "boa tarde",
];

const THANKS: &[&str] = &[
    "thanks",
    "thank you",
    "ok thanks",
    "ok",
    "okay",
    "yes",
    "sure",
    "great",
    "perfect",
    "cool",
    "got it",
    "bye",
    "goodbye",
    "that worked, thanks",
    "it works now",
    "all good now, thank you",
    "that fixed it",
    "gracias",
    "muchas gracias",
    "vale",
    "perfecto",
    "ya funciona",
    "adiós",
    "merci",
    "merci beaucoup",
    "au revoir",
    "danke",
    "danke schön",
    "tschüss",
    "grazie",
    "grazie mille",
    "arrivederci",
    "obrigado",
    "obrigada",
    "tchau",
];

const REQUESTS: &[&str] = &[
    "my internet is down",
    "I have a question about my bill",
    "the router does not work",
    "I need help with my account",
    "can you check something for me",
    "good question, why was I charged",
    "is the line working now",
    "no tengo internet",
    "tengo una pregunta sobre mi factura",
    "ma connexion ne marche pas",
    "mein Internet funktioniert nicht",
    "la linea non funziona",
    "minha internet não funciona",
];

static CLASSIFIER: LazyLock<Exemplars<Option<SmallTalk>>> = LazyLock::new(|| {
    Exemplars::new(&[(Some(SmallTalk::Greeting), GREETINGS), (Some(SmallTalk::Thanks), THANKS), (None, REQUESTS)], 1)
});

/// The kind of small talk `text` is, if it is small talk and not a request.
pub fn small_talk(text: &str) -> Option<SmallTalk> {
    match CLASSIFIER.nearest(text)? {
        (kind, similarity, lead) if similarity >= MIN_SIMILARITY && lead >= MIN_LEAD => kind,
        _ => None,
    }
}

/// The words of `text` beyond small talk: "my bill" of "hello, my bill".
pub fn beyond_small_talk(text: &str) -> String {
    static WORDS: LazyLock<Space> = LazyLock::new(|| Space::new(GREETINGS.iter().chain(THANKS).copied()));
    WORDS.unknown_words(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_and_thanks_are_told_from_requests() {
        for text in ["Hello!", "hi, how are you?", "Buenos dias", "bonjour !", "good morning"] {
            assert_eq!(small_talk(text), Some(SmallTalk::Greeting), "{text:?}");
        }
        for text in ["ok thanks", "Thank you!", "gracias!", "great, it works now", "ok", "merci"] {
            assert_eq!(small_talk(text), Some(SmallTalk::Thanks), "{text:?}");
        }
        assert_eq!(beyond_small_talk("hola, no tengo internet"), "internet");
        assert_eq!(beyond_small_talk("Hello there!"), "");
        for text in ["my internet is down", "hi, I was charged twice for my invoice", "42", "no tengo internet"] {
            assert_eq!(small_talk(text), None, "{text:?}");
        }
    }
}
