//! Online clustering of unknown tracks: each track whose template matched no identity joins
//! the most similar cluster when it clears the threshold of its face-size band, or opens a
//! new one. A cluster keeps only its best few templates, so memory stays bounded however
//! often a stranger returns; clusters whose centroids converge are merged. Ids are derived
//! from the track that opened the cluster, so the same events in the same order give the
//! same ids.

use std::collections::BTreeSet;

use uuid::Uuid;

use crate::alert::{Band, band_for};
use crate::gallery::{StoredFace, StoredUnknown, dot};

/// Namespace of the UUIDv5 ids of unknown clusters.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x5c1e_7a0e_4b1d_4e8a_9f3c_2d6b_8a41_07e2);

#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Join thresholds per face size (the alert bands' candidate thresholds by default).
    pub bands: Vec<Band>,
    /// Best-quality templates kept per cluster.
    pub max_templates: usize,
    /// Two clusters whose centroids are at least this similar become one.
    pub merge_similarity: f32,
    /// A track starting later than this after the cluster was last seen is a new visit;
    /// sooner, it continues the last one (a track that broke and restarted).
    pub visit_gap_ms: u64,
}

/// Visit start times kept per cluster, for "N visits within T".
const VISIT_TIMES_KEPT: usize = 64;

/// One unknown track, summarised when it ends.
#[derive(Debug, Clone)]
pub struct UnknownTrack {
    /// The track's quality-weighted template, L2-normalised.
    pub embedding: Vec<f32>,
    pub width_px: f32,
    pub quality: f32,
    pub camera_id: String,
    /// Unique for the track (camera and track id); seeds the id of a cluster it opens.
    pub track_key: String,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// The track's best aligned crop as JPEG.
    pub jpeg: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub embedding: Vec<f32>,
    pub quality: f32,
    pub width_px: f32,
    pub jpeg: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    pub id: Uuid,
    pub templates: Vec<Template>,
    /// Normalised mean of the templates.
    pub centroid: Vec<f32>,
    pub visits: u64,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    pub cameras: BTreeSet<String>,
    /// Marked "never alert": still matched, so its tracks are recognised as this stranger,
    /// but it raises nothing and never becomes an identity.
    pub ignored: bool,
    /// Start of each recent visit, oldest first.
    pub visit_times: Vec<u64>,
}

impl Cluster {
    /// As the gallery stores it.
    pub fn to_stored(&self) -> StoredUnknown {
        StoredUnknown {
            id: self.id.to_string(),
            visits: self.visits,
            first_seen_ms: self.first_seen_ms,
            last_seen_ms: self.last_seen_ms,
            cameras: self.cameras.iter().cloned().collect(),
            ignored: self.ignored,
            visit_times: self.visit_times.clone(),
            templates: self
                .templates
                .iter()
                .map(|t| StoredFace {
                    quality: t.quality,
                    width_px: t.width_px,
                    embedding: t.embedding.clone(),
                    jpeg: t.jpeg.clone(),
                })
                .collect(),
        }
    }

    fn from_stored(stored: StoredUnknown) -> Result<Cluster, ClusterError> {
        let id = Uuid::parse_str(&stored.id).map_err(|_| ClusterError::BadId(stored.id.clone()))?;
        let templates: Vec<Template> = stored
            .templates
            .into_iter()
            .map(|face| Template {
                embedding: face.embedding,
                quality: face.quality,
                width_px: face.width_px,
                jpeg: face.jpeg,
            })
            .collect();
        Ok(Cluster {
            id,
            centroid: centroid(&templates),
            templates,
            visits: stored.visits,
            first_seen_ms: stored.first_seen_ms,
            last_seen_ms: stored.last_seen_ms,
            cameras: stored.cameras.into_iter().collect(),
            ignored: stored.ignored,
            visit_times: stored.visit_times,
        })
    }

    /// Visits that started at or after `since_ms`.
    pub fn visits_since(&self, since_ms: u64) -> usize {
        self.visit_times.iter().filter(|&&t| t >= since_ms).count()
    }

    /// True when a track first seen at `at_ms` starts a new visit rather than continuing
    /// the last one.
    pub fn is_new_visit(&self, at_ms: u64, gap_ms: u64) -> bool {
        at_ms > self.last_seen_ms.saturating_add(gap_ms)
    }

    fn add_visit(&mut self, at_ms: u64) {
        self.visits += 1;
        self.note_visit_time(at_ms);
    }

    fn note_visit_time(&mut self, at_ms: u64) {
        let at = self.visit_times.partition_point(|&t| t <= at_ms);
        self.visit_times.insert(at, at_ms);
        let excess = self.visit_times.len().saturating_sub(VISIT_TIMES_KEPT);
        self.visit_times.drain(..excess);
    }

    fn similarity(&self, embedding: &[f32]) -> f32 {
        self.templates
            .iter()
            .map(|t| dot(&t.embedding, embedding))
            .fold(f32::MIN, f32::max)
    }

    fn add_templates(&mut self, new: impl IntoIterator<Item = Template>, keep: usize) {
        self.templates.extend(new);
        // Stable sort: among equal qualities the older template stays, for determinism.
        self.templates.sort_by(|a, b| b.quality.total_cmp(&a.quality));
        self.templates.truncate(keep.max(1));
        self.centroid = centroid(&self.templates);
    }
}

/// What became of a track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignment {
    /// It joined this cluster (a returning stranger).
    Joined(Uuid),
    /// It opened this new cluster.
    Opened(Uuid),
    /// It matched a cluster marked ignored.
    Ignored(Uuid),
}

impl Assignment {
    pub fn id(&self) -> Uuid {
        match *self {
            Assignment::Joined(id) | Assignment::Opened(id) | Assignment::Ignored(id) => id,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ClusterError {
    #[error("no unknown face cluster {0}; `squint unknowns list` shows the ids")]
    Missing(Uuid),
    #[error("cannot merge unknown {0} with itself")]
    SameCluster(Uuid),
    #[error("clustering needs at least one face-size band")]
    NoBands,
    #[error("stored unknown `{0}` has no valid UUID; the gallery's unknowns table was changed by hand")]
    BadId(String),
}

#[derive(Debug, Clone)]
pub struct Clusters {
    config: ClusterConfig,
    clusters: Vec<Cluster>,
}

impl Clusters {
    pub fn new(config: ClusterConfig) -> Result<Clusters, ClusterError> {
        if config.bands.is_empty() {
            return Err(ClusterError::NoBands);
        }
        Ok(Clusters {
            config,
            clusters: Vec::new(),
        })
    }

    /// Clusters as a gallery stored them, oldest first.
    pub fn restore(config: ClusterConfig, stored: Vec<StoredUnknown>) -> Result<Clusters, ClusterError> {
        let mut clusters = Clusters::new(config)?;
        clusters.clusters = stored.into_iter().map(Cluster::from_stored).collect::<Result<_, _>>()?;
        Ok(clusters)
    }

    pub fn all(&self) -> &[Cluster] {
        &self.clusters
    }

    pub fn get(&self, id: Uuid) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.id == id)
    }

    /// The cluster `embedding` (of a face `width_px` wide) belongs to, if any clears the
    /// band's threshold: what a running track of a returning stranger is reported as.
    pub fn nearest(&self, embedding: &[f32], width_px: f32) -> Option<&Cluster> {
        self.best_index(embedding, width_px)
            .map(|(index, _)| &self.clusters[index])
    }

    fn best_index(&self, embedding: &[f32], width_px: f32) -> Option<(usize, f32)> {
        let threshold = band_for(&self.config.bands, width_px).candidate;
        self.clusters
            .iter()
            .enumerate()
            .map(|(i, c)| (i, c.similarity(embedding)))
            .filter(|(_, similarity)| *similarity >= threshold)
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
    }

    /// Files one ended unknown track under a cluster, then merges clusters that have grown
    /// together because of it.
    pub fn assign(&mut self, track: &UnknownTrack) -> Assignment {
        let best = self.best_index(&track.embedding, track.width_px);
        let template = Template {
            embedding: track.embedding.clone(),
            quality: track.quality,
            width_px: track.width_px,
            jpeg: track.jpeg.clone(),
        };
        let index = match best {
            Some((index, _)) => {
                let gap = self.config.visit_gap_ms;
                let cluster = &mut self.clusters[index];
                if cluster.is_new_visit(track.first_seen_ms, gap) {
                    cluster.add_visit(track.first_seen_ms);
                }
                cluster.first_seen_ms = cluster.first_seen_ms.min(track.first_seen_ms);
                cluster.last_seen_ms = cluster.last_seen_ms.max(track.last_seen_ms);
                cluster.cameras.insert(track.camera_id.clone());
                cluster.add_templates([template], self.config.max_templates);
                index
            }
            None => {
                self.clusters.push(Cluster {
                    id: Uuid::new_v5(&ID_NAMESPACE, track.track_key.as_bytes()),
                    // Computed as everywhere else, so a restored cluster equals this one.
                    centroid: centroid(std::slice::from_ref(&template)),
                    templates: vec![template],
                    visits: 1,
                    first_seen_ms: track.first_seen_ms,
                    last_seen_ms: track.last_seen_ms,
                    cameras: BTreeSet::from([track.camera_id.clone()]),
                    ignored: false,
                    visit_times: vec![track.first_seen_ms],
                });
                self.clusters.len() - 1
            }
        };
        let id = self.merge_converged(index);
        match (best.is_some(), self.get(id).is_some_and(|c| c.ignored)) {
            (_, true) => Assignment::Ignored(id),
            (true, false) => Assignment::Joined(id),
            (false, false) => Assignment::Opened(id),
        }
    }

    /// Merges every cluster whose centroid has come within `merge_similarity` of the one at
    /// `index`; returns the id the merged cluster keeps.
    fn merge_converged(&mut self, index: usize) -> Uuid {
        let mut id = self.clusters[index].id;
        loop {
            let Some(at) = self.clusters.iter().position(|c| c.id == id) else {
                return id;
            };
            let centroid = self.clusters[at].centroid.clone();
            let partner = self
                .clusters
                .iter()
                .find(|c| c.id != id && dot(&c.centroid, &centroid) >= self.config.merge_similarity)
                .map(|c| c.id);
            match partner {
                Some(other) => match self.merge(id, other) {
                    Ok(kept) => id = kept,
                    Err(_) => return id,
                },
                None => return id,
            }
        }
    }

    /// Makes one cluster of two (`squint unknowns merge`, or centroids that converged). The
    /// older id is kept, so ids already published stay valid as long as possible; an
    /// ignored half makes the whole ignored.
    pub fn merge(&mut self, a: Uuid, b: Uuid) -> Result<Uuid, ClusterError> {
        if a == b {
            return Err(ClusterError::SameCluster(a));
        }
        let position = |id| {
            self.clusters
                .iter()
                .position(|c| c.id == id)
                .ok_or(ClusterError::Missing(id))
        };
        let (ia, ib) = (position(a)?, position(b)?);
        let older_first = (self.clusters[ia].first_seen_ms, ia) <= (self.clusters[ib].first_seen_ms, ib);
        let (keep, gone) = if older_first { (ia, ib) } else { (ib, ia) };
        let absorbed = self.clusters.remove(gone);
        let keep = if gone < keep { keep - 1 } else { keep };
        let cluster = &mut self.clusters[keep];
        cluster.visits += absorbed.visits;
        cluster.first_seen_ms = cluster.first_seen_ms.min(absorbed.first_seen_ms);
        cluster.last_seen_ms = cluster.last_seen_ms.max(absorbed.last_seen_ms);
        cluster.cameras.extend(absorbed.cameras);
        cluster.ignored |= absorbed.ignored;
        for at in absorbed.visit_times {
            cluster.note_visit_time(at);
        }
        cluster.add_templates(absorbed.templates, self.config.max_templates);
        Ok(cluster.id)
    }

    /// Marks a cluster "never alert".
    pub fn ignore(&mut self, id: Uuid) -> Result<(), ClusterError> {
        let cluster = self
            .clusters
            .iter_mut()
            .find(|c| c.id == id)
            .ok_or(ClusterError::Missing(id))?;
        cluster.ignored = true;
        Ok(())
    }

    /// Forgets clusters last seen before `cutoff_ms` (the retention period); returns how many.
    pub fn purge(&mut self, cutoff_ms: u64) -> usize {
        let before = self.clusters.len();
        self.clusters.retain(|c| c.last_seen_ms >= cutoff_ms);
        before - self.clusters.len()
    }
}

fn centroid(templates: &[Template]) -> Vec<f32> {
    let Some(first) = templates.first() else {
        return Vec::new();
    };
    let mut mean = vec![0.0f32; first.embedding.len()];
    for t in templates {
        for (m, v) in mean.iter_mut().zip(&t.embedding) {
            *m += v;
        }
    }
    crate::recognize::l2_normalize(&mut mean);
    mean
}
