//! The running pipeline's side of unknown faces: labels unknown tracks with the stranger
//! they resemble, files ended unknown tracks under clusters, and keeps the clusters in the
//! gallery file, where `squint unknowns` and the review page change them.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use super::{Assignment, ClusterConfig, ClusterError, Clusters, UnknownTrack, UnknownsConfig};
use crate::alert::{AlertConfig, Sighting, UnmatchedTrack};
use crate::gallery::{Gallery, GalleryError};
use crate::publish::unix_ms;

/// How often expired clusters are looked for while running.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// The recurring-alert window when `[alerts.unknowns]` is not set.
const DEFAULT_WITHIN_MS: u64 = 7 * 86_400_000;

#[derive(Debug, thiserror::Error)]
pub enum UnknownsError {
    #[error("[unknowns] keeps unknown faces in the gallery file: {0}")]
    Gallery(#[from] GalleryError),
    #[error("unknown faces in gallery {path}: {source}")]
    Cluster { path: String, source: ClusterError },
}

/// What became of an ended track.
#[derive(Debug, Clone, PartialEq)]
pub enum Filed {
    /// Too small, too short or too poor to cluster.
    Skipped(&'static str),
    Assigned(Assignment),
}

pub struct Strangers {
    config: UnknownsConfig,
    cluster_config: ClusterConfig,
    clusters: Clusters,
    gallery: Gallery,
    gallery_path: String,
    /// The gallery's data version when the clusters were last read from it.
    version: i64,
    within_ms: u64,
    purged: Instant,
}

impl Strangers {
    /// Opens the gallery for writing (unknown faces are stored in it), drops clusters past
    /// retention and loads the rest.
    pub fn open(config: &UnknownsConfig, alerts: &AlertConfig, gallery: &Path) -> Result<Strangers, UnknownsError> {
        let cluster_config = ClusterConfig {
            bands: config.join_bands(&alerts.bands),
            max_templates: config.max_templates,
            merge_similarity: config.merge_similarity,
            visit_gap_ms: (config.visit_gap_s * 1000.0) as u64,
        };
        let gallery_path = gallery.display().to_string();
        let cluster_error = |source| UnknownsError::Cluster {
            path: gallery_path.clone(),
            source,
        };
        let gallery = Gallery::open(gallery)?;
        let clusters = Clusters::new(cluster_config.clone()).map_err(cluster_error)?;
        let mut strangers = Strangers {
            config: config.clone(),
            cluster_config,
            clusters,
            version: gallery.data_version()?,
            gallery,
            gallery_path,
            within_ms: alerts
                .unknowns
                .as_ref()
                .map_or(DEFAULT_WITHIN_MS, |r| (r.within_s * 1000.0) as u64),
            purged: Instant::now(),
        };
        strangers.reload()?;
        strangers.purge_expired(unix_ms(SystemTime::now()))?;
        Ok(strangers)
    }

    pub fn clusters(&self) -> &Clusters {
        &self.clusters
    }

    fn reload(&mut self) -> Result<(), UnknownsError> {
        let stored = self.gallery.unknowns()?;
        self.clusters =
            Clusters::restore(self.cluster_config.clone(), stored).map_err(|source| UnknownsError::Cluster {
                path: self.gallery_path.clone(),
                source,
            })?;
        Ok(())
    }

    /// Rereads the clusters when another process (`squint unknowns`, the review page)
    /// changed the gallery.
    fn sync(&mut self) -> Result<(), UnknownsError> {
        let version = self.gallery.data_version()?;
        if version != self.version {
            self.reload()?;
            self.version = version;
        }
        Ok(())
    }

    /// The stranger a running unknown track (its template, widest face and first sighting)
    /// resembles, if any.
    pub fn sighting(&mut self, template: &[f32], width_px: f32, first_seen: SystemTime) -> Option<Sighting> {
        if let Err(e) = self.sync() {
            tracing::warn!(error = %e, "unknown faces not reread; using those in memory");
        }
        let first_seen_ms = unix_ms(first_seen);
        let cluster = self.clusters.nearest(template, width_px)?;
        let this_visit = usize::from(cluster.is_new_visit(first_seen_ms, self.cluster_config.visit_gap_ms));
        Some(Sighting {
            unknown_id: cluster.id.to_string(),
            ignored: cluster.ignored,
            recent_visits: cluster.visits_since(first_seen_ms.saturating_sub(self.within_ms)) + this_visit,
        })
    }

    /// Files an ended unknown track under a cluster and stores the change.
    pub fn track_ended(&mut self, track: &UnmatchedTrack) -> Result<Filed, UnknownsError> {
        if let Some(reason) = self.too_poor(track) {
            return Ok(Filed::Skipped(reason));
        }
        self.sync()?;
        let before: BTreeSet<String> = self.clusters.all().iter().map(|c| c.id.to_string()).collect();
        let assignment = self.clusters.assign(&unknown_track(track));
        let after: BTreeSet<String> = self.clusters.all().iter().map(|c| c.id.to_string()).collect();
        let gone: Vec<String> = before.difference(&after).cloned().collect();
        let changed: Vec<_> = self
            .clusters
            .get(assignment.id())
            .map(|c| c.to_stored())
            .into_iter()
            .collect();
        // The data version is left as it was: the own commit does not change it, and one
        // made meanwhile by another process must still be reread.
        self.gallery.write_unknowns(&changed, &gone)?;
        if self.purged.elapsed() >= PURGE_EVERY {
            self.purge_expired(unix_ms(SystemTime::now()))?;
        }
        Ok(Filed::Assigned(assignment))
    }

    fn too_poor(&self, track: &UnmatchedTrack) -> Option<&'static str> {
        if track.track.width_max_px < self.config.min_face_px {
            Some("face narrower than unknowns.min_face_px")
        } else if track.frames_embedded < self.config.min_track_frames {
            Some("fewer embedded faces than unknowns.min_track_frames")
        } else if track.best_quality < self.config.min_quality {
            Some("best face below unknowns.min_quality")
        } else {
            None
        }
    }

    /// Deletes clusters not seen within `retention_days` of `now_ms`; returns how many.
    pub fn purge_expired(&mut self, now_ms: u64) -> Result<usize, UnknownsError> {
        self.purged = Instant::now();
        let cutoff = now_ms.saturating_sub(self.config.retention_ms());
        let purged = super::actions::purge(&mut self.gallery, cutoff)?;
        self.clusters.purge(cutoff);
        if purged > 0 {
            tracing::info!(clusters = purged, "unknown faces past unknowns.retention_days deleted");
        }
        Ok(purged)
    }
}

fn unknown_track(track: &UnmatchedTrack) -> UnknownTrack {
    let jpeg = track.best_crop.as_ref().and_then(|crop| match crop.jpeg() {
        Ok(jpeg) => Some(jpeg),
        Err(e) => {
            tracing::warn!(error = %e, "unknown face kept without its picture");
            None
        }
    });
    UnknownTrack {
        embedding: track.template.clone(),
        width_px: track.track.width_max_px,
        quality: track.best_quality,
        camera_id: track.track.camera_id.to_string(),
        track_key: format!(
            "{}#{}@{}",
            track.track.camera_id,
            track.track.track_id,
            unix_ms(track.track.first_seen)
        ),
        first_seen_ms: unix_ms(track.track.first_seen),
        last_seen_ms: unix_ms(track.track.last_seen),
        jpeg,
    }
}
