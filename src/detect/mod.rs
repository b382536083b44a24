//! Face detection with YuNet through ONNX Runtime: the frame (optionally upscaled, for tiny
//! faces) is padded to a multiple of 32, run once, and the anchors of the three strides are
//! decoded into boxes, scores and five landmarks, then de-duplicated with NMS.

mod config;
mod motion;
mod quality;
mod search;
mod yunet;

pub use config::{DetectConfig, DetectMode, SearchMode};
pub use motion::{Motion, MotionConfig, MotionDetector};
pub use quality::{FaceQuality, assess, assess_all};
pub use search::{RegionSearch, Search, SearchStats, region_scale};
pub use yunet::{Detector, decode_stride, nms};

#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("frame: {0}")]
    Image(#[from] crate::image::ImageError),
    #[error("motion analysis: {0}")]
    Motion(crate::image::ImageError),
    #[error("a detection batch must hold images of one size")]
    MixedSizes,
    #[error("detector output `{name}` has {len} values; expected {expected} for a {width}x{height} input")]
    Output {
        name: String,
        len: usize,
        expected: usize,
        width: u32,
        height: u32,
    },
}

#[cfg(test)]
mod tests;
