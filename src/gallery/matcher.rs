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
    /// Index into `names` for each template row.
    owners: Vec<usize>,
    templates: Vec<f32>,
}

impl Matcher {
    pub fn new(dim: usize) -> Matcher {
        Matcher {
            dim,
            names: Vec::new(),
            owners: Vec::new(),
            templates: Vec::new(),
        }
    }

    /// Adds a template (L2-normalised) for `name`.
    pub fn add(&mut self, name: &str, embedding: &[f32]) {
        let owner = match self.names.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                self.names.push(name.to_string());
                self.names.len() - 1
            }
        };
        self.owners.push(owner);
        self.templates.extend_from_slice(embedding);
    }

    pub fn identities(&self) -> usize {
        self.names.len()
    }

    /// Highest cosine similarity over all templates (probe must be L2-normalised).
    pub fn best(&self, probe: &[f32]) -> Option<Match> {
        if probe.len() != self.dim {
            return None;
        }
        self.templates
            .chunks_exact(self.dim)
            .zip(&self.owners)
            .map(|(t, &owner)| (owner, t.iter().zip(probe).map(|(a, b)| a * b).sum::<f32>()))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(owner, similarity)| Match {
                identity: self.names[owner].clone(),
                similarity,
            })
    }
}
