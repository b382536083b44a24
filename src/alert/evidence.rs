use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::unix_ms;
use crate::gallery::Match;
use crate::track::TrackInfo;
use crate::types::{BBox, BgrImage, EmbeddedFace};

/// What one track has shown about one gallery identity.
#[derive(Debug, Clone, Default)]
struct IdentityEvidence {
    best: f32,
    weighted_sum: f32,
    weight_sum: f32,
    /// Frames (by sequence number) whose similarity reached their band's confirm threshold.
    supporting: VecDeque<u64>,
}

/// The pipeline's rule for fusing a track's embeddings: their quality-weighted sum, whose
/// direction is the track's template. `squint eval --frames` fuses probe tracks with it too.
#[derive(Debug, Clone)]
pub struct WeightedTemplate {
    sum: Vec<f32>,
}

impl WeightedTemplate {
    pub fn new(dim: usize) -> WeightedTemplate {
        WeightedTemplate { sum: vec![0.0; dim] }
    }

    pub fn add(&mut self, weight: f32, embedding: &[f32]) {
        for (sum, value) in self.sum.iter_mut().zip(embedding) {
            *sum += weight * value;
        }
    }

    /// The template, L2-normalised.
    pub fn template(&self) -> Vec<f32> {
        let mut template = self.sum.clone();
        crate::recognize::l2_normalize(&mut template);
        template
    }
}

/// Everything a track's embedded faces have shown so far.
#[derive(Debug, Clone)]
pub struct TrackEvidence {
    pub track: TrackInfo,
    template: WeightedTemplate,
    pub embedded: u64,
    identities: HashMap<String, IdentityEvidence>,
    /// The face of highest quality so far: (weight, box, frame sequence number).
    pub best_face: Option<(f32, BBox, u64)>,
    /// Its aligned crop, for alert thumbnails.
    pub best_crop: Option<BgrImage>,
    pub last_bbox: BBox,
    /// The model that embedded the latest face (alerts name it).
    pub recognizer: std::sync::Arc<str>,
}

/// The evidence an alert carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceSummary {
    pub frames_seen: u64,
    pub frames_embedded: u64,
    /// Frames at or above their band's confirm threshold (within the confirm window).
    pub frames_supporting: u64,
    pub best_similarity: f32,
    /// Quality-weighted mean over the embedded frames.
    pub mean_similarity: f32,
    /// Similarity of the track's template (quality-weighted mean embedding).
    pub track_similarity: f32,
    pub face_width_min_px: f32,
    pub face_width_max_px: f32,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
}

impl TrackEvidence {
    pub fn new(face: &EmbeddedFace) -> TrackEvidence {
        TrackEvidence {
            track: face.track.clone(),
            template: WeightedTemplate::new(face.embedding.len()),
            embedded: 0,
            identities: HashMap::new(),
            best_face: None,
            best_crop: None,
            last_bbox: face.detection.bbox,
            recognizer: face.recognizer.clone(),
        }
    }

    /// Adds one embedded face and its ranked gallery matches; `supports` says whether a
    /// similarity reaches the confirm threshold of this face's band.
    pub fn add(&mut self, face: &EmbeddedFace, matches: &[Match], supports: impl Fn(f32) -> bool) {
        let weight = face.quality.weight();
        self.track = face.track.clone();
        self.embedded += 1;
        self.last_bbox = face.detection.bbox;
        self.recognizer = face.recognizer.clone();
        self.template.add(weight, &face.embedding);
        if self.best_face.is_none_or(|(best, _, _)| weight > best) {
            self.best_face = Some((weight, face.detection.bbox, face.frame.seq));
            self.best_crop = Some(face.crop.clone());
        }
        for m in matches {
            let evidence = self.identities.entry(m.identity.clone()).or_default();
            if evidence.weight_sum == 0.0 || m.similarity > evidence.best {
                evidence.best = m.similarity;
            }
            evidence.weighted_sum += weight * m.similarity;
            evidence.weight_sum += weight;
            if supports(m.similarity) {
                evidence.supporting.push_back(face.frame.seq);
            }
        }
    }

    /// The track's template, L2-normalised.
    pub fn template(&self) -> Vec<f32> {
        self.template.template()
    }

    /// Supporting frames for `identity` among the last `window` frames of the track.
    pub fn supporting(&mut self, identity: &str, window: u64) -> usize {
        let newest = self.track.last_seq;
        match self.identities.get_mut(identity) {
            Some(evidence) => {
                while evidence
                    .supporting
                    .front()
                    .is_some_and(|&seq| newest.saturating_sub(seq) >= window)
                {
                    evidence.supporting.pop_front();
                }
                evidence.supporting.len()
            }
            None => 0,
        }
    }

    pub fn summary(&mut self, identity: &str, track_similarity: f32, window: u64) -> EvidenceSummary {
        let frames_supporting = self.supporting(identity, window) as u64;
        let evidence = self.identities.get(identity).cloned().unwrap_or_default();
        EvidenceSummary {
            frames_seen: self.track.frames_seen,
            frames_embedded: self.embedded,
            frames_supporting,
            best_similarity: evidence.best,
            mean_similarity: evidence.weighted_sum / evidence.weight_sum.max(f32::MIN_POSITIVE),
            track_similarity,
            face_width_min_px: self.track.width_min_px,
            face_width_max_px: self.track.width_max_px,
            first_seen_ms: unix_ms(self.track.first_seen),
            last_seen_ms: unix_ms(self.track.last_seen),
        }
    }
}
