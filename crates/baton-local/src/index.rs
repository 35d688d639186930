//! A TF-IDF vector space over short texts. Each text has two channels: word stems (what it is
//! about) and character n-grams (so misspellings still match); a similarity is the cosine of each
//! channel, blended. A word the corpus lacks but that is one typo away from one of its words is
//! read as that word.

use crate::{language, text};
use std::collections::{BTreeMap, BTreeSet};

/// The share of the word channel in a similarity; the rest is the character channel.
const WORD_SHARE: f64 = 0.6;

/// The document frequencies of a corpus, which weigh the features of every text vectorised in it.
#[derive(Clone, Debug, Default)]
pub struct Space {
    docs: usize,
    words: BTreeMap<String, usize>,
    chars: BTreeMap<String, usize>,
    vocabulary: BTreeSet<String>,
}

/// A text in a [`Space`]: each channel sparse, sorted by feature and of unit length (or empty).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Vector {
    words: Vec<(String, f64)>,
    chars: Vec<(String, f64)>,
}

/// The raw features of a text: word stems and character n-grams, with repeats.
struct Features {
    words: Vec<String>,
    chars: Vec<String>,
}

impl Space {
    /// The space whose document frequencies are those of `docs`.
    pub fn new<'a>(docs: impl IntoIterator<Item = &'a str>) -> Space {
        let docs: Vec<&str> = docs.into_iter().collect();
        let mut space = Space::default();
        for doc in &docs {
            space.vocabulary.extend(text::tokens(doc).into_iter().filter(|t| t.is_content()).map(|t| t.norm));
        }
        for doc in docs {
            let Features { mut words, mut chars } = space.features(doc);
            for (list, df) in [(&mut words, &mut space.words), (&mut chars, &mut space.chars)] {
                list.sort();
                list.dedup();
                for feature in list.drain(..) {
                    *df.entry(feature).or_insert(0) += 1;
                }
            }
            space.docs += 1;
        }
        space
    }

    /// `text` as a vector: sublinear term frequency times smoothed inverse document frequency (a
    /// feature no document has weighs most), each channel normalised.
    pub fn vector(&self, text: &str) -> Vector {
        let Features { words, chars } = self.features(text);
        Vector { words: self.channel(words, &self.words), chars: self.channel(chars, &self.chars) }
    }

    fn channel(&self, features: Vec<String>, df: &BTreeMap<String, usize>) -> Vec<(String, f64)> {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for feature in features {
            *counts.entry(feature).or_insert(0) += 1;
        }
        let docs = self.docs as f64;
        let weighted = counts
            .into_iter()
            .map(|(feature, tf)| {
                let idf = ((1.0 + docs) / (1.0 + df.get(&feature).copied().unwrap_or(0) as f64)).ln() + 1.0;
                let weight = (1.0 + (tf as f64).ln()) * idf;
                (feature, weight)
            })
            .collect();
        normalised(weighted)
    }

    /// Whether any document of the space has one of the word features of `text`.
    pub fn knows_words_of(&self, text: &str) -> bool {
        self.features(text).words.iter().any(|word| self.words.contains_key(word))
    }

    /// The content words of (the part the text models read of) `text` no document of the space
    /// has, joined by spaces.
    pub fn unknown_words(&self, text: &str) -> String {
        self.words_of(text, false)
    }

    /// The content words of (the part the text models read of) `text` some document of the space
    /// has, joined by spaces.
    pub fn known_words(&self, text: &str) -> String {
        self.words_of(text, true)
    }

    fn words_of(&self, text: &str, known: bool) -> String {
        let text = text::head(text, text::MAX_READ);
        let language = language::detect(text);
        let tokens = text::tokens(text);
        let words = tokens.iter().filter(|token| token.is_content()).filter(|token| {
            self.word_stems(&token.norm, language).iter().any(|stem| self.words.contains_key(stem)) == known
        });
        words.map(|token| token.surface).collect::<Vec<_>>().join(" ")
    }

    /// The stems of one normalised content word of a text in `language`, read as a word of the
    /// corpus if misspelt.
    pub fn word_stems(&self, word: &str, language: Option<&str>) -> Vec<String> {
        text::stems(self.spelling(word), language)
    }

    fn features(&self, text: &str) -> Features {
        let text = text::head(text, text::MAX_READ);
        let language = language::detect(text);
        let mut words = Vec::new();
        let mut chars = Vec::new();
        for token in text::tokens(text).iter().filter(|token| token.is_content()) {
            words.extend(self.word_stems(&token.norm, language));
            chars.extend(text::char_grams(&token.norm));
        }
        Features { words, chars }
    }

    /// `word`, or the word of the corpus it is a misspelling of: a swap of adjacent letters for
    /// four-letter words, one edit (a swap counts as one) for words of five to seven letters, two
    /// for longer ones. Ties go to the first in alphabetical order.
    fn spelling<'a>(&'a self, word: &'a str) -> &'a str {
        /// Longer tokens are codes or noise, not misspelt words.
        const MAX_SPELLED: usize = 24;
        let length = word.chars().count();
        if length < 4 || self.vocabulary.is_empty() || self.vocabulary.contains(word) {
            return word;
        }
        let allowed = if length >= 8 { 2 } else { 1 };
        if length > MAX_SPELLED {
            return word;
        }
        let mut best: Option<(usize, &str)> = None;
        for known in &self.vocabulary {
            if known.chars().count().abs_diff(length) > allowed || (length == 4 && !is_anagram(word, known)) {
                continue;
            }
            let distance = edit_distance(word, known);
            if distance <= allowed && best.is_none_or(|(fewest, _)| distance < fewest) {
                best = Some((distance, known));
            }
        }
        best.map_or(word, |(_, known)| known)
    }
}

fn is_anagram(a: &str, b: &str) -> bool {
    let sorted = |word: &str| {
        let mut chars: Vec<char> = word.chars().collect();
        chars.sort_unstable();
        chars
    };
    sorted(a) == sorted(b)
}

/// The optimal-string-alignment distance: insertions, deletions, substitutions and swaps of
/// adjacent characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows: Vec<Vec<usize>> =
        (0..=a.len()).map(|i| (0..=b.len()).map(|j| if i == 0 { j } else { i }).collect()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1).min(rows[i][j - 1] + 1).min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

impl Vector {
    /// Whether the text had no content word.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The word features (stems) of the text.
    pub fn stems(&self) -> impl Iterator<Item = &String> {
        self.words.iter().map(|(stem, _)| stem)
    }

    /// The blended cosine similarity of two vectors, in `[0, 1]`.
    pub fn similarity(&self, other: &Vector) -> f64 {
        WORD_SHARE * dot(&self.words, &other.words) + (1.0 - WORD_SHARE) * dot(&self.chars, &other.chars)
    }

    /// How much of this vector's weight `other` has: the blended share of its squared weights on
    /// features `other` has too, in `[0, 1]`. Unlike the cosine, a long document that contains a
    /// short question entirely covers it.
    pub fn coverage(&self, other: &Vector) -> f64 {
        let covered = |mine: &[(String, f64)], theirs: &[(String, f64)]| {
            let mask: Vec<(String, f64)> = theirs.iter().map(|(feature, _)| (feature.clone(), 1.0)).collect();
            let squared: Vec<(String, f64)> =
                mine.iter().map(|(feature, weight)| (feature.clone(), weight * weight)).collect();
            dot(&squared, &mask)
        };
        WORD_SHARE * covered(&self.words, &other.words) + (1.0 - WORD_SHARE) * covered(&self.chars, &other.chars)
    }

    /// The normalised mean of `vectors`: what they have in common weighs most.
    pub fn centroid(vectors: &[Vector]) -> Vector {
        let mut words: BTreeMap<String, f64> = BTreeMap::new();
        let mut chars: BTreeMap<String, f64> = BTreeMap::new();
        for vector in vectors {
            for (sum, channel) in [(&mut words, &vector.words), (&mut chars, &vector.chars)] {
                for (feature, weight) in channel {
                    *sum.entry(feature.clone()).or_insert(0.0) += weight;
                }
            }
        }
        Vector { words: normalised(words.into_iter().collect()), chars: normalised(chars.into_iter().collect()) }
    }
}

/// Scales a sorted channel to unit length.
fn normalised(mut channel: Vec<(String, f64)>) -> Vec<(String, f64)> {
    let norm = channel.iter().map(|(_, weight)| weight * weight).sum::<f64>().sqrt();
    if norm > 0.0 {
        for (_, weight) in &mut channel {
            *weight /= norm;
        }
    }
    channel
}

/// The dot product of two sorted sparse channels.
fn dot(a: &[(String, f64)], b: &[(String, f64)]) -> f64 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                sum += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_and_inflections_still_match_and_rare_words_weigh_more() {
        let space = Space::new(["my internet is down", "I was charged twice", "refund my invoice"]);
        let internet = space.vector("my internet is down");
        assert!((internet.similarity(&internet) - 1.0).abs() < 1e-9);
        let typo = space.vector("my intrenet is donw");
        let charge = space.vector("I was charged twice");
        assert!(typo.similarity(&internet) > 0.2);
        assert!(typo.similarity(&internet) > typo.similarity(&charge));
        assert!(space.vector("refunds").similarity(&space.vector("refund my invoice")) > 0.4);
        assert!(space.vector("42").is_empty());
        assert!(space.knows_words_of("Invoices!") && !space.knows_words_of("ok"));
        assert_eq!(space.spelling("donw"), "down");
        assert_eq!(space.spelling("intrenet"), "internet");
        assert_eq!(space.spelling("town"), "town");
    }
}
