//! Distillation kit: make a small student network that embeds tiny, degraded faces where the
//! high-resolution teacher (SFace) embeds the sharp ones, and adapt models to one camera.
//!
//! ```text
//! squint harvest   cameras / videos / photo folders ─detect, track, quality─▶ aligned HR crops
//! squint distill   HR crops ─teacher (ort, cached)─▶ targets
//!                  HR crops ─degrade (blur, down-sample 10–32 px, noise, JPEG, exposure)─▶
//!                  student (candle) ─instance + relation loss─▶ checkpoints ─▶ ONNX + card
//! squint blend     base + fine-tuned ONNX ─(1 − α)·base + α·tuned, tensor by tensor─▶ ONNX
//! squint adapt     ONNX model + unlabeled crops of one camera ─re-estimate every BN layer─▶ ONNX
//! ```
//!
//! The student declares the teacher's embedding space in its card, so galleries enrolled with
//! the teacher match it and `squint run` uses it with no code change.

pub mod adapt;
pub mod blend;
pub mod chain;
mod checkpoint;
pub mod config;
pub mod dataset;
pub mod degrade;
mod ema;
pub mod export;
pub mod harvest;
pub mod kernels;
pub mod losses;
pub mod net;
pub mod onnx;
pub mod optim;
pub mod pool;
pub mod report;
pub mod restorer;
pub mod student;
pub mod teacher;
pub mod train;
mod validation;
mod vars;

#[cfg(test)]
mod tests;

pub use adapt::{AdaptReport, adapt_model};
pub use blend::{BlendReport, BlendRequest, blend};
pub use degrade::Degradation;
pub use harvest::{HarvestConfig, HarvestReport, harvest};
pub use student::{Student, StudentShape};
pub use train::{DistillReport, TrainConfig, distill};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DistillError {
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {message}")]
    Data { path: PathBuf, message: String },
    #[error("ONNX model {path}: {message}")]
    Onnx { path: PathBuf, message: String },
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "stopped as asked after epoch {epochs_done} of {epochs}; continue with --resume (checkpoint in {checkpoint})"
    )]
    Stopped {
        epochs_done: usize,
        epochs: usize,
        checkpoint: PathBuf,
    },
    #[error("tensor computation: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Recognize(#[from] crate::recognize::RecognizeError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Detect(#[from] crate::detect::DetectError),
    #[error(transparent)]
    Ingest(#[from] crate::ingest::IngestError),
}
