/// The best gallery identity for a probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub identity: String,
    pub similarity: f32,
}

/// All templates as one row-major matrix, so matching is a matrix–vector product.
#[derive(Debug, Clone)]
pub struct Matcher {
    dim: usize,
    names: Vec<String>,
    /// Watchlist of each name.
    watchlists: Vec<String>,
    /// Index into `names` for each template row.
    owners: Vec<usize>,
    templates: Vec<f32>,
    /// "Not this person" embeddings, row-major, and the identity each belongs to.
    negatives: Vec<f32>,
    negative_owners: Vec<usize>,
    /// Negatives of every identity: faces of strangers marked ignored.
    anchors: Vec<f32>,
}

impl Matcher {
    pub fn new(dim: usize) -> Matcher {
        Matcher {
            dim,
            names: Vec::new(),
            watchlists: Vec::new(),
            owners: Vec::new(),
            templates: Vec::new(),
            negatives: Vec::new(),
            negative_owners: Vec::new(),
            anchors: Vec::new(),
        }
    }

    /// Adds a negative for an identity already added; ignored for unknown names.
    pub fn add_negative(&mut self, name: &str, embedding: &[f32]) {
        if let Some(owner) = self.names.iter().position(|n| n == name) {
            self.negative_owners.push(owner);
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

    /// Adds a template (L2-normalised) for `name`.
    pub fn add(&mut self, name: &str, embedding: &[f32]) {
        let owner = match self.names.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                self.names.push(name.to_string());
                self.watchlists.push(super::DEFAULT_WATCHLIST.to_string());
                self.names.len() - 1
            }
        };
        self.owners.push(owner);
        self.templates.extend_from_slice(embedding);
    }

    pub fn set_watchlist(&mut self, name: &str, watchlist: &str) {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            self.watchlists[i] = watchlist.to_string();
        }
    }

    /// The watchlist `name` is on (the default one for unknown names).
    pub fn watchlist_of(&self, name: &str) -> &str {
        self.names
            .iter()
            .position(|n| n == name)
            .map_or(super::DEFAULT_WATCHLIST, |i| self.watchlists[i].as_str())
    }

    /// The enrolled names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    pub fn identities(&self) -> usize {
        self.names.len()
    }

    /// The `k` identities most similar to `probe` (each by its best template), best first.
    /// One pass over the template matrix; the probe must be L2-normalised.
    pub fn ranked(&self, probe: &[f32], k: usize) -> Vec<Match> {
        let Some(best) = self.scores(probe) else {
            return Vec::new();
        };
        let mut order: Vec<usize> = (0..best.len()).filter(|&i| best[i] > f32::NEG_INFINITY).collect();
        let k = k.min(order.len());
        if k == 0 {
            return Vec::new();
        }
        order.select_nth_unstable_by(k - 1, |&a, &b| best[b].total_cmp(&best[a]));
        order.truncate(k);
        order.sort_by(|&a, &b| best[b].total_cmp(&best[a]));
        order
            .into_iter()
            .map(|i| Match {
                identity: self.names[i].clone(),
                similarity: best[i],
            })
            .collect()
    }

    /// The probe's similarity to one identity (its best template); `None` when the identity
    /// is not enrolled or one of its negatives rules it out.
    pub fn similarity(&self, probe: &[f32], name: &str) -> Option<f32> {
        let index = self.names.iter().position(|n| n == name)?;
        let score = self.scores(probe)?[index];
        (score > f32::NEG_INFINITY).then_some(score)
    }

    /// Each identity's best template similarity to `probe` (in the order identities were
    /// added), negative infinity where a negative rules the identity out; `None` for a probe
    /// of the wrong size or an empty gallery.
    pub fn scores(&self, probe: &[f32]) -> Option<Vec<f32>> {
        if probe.len() != self.dim || self.names.is_empty() {
            return None;
        }
        let mut best = vec![f32::NEG_INFINITY; self.names.len()];
        for (template, &owner) in self.templates.chunks_exact(self.dim).zip(&self.owners) {
            let similarity = dot(template, probe);
            if similarity > best[owner] {
                best[owner] = similarity;
            }
        }
        // An identity is out when the probe is at least as close to one of its negatives.
        for (negative, &owner) in self.negatives.chunks_exact(self.dim).zip(&self.negative_owners) {
            if dot(negative, probe) >= best[owner] {
                best[owner] = f32::NEG_INFINITY;
            }
        }
        let anchored = self
            .anchors
            .chunks_exact(self.dim)
            .map(|anchor| dot(anchor, probe))
            .fold(f32::NEG_INFINITY, f32::max);
        for score in best.iter_mut() {
            if *score <= anchored {
                *score = f32::NEG_INFINITY;
            } else {
                // A probe equal to a template can round to just above 1, which is no cosine.
                *score = score.min(1.0);
            }
        }
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
