//! The language of a user message, for the language trigger: lingua's statistical model over the
//! six supported languages, steadied on very short messages by the words each language uses most.

use crate::text;
use lingua::{Language, LanguageDetector, LanguageDetectorBuilder};
use std::sync::LazyLock;

/// The languages the detector tells apart (ISO 639-1).
pub const SUPPORTED: [&str; 6] = ["en", "es", "fr", "de", "it", "pt"];

/// How much the marker words weigh against lingua's confidence (which sums to 1 over the six).
const MARKER_WEIGHT: f64 = 0.5;
/// How far ahead of the runner-up the best language must be to be reported.
const MIN_LEAD: f64 = 0.12;

/// The lingua languages, in the order of [`SUPPORTED`].
const LANGUAGES: [Language; 6] =
    [Language::English, Language::Spanish, Language::French, Language::German, Language::Italian, Language::Portuguese];

/// Words people write whatever their language ("ok", "wifi"): a message of only these has no
/// language, so a Spanish speaker's "ok" does not read as English.
const NEUTRAL: &str = "ok okay no internet wifi router email app online sms pdf";

/// Frequent words of each language (normalised), in the order of [`SUPPORTED`]: greetings,
/// thanks, yes and no, and function words. A word several languages share counts for each.
const MARKERS: [&str; 6] = [
    "ok okay thanks thank thx pls plz sure yes yeah yep nope hi hello hey bye the a an and is are was \
     were my your you i me it this that what how why where when who please not dont doesnt cant can do \
     does did have has had with for of to on at in from be will would could should there here just",
    "hola gracias si vale bueno buenos buenas dias tardes noches adios que el la los las lo le les un una \
     y es son esta estan mi mis tu me se te de del al mas han ha sin todo tanto mucho muchas no tengo \
     tiene quiero necesito puedo para por con como donde cuando porque pero muy hay hago funciona ayuda \
     favor tambien ya nada algo usted",
    "bonjour salut merci oui non le la les un une des et est sont je tu il nous vous mon ma mes pas ne \
     que qui quoi pour avec dans sur ce cette ca veux voudrais peux revoir bonsoir aide",
    "hallo danke ja nein nicht der die das ein eine und ist sind ich du wir mein meine mit fur von auf \
     bitte kann konnen mochte geht funktioniert tschuss guten tag morgen",
    "ciao grazie si no il lo la gli un una e sono ho mio mia non che per con come dove quando voglio \
     vorrei posso buongiorno buonasera prego funziona aiuto",
    "ola oi obrigado obrigada sim nao o a os as um uma e sao voce voces no na do da em estou esta muito \
     meu minha com para por como onde quando quero preciso posso bom dia boa tarde noite tchau ajuda \
     funciona",
];

/// The language `text` is written in (ISO 639-1, one of [`SUPPORTED`]), or `None` when it has no
/// word (only ids, numbers, punctuation) or no language is clearly ahead.
pub fn detect(text: &str) -> Option<&'static str> {
    static DETECTOR: LazyLock<LanguageDetector> =
        LazyLock::new(|| LanguageDetectorBuilder::from_languages(&LANGUAGES).build());
    let tokens: Vec<text::Token<'_>> = text::head(text, text::MAX_READ)
        .split_whitespace()
        .filter(|chunk| !chunk.chars().any(|c| c.is_ascii_digit()))
        .flat_map(text::tokens)
        .filter(|token| token.norm.chars().all(char::is_alphabetic))
        .filter(|token| !NEUTRAL.split_whitespace().any(|word| word == token.norm))
        .collect();
    if tokens.is_empty() {
        return None;
    }
    let written: Vec<&str> = tokens.iter().map(|token| token.surface).collect();
    let words: Vec<&str> = tokens.iter().map(|token| token.norm.as_str()).collect();
    let confidences = DETECTOR.compute_language_confidence_values(written.join(" ").to_lowercase());
    let mut scores: Vec<(f64, &'static str)> = LANGUAGES
        .iter()
        .zip(SUPPORTED)
        .zip(MARKERS)
        .map(|((language, code), markers)| {
            let confidence =
                confidences.iter().find(|(candidate, _)| candidate == language).map_or(0.0, |(_, value)| *value);
            let marked = words.iter().filter(|word| markers.split_whitespace().any(|m| m == **word)).count();
            (confidence + MARKER_WEIGHT * marked as f64 / words.len() as f64, code)
        })
        .collect();
    scores.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    match scores.as_slice() {
        [(best, code), (second, _), ..] if best - second >= MIN_LEAD => Some(code),
        _ => None,
    }
}
