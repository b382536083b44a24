use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GalleryConfig {
    /// SQLite file written by `squint enroll`. Match thresholds depend on face size and
    /// live in `[alerts] bands`.
    pub path: PathBuf,
}
