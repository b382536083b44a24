use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GalleryConfig {
    /// SQLite file written by `squint enroll`. Match thresholds depend on face size and
    /// live in `[alerts] bands`.
    pub path: PathBuf,
    /// How often `squint run` looks for changes made by `squint enroll` / `gallery remove`
    /// (hot reload), in seconds.
    #[serde(default = "default_reload")]
    pub reload_s: f64,
}

fn default_reload() -> f64 {
    2.0
}

impl GalleryConfig {
    pub(crate) fn validate(&self) -> Result<(), crate::check::KeyError> {
        crate::check::check_range("reload_s", self.reload_s, 0.1, 3600.0)
    }
}
