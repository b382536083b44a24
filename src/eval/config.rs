//! What one evaluation run measures: the sets, recognizers, galleries, face widths, track
//! lengths and camera effects (`squint eval`'s flags), and the names of its table's axes.

use std::path::PathBuf;

use serde::Serialize;

use super::probes::CameraDegradation;
use super::video::VideoConfig;
use crate::align::AlignConfig;
use crate::detect::DetectConfig;

/// How the gallery is enrolled from each person's one sharp photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum GalleryKind {
    /// One template of the sharp photo.
    Single,
    /// That plus templates of the photo degraded to each multi-res width (`enroll --multi-res`).
    MultiRes,
}

/// Which of a person's photos are enrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Enrolment {
    /// The first photo (by name); the others are probes.
    First,
    /// Each photo in turn, the others probing it: one round per photo, every ordered pair of
    /// a person's photos measured once (twice the probes of `first` for pairs).
    Each,
}

/// Where the probe's alignment landmarks come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Alignment {
    /// The detector's landmarks on the tiny face, as in the pipeline; a missed face is a miss.
    Detected,
    /// The sharp photo's landmarks scaled down: perfect alignment, no detector involved.
    Oracle,
}

pub const ALIGNMENTS: [Alignment; 2] = [Alignment::Detected, Alignment::Oracle];

#[derive(Debug, Clone)]
pub struct EvalConfig {
    pub sets: Vec<PathBuf>,
    pub distractors: Vec<PathBuf>,
    /// Cards of the recognizers that embed the probes.
    pub recognizers: Vec<PathBuf>,
    /// Card of the model that enrols the gallery (the teacher; students share its space).
    pub enroll_with: PathBuf,
    pub detector: PathBuf,
    /// The detector settings probes are found with (the pipeline's `[detect]`).
    pub detect: DetectConfig,
    /// The landmark refiner and the widths it serves (the pipeline's `[align]`); the
    /// `detected` rows use its landmarks where it runs.
    pub align: AlignConfig,
    pub ort_library: Option<PathBuf>,
    pub galleries: Vec<GalleryKind>,
    pub enrolment: Enrolment,
    /// Resamples of the bootstrap over people behind every 90 % interval (0: none).
    pub bootstrap: usize,
    pub multi_res_widths: Vec<u32>,
    pub sizes: Vec<u32>,
    /// Track lengths measured: each probe is seen in this many frames (its own placement,
    /// landmarks and camera noise in each), fused by the pipeline's evidence rule. `[1]`:
    /// single frames.
    pub frames: Vec<usize>,
    pub degradation: CameraDegradation,
    /// Video whose frames are the probes' backgrounds (mid-grey without).
    pub background: Option<PathBuf>,
    /// Turn every photo grey (for grey sets such as Olivetti, so colour tells nobody apart).
    pub grey: bool,
    pub seed: u64,
    pub threads: usize,
    pub progress: bool,
    /// Real footage measured with tracks as labels.
    pub videos: Vec<VideoConfig>,
    /// Write the first probe frame of each set and size here, to see what the detector saw.
    pub dump_frames: Option<PathBuf>,
    /// Writes the strangers' faces as the detector found them, aligned at 112 px: unlabeled
    /// crops of the evaluated camera for `squint adapt`.
    pub dump_stranger_crops: Option<PathBuf>,
}
