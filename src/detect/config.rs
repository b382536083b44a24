use serde::Deserialize;

use crate::config::{KeyError, check_range};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    /// Minimum YuNet score (sqrt of class × objectness) for a face.
    #[serde(default = "default_score")]
    pub score_threshold: f32,
    /// IoU above which the weaker of two boxes is dropped.
    #[serde(default = "default_nms")]
    pub nms_threshold: f32,
    /// Scale the frame by this before detection; 2.0 finds 10 px faces that 1.0 misses, at
    /// about 4× the cost.
    #[serde(default = "default_upscale")]
    pub upscale: f32,
    /// Faces narrower than this (in frame pixels) are ignored.
    #[serde(default = "default_min_face")]
    pub min_face_px: f32,
    /// At most this many faces per frame, best scores first.
    #[serde(default = "default_max_faces")]
    pub max_faces: usize,
    /// ONNX Runtime intra-op threads per detector.
    #[serde(default = "default_threads")]
    pub threads: usize,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            score_threshold: default_score(),
            nms_threshold: default_nms(),
            upscale: default_upscale(),
            min_face_px: default_min_face(),
            max_faces: default_max_faces(),
            threads: default_threads(),
        }
    }
}

fn default_score() -> f32 {
    0.6
}
fn default_nms() -> f32 {
    0.3
}
fn default_upscale() -> f32 {
    1.0
}
fn default_min_face() -> f32 {
    8.0
}
fn default_max_faces() -> usize {
    100
}
fn default_threads() -> usize {
    1
}

impl DetectConfig {
    pub(crate) fn validate(&self) -> Result<(), KeyError> {
        check_range("score_threshold", self.score_threshold, 0.0, 1.0)?;
        check_range("nms_threshold", self.nms_threshold, 0.0, 1.0)?;
        check_range("upscale", self.upscale, 0.25, 4.0)?;
        check_range("min_face_px", self.min_face_px, 0.0, 10_000.0)?;
        check_range("max_faces", self.max_faces, 1, 10_000)?;
        check_range("threads", self.threads, 1, 256)
    }
}
