//! The language of a user message, for the language trigger and for stemming: lingua's
//! statistical model over the languages this build includes, steadied on very short messages by
//! the words each language uses most.
//!
//! English is always in; each other language is a cargo feature of this crate (`lang-es`,
//! `lang-fr`, `lang-de`, `lang-it`, `lang-pt`, or `all-languages`), forwarded by `baton` and
//! `baton-cli`, because each adds 4 to 6 MB of lingua's model to the binary. A build tells apart
//! only the languages it includes: a message in another language reads as no language, or as the
//! included one it is closest to.

use crate::text;
use baton_core::names;
use lingua::{Language, LanguageDetector, LanguageDetectorBuilder};
use std::sync::LazyLock;

/// The languages a build may add to English (ISO 639-1), with the cargo feature that adds each.
pub const OPTIONAL: [(&str, &str); 5] =
    [("es", "lang-es"), ("fr", "lang-fr"), ("de", "lang-de"), ("it", "lang-it"), ("pt", "lang-pt")];

/// The languages this build tells apart (ISO 639-1): English, and those of [`OPTIONAL`] it was
/// built with.
pub const SUPPORTED: [&str; INCLUDED.len()] = included_codes();

/// How much the marker words weigh against lingua's confidence (which sums to 1 over the
/// included languages).
const MARKER_WEIGHT: f64 = 0.5;
/// How far ahead of the runner-up the best language must be to be reported.
const MIN_LEAD: f64 = 0.12;

/// Words people write whatever their language ("ok", "wifi"): a message of only these has no
/// language, so a Spanish speaker's "ok" does not read as English.
const NEUTRAL: &str = "ok okay no internet wifi router email app online sms pdf";

/// A language this build tells apart.
struct Detectable {
    /// Its ISO 639-1 code.
    code: &'static str,
    /// lingua's model of it.
    model: Language,
    /// Its frequent words (normalised): greetings, thanks, yes and no, and function words. A word
    /// several languages share counts for each.
    markers: &'static str,
}

/// The languages this build includes: English, then those of [`OPTIONAL`] in order.
const INCLUDED: &[Detectable] = &[
    Detectable {
        code: "en",
        model: Language::English,
        markers: "ok okay thanks thank thx pls plz sure yes yeah yep nope hi hello hey bye the a an and is are was \
            were my your you i me it this that what how why where when who please not dont doesnt cant can do \
            does did have has had with for of to on at in from be will would could should there here just",
    },
    #[cfg(feature = "lang-es")]
    Detectable {
        code: "es",
        model: Language::Spanish,
        markers:
            "hola gracias si vale bueno buenos buenas dias tardes noches adios que el la los las lo le les un una \
            y es son esta estan mi mis tu me se te de del al mas han ha sin todo tanto mucho muchas no tengo \
            tiene quiero necesito puedo para por con como donde cuando porque pero muy hay hago funciona ayuda \
            favor tambien ya nada algo usted",
    },
    #[cfg(feature = "lang-fr")]
    Detectable {
        code: "fr",
        model: Language::French,
        markers: "bonjour salut merci oui non le la les un une des et est sont je tu il nous vous mon ma mes pas ne \
            que qui quoi pour avec dans sur ce cette ca veux voudrais peux revoir bonsoir aide",
    },
    #[cfg(feature = "lang-de")]
    Detectable {
        code: "de",
        model: Language::German,
        markers: "hallo danke ja nein nicht der die das ein eine und ist sind ich du wir mein meine mit fur von auf \
            bitte kann konnen mochte geht funktioniert tschuss guten tag morgen",
    },
    #[cfg(feature = "lang-it")]
    Detectable {
        code: "it",
        model: Language::Italian,
        markers: "ciao grazie si no il lo la gli un una e sono ho mio mia non che per con come dove quando voglio \
            vorrei posso buongiorno buonasera prego funziona aiuto",
    },
    #[cfg(feature = "lang-pt")]
    Detectable {
        code: "pt",
        model: Language::Portuguese,
        markers: "ola oi obrigado obrigada sim nao o a os as um uma e sao voce voces no na do da em estou esta muito \
            meu minha com para por como onde quando quero preciso posso bom dia boa tarde noite tchau ajuda \
            funciona",
    },
];

/// The codes of [`INCLUDED`], for [`SUPPORTED`].
const fn included_codes() -> [&'static str; INCLUDED.len()] {
    let mut codes = [""; INCLUDED.len()];
    let mut index = 0;
    while index < INCLUDED.len() {
        codes[index] = INCLUDED[index].code;
        index += 1;
    }
    codes
}

/// What to tell a team author whose agent speaks `code`, a language this build cannot recognise:
/// the feature that adds it when a build can include it, and the languages this one recognises.
pub fn unrecognised(code: &str) -> String {
    let recognised = format!("this baton recognises {}", names::list(SUPPORTED));
    match OPTIONAL.iter().find(|(optional, _)| *optional == code) {
        Some((_, feature)) => format!(
            "{recognised}: '{code}' needs a baton built with the cargo feature {feature}, e.g. \
             `cargo install --path crates/baton-cli --features {feature}`"
        ),
        None => format!(
            "{recognised}; a build can add {} (the cargo feature lang-CODE, e.g. lang-fr)",
            names::list(OPTIONAL.iter().map(|(optional, _)| *optional))
        ),
    }
}

/// The language `text` is written in (ISO 639-1, one of [`SUPPORTED`]), or `None` when it has no
/// word (only ids, numbers, punctuation), no language is clearly ahead, or this build includes
/// no language but English to choose from.
pub fn detect(text: &str) -> Option<&'static str> {
    static DETECTOR: LazyLock<Option<LanguageDetector>> = LazyLock::new(|| {
        let models: Vec<Language> = INCLUDED.iter().map(|language| language.model).collect();
        (models.len() > 1).then(|| LanguageDetectorBuilder::from_languages(&models).build())
    });
    let detector = DETECTOR.as_ref()?;
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
    let confidences = detector.compute_language_confidence_values(written.join(" ").to_lowercase());
    let mut scores: Vec<(f64, &'static str)> = INCLUDED
        .iter()
        .map(|language| {
            let confidence =
                confidences.iter().find(|(candidate, _)| *candidate == language.model).map_or(0.0, |(_, value)| *value);
            let marked = words.iter().filter(|word| language.markers.split_whitespace().any(|m| m == **word)).count();
            (confidence + MARKER_WEIGHT * marked as f64 / words.len() as f64, language.code)
        })
        .collect();
    scores.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    match scores.as_slice() {
        [(best, code), (second, _), ..] if best - second >= MIN_LEAD => Some(code),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_languages_told_apart_are_english_and_the_features_built_with() {
        let built_with = [
            ("es", cfg!(feature = "lang-es")),
            ("fr", cfg!(feature = "lang-fr")),
            ("de", cfg!(feature = "lang-de")),
            ("it", cfg!(feature = "lang-it")),
            ("pt", cfg!(feature = "lang-pt")),
        ];
        let expected: Vec<&str> =
            std::iter::once("en").chain(built_with.iter().filter(|(_, on)| *on).map(|(code, _)| *code)).collect();
        assert_eq!(SUPPORTED.to_vec(), expected);
        assert_eq!(OPTIONAL.map(|(code, _)| code), built_with.map(|(code, _)| code));
    }

    #[test]
    fn a_message_reads_only_as_a_language_this_build_includes() {
        for text in
            ["no tengo internet", "je voudrais un remboursement", "mein Internet geht nicht", "I was charged twice"]
        {
            if let Some(found) = detect(text) {
                assert!(SUPPORTED.contains(&found), "{text:?} read as {found}, which this build does not include");
            }
        }
        if SUPPORTED.as_slice() == ["en"] {
            assert_eq!(detect("no tengo internet"), None, "with English alone there is nothing to tell apart");
        }
    }

    #[test]
    fn an_unrecognised_language_is_told_the_feature_that_adds_it() {
        let french = unrecognised("fr");
        assert!(french.contains("cargo install --path crates/baton-cli --features lang-fr"), "{french}");
        assert!(french.starts_with("this baton recognises 'en'"), "{french}");
        let dutch = unrecognised("nl");
        assert!(dutch.contains("a build can add 'es', 'fr', 'de', 'it' and 'pt'"), "{dutch}");
    }
}
