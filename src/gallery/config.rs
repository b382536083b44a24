use std::path::{Path, PathBuf};

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
    #[serde(default)]
    pub index: IndexConfig,
}

/// `[gallery.index]`: an approximate nearest-neighbour index for large galleries.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IndexConfig {
    #[serde(default)]
    pub mode: IndexMode,
    /// With `mode = "auto"`, the index is used from this many templates on; below it a pass
    /// over every template is exact and as fast (`squint bench-gallery`).
    #[serde(default = "default_above")]
    pub above_templates: usize,
    /// Templates the index proposes per probe; their identities are then scored exactly.
    #[serde(default = "default_candidates")]
    pub candidates: usize,
    /// How widely a search walks the graph (HNSW's efSearch): higher finds the true best
    /// more often and costs more.
    #[serde(default = "default_expansion")]
    pub expansion: usize,
    /// Neighbours kept per template in the graph (HNSW's M), when the index is built: 16
    /// found only 34 % of the best matches of off-distribution faces (grey photos among
    /// colour ones) at 100k where 32 found 83 % (`squint bench-gallery`); more costs memory.
    #[serde(default = "default_connectivity")]
    pub connectivity: usize,
    /// Where the index is kept between runs; default: beside the gallery, `<gallery>.usearch`.
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum IndexMode {
    /// Index when the gallery holds at least `above_templates` templates.
    #[default]
    Auto,
    /// Always index (any size).
    On,
    /// Never: every probe is compared with every template.
    Off,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            mode: IndexMode::Auto,
            above_templates: default_above(),
            candidates: default_candidates(),
            expansion: default_expansion(),
            connectivity: default_connectivity(),
            path: None,
        }
    }
}

fn default_reload() -> f64 {
    2.0
}

fn default_above() -> usize {
    50_000
}

fn default_candidates() -> usize {
    32
}

fn default_expansion() -> usize {
    256
}

fn default_connectivity() -> usize {
    32
}

impl IndexConfig {
    /// Whether a gallery of `templates` templates is searched through the index.
    pub fn wanted(&self, templates: usize) -> bool {
        match self.mode {
            IndexMode::Auto => templates >= self.above_templates,
            IndexMode::On => templates > 0,
            IndexMode::Off => false,
        }
    }

    /// The index file for `gallery`.
    pub fn file(&self, gallery: &Path) -> PathBuf {
        self.path.clone().unwrap_or_else(|| {
            let mut name = gallery.as_os_str().to_owned();
            name.push(".usearch");
            PathBuf::from(name)
        })
    }
}

impl GalleryConfig {
    pub(crate) fn validate(&self) -> Result<(), crate::check::KeyError> {
        crate::check::check_range("reload_s", self.reload_s, 0.1, 3600.0)?;
        crate::check::check_range("index.candidates", self.index.candidates as f64, 1.0, 4096.0)?;
        crate::check::check_range("index.expansion", self.index.expansion as f64, 1.0, 4096.0)?;
        crate::check::check_range("index.connectivity", self.index.connectivity as f64, 4.0, 128.0)
    }
}
