//! What an operator does with strangers, from the command line or the review page. Each
//! action changes the gallery file; a running pipeline picks the change up (its clusters
//! are reread, its matcher rebuilt for promotions and ignores).

use uuid::Uuid;

use super::{ClusterConfig, ClusterError, Clusters, UnknownsConfig, UnknownsError};
use crate::alert::AlertConfig;
use crate::gallery::{Gallery, StoredUnknown};

fn cluster_error(gallery: &Gallery, source: ClusterError) -> UnknownsError {
    UnknownsError::Cluster {
        path: gallery.path().display().to_string(),
        source,
    }
}

fn parse_id(gallery: &Gallery, id: &str) -> Result<Uuid, UnknownsError> {
    Uuid::parse_str(id.trim()).map_err(|_| cluster_error(gallery, ClusterError::BadId(id.to_string())))
}

/// Makes one stranger of two (the older id stays); returns the id kept.
pub fn merge(gallery: &mut Gallery, a: &str, b: &str) -> Result<String, UnknownsError> {
    let (a, b) = (parse_id(gallery, a)?, parse_id(gallery, b)?);
    let stored = gallery.unknowns()?;
    // Nothing stored is dropped by the merge: keep as many faces as both halves hold.
    let faces = |id: Uuid| {
        stored
            .iter()
            .find(|u| u.id == id.to_string())
            .map_or(0, |u| u.templates.len())
    };
    let defaults = UnknownsConfig::default();
    let config = ClusterConfig {
        bands: AlertConfig::default().bands,
        max_templates: defaults.max_templates.max(faces(a) + faces(b)),
        merge_similarity: defaults.merge_similarity,
        visit_gap_ms: 0,
    };
    let mut clusters = Clusters::restore(config, stored).map_err(|e| cluster_error(gallery, e))?;
    let kept = clusters.merge(a, b).map_err(|e| cluster_error(gallery, e))?;
    let gone = if kept == a { b } else { a };
    let merged: Vec<StoredUnknown> = clusters.get(kept).map(|c| c.to_stored()).into_iter().collect();
    gallery.write_unknowns(&merged, &[gone.to_string()])?;
    Ok(kept.to_string())
}

/// Deletes the strangers last seen before `cutoff_ms` (all of them with `u64::MAX`);
/// returns how many.
pub fn purge(gallery: &mut Gallery, cutoff_ms: u64) -> Result<usize, UnknownsError> {
    Ok(gallery.remove_unknowns_seen_before(cutoff_ms)?)
}

/// The stranger with this id, or an error naming the gallery.
pub fn find(gallery: &Gallery, id: &str) -> Result<StoredUnknown, UnknownsError> {
    let id = parse_id(gallery, id)?;
    gallery
        .unknown(&id.to_string())?
        .ok_or_else(|| cluster_error(gallery, ClusterError::Missing(id)))
}
