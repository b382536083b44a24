//! Camera ingest: one GStreamer pipeline per camera, built from a template in `pipelines/`,
//! delivering packed BGR [`Frame`](crate::types::Frame)s into a bounded queue. Live sources
//! reconnect with back-off and a sample watchdog; files end at EOS or loop.

mod config;
mod health;
mod source;
mod template;

pub use config::{CameraConfig, validate_cameras};
pub use health::{CameraHealth, CameraState, HealthSnapshot};
pub(crate) use source::sample_to_image;
pub use source::{CameraSource, FrameSender};
pub use template::{check_template, render_template};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("pipeline template {path}: {message}")]
    Template { path: std::path::PathBuf, message: String },
    #[error("camera {camera}: {message}")]
    Pipeline { camera: String, message: String },
}
