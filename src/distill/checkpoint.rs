//! Checkpoints: after every epoch the weights, the optimiser's moments, the moving average
//! and the progress are written (through a temporary file), so a run resumes exactly where one
//! stopped; a checkpoint of a differently shaped network is refused.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::DistillError;
use super::config::TrainConfig;
use super::ema::Ema;
use super::net::{Net, NetShape};
use super::optim::AdamW;
use super::report::{EpochReport, Validation};

/// What a checkpoint records besides the tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Progress {
    pub(super) shape: NetShape,
    pub(super) step: usize,
    pub(super) epochs: Vec<EpochReport>,
    pub(super) untrained: Validation,
    /// The epoch whose weights `<out>/best.safetensors` holds (`keep_best`).
    #[serde(default)]
    pub(super) best_epoch: Option<usize>,
}

pub(super) fn checkpoint_paths(out: &Path) -> (PathBuf, PathBuf) {
    (out.join("checkpoint.safetensors"), out.join("checkpoint.json"))
}

pub(super) fn save_checkpoint(
    config: &TrainConfig,
    student: &Net,
    optimizer: &AdamW,
    ema: Option<&Ema>,
    progress: &Progress,
) -> Result<(), DistillError> {
    let (tensors_path, progress_path) = checkpoint_paths(&config.out);
    let mut tensors = student.tensors();
    if let Some(ema) = ema {
        ema.save_into(&mut tensors);
    }
    for (name, m) in &optimizer.first {
        tensors.insert(format!("adam.first/{name}"), m.clone());
    }
    for (name, v) in &optimizer.second {
        tensors.insert(format!("adam.second/{name}"), v.clone());
    }
    save_tensors(&tensors, &tensors_path)?;
    write_json(&progress_path, progress)
}

pub(super) fn best_path(out: &Path) -> PathBuf {
    out.join("best.safetensors")
}

/// Through a temporary file, so a stop mid-write never leaves half a checkpoint.
pub(super) fn save_tensors(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<(), DistillError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| DistillError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let tmp = path.with_extension("safetensors.tmp");
    candle_core::safetensors::save(tensors, &tmp)?;
    std::fs::rename(&tmp, path).map_err(|source| DistillError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Restores student, optimiser and progress from `<out>` when resuming and a checkpoint is
/// there; a checkpoint of a differently shaped student is refused.
pub(super) fn load_checkpoint(
    config: &TrainConfig,
    student: &Net,
    optimizer: &mut AdamW,
    ema: Option<&mut Ema>,
) -> Result<Option<Progress>, DistillError> {
    let (tensors_path, progress_path) = checkpoint_paths(&config.out);
    if !config.resume || !progress_path.exists() {
        return Ok(None);
    }
    let checkpoint_error = |message: String| DistillError::Checkpoint {
        path: progress_path.clone(),
        message,
    };
    let text = std::fs::read_to_string(&progress_path).map_err(|e| checkpoint_error(e.to_string()))?;
    let progress: Progress = serde_json::from_str(&text).map_err(|e| checkpoint_error(e.to_string()))?;
    if progress.shape != student.shape() {
        return Err(checkpoint_error(format!(
            "it holds a student of {:?}, this run asks for {:?}; use another --out or the same student settings",
            progress.shape,
            student.shape()
        )));
    }
    let mut tensors = candle_core::safetensors::load(&tensors_path, &Device::Cpu)?;
    student.load_tensors(&tensors, &tensors_path)?;
    if let Some(ema) = ema {
        *ema = Ema::new(config.ema, student)?;
        ema.restore(&mut tensors);
    }
    for (name, _) in student.trainable() {
        if let Some(m) = tensors.remove(&format!("adam.first/{name}")) {
            optimizer.first.insert(name.to_string(), m);
        }
        if let Some(v) = tensors.remove(&format!("adam.second/{name}")) {
            optimizer.second.insert(name.to_string(), v);
        }
    }
    optimizer.steps = progress.step as i32;
    tracing::info!(epochs_done = progress.epochs.len(), checkpoint = %progress_path.display(), "resuming");
    Ok(Some(progress))
}

pub(super) fn write_json(path: &Path, value: &impl Serialize) -> Result<(), DistillError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| DistillError::Invalid(e.to_string()))?;
    std::fs::write(path, text).map_err(|source| DistillError::Io {
        path: path.to_path_buf(),
        source,
    })
}
