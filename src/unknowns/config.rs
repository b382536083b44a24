use serde::Deserialize;

use crate::alert::Band;
use crate::check::{KeyError, check_range};

/// `[unknowns]`: clustering of faces that match no identity. Off by default: it keeps
/// faces and templates of people who never enrolled.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnknownsConfig {
    #[serde(default)]
    pub enabled: bool,
    /// Clusters not seen for this long are deleted, faces and all.
    #[serde(default = "default_retention_days")]
    pub retention_days: f64,
    /// Tracks whose widest face is narrower are not clustered (too little to recognise).
    #[serde(default = "default_min_face_px")]
    pub min_face_px: f32,
    /// Tracks whose best face has a lower quality weight (0–1: size, sharpness, pose,
    /// detection score) are not clustered.
    #[serde(default = "default_min_quality")]
    pub min_quality: f32,
    /// Tracks with fewer embedded faces are not clustered (a passer-by glimpsed once).
    #[serde(default = "default_min_track_frames")]
    pub min_track_frames: u64,
    /// Join thresholds per face size; default: the `[alerts]` bands' candidate thresholds
    /// raised by `join_margin`.
    #[serde(default)]
    pub bands: Option<Vec<UnknownBand>>,
    /// Added to the alert bands' candidate thresholds when `bands` is not set: strangers
    /// are compared tiny face against tiny face, which resemble each other more than a tiny
    /// face resembles an enrolment photo.
    #[serde(default = "default_join_margin")]
    pub join_margin: f32,
    /// Best faces kept per cluster (templates and review thumbnails).
    #[serde(default = "default_max_templates")]
    pub max_templates: usize,
    /// Clusters whose centroids come at least this close are merged into one.
    #[serde(default = "default_merge_similarity")]
    pub merge_similarity: f32,
    /// A stranger seen again within this many seconds of their last sighting is on the same
    /// visit (a broken-off track); later, it is a new visit.
    #[serde(default = "default_visit_gap_s")]
    pub visit_gap_s: f64,
}

/// One face-size band's join threshold.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnknownBand {
    #[serde(default)]
    pub below_px: Option<f32>,
    pub threshold: f32,
}

impl Default for UnknownsConfig {
    fn default() -> Self {
        UnknownsConfig {
            enabled: false,
            retention_days: default_retention_days(),
            min_face_px: default_min_face_px(),
            min_quality: default_min_quality(),
            min_track_frames: default_min_track_frames(),
            bands: None,
            max_templates: default_max_templates(),
            merge_similarity: default_merge_similarity(),
            join_margin: default_join_margin(),
            visit_gap_s: default_visit_gap_s(),
        }
    }
}

fn default_retention_days() -> f64 {
    30.0
}
fn default_min_face_px() -> f32 {
    16.0
}
fn default_min_quality() -> f32 {
    0.1
}
fn default_min_track_frames() -> u64 {
    3
}
fn default_max_templates() -> usize {
    5
}
/// Chosen on the tuning scenes of `squint bench-unknowns` (see README "Unknown faces").
/// From `scripts/bench-unknowns.sh` (SFace, tuned on strangers s01-s08): different
/// strangers' track templates reach 0.57 at 16-24 px and 0.52 at 24-40 px, far above the
/// 0.34 the alert thresholds were set against; +0.10 is the smallest step that kept every
/// cluster pure, with no visit lost to a second id.
fn default_join_margin() -> f32 {
    0.10
}
fn default_merge_similarity() -> f32 {
    0.6
}
fn default_visit_gap_s() -> f64 {
    60.0
}

impl UnknownsConfig {
    /// The join thresholds as alert-style bands (`alerts` supplies the default).
    pub fn join_bands(&self, alerts: &[Band]) -> Vec<Band> {
        match &self.bands {
            Some(bands) => bands
                .iter()
                .map(|b| Band {
                    below_px: b.below_px,
                    candidate: b.threshold,
                    confirm: b.threshold,
                })
                .collect(),
            None => alerts
                .iter()
                .map(|b| Band {
                    below_px: b.below_px,
                    candidate: b.candidate + self.join_margin,
                    confirm: b.candidate + self.join_margin,
                })
                .collect(),
        }
    }

    pub fn retention_ms(&self) -> u64 {
        (self.retention_days * 86_400_000.0) as u64
    }

    pub(crate) fn validate(&self) -> Result<(), KeyError> {
        check_range("retention_days", self.retention_days, 0.01, 3650.0)?;
        check_range("min_face_px", self.min_face_px, 0.0, 1000.0)?;
        check_range("min_quality", self.min_quality, 0.0, 1.0)?;
        check_range("min_track_frames", self.min_track_frames, 1, 100_000)?;
        check_range("max_templates", self.max_templates, 1, 50)?;
        check_range("merge_similarity", self.merge_similarity, 0.0, 1.0)?;
        check_range("join_margin", self.join_margin, -0.5, 0.5)?;
        check_range("visit_gap_s", self.visit_gap_s, 0.0, 86_400.0)?;
        let Some(bands) = &self.bands else { return Ok(()) };
        if bands.is_empty() {
            return Err(("bands".into(), "needs at least one band, or leave it out".into()));
        }
        let mut previous = 0.0;
        for (i, band) in bands.iter().enumerate() {
            check_range(&format!("bands[{i}].threshold"), band.threshold, -1.0, 1.0)?;
            let last = i + 1 == bands.len();
            match (band.below_px, last) {
                (Some(limit), false) if limit > previous => previous = limit,
                (None, true) => {}
                _ => {
                    return Err((
                        format!("bands[{i}].below_px"),
                        "every band but the last needs below_px, increasing; the last has none".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}
