//! Text normalisation shared by every text model of the crate: lowercasing and accent folding,
//! tokens with their place in the original text, stopwords, Snowball stems and character n-grams.

use rust_stemmers::{Algorithm, Stemmer};
use std::collections::BTreeSet;
use std::sync::LazyLock;

/// One run of letters and digits in a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token<'a> {
    /// The token as written.
    pub surface: &'a str,
    /// Lowercased, accents folded.
    pub norm: String,
    /// Byte offset of the token in the text.
    pub start: usize,
}

impl Token<'_> {
    /// Byte offset just past the token in the text.
    pub fn end(&self) -> usize {
        self.start + self.surface.len()
    }

    /// Whether the token carries meaning for the text models: a word of two letters or more (no
    /// digits: ids and amounts are facts, not topics) that is not a stopword.
    pub fn is_content(&self) -> bool {
        self.norm.chars().count() >= 2 && self.norm.chars().all(char::is_alphabetic) && !is_stopword(&self.norm)
    }
}

/// How much of a message the text models read, in bytes: a request says what it is about long
/// before this, and reading a pasted log in full would only slow the turn down.
pub const MAX_READ: usize = 4000;

/// The start of `text`, at most `max` bytes, cut at a character boundary.
pub fn head(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `text` as a reply or a handoff quotes it: whole when it has at most `max` characters, else
/// its first `max` characters (a word cut short) and `…`, so a long message is not copied into
/// every handoff it causes.
pub fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", text[..cut].trim_end()),
        None => text.to_string(),
    }
}

/// Lowercases `text` and folds the accents and ligatures of the Latin-script languages.
pub fn normalise(text: &str) -> String {
    const FOLDS: [(&str, &str); 11] = [
        ("àáâãäåā", "a"),
        ("ç", "c"),
        ("èéêëē", "e"),
        ("ìíîïī", "i"),
        ("ñ", "n"),
        ("òóôõöøō", "o"),
        ("ùúûüū", "u"),
        ("ýÿ", "y"),
        ("ß", "ss"),
        ("æ", "ae"),
        ("œ", "oe"),
    ];
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        match FOLDS.iter().find(|(from, _)| from.contains(c)) {
            Some((_, to)) => out.push_str(to),
            None => out.push(c),
        }
    }
    out
}

/// Words of an argument name that say it is an identifier rather than what it identifies.
pub const ID_WORDS: [&str; 10] = ["id", "ids", "number", "num", "no", "nr", "code", "ref", "reference", "key"];

/// The words of an identifier, lowercased: `check_line_status`, `checkLineStatus` → `check`,
/// `line`, `status`.
pub fn name_words(name: &str) -> Vec<String> {
    let mut spaced = String::new();
    for c in name.chars() {
        if c.is_uppercase() {
            spaced.push(' ');
        }
        spaced.push(c);
    }
    spaced.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// The runs of letters and digits of `text`, in order.
pub fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut start = None;
    for (index, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        match (start, c.is_alphanumeric()) {
            (None, true) => start = Some(index),
            (Some(from), false) => {
                let surface = &text[from..index];
                tokens.push(Token { surface, norm: normalise(surface), start: from });
                start = None;
            }
            _ => {}
        }
    }
    tokens
}

/// Whether `word` (normalised) is a function word of one of the six languages, or a word any
/// support request may have ("want", "please", "help", "problem", "number"), which says nothing
/// about what the request is about.
pub fn is_stopword(word: &str) -> bool {
    static STOPWORDS: LazyLock<BTreeSet<&'static str>> =
        LazyLock::new(|| STOPWORD_LISTS.iter().flat_map(|list| list.split_whitespace()).collect());
    STOPWORDS.contains(word)
}

const STOPWORD_LISTS: [&str; 7] = [
    // Any support request
    "help helps problem problems question questions number numbers id ids ayuda problema problemas pregunta \
     numero aide probleme hilfe problem frage nummer aiuto problema domanda ajuda pergunta",
    // English
    "a an the and or but if of to in on at for from by with about as into is are was were be been being am \
     do does did doing have has had having i me my mine myself we our us you your yours he him his she her it \
     its they them their this that these those there here what which who whom whose when where why how can \
     could would should will shall may might must not no so than then too very just also please want wants \
     wanted need needs like get got im ive id dont doesnt didnt cant wont isnt arent wasnt don doesn didn isn \
     aren wasn ll ve re any some all much many go goes going went gone come comes coming make makes made \
     take takes took know knows knew tell tells say says said think see look looks thing things way let lets \
     give gives really actually still again now also difference between explain mean means",
    // Spanish
    "el la los las lo un una unos unas de del al y o u pero si que en por para con sin sobre mi mis me te tu \
     tus su sus se le les nos es son esta estan esto este esa ese eso hay ser estar soy estoy fue muy mas ya \
     como cuando donde quien cual porque tengo tiene tienen quiero quisiera necesito puedo puede favor yo \
     ella ellos usted ha he han",
    // French
    "le la les un une des du de et ou mais si que qui quoi en dans par pour avec sans sur mon ma mes ton ta \
     tes son sa ses je tu il elle nous vous ils elles me te se est sont suis ai as avons ce cet cette ces ne \
     pas plus tres veux voudrais peux besoin au aux qu",
    // German
    "der die das den dem des ein eine einen einem einer und oder aber wenn dass zu im am an auf fur mit von \
     vom bei aus ist sind bin war ich du er sie es wir ihr mein meine meinen mir mich dich uns nicht kein \
     keine auch sehr noch nur mochte kann konnen bitte wie was wer wo wann warum",
    // Italian
    "il lo gli un una uno di del della dei da con su per tra fra ma se che chi non mi ti ci si vi mio mia \
     miei mie tuo sono sei ho hai abbiamo questo questa quello voglio vorrei posso come dove quando perche",
    // Portuguese
    "os as um uma do da dos das em na nos nas com sem eu meu minha meus minhas voce ele ela nao estou sao \
     tenho quero preciso posso onde",
];

/// The Snowball stems of `word` (normalised): the English one, and the one of `language` (ISO
/// 639-1, one of the six) when the text is in another language. Stemming every word in all six
/// languages would make unrelated words meet ("router" and "routes" are both "rout" in French).
pub fn stems(word: &str, language: Option<&str>) -> Vec<String> {
    static STEMMERS: LazyLock<Vec<(&str, Stemmer)>> = LazyLock::new(|| {
        [
            ("en", Algorithm::English),
            ("es", Algorithm::Spanish),
            ("fr", Algorithm::French),
            ("de", Algorithm::German),
            ("it", Algorithm::Italian),
            ("pt", Algorithm::Portuguese),
        ]
        .into_iter()
        .map(|(code, algorithm)| (code, Stemmer::create(algorithm)))
        .collect()
    });
    let mut stems: Vec<String> = STEMMERS
        .iter()
        .filter(|(code, _)| *code == "en" || Some(*code) == language)
        .map(|(_, stemmer)| stemmer.stem(word).into_owned())
        .collect();
    stems.dedup();
    stems
}

/// The character 3- to 5-grams of `word` (normalised) padded with a space on each side, so that
/// a misspelt word still shares most of its features with the right one.
pub fn char_grams(word: &str) -> Vec<String> {
    let padded: Vec<char> = format!(" {word} ").chars().collect();
    (3..=5).flat_map(|n| padded.windows(n).map(|gram| gram.iter().collect::<String>()).collect::<Vec<_>>()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_quotes_a_long_text_by_its_start() {
        assert_eq!(excerpt("my internet is down", 60), "my internet is down");
        assert_eq!(excerpt("my internet is down", 12), "my internet…");
        assert_eq!(excerpt(&"é".repeat(100), 3), "ééé…");
    }

    #[test]
    fn tokens_are_folded_and_keep_their_place() {
        let text = "¿Qué hago? El router no enciende (INV-2041)";
        let tokens = tokens(text);
        let norms: Vec<&str> = tokens.iter().map(|t| t.norm.as_str()).collect();
        assert_eq!(norms, ["que", "hago", "el", "router", "no", "enciende", "inv", "2041"]);
        assert_eq!(&text[tokens[3].start..tokens[3].end()], "router");
        let content: Vec<&str> = tokens.iter().filter(|t| t.is_content()).map(|t| t.norm.as_str()).collect();
        assert_eq!(content, ["hago", "router", "enciende", "inv"]);
    }

    #[test]
    fn stems_cover_the_six_languages_and_grams_are_padded() {
        assert_eq!(stems("refunds", None), ["refund"]);
        assert_eq!(stems("reembolsos", Some("es")), ["reembolso", "reembols"]);
        assert_eq!(stems("router", Some("en")), ["router"]);
        assert_eq!(char_grams("ok"), [" ok", "ok ", " ok "]);
    }
}
