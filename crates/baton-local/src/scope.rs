//! Scopes: what an agent or a tool is for, as a set of short documents built from the team (its
//! description, the utterances it handles, its tools' descriptions and examples; for an agent,
//! also the passages of its instructions it can answer from), scored against a request and able
//! to say which words of the request matched.

use crate::index::{Space, Vector};
use crate::{language, text};
use baton_core::{Agent, Team, ToolDef};
use std::collections::BTreeSet;

/// How much the best-matching document counts in a scope's score; the rest is the centroid.
const MAX_SHARE: f64 = 0.75;

/// The documents of one scope, vectorised.
#[derive(Clone, Debug)]
pub struct Scope {
    docs: Vec<Vector>,
    centroid: Vector,
    stems: BTreeSet<String>,
}

impl Scope {
    /// The scope made of `texts`, and of `background` texts that score requests but are no
    /// reason to take them from another agent (what an agent knows may mention other agents'
    /// topics), vectorised in `space`. Empty texts are left out.
    pub fn new(space: &Space, texts: &[String], background: &[String]) -> Scope {
        let vectors = |texts: &[String]| -> Vec<Vector> {
            texts.iter().filter(|text| !text.trim().is_empty()).map(|text| space.vector(text)).collect()
        };
        let mut docs = vectors(texts);
        let stems = docs.iter().flat_map(Vector::stems).cloned().collect();
        docs.extend(vectors(background));
        Scope { centroid: Vector::centroid(&docs), docs, stems }
    }

    /// This scope with one more document (not a background one).
    pub fn with(&self, space: &Space, text: &str) -> Scope {
        let vector = space.vector(text);
        let mut stems = self.stems.clone();
        stems.extend(vector.stems().cloned());
        let mut docs = self.docs.clone();
        docs.push(vector);
        Scope { centroid: Vector::centroid(&docs), docs, stems }
    }

    /// How well `query` fits the scope: a blend of its best document and its centroid, in `[0, 1]`.
    pub fn score(&self, query: &Vector) -> f64 {
        let best = self.docs.iter().map(|doc| query.similarity(doc)).fold(0.0, f64::max);
        MAX_SHARE * best + (1.0 - MAX_SHARE) * query.similarity(&self.centroid)
    }

    /// Whether the scope has the stems of a word.
    fn has(&self, stems: &[String]) -> bool {
        stems.iter().any(|stem| self.stems.contains(stem))
    }

    /// Whether `text` (the part the text models read) has a word this scope has and `other` has
    /// not: evidence for this scope over the other beyond the words they share.
    pub fn has_words_beyond(&self, other: &Scope, space: &Space, text: &str) -> bool {
        let text = text::head(text, text::MAX_READ);
        let language = language::detect(text);
        text::tokens(text).iter().filter(|token| token.is_content()).any(|token| {
            let stems = space.word_stems(&token.norm, language);
            self.has(&stems) && !other.has(&stems)
        })
    }

    /// The phrases of `text` whose words the scope has, as written: runs of matching words,
    /// bridged over stopwords but not over punctuation or numbers ("internet is down"), each
    /// once, in the order they first appear. Only the part of `text` the text models read counts.
    pub fn mentions(&self, space: &Space, text: &str) -> Vec<String> {
        let text = text::head(text, text::MAX_READ);
        let language = language::detect(text);
        let mut phrases = Vec::new();
        let mut run: Option<(usize, usize)> = None;
        let mut previous_end = 0;
        for token in text::tokens(text) {
            let punctuated = text[previous_end..token.start].chars().any(|c| !c.is_whitespace() && c != '\'');
            previous_end = token.end();
            let matches = token.is_content() && self.has(&space.word_stems(&token.norm, language));
            let breaks = punctuated || !(matches || text::is_stopword(&token.norm));
            if let Some((start, end)) = run.filter(|_| breaks) {
                phrases.push(text[start..end].to_string());
                run = None;
            }
            if matches {
                run = Some((run.map_or(token.start, |(start, _)| start), token.end()));
            }
        }
        if let Some((start, end)) = run {
            phrases.push(text[start..end].to_string());
        }
        let mut seen = BTreeSet::new();
        phrases.retain(|phrase| seen.insert(phrase.clone()));
        phrases
    }
}

/// The documents of an agent's scope: its description and examples, and its tools'.
pub fn agent_texts(team: &Team, agent: &Agent) -> Vec<String> {
    let tools = agent.tools.iter().filter_map(|name| team.tools.get(name));
    let tool_texts = tools.flat_map(|tool| std::iter::once(&tool.description).chain(&tool.examples));
    std::iter::once(&agent.description).chain(&agent.examples).chain(tool_texts).cloned().collect()
}

/// The documents of a tool's scope: its description, examples and argument descriptions.
pub fn tool_texts(tool: &ToolDef) -> Vec<String> {
    let arguments = tool
        .parameters
        .get("properties")
        .and_then(|properties| properties.as_object())
        .into_iter()
        .flat_map(|properties| properties.values())
        .filter_map(|property| property.get("description").and_then(|d| d.as_str()).map(str::to_string));
    std::iter::once(tool.description.clone()).chain(tool.examples.iter().cloned()).chain(arguments).collect()
}
