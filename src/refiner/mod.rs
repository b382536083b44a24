//! Training kit for the landmark refiner (`squint train-refiner`): a small CNN that finds the
//! five landmarks of 10–24 px faces where YuNet, trained on large faces, is biased.
//!
//! ```text
//! sharp photos ─YuNet (teacher)─▶ landmarks
//!      └─shrink into camera frames (10–24 px, blur, noise, JPEG, grey)─▶ YuNet (pipeline's
//!        detector) ─▶ patch aligned on its landmarks ─▶ refiner (candle) ─▶ offsets
//!        loss: distance of the refined points from the teacher's ─▶ ONNX + card
//! ```
//!
//! The refiner runs in the pipeline's detect stage ([`crate::align::Refiner`], `[align]`).

pub mod samples;
pub mod train;

#[cfg(test)]
mod tests;

pub use samples::{Sample, SampleSpec, make_samples};
pub use train::{RefinerConfig, RefinerReport, train_refiner, write_untrained};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RefinerError {
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {message}")]
    Data { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("tensor computation: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error(transparent)]
    Distill(#[from] crate::distill::DistillError),
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    #[error(transparent)]
    Faces(#[from] crate::faces::FacesError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Detect(#[from] crate::detect::DetectError),
    #[error("image: {0}")]
    Image(#[from] crate::image::ImageError),
}
