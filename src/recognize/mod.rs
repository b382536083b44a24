//! Face recognition: aligned crops from every camera share one bounded queue; a worker takes
//! them in dynamic batches (up to `max_batch`, or whatever arrived within `max_wait_ms`) and
//! embeds them with the recognizer model described by its card.

mod batch;
mod config;
mod recognizer;
mod set;

pub use batch::{Batch, next_batch};
pub(crate) use config::validate_routes;
pub use config::{RecognizeConfig, Route};
pub use recognizer::{Recognizer, l2_normalize, pack_crops};
pub use set::{CropSizes, Job, RecognizerSet, WidthRoute};

#[derive(Debug, thiserror::Error)]
pub enum RecognizeError {
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("crop is {width}x{height}; the recognizer takes {size}x{size}")]
    CropSize { width: u32, height: u32, size: u32 },
}
