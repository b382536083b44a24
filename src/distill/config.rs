//! How a training run is set up: data, teacher, student, loss weights, schedule and
//! degradations (`squint distill`'s flags).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::degrade::Degradation;
use super::export;
use super::net::Init;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Folder of aligned HR crops at the teacher's input size.
    pub data: PathBuf,
    /// Held-out crops of people not in `data` (an identity-disjoint split); without it
    /// `val_fraction` of `data` is held out.
    pub val_data: Option<PathBuf>,
    /// Folders of aligned crops of generated faces (`squint synth-faces`, `squint
    /// morph-faces`), mixed into every batch.
    #[serde(default)]
    pub synthetic: Vec<PathBuf>,
    /// Share of each batch drawn from `synthetic` (0–0.9): real faces should dominate.
    pub synthetic_share: f64,
    /// Train on at most this many sources (people, tracks) of `data`, chosen by name hash:
    /// the learning curve's x axis.
    pub max_sources: Option<usize>,
    /// Where checkpoints, the ONNX student, its card and report.json go.
    pub out: PathBuf,
    /// The teacher's model card.
    pub teacher: PathBuf,
    pub ort_library: Option<PathBuf>,
    /// ONNX Runtime threads for the teacher.
    pub threads: usize,
    /// A small student from scratch, or the teacher's own network (`input_size` then is
    /// the teacher's).
    #[serde(default)]
    pub init: Init,
    pub input_size: u32,
    pub width: usize,
    pub lowfreq: bool,
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub instance_weight: f64,
    pub relation_weight: f64,
    /// Weight of the contrastive loss (own teacher embedding against the queue's).
    pub contrastive_weight: f64,
    /// Softmax temperature of the contrastive loss.
    pub temperature: f64,
    /// Teacher embeddings of recent batches kept for the relation and contrastive terms
    /// (0: the batch alone).
    pub queue: usize,
    pub seed: u64,
    /// Share of crops held out for validation (chosen by file name).
    pub val_fraction: f64,
    /// Hold out whole sources (tracks, photo faces) rather than single crops; see
    /// [`dataset::split`].
    pub split_by_source: bool,
    /// Probe widths of the validation table.
    pub probe_sizes: Vec<u32>,
    pub degradation: Degradation,
    /// Continue from `<out>/checkpoint.*` when present.
    pub resume: bool,
    /// Train at most this many epochs in this run, then checkpoint and stop without
    /// exporting (continue later with `resume`); the schedule still spans `epochs`.
    pub stop_after: Option<usize>,
    /// Share of each batch's faces left sharp (not degraded): a fine-tuned teacher must keep
    /// embedding sharp faces where it did.
    #[serde(default)]
    pub sharp_share: f64,
    /// Export the epoch with the best held-out rank-1 rather than the last (early stopping on
    /// the validation side).
    #[serde(default)]
    pub keep_best: bool,
    /// Surgical fine-tuning (`--init teacher`): train only the first this many convolutions.
    pub train_convs: Option<usize>,
    /// Versions of every training and synthetic crop (1: the crop alone; 2: also mirrored;
    /// more: also shifted, turned and zoomed), each with the teacher's own embedding of it:
    /// consistent targets for augmented crops ([`pool::variant`]).
    #[serde(default = "one")]
    pub target_variants: usize,
    /// Decay of an exponential moving average of the weights (0: off); when on, validation,
    /// the kept epoch and the export use the average.
    #[serde(default)]
    pub ema: f64,
    /// The card's id; default `student-<size>px-w<width>`.
    pub id: Option<String>,
    /// Written into the card: the training data and the licence the weights inherit.
    pub provenance: Option<export::Provenance>,
    pub progress: bool,
    /// Time the exported student against the teacher after training (a few seconds).
    pub measure_speed: bool,
}

fn one() -> usize {
    1
}
