use serde::Deserialize;

use crate::check::{KeyError, check_range};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackConfig {
    /// A detection joins a track when its box overlaps the track's predicted box by at least
    /// this IoU, or when its centre lies within `max_jump` face widths of the prediction
    /// (tiny fast faces often do not overlap from one frame to the next).
    #[serde(default = "default_min_iou")]
    pub min_iou: f32,
    #[serde(default = "default_max_jump")]
    pub max_jump: f32,
    /// A track ends after this many frames without a detection.
    #[serde(default = "default_max_missed")]
    pub max_missed_frames: u64,
    /// Recognition budget: embed a track's face at most every this many frames…
    #[serde(default = "default_embed_every")]
    pub embed_every_frames: u64,
    /// …or sooner when its quality beats the best embedded so far by this factor.
    #[serde(default = "default_quality_gain")]
    pub embed_quality_gain: f32,
    /// Off: embed every face of every frame (for measuring what the budget saves).
    #[serde(default = "default_true")]
    pub budget: bool,
}

impl Default for TrackConfig {
    fn default() -> Self {
        TrackConfig {
            min_iou: default_min_iou(),
            max_jump: default_max_jump(),
            max_missed_frames: default_max_missed(),
            embed_every_frames: default_embed_every(),
            embed_quality_gain: default_quality_gain(),
            budget: true,
        }
    }
}

fn default_min_iou() -> f32 {
    0.1
}
fn default_max_jump() -> f32 {
    1.5
}
fn default_max_missed() -> u64 {
    10
}
/// See the budget measurement in the README: every 3rd frame keeps alert recall and embeds
/// about a third of the faces.
fn default_embed_every() -> u64 {
    3
}
fn default_quality_gain() -> f32 {
    1.25
}
fn default_true() -> bool {
    true
}

impl TrackConfig {
    pub(crate) fn validate(&self) -> Result<(), KeyError> {
        check_range("min_iou", self.min_iou, 0.0, 1.0)?;
        check_range("max_jump", self.max_jump, 0.0, 100.0)?;
        check_range("max_missed_frames", self.max_missed_frames, 0, 10_000)?;
        check_range("embed_every_frames", self.embed_every_frames, 1, 10_000)?;
        check_range("embed_quality_gain", self.embed_quality_gain, 1.0, 100.0)
    }
}
