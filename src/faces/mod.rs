//! Face data for measuring and training: labelled sets on disk (a folder per identity),
//! sharp photo faces found by the detector, synthetic faces from a DCGAN generator and morphs
//! of real ones, and the
//! identity-disjoint train / validation / test split a student is trained and judged on.
//! The registry face data itself is fetched by `scripts/setup.sh --faces`.

pub mod morph;
pub mod photo;
pub mod sets;
pub mod split;
pub mod synth;

pub use morph::{MorphConfig, MorphReport, morph_faces};
pub use photo::{AlignedPhotos, SharpFace, align_photos, face_in, find_face};
pub use sets::{Identity, LabelledSet, distractor_photos};
pub use split::{SplitConfig, SplitReport, split_faces};
pub use synth::{Generator, SynthConfig, SynthReport, synth_faces};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum FacesError {
    #[error("{path}: {message}")]
    Data { path: PathBuf, message: String },
    #[error("DCGAN weights {path}: {message}")]
    Weights { path: PathBuf, message: String },
    #[error("tensor computation: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error(transparent)]
    Detect(#[from] crate::detect::DetectError),
    #[error(transparent)]
    Recognize(#[from] crate::recognize::RecognizeError),
    #[error("image: {0}")]
    Image(#[from] crate::image::ImageError),
}

impl From<crate::distill::DistillError> for FacesError {
    fn from(e: crate::distill::DistillError) -> Self {
        match e {
            crate::distill::DistillError::Data { path, message } => FacesError::Data { path, message },
            other => FacesError::Data {
                path: PathBuf::new(),
                message: other.to_string(),
            },
        }
    }
}

/// Creates `dir` (and its parents), or says which folder could not be made.
fn create_folder(dir: &std::path::Path) -> Result<(), FacesError> {
    std::fs::create_dir_all(dir).map_err(|e| FacesError::Data {
        path: dir.to_path_buf(),
        message: format!("cannot create the folder: {e}"),
    })
}

/// A bar of `len` steps, or a hidden one.
fn progress_bar(visible: bool, len: usize) -> indicatif::ProgressBar {
    if visible {
        indicatif::ProgressBar::new(len as u64)
    } else {
        indicatif::ProgressBar::hidden()
    }
}

#[cfg(test)]
mod tests;
