use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use indexmap::IndexSet;

use super::index::TemplateIndex;

/// The best gallery identity for a probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub identity: String,
    pub similarity: f32,
}

/// All templates as one row-major matrix, so matching is a matrix–vector product; above a
/// size, an HNSW index proposes candidates and only their identities are scored exactly.
#[derive(Debug, Clone)]
pub struct Matcher {
    dim: usize,
    /// Identity names; an identity's number is its position here.
    names: IndexSet<String>,
    /// Watchlist names, and each identity's watchlist as a position in them (a million
    /// identities on a handful of watchlists should not hold a million strings).
    watchlist_names: IndexSet<String>,
    watchlists: Vec<u32>,
    /// Identity of each template row.
    owners: Vec<u32>,
    /// Index key of each template row (see `index::template_key`).
    keys: Vec<u64>,
    templates: Vec<f32>,
    /// "Not this person" embeddings, row-major, and the identity each belongs to.
    negatives: Vec<f32>,
    negative_owners: Vec<u32>,
    /// Negatives of every identity: faces of strangers marked ignored.
    anchors: Vec<f32>,
    index: Option<IndexedSearch>,
    /// Built on first use after the last change.
    lookup: OnceLock<Arc<Lookup>>,
}

/// The index and how it is searched.
#[derive(Debug, Clone)]
struct IndexedSearch {
    index: Arc<TemplateIndex>,
    /// Templates taken from the index per probe before exact re-ranking.
    candidates: usize,
}

/// Template rows by key and by identity.
#[derive(Debug, Default)]
struct Lookup {
    row_of_key: HashMap<u64, u32>,
    /// Rows of identity i: `rows[starts[i]..starts[i + 1]]`.
    starts: Vec<u32>,
    rows: Vec<u32>,
}

impl Matcher {
    pub fn new(dim: usize) -> Matcher {
        Matcher {
            dim,
            names: IndexSet::new(),
            watchlist_names: IndexSet::from([super::DEFAULT_WATCHLIST.to_string()]),
            watchlists: Vec::new(),
            owners: Vec::new(),
            keys: Vec::new(),
            templates: Vec::new(),
            negatives: Vec::new(),
            negative_owners: Vec::new(),
            anchors: Vec::new(),
            index: None,
            lookup: OnceLock::new(),
        }
    }

    /// Adds a negative for an identity already added; ignored for unknown names.
    pub fn add_negative(&mut self, name: &str, embedding: &[f32]) {
        if let Some(owner) = self.names.get_index_of(name) {
            self.negative_owners.push(owner as u32);
            self.negatives.extend_from_slice(embedding);
        }
    }

    /// A face no identity may be matched to: a probe at least as close to it as to an
    /// identity's own templates is not that identity (an ignored stranger who resembles
    /// someone enrolled stops being reported as them).
    pub fn add_anchor(&mut self, embedding: &[f32]) {
        if embedding.len() == self.dim {
            self.anchors.extend_from_slice(embedding);
        }
    }

    /// Adds a template (L2-normalised) for `name`, keyed by its row number.
    pub fn add(&mut self, name: &str, embedding: &[f32]) {
        let key = self.keys.len() as u64;
        self.add_keyed(name, key, embedding);
    }

    /// Adds a template under the key the gallery's index knows it by.
    pub fn add_keyed(&mut self, name: &str, key: u64, embedding: &[f32]) {
        let owner = match self.names.get_index_of(name) {
            Some(i) => i,
            None => {
                self.names.insert(name.to_string());
                self.watchlists.push(0);
                self.names.len() - 1
            }
        };
        self.owners.push(owner as u32);
        self.keys.push(key);
        self.templates.extend_from_slice(embedding);
        self.lookup = OnceLock::new();
    }

    pub fn set_watchlist(&mut self, name: &str, watchlist: &str) {
        if let Some(i) = self.names.get_index_of(name) {
            let (list, _) = self.watchlist_names.insert_full(watchlist.to_string());
            self.watchlists[i] = list as u32;
        }
    }

    /// The watchlist `name` is on (the default one for unknown names).
    pub fn watchlist_of(&self, name: &str) -> &str {
        self.names
            .get_index_of(name)
            .and_then(|i| self.watchlist_names.get_index(self.watchlists[i] as usize))
            .map_or(super::DEFAULT_WATCHLIST, String::as_str)
    }

    /// The enrolled names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    pub fn identities(&self) -> usize {
        self.names.len()
    }

    pub fn templates(&self) -> usize {
        self.owners.len()
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Every template with its index key, in the order added.
    pub fn keyed_templates(&self) -> impl Iterator<Item = (u64, &[f32])> {
        self.keys.iter().copied().zip(self.templates.chunks_exact(self.dim))
    }

    /// From now on, probes are matched through `index` (which must hold this matcher's
    /// templates under their keys): the `candidates` nearest templates it proposes are
    /// re-ranked exactly, by identity.
    pub fn use_index(&mut self, index: Arc<TemplateIndex>, candidates: usize) {
        self.index = Some(IndexedSearch {
            index,
            candidates: candidates.max(1),
        });
        // Built here (on the reload thread), not by the first probe matched.
        self.lookup = OnceLock::new();
        self.lookup();
    }

    /// The index probes go through, if any.
    pub fn index(&self) -> Option<&Arc<TemplateIndex>> {
        self.index.as_ref().map(|i| &i.index)
    }

    /// Readies a matcher read from the gallery for matching: gives back the room vectors
    /// grew into while it was read (up to half of a large gallery's memory) and builds the
    /// per-identity rows now rather than at the first probe.
    pub fn prepare(&mut self) {
        self.names.shrink_to_fit();
        self.watchlists.shrink_to_fit();
        self.owners.shrink_to_fit();
        self.keys.shrink_to_fit();
        self.templates.shrink_to_fit();
        self.negatives.shrink_to_fit();
        self.negative_owners.shrink_to_fit();
        self.anchors.shrink_to_fit();
        self.lookup();
    }

    /// Bytes the matcher's own tables hold (not the index's).
    pub fn memory_bytes(&self) -> usize {
        let floats = self.templates.capacity() + self.negatives.capacity() + self.anchors.capacity();
        let names: usize = self.names.iter().map(|n| n.capacity() + size_of::<String>() + 16).sum();
        let lookup = self.lookup.get().map_or(0, |l| {
            l.row_of_key.capacity() * 16 + (l.starts.capacity() + l.rows.capacity()) * 4
        });
        floats * 4
            + names
            + (self.owners.capacity() + self.watchlists.capacity() + self.negative_owners.capacity()) * 4
            + self.keys.capacity() * 8
            + lookup
    }

    fn lookup(&self) -> &Lookup {
        self.lookup.get_or_init(|| {
            let mut starts = vec![0u32; self.names.len() + 1];
            for &owner in &self.owners {
                starts[owner as usize + 1] += 1;
            }
            for i in 1..starts.len() {
                starts[i] += starts[i - 1];
            }
            let mut next = starts.clone();
            let mut rows = vec![0u32; self.owners.len()];
            for (row, &owner) in self.owners.iter().enumerate() {
                rows[next[owner as usize] as usize] = row as u32;
                next[owner as usize] += 1;
            }
            let row_of_key = match self.index {
                Some(_) => self
                    .keys
                    .iter()
                    .enumerate()
                    .map(|(row, &key)| (key, row as u32))
                    .collect(),
                None => HashMap::new(),
            };
            Arc::new(Lookup {
                row_of_key,
                starts,
                rows,
            })
        })
    }

    fn template(&self, row: u32) -> &[f32] {
        let start = row as usize * self.dim;
        &self.templates[start..start + self.dim]
    }

    /// The probe's similarity to identity `owner`'s best template.
    fn identity_score(&self, probe: &[f32], owner: usize) -> f32 {
        let lookup = self.lookup();
        lookup.rows[lookup.starts[owner] as usize..lookup.starts[owner + 1] as usize]
            .iter()
            .map(|&row| dot(self.template(row), probe))
            .fold(f32::NEG_INFINITY, f32::max)
    }

    /// Rules identities out by their negatives and the anchors, and clamps the rest to a
    /// cosine. `scores[slot_of(identity)]` is the score of each identity being scored.
    fn exclude(&self, probe: &[f32], scores: &mut [f32], slot_of: impl Fn(usize) -> Option<usize>) {
        // An identity is out when the probe is at least as close to one of its negatives.
        for (negative, &owner) in self.negatives.chunks_exact(self.dim).zip(&self.negative_owners) {
            if let Some(slot) = slot_of(owner as usize)
                && dot(negative, probe) >= scores[slot]
            {
                scores[slot] = f32::NEG_INFINITY;
            }
        }
        let anchored = self
            .anchors
            .chunks_exact(self.dim)
            .map(|anchor| dot(anchor, probe))
            .fold(f32::NEG_INFINITY, f32::max);
        for score in scores.iter_mut() {
            if *score <= anchored {
                *score = f32::NEG_INFINITY;
            } else {
                // A probe equal to a template can round to just above 1, which is no cosine.
                *score = score.min(1.0);
            }
        }
    }

    /// The `k` identities most similar to `probe` (each by its best template), best first.
    /// The probe must be L2-normalised. Without an index, one pass over the template matrix;
    /// with one, the identities of the templates it proposes, scored exactly.
    pub fn ranked(&self, probe: &[f32], k: usize) -> Vec<Match> {
        if probe.len() != self.dim || self.names.is_empty() || k == 0 {
            return Vec::new();
        }
        let (owners, scores) = match &self.index {
            Some(indexed) => self.candidate_scores(probe, indexed),
            None => match self.scores(probe) {
                Some(scores) => ((0..scores.len()).collect(), scores),
                None => return Vec::new(),
            },
        };
        let mut order: Vec<usize> = (0..scores.len()).filter(|&i| scores[i] > f32::NEG_INFINITY).collect();
        let k = k.min(order.len());
        if k == 0 {
            return Vec::new();
        }
        order.select_nth_unstable_by(k - 1, |&a, &b| scores[b].total_cmp(&scores[a]));
        order.truncate(k);
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        order
            .into_iter()
            .map(|i| Match {
                identity: self.names[owners[i]].clone(),
                similarity: scores[i],
            })
            .collect()
    }

    /// The identities of the templates the index proposes, each scored exactly over all its
    /// templates, negatives and anchors applied.
    fn candidate_scores(&self, probe: &[f32], indexed: &IndexedSearch) -> (Vec<usize>, Vec<f32>) {
        let lookup = self.lookup();
        let mut owners: Vec<usize> = Vec::new();
        for key in indexed.index.search(probe, indexed.candidates) {
            // A key the index still holds but this matcher does not (removed meanwhile).
            let Some(&row) = lookup.row_of_key.get(&key) else {
                continue;
            };
            let owner = self.owners[row as usize] as usize;
            if !owners.contains(&owner) {
                owners.push(owner);
            }
        }
        let mut scores: Vec<f32> = owners.iter().map(|&owner| self.identity_score(probe, owner)).collect();
        self.exclude(probe, &mut scores, |owner| owners.iter().position(|&o| o == owner));
        (owners, scores)
    }

    /// The probe's similarity to one identity (its best template); `None` when the identity
    /// is not enrolled or one of its negatives rules it out.
    pub fn similarity(&self, probe: &[f32], name: &str) -> Option<f32> {
        if probe.len() != self.dim {
            return None;
        }
        let owner = self.names.get_index_of(name)?;
        let mut score = [self.identity_score(probe, owner)];
        self.exclude(probe, &mut score, |o| (o == owner).then_some(0));
        (score[0] > f32::NEG_INFINITY).then_some(score[0])
    }

    /// Each identity's best template similarity to `probe` (in the order identities were
    /// added), negative infinity where a negative rules the identity out; `None` for a probe
    /// of the wrong size or an empty gallery. Always exact: a pass over every template.
    pub fn scores(&self, probe: &[f32]) -> Option<Vec<f32>> {
        if probe.len() != self.dim || self.names.is_empty() {
            return None;
        }
        let mut best = vec![f32::NEG_INFINITY; self.names.len()];
        for (template, &owner) in self.templates.chunks_exact(self.dim).zip(&self.owners) {
            let similarity = dot(template, probe);
            if similarity > best[owner as usize] {
                best[owner as usize] = similarity;
            }
        }
        self.exclude(probe, &mut best, Some);
        Some(best)
    }

    /// Highest cosine similarity over all templates (probe must be L2-normalised).
    pub fn best(&self, probe: &[f32]) -> Option<Match> {
        self.ranked(probe, 1).pop()
    }
}

/// Dot product: the cosine similarity of two L2-normalised embeddings. Eight independent
/// partial sums let the compiler vectorise the loop (a single running sum must keep its
/// order of additions): 2.7 instead of 7.6 ms per probe at 100k identities
/// (`squint bench-recognize`).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8.remainder().iter().zip(b8.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}
