//! What a training run reports (`<out>/report.json`): each epoch's losses and validation,
//! the held-out table per probe size, and the student's speed beside the teacher's.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::net::NetShape;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub seconds: f64,
    pub instance_loss: f64,
    pub relation_loss: f64,
    #[serde(default)]
    pub contrastive_loss: f64,
    /// Peak resident memory of the process so far (MiB; 0 where /proc is not readable).
    #[serde(default)]
    pub peak_memory_mib: f64,
    /// Held-out student(LR)↔teacher(HR) cosine, averaged over the probe sizes.
    pub val_cosine: f64,
    /// Held-out identification, averaged over the probe sizes: the share of probes whose own
    /// sharp face (teacher embedding) is the nearest among all held-out faces'.
    #[serde(default)]
    pub val_rank1: f64,
    /// Both losses on the held-out probes (no random degradation), averaged over the sizes.
    pub val_instance_loss: f64,
    pub val_relation_loss: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeRow {
    pub probe_px: u32,
    /// Mean cosine of student(probe) to teacher(HR crop) on held-out crops.
    pub student: f64,
    /// The same before training.
    pub untrained: f64,
    /// Baseline: teacher(probe up-sampled to its input) to teacher(HR crop).
    pub teacher_upsampled: f64,
    /// Identification among the held-out faces (each probe against every held-out face's
    /// sharp teacher embedding): the student, and the teacher fed the probe up-sampled. Unlike
    /// the cosine, a constant output scores nothing here (the mean teacher embedding alone has
    /// cosine ~0.3 to every face).
    #[serde(default)]
    pub student_rank1: f64,
    #[serde(default)]
    pub teacher_rank1: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DistillReport {
    pub teacher: String,
    pub student_id: String,
    pub card: PathBuf,
    pub shape: NetShape,
    pub parameters: usize,
    pub train_crops: usize,
    pub synthetic_crops: usize,
    pub val_crops: usize,
    pub epochs: Vec<EpochReport>,
    pub validation: Vec<ProbeRow>,
    /// Held-out losses before training, to compare with the epochs'.
    pub untrained: Validation,
    /// Milliseconds per face through ONNX Runtime, exported student vs teacher, same run.
    pub speed: Vec<Speed>,
    /// The epoch exported when the best one was kept (`keep_best`).
    #[serde(default)]
    pub best_epoch: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Speed {
    pub batch: usize,
    pub student_ms_per_face: f64,
    pub teacher_ms_per_face: f64,
}

/// The held-out crops probed at each size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Validation {
    /// Mean cosine per probe size.
    pub cosines: Vec<f64>,
    /// Identification rank-1 per probe size.
    #[serde(default)]
    pub rank1: Vec<f64>,
    pub instance_loss: f64,
    pub relation_loss: f64,
}
