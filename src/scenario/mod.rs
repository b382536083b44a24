//! `squint scenario`: composes faces from photos, scaled to given pixel widths and moving
//! along paths, over real street footage; encodes H.264 and writes the ground truth. The
//! same seed gives the same scene.

mod compose;
mod encode;
mod plan;

pub use compose::{FacePatch, Placement};
pub use plan::{Appearance, GroundTruth, Person, plan_appearances};

use std::path::{Path, PathBuf};

use crate::detect::Detector;
use crate::faces::photo::face_in;
use crate::image::BgrImage;
use crate::serve::VideoReader;

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("photo {path}: {message}")]
    Photo { path: PathBuf, message: String },
    #[error(transparent)]
    Video(#[from] crate::serve::ServeError),
    #[error("encoding {path}: {message}")]
    Encode { path: PathBuf, message: String },
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
}

pub struct ScenarioSpec {
    pub background: PathBuf,
    pub people: Vec<Person>,
    pub out_dir: PathBuf,
    pub frames: usize,
    pub min_face_px: f32,
    pub max_face_px: f32,
    pub appearances_per_person: usize,
    pub seed: u64,
    /// Output frame rate; default: the background's.
    pub fps: Option<f64>,
    /// Output size `(width, height)`; default: the background's (frames are rescaled).
    pub size: Option<(u32, u32)>,
}

/// Writes `scene.mp4` and `truth.json` into the spec's folder; returns the ground truth.
pub fn generate(spec: &ScenarioSpec, detector: &mut Detector) -> Result<GroundTruth, ScenarioError> {
    if spec.people.is_empty() || spec.frames == 0 || spec.min_face_px <= 0.0 || spec.max_face_px < spec.min_face_px {
        return Err(ScenarioError::Invalid(
            "need at least one person, frames > 0 and 0 < min_px <= max_px".into(),
        ));
    }
    let patches = spec
        .people
        .iter()
        .map(|p| face_patch(&p.photo, detector))
        .collect::<Result<Vec<_>, _>>()?;
    let reader = VideoReader::open(&spec.background, false)?;
    let fps = spec.fps.unwrap_or(if reader.fps > 0.0 { reader.fps } else { 10.0 });
    // The background loops when the scene is longer than it.
    let next_background = || -> Result<BgrImage, ScenarioError> {
        let frame = match reader.next_frame()? {
            Some(frame) => frame,
            None if reader.rewind() => reader
                .next_frame()?
                .ok_or_else(|| ScenarioError::Invalid("background rewind failed".into()))?,
            None => return Err(ScenarioError::Invalid("background video has no frames".into())),
        };
        frame
            .resized_to(spec.size)
            .map_err(|e| ScenarioError::Invalid(e.to_string()))
    };
    let first = next_background()?;
    let truth = plan_appearances(spec, first.width, first.height, fps);
    std::fs::create_dir_all(&spec.out_dir).map_err(|source| ScenarioError::Write {
        path: spec.out_dir.clone(),
        source,
    })?;
    let video = spec.out_dir.join("scene.mp4");
    let mut encoder = encode::Encoder::start(&video, first.width, first.height, fps)?;
    let mut background = Some(first);
    for index in 0..spec.frames {
        let mut frame = match background.take() {
            Some(frame) => frame,
            None => next_background()?,
        };
        for appearance in &truth.appearances {
            if let Some(b) = appearance.box_at(index) {
                patches[appearance.person]
                    .paste(&mut frame, b)
                    .map_err(|e| ScenarioError::Invalid(e.to_string()))?;
            }
        }
        encoder.push(&frame, index)?;
    }
    encoder.finish()?;
    let truth_path = spec.out_dir.join("truth.json");
    let json = serde_json::to_vec_pretty(&truth).map_err(|e| ScenarioError::Invalid(e.to_string()))?;
    std::fs::write(&truth_path, json).map_err(|source| ScenarioError::Write {
        path: truth_path,
        source,
    })?;
    Ok(truth)
}

/// The photo's largest face, found as enrolment and `squint eval` find it (small, tightly
/// cropped photos such as Olivetti's are padded first).
fn face_patch(photo: &Path, detector: &mut Detector) -> Result<FacePatch, ScenarioError> {
    let photo_error = |message: String| ScenarioError::Photo {
        path: photo.to_path_buf(),
        message,
    };
    let image = BgrImage::load(photo).map_err(|e| photo_error(e.to_string()))?;
    let face = face_in(detector, &image)
        .map_err(|e| photo_error(e.to_string()))?
        .ok_or_else(|| photo_error("no face found".into()))?;
    Ok(FacePatch::cut(&face.image, &face.detection.bbox))
}
