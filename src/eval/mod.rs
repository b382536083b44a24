//! Recognition accuracy against face size, measured the way the pipeline sees faces:
//! labelled photos shrunk to 12–40 px, pasted into a frame, found by the configured detector,
//! aligned from the detected landmarks (and, for comparison, from the sharp photo's landmarks
//! scaled down: "oracle"), embedded by each recognizer and matched against a gallery enrolled
//! from one sharp photo per person.
//!
//! ```text
//! sets/ (folder per identity) ─first photo─▶ gallery (single | multi-res templates) + distractors
//!                             └─other photos─▶ shrink to s px ─paste─▶ frame ─detect─▶ align ─embed─▶ scores
//! scores ─▶ rank-1, TAR@FAR, DIR@FAR (strangers), cosine to the sharp embedding ─▶ table, JSON, chart
//! ```
//! `--video` adds unlabeled real footage: pairs from the tracker's tracks.

pub mod config;
pub mod metrics;
pub mod plot;
pub mod probes;
pub mod report;
pub mod run;
pub mod video;

#[cfg(test)]
mod tests;

pub use config::{Enrolment, EvalConfig, GalleryKind};
pub use report::{EvalReport, Row};
pub use run::evaluate;
pub use video::{VideoConfig, VideoRow, evaluate_video};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {message}")]
    Data { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Detect(#[from] crate::detect::DetectError),
    #[error(transparent)]
    Recognize(#[from] crate::recognize::RecognizeError),
    #[error("image: {0}")]
    Image(#[from] crate::image::ImageError),
    #[error("video: {0}")]
    Video(#[from] crate::serve::ServeError),
    #[error("chart {path}: {message}")]
    Plot { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl From<crate::distill::DistillError> for EvalError {
    fn from(e: crate::distill::DistillError) -> Self {
        match e {
            crate::distill::DistillError::Data { path, message } => EvalError::Data { path, message },
            other => EvalError::Invalid(other.to_string()),
        }
    }
}

impl From<crate::faces::FacesError> for EvalError {
    fn from(e: crate::faces::FacesError) -> Self {
        match e {
            crate::faces::FacesError::Data { path, message } => EvalError::Data { path, message },
            other => EvalError::Invalid(other.to_string()),
        }
    }
}
