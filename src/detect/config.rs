use serde::Deserialize;

use crate::check::{KeyError, check_range};

/// How the detector looks at a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectMode {
    /// The frame as it is.
    Native,
    /// The whole frame scaled by `upscale`.
    Upscale,
    /// `tile_grid`×`tile_grid` overlapping tiles, each scaled by `upscale`, run as one batch;
    /// boxes merged across tile borders by NMS.
    Tiles,
}

/// Which parts of a frame the detector searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    /// Every frame whole.
    Full,
    /// Where the picture changed and where tracked faces will be, with a full sweep every
    /// `full_every_frames` frames, after each (re)connect and when too much changed.
    Regions,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    #[serde(default = "default_mode")]
    pub mode: DetectMode,
    /// Minimum YuNet score (sqrt of class × objectness) for a face.
    #[serde(default = "default_score")]
    pub score_threshold: f32,
    /// IoU above which the weaker of two boxes is dropped.
    #[serde(default = "default_nms")]
    pub nms_threshold: f32,
    /// Scale for `upscale` and `tiles` modes; 2.0 finds 10 px faces that native misses, at
    /// about 4× the cost.
    #[serde(default = "default_upscale")]
    pub upscale: f32,
    /// Tiles per side in `tiles` mode.
    #[serde(default = "default_tile_grid")]
    pub tile_grid: u32,
    /// Overlap between neighbouring tiles, as a fraction of a tile.
    #[serde(default = "default_tile_overlap")]
    pub tile_overlap: f32,
    /// Faces narrower than this (in frame pixels) are ignored.
    #[serde(default = "default_min_face")]
    pub min_face_px: f32,
    /// Faces wider than this are ignored (0 = no limit).
    #[serde(default)]
    pub max_face_px: f32,
    /// At most this many faces per frame, best scores first.
    #[serde(default = "default_max_faces")]
    pub max_faces: usize,
    #[serde(default = "default_search")]
    pub search: SearchMode,
    /// In `regions` search, the whole frame is searched every this many frames, so a face
    /// that never moves is found too (at most this many frames late).
    #[serde(default = "default_full_every")]
    pub full_every_frames: u64,
    /// In `regions` search, when regions would cover more than this share of the frame (a
    /// camera shake, a crowd) the frame is searched whole instead.
    #[serde(default = "default_region_budget")]
    pub region_budget: f32,
    /// …or when there would be more than this many regions.
    #[serde(default = "default_max_regions")]
    pub max_regions: usize,
    /// A motion region grows by this fraction of its side on every edge (4–16 px).
    #[serde(default = "default_region_pad")]
    pub region_pad: f32,
    /// ONNX Runtime intra-op threads per detector.
    #[serde(default = "default_threads")]
    pub threads: usize,
    /// Detect threads, each with its own detector; cameras are shared out among them (a
    /// camera always stays on one, so its frames and tracks stay in order).
    #[serde(default = "default_workers")]
    pub workers: usize,
}

impl DetectConfig {
    /// For enrolment photos: faces are large, so the frame is searched as it is (see
    /// `gallery::ENROL_DETECT_SIDE` for the scale photos are detected at).
    pub fn for_photos() -> DetectConfig {
        DetectConfig {
            mode: DetectMode::Native,
            search: SearchMode::Full,
            ..DetectConfig::default()
        }
    }
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            mode: default_mode(),
            tile_grid: default_tile_grid(),
            tile_overlap: default_tile_overlap(),
            max_face_px: 0.0,
            score_threshold: default_score(),
            nms_threshold: default_nms(),
            upscale: default_upscale(),
            min_face_px: default_min_face(),
            max_faces: default_max_faces(),
            search: default_search(),
            full_every_frames: default_full_every(),
            region_budget: default_region_budget(),
            max_regions: default_max_regions(),
            region_pad: default_region_pad(),
            threads: default_threads(),
            workers: default_workers(),
        }
    }
}

/// Measured with `squint bench-detect` (see README): upscaling by 1.5 lifts recall of 12 px
/// faces from 0.64 to 0.99 for ~3.4x the cost of native (13 vs 4 ms at 768x576, 2 threads).
fn default_mode() -> DetectMode {
    DetectMode::Upscale
}
fn default_tile_grid() -> u32 {
    2
}
fn default_tile_overlap() -> f32 {
    0.15
}
fn default_score() -> f32 {
    0.6
}
fn default_nms() -> f32 {
    0.3
}
fn default_upscale() -> f32 {
    1.5
}
fn default_min_face() -> f32 {
    8.0
}
fn default_max_faces() -> usize {
    100
}
/// Measured with `squint bench-detect --part moving` (README, "Searching where things
/// move"): regions take a third of a full search's time at 1080p ×2 and 0.85 at 768×576 ×1.5,
/// with the same recall of moving 10–16 px faces, found in the same frame (median).
fn default_search() -> SearchMode {
    SearchMode::Regions
}
/// From bench-detect's trade-off curve at 1080p ×2: every 4 / 8 / 12 / 16 / 32 frames took
/// 0.44 / 0.34 / 0.32 / 0.31 / 0.29 of a full search's time; 12 is the most frequent sweep
/// within the third, and finds a still face within half a second at 25 fps.
fn default_full_every() -> u64 {
    12
}
fn default_region_budget() -> f32 {
    0.5
}
fn default_max_regions() -> usize {
    32
}
fn default_region_pad() -> f32 {
    0.25
}
fn default_threads() -> usize {
    1
}
fn default_workers() -> usize {
    1
}

impl DetectConfig {
    pub(crate) fn validate(&self) -> Result<(), KeyError> {
        check_range("score_threshold", self.score_threshold, 0.0, 1.0)?;
        check_range("nms_threshold", self.nms_threshold, 0.0, 1.0)?;
        check_range("upscale", self.upscale, 0.25, 4.0)?;
        check_range("min_face_px", self.min_face_px, 0.0, 10_000.0)?;
        check_range("max_face_px", self.max_face_px, 0.0, 10_000.0)?;
        check_range("tile_grid", self.tile_grid, 1, 8)?;
        check_range("tile_overlap", self.tile_overlap, 0.0, 0.5)?;
        check_range("max_faces", self.max_faces, 1, 10_000)?;
        check_range("full_every_frames", self.full_every_frames, 1, 100_000)?;
        check_range("region_budget", self.region_budget, 0.0, 1.0)?;
        check_range("max_regions", self.max_regions, 1, 1_000)?;
        check_range("region_pad", self.region_pad, 0.0, 4.0)?;
        check_range("threads", self.threads, 1, 256)?;
        check_range("workers", self.workers, 1, 64)
    }
}
