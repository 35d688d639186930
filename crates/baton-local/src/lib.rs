//! baton's offline, deterministic local model (`provider = "local"`) and the text signals the
//! core's triggers act on.
//!
//! [`LocalModel`] is a small policy model over the team's own words: agent descriptions and
//! examples, tool descriptions, examples and JSON schemas, and instructions. It downloads
//! nothing, draws no random numbers and iterates no hash map, so the same request always gets the
//! same reply.
//!
//! Text is compared in a TF-IDF vector space: word stems (Snowball, English plus
//! the message's own language) with sublinear term frequency and an idf over every scope
//! document of the team, blended with character 3–5-grams so misspellings still match, and a
//! one-typo spelling correction against the team's vocabulary. A scope (an agent's description,
//! examples and tools; a tool's description, examples and arguments) scores a request by its best
//! document blended with its centroid. Routing, tool choice, knowledge answers, small talk and
//! requests for a person are all decisions over such scores, with floors and margins.
//!
//! [`read_signals`] computes what the triggers read: [`language::detect`] (lingua over the
//! languages the build includes, cargo features `lang-en` to `lang-pt`, steadied by their most
//! frequent words) and [`asks_for_human`].

mod exemplar;
mod facts;
mod human;
mod index;
mod knowledge;
pub mod language;
mod model;
mod policy;
mod reply;
mod route;
mod scope;
mod signals;
mod smalltalk;
mod text;
mod view;

pub use human::asks_for_human;
pub use model::LocalModel;
pub use reply::{check_template, TemplateError};
pub use signals::read_signals;
