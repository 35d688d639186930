//! A nearest-exemplars classifier: labelled example sentences in their own TF-IDF space; a text
//! takes the label whose closest exemplars it is most similar to on average (with more than one,
//! a single word shared with a single exemplar is weak evidence).

use crate::index::{Space, Vector};

/// Labelled exemplars, vectorised once.
pub struct Exemplars<L> {
    space: Space,
    /// Each label with its exemplars and their centroid.
    labels: Vec<(L, Vec<Vector>, Vector)>,
    closest: usize,
}

impl<L: Copy + PartialEq> Exemplars<L> {
    /// The classifier over `sets` (each label with its exemplar sentences) whose similarity to a
    /// label is the mean of the `closest` exemplars of the label.
    pub fn new(sets: &[(L, &[&str])], closest: usize) -> Self {
        let space = Space::new(sets.iter().flat_map(|(_, texts)| texts.iter().copied()));
        let labels = sets
            .iter()
            .map(|(label, texts)| {
                let exemplars: Vec<Vector> = texts.iter().map(|text| space.vector(text)).collect();
                let centroid = Vector::centroid(&exemplars);
                (*label, exemplars, centroid)
            })
            .collect();
        Exemplars { space, labels, closest: closest.max(1) }
    }

    /// How much of `text` the exemplars of `label` account for: the share of its weight on
    /// features some exemplar of the label has.
    pub fn coverage(&self, text: &str, label: L) -> f64 {
        let vector = self.space.vector(text);
        let centroid = self.labels.iter().find(|(l, ..)| *l == label).map(|(_, _, centroid)| centroid);
        centroid.map_or(0.0, |centroid| vector.coverage(centroid))
    }

    /// The label `text` is most similar to, with its similarity, and how far it is ahead of the
    /// next label.
    pub fn nearest(&self, text: &str) -> Option<(L, f64, f64)> {
        let vector = self.space.vector(text);
        if vector.is_empty() {
            return None;
        }
        let scored: Vec<(L, f64)> =
            self.labels.iter().map(|(label, exemplars, _)| (*label, self.similarity(&vector, exemplars))).collect();
        let (label, best) = scored.iter().copied().reduce(|a, b| if b.1 > a.1 { b } else { a })?;
        let next = scored.iter().filter(|(other, _)| *other != label).map(|(_, s)| *s).fold(0.0, f64::max);
        Some((label, best, best - next))
    }

    /// The mean similarity of `vector` to the `closest` of `exemplars`.
    fn similarity(&self, vector: &Vector, exemplars: &[Vector]) -> f64 {
        let mut scores: Vec<f64> = exemplars.iter().map(|exemplar| vector.similarity(exemplar)).collect();
        scores.sort_by(|a, b| b.total_cmp(a));
        let top = &scores[..scores.len().min(self.closest)];
        top.iter().sum::<f64>() / top.len().max(1) as f64
    }
}
