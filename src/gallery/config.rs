use std::path::PathBuf;

use serde::Deserialize;

use crate::config::{KeyError, check_range};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GalleryConfig {
    /// SQLite file written by `squint enroll`.
    pub path: PathBuf,
    /// Cosine similarity at or above which a face is named; below it the event says
    /// `unknown`. SFace's full-resolution threshold is 0.363; tiny faces score lower.
    #[serde(default = "default_threshold")]
    pub match_threshold: f32,
}

fn default_threshold() -> f32 {
    0.30
}

impl GalleryConfig {
    pub(crate) fn validate(&self) -> Result<(), KeyError> {
        check_range("match_threshold", self.match_threshold, -1.0, 1.0)
    }
}
