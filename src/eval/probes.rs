//! Probes as the pipeline meets them: a labelled photo's face shrunk to a given width, pasted
//! into a camera frame, degraded like a camera (optional), and found again by the detector.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::EvalError;
use crate::distill::degrade::{add_noise, adjust_exposure};
use crate::faces::SharpFace;
use crate::image::BgrImage;
use crate::scenario::FacePatch;
use crate::types::{BBox, Detection, Landmarks};

/// What a camera does to the frame after the face is in it. All off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CameraDegradation {
    /// Gaussian blur sigma in frame pixels (optics, focus).
    pub blur_sigma: f64,
    /// Gaussian noise sigma in grey levels (sensor).
    pub noise_sigma: f64,
    /// JPEG quality of one encode/decode round trip (the encoder); `None` = none.
    pub jpeg_quality: Option<i32>,
    /// Exposure: (contrast factor, brightness offset in grey levels) around mid-grey, applied
    /// before the noise (a darker, flatter camera: `(0.6, -40)`); `None` = unchanged.
    pub exposure: Option<(f64, f64)>,
}

impl CameraDegradation {
    fn apply(&self, frame: BgrImage, rng: &mut StdRng) -> Result<BgrImage, EvalError> {
        let mut frame = if self.blur_sigma > 0.0 {
            frame.blurred(self.blur_sigma)?
        } else {
            frame
        };
        if let Some((contrast, brightness)) = self.exposure {
            adjust_exposure(&mut frame, contrast, brightness);
        }
        if self.noise_sigma > 0.0 {
            add_noise(&mut frame, self.noise_sigma, rng);
        }
        Ok(match self.jpeg_quality {
            Some(q) => frame.jpeg_roundtrip(q)?,
            None => frame,
        })
    }
}

/// A probe pasted into a frame: the true face box and the sharp photo's landmarks mapped into
/// the frame (what a perfect landmark detector would report).
#[derive(Debug, Clone)]
pub struct Placed {
    pub truth: BBox,
    pub oracle: Landmarks,
}

/// Probes per composed frame: a 4×3 grid of cells over a 768×576 frame.
pub const SLOTS: usize = 12;
const GRID: (usize, usize) = (4, 3);
const FRAME: (u32, u32) = (768, 576);

/// Pastes faces into background frames, a grid of them per frame.
pub struct Composer {
    backgrounds: Vec<BgrImage>,
    degradation: CameraDegradation,
    rng: StdRng,
}

impl Composer {
    /// `backgrounds` are scaled to 768×576; none gives a mid-grey frame.
    pub fn new(backgrounds: Vec<BgrImage>, degradation: CameraDegradation, seed: u64) -> Result<Composer, EvalError> {
        let backgrounds = if backgrounds.is_empty() {
            let mut grey = BgrImage::new(FRAME.0, FRAME.1);
            grey.data.fill(128);
            vec![grey]
        } else {
            backgrounds
                .into_iter()
                .map(|b| b.resized_to(Some(FRAME)))
                .collect::<Result<_, _>>()?
        };
        Ok(Composer {
            backgrounds,
            degradation,
            rng: StdRng::seed_from_u64(seed),
        })
    }

    /// Degrades the frames composed from now on like this instead.
    pub fn set_degradation(&mut self, degradation: CameraDegradation) {
        self.degradation = degradation;
    }

    /// One frame with up to [`SLOTS`] faces pasted `px` wide, each at a jittered spot of its
    /// grid cell (so landmarks do not always fall on the same sub-pixel phase).
    pub fn compose(
        &mut self,
        faces: &[&SharpFace],
        px: u32,
        index: usize,
    ) -> Result<(BgrImage, Vec<Placed>), EvalError> {
        let mut frame = self.backgrounds[index % self.backgrounds.len()].clone();
        let cell = (FRAME.0 as f32 / GRID.0 as f32, FRAME.1 as f32 / GRID.1 as f32);
        let mut placed = Vec::with_capacity(faces.len());
        for (slot, face) in faces.iter().take(SLOTS).enumerate() {
            let det = &face.detection.bbox;
            let (w, h) = (px as f32, px as f32 * det.h / det.w.max(1.0));
            let (col, row) = ((slot % GRID.0) as f32, (slot / GRID.0) as f32);
            let jitter = cell.0 * 0.15;
            let cx = (col + 0.5) * cell.0 + self.rng.random_range(-jitter..jitter);
            let cy = (row + 0.5) * cell.1 + self.rng.random_range(-jitter..jitter);
            let target = BBox {
                x: cx - w / 2.0,
                y: cy - h / 2.0,
                w,
                h,
            };
            let placement = FacePatch::cut(&face.image, det).paste(&mut frame, target)?;
            placed.push(Placed {
                truth: target,
                oracle: face.detection.landmarks.map(|p| placement.map(p)),
            });
        }
        let frame = self.degradation.apply(frame, &mut self.rng)?;
        Ok((frame, placed))
    }
}

/// The detection that found `truth` (the best-overlapping one when several qualify).
pub fn locate<'a>(detections: &'a [Detection], truth: &BBox) -> Option<&'a Detection> {
    detections
        .iter()
        .filter(|d| truth.found_by(&d.bbox))
        .max_by(|a, b| truth.iou(&a.bbox).total_cmp(&truth.iou(&b.bbox)))
}
