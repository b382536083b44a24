use serde::Deserialize;

use crate::check::{KeyError, check_range};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecognizeConfig {
    /// Largest batch sent to the model at once.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// How long the first crop of a batch waits for company.
    #[serde(default = "default_max_wait_ms")]
    pub max_wait_ms: u64,
    /// ONNX Runtime intra-op threads.
    #[serde(default = "default_threads")]
    pub threads: usize,
    /// "cpu", "cuda" or "tensorrt". A GPU provider that cannot start stops Squint with an
    /// error instead of falling back to the CPU.
    #[serde(default)]
    pub provider: crate::model::Provider,
    /// GPU index for "cuda" / "tensorrt".
    #[serde(default)]
    pub device_id: i32,
    /// Recognizer threads, each with its own model session and batches; a track always
    /// goes to the same one. More than one helps on GPUs and many-core CPUs.
    #[serde(default = "default_workers")]
    pub workers: usize,
}

fn default_workers() -> usize {
    1
}

impl Default for RecognizeConfig {
    fn default() -> Self {
        RecognizeConfig {
            max_batch: default_max_batch(),
            max_wait_ms: default_max_wait_ms(),
            threads: default_threads(),
            provider: Default::default(),
            device_id: 0,
            workers: default_workers(),
        }
    }
}

/// SFace on this class of CPU (2 threads) is fastest per face at batch 8 (8.5 ms) and
/// slower at 32 (11.9 ms): `squint bench` measures it for other models and machines.
fn default_max_batch() -> usize {
    8
}
fn default_max_wait_ms() -> u64 {
    20
}
fn default_threads() -> usize {
    2
}

impl RecognizeConfig {
    pub(crate) fn validate(&self) -> Result<(), KeyError> {
        check_range("max_batch", self.max_batch, 1, 1024)?;
        check_range("max_wait_ms", self.max_wait_ms, 0, 10_000)?;
        check_range("threads", self.threads, 1, 256)?;
        check_range("device_id", self.device_id, 0, 64)?;
        check_range("workers", self.workers, 1, 64)
    }
}

/// Faces whose width falls in `[min_px, max_px)` go to `recognizer` instead of the camera's
/// model (e.g. a model fine-tuned for tiny faces). Every routed model must embed into the
/// gallery's space; faces outside every route keep the camera's model.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Smallest face width this route takes, in pixels (inclusive; default 0).
    #[serde(default)]
    pub min_px: f32,
    /// Face width from which faces go elsewhere, in pixels (exclusive).
    pub max_px: f32,
    /// Card of the recognizer for this band.
    pub recognizer: std::path::PathBuf,
}

impl Route {
    pub fn takes(&self, width_px: f32) -> bool {
        (self.min_px..self.max_px).contains(&width_px)
    }
}

/// Each route's band is non-empty and within sane widths, and no two bands overlap (a face
/// must have one recognizer). Keys are `[i].<key>` relative to the list.
pub(crate) fn validate_routes(routes: &[Route]) -> Result<(), KeyError> {
    for (i, route) in routes.iter().enumerate() {
        check_range(&format!("[{i}].min_px"), route.min_px, 0.0, 10_000.0)?;
        check_range(&format!("[{i}].max_px"), route.max_px, 1.0, 10_000.0)?;
        if route.min_px >= route.max_px {
            return Err((
                format!("[{i}].max_px"),
                format!(
                    "{} must be larger than min_px {}: a route takes faces from min_px up to max_px",
                    route.max_px, route.min_px
                ),
            ));
        }
        if let Some(j) = (0..i).find(|&j| routes[j].min_px < route.max_px && route.min_px < routes[j].max_px) {
            return Err((
                format!("[{i}]"),
                format!(
                    "its band {}-{} px overlaps route [{j}] ({}-{} px); a face width must have one recognizer",
                    route.min_px, route.max_px, routes[j].min_px, routes[j].max_px
                ),
            ));
        }
    }
    Ok(())
}
