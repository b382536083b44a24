//! The landmark refiner: a small CNN that re-finds the five landmarks of a tiny face, where
//! YuNet (trained on large faces) is off by about a tenth of the face's width.
//!
//! It looks at a patch of the frame aligned on YuNet's own landmarks, with margin around the
//! face ([`PatchGeometry`]), and outputs each point's offset from where the reference face
//! has it in that patch. Zero offsets give the reference shape fitted to YuNet's landmarks,
//! which aligns the face exactly as YuNet's landmarks do: a refiner starts training as YuNet
//! and learns only corrections.

use std::path::Path;

use super::{ARCFACE_112, apply, similarity_transform};
use crate::image::{BgrImage, ImageError};
use crate::model::{ModelCard, ModelError, ModelSession, TensorSpec};
use crate::recognize::pack_crops;
use crate::types::Landmarks;

/// Values a refiner outputs per face: (dx, dy) for each of the five points.
pub const OUTPUTS: usize = 10;

/// Where the reference face sits in a refiner's patch: the aligned-crop square shrunk by
/// `ZOOM` about the patch centre, so the patch shows `1 / ZOOM` of a recognizer crop's side
/// (margin for YuNet's errors).
pub const ZOOM: f32 = 0.6;

/// The square patch a refiner of input side `side` sees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PatchGeometry {
    pub side: u32,
}

impl PatchGeometry {
    /// The reference landmarks in patch pixels.
    pub fn reference(&self) -> Landmarks {
        let side = self.side as f32;
        ARCFACE_112.map(|(x, y)| {
            (
                ((x / 112.0 - 0.5) * ZOOM + 0.5) * side,
                ((y / 112.0 - 0.5) * ZOOM + 0.5) * side,
            )
        })
    }

    /// The frame → patch transform for a face whose detector landmarks are `landmarks`.
    pub fn transform(&self, landmarks: &Landmarks) -> [[f64; 3]; 2] {
        similarity_transform(landmarks, &self.reference())
    }

    /// The patch the refiner sees, and the frame → patch transform that cut it.
    pub fn cut(&self, frame: &BgrImage, landmarks: &Landmarks) -> Result<(BgrImage, [[f64; 3]; 2]), ImageError> {
        let matrix = self.transform(landmarks);
        Ok((frame.warp_affine_replicate(matrix, self.side, self.side)?, matrix))
    }

    /// Frame landmarks from the refiner's offsets, through the inverse of `matrix`.
    pub fn landmarks(&self, matrix: &[[f64; 3]; 2], offsets: &[f32]) -> Landmarks {
        let inverse = invert(matrix);
        let reference = self.reference();
        std::array::from_fn(|i| {
            apply(
                &inverse,
                (reference[i].0 + offsets[2 * i], reference[i].1 + offsets[2 * i + 1]),
            )
        })
    }

    /// The offsets that would put the points at `truth` (frame pixels): the training target.
    pub fn offsets(&self, matrix: &[[f64; 3]; 2], truth: &Landmarks) -> [f32; OUTPUTS] {
        let reference = self.reference();
        let mut offsets = [0.0; OUTPUTS];
        for (i, point) in truth.iter().enumerate() {
            let (x, y) = apply(matrix, *point);
            offsets[2 * i] = x - reference[i].0;
            offsets[2 * i + 1] = y - reference[i].1;
        }
        offsets
    }
}

/// The inverse of a similarity (or any invertible affine) transform.
pub fn invert(m: &[[f64; 3]; 2]) -> [[f64; 3]; 2] {
    let [[a, b, tx], [c, d, ty]] = *m;
    let det = a * d - b * c;
    let det = if det.abs() < f64::EPSILON { f64::EPSILON } else { det };
    let (ia, ib, ic, id) = (d / det, -b / det, -c / det, a / det);
    [[ia, ib, -(ia * tx + ib * ty)], [ic, id, -(ic * tx + id * ty)]]
}

/// A landmark refiner loaded from its model card.
pub struct Refiner {
    model: ModelSession,
    geometry: PatchGeometry,
    input: Vec<f32>,
}

impl Refiner {
    /// On the CPU; the card must describe a square NCHW input and one output of
    /// [`OUTPUTS`] values per face.
    pub fn load(card: &ModelCard, ort_library: Option<&Path>) -> Result<Refiner, ModelError> {
        let [w, h] = card.input_size.unwrap_or([0, 0]);
        if w != h || w < 8 {
            return Err(ModelError::Card {
                path: card.card_path.clone(),
                message: format!("input_size {w}x{h}: a landmark refiner takes a square patch of at least 8 px"),
            });
        }
        let input = TensorSpec {
            name: card.input.clone(),
            dims: vec![None, Some(3), Some(h as i64), Some(w as i64)],
        };
        let output = TensorSpec {
            name: card.outputs.first().cloned().unwrap_or_default(),
            dims: vec![None, Some(OUTPUTS as i64)],
        };
        // One thread: the refiner runs inside the detect worker, a face or a few at a time.
        let model = ModelSession::load(card, ort_library, 1, &input, &[output])?;
        Ok(Refiner {
            model,
            geometry: PatchGeometry { side: w },
            input: Vec::new(),
        })
    }

    pub fn model_id(&self) -> &str {
        &self.model.card.id
    }

    /// Refined landmarks of each face of `frame`, given the detector's.
    pub fn refine(&mut self, frame: &BgrImage, faces: &[Landmarks]) -> Result<Vec<Landmarks>, ModelError> {
        if faces.is_empty() {
            return Ok(Vec::new());
        }
        let mut patches = Vec::with_capacity(faces.len());
        let mut matrices = Vec::with_capacity(faces.len());
        for landmarks in faces {
            let (patch, matrix) = self
                .geometry
                .cut(frame, landmarks)
                .map_err(|e| self.model.run_error(e))?;
            patches.push(patch);
            matrices.push(matrix);
        }
        let offsets = self.run(&patches.iter().collect::<Vec<_>>())?;
        Ok(matrices
            .iter()
            .zip(offsets.chunks_exact(OUTPUTS))
            .map(|(m, o)| self.geometry.landmarks(m, o))
            .collect())
    }

    /// The raw offsets for patches already cut.
    pub fn run(&mut self, patches: &[&BgrImage]) -> Result<Vec<f32>, ModelError> {
        pack_crops(&self.model.card, patches, &mut self.input);
        let data = self
            .model
            .run_nchw(&self.input, patches.len(), self.geometry.side as usize)?;
        if data.len() != patches.len() * OUTPUTS {
            return Err(self.model.run_error(format!(
                "output has {} values for {} faces of {OUTPUTS}",
                data.len(),
                patches.len()
            )));
        }
        Ok(data)
    }

    /// Replaces the landmarks of the faces narrower than `below_px` with refined ones (one
    /// batch per frame); returns how many were refined.
    pub fn refine_small<'a>(
        &mut self,
        frame: &BgrImage,
        detections: impl IntoIterator<Item = &'a mut crate::types::Detection>,
        below_px: f32,
    ) -> Result<usize, ModelError> {
        let mut small: Vec<&mut crate::types::Detection> =
            detections.into_iter().filter(|d| d.bbox.w < below_px).collect();
        let landmarks: Vec<Landmarks> = small.iter().map(|d| d.landmarks).collect();
        let refined = self.refine(frame, &landmarks)?;
        for (detection, points) in small.iter_mut().zip(refined) {
            detection.landmarks = points;
        }
        Ok(small.len())
    }
}
