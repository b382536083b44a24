//! ONNX models: the runtime library, model cards, and sessions checked against their cards.
//!
//! Every model file has a card (`<name>.card.toml`) beside it that says how to feed it and
//! what it produces, so a new model can be dropped in without code changes.

mod card;
mod provider;
mod runtime;
mod session;

pub use card::{ColorOrder, ModelCard};
pub use provider::Provider;
pub use runtime::{environment, ort_library_path};
pub use session::{ModelSession, Placement, TensorSpec};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "ONNX Runtime library not found at {path} ({hint}); run scripts/setup.sh, or set ORT_DYLIB_PATH or models.onnxruntime to libonnxruntime.so.1.x"
    )]
    RuntimeMissing { path: PathBuf, hint: &'static str },
    #[error("ONNX Runtime library {path} could not be loaded: {message}")]
    RuntimeLoad { path: PathBuf, message: String },
    #[error("model card {path}: {message}")]
    Card { path: PathBuf, message: String },
    #[error("model file {path} is missing; expected {expected}; run scripts/setup.sh to install it")]
    FileMissing { path: PathBuf, expected: String },
    #[error("model file {path} could not be loaded (corrupt or not ONNX?); expected {expected}: {message}")]
    Load {
        path: PathBuf,
        expected: String,
        message: String,
    },
    #[error("model file {path} does not match its card: {message}; expected {expected}")]
    Shape {
        path: PathBuf,
        expected: String,
        message: String,
    },
    #[error("running model {path}: {message}")]
    Run { path: PathBuf, message: String },
    #[error(
        "model {path}: execution provider {provider} could not start: {message}; use the GPU build of ONNX Runtime (libonnxruntime from the PyPI package onnxruntime-gpu, via models.onnxruntime or ORT_DYLIB_PATH) on a machine with an NVIDIA GPU, or set provider = \"cpu\""
    )]
    Provider {
        path: PathBuf,
        provider: &'static str,
        message: String,
    },
}
