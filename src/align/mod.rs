//! Face alignment: a least-squares similarity transform (rotation, uniform scale,
//! translation) maps the five detected landmarks onto the ArcFace reference points, and
//! OpenCV's warpAffine produces the square crop the recognizer expects.

mod config;
mod refine;

pub use config::AlignConfig;
pub use refine::{OUTPUTS as REFINER_OUTPUTS, PatchGeometry, Refiner, invert};

use crate::image::{BgrImage, ImageError};
use crate::types::Landmarks;

/// ArcFace reference landmarks for a 112×112 crop, in YuNet's landmark order.
pub const ARCFACE_112: Landmarks = [
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (41.5493, 92.3655),
    (70.7299, 92.2041),
];

/// Reference points for a `size × size` crop (students may take 24 or 32 px).
pub fn reference_points(size: u32) -> Landmarks {
    let k = size as f32 / 112.0;
    ARCFACE_112.map(|(x, y)| (x * k, y * k))
}

/// The similarity transform `[a -b tx; b a ty]` that best maps `src` onto `dst`
/// (least squares; closed form for 2-D similarities).
pub fn similarity_transform(src: &Landmarks, dst: &Landmarks) -> [[f64; 3]; 2] {
    let n = src.len() as f64;
    let mean = |pts: &Landmarks| {
        let (sx, sy) = pts
            .iter()
            .fold((0.0, 0.0), |(ax, ay), &(x, y)| (ax + x as f64, ay + y as f64));
        (sx / n, sy / n)
    };
    let (sx, sy) = mean(src);
    let (dx, dy) = mean(dst);
    let (mut dot, mut cross, mut norm) = (0.0, 0.0, 0.0);
    for (&(px, py), &(qx, qy)) in src.iter().zip(dst) {
        let (px, py) = (px as f64 - sx, py as f64 - sy);
        let (qx, qy) = (qx as f64 - dx, qy as f64 - dy);
        dot += px * qx + py * qy;
        cross += px * qy - py * qx;
        norm += px * px + py * py;
    }
    let (a, b) = if norm > f64::EPSILON {
        (dot / norm, cross / norm)
    } else {
        (1.0, 0.0)
    };
    let tx = dx - (a * sx - b * sy);
    let ty = dy - (b * sx + a * sy);
    [[a, -b, tx], [b, a, ty]]
}

pub fn apply(matrix: &[[f64; 3]; 2], (x, y): (f32, f32)) -> (f32, f32) {
    let (x, y) = (x as f64, y as f64);
    (
        (matrix[0][0] * x + matrix[0][1] * y + matrix[0][2]) as f32,
        (matrix[1][0] * x + matrix[1][1] * y + matrix[1][2]) as f32,
    )
}

/// Cuts the face out of `frame` as a `size × size` crop aligned on the reference points.
pub fn align_face(frame: &BgrImage, landmarks: &Landmarks, size: u32) -> Result<BgrImage, ImageError> {
    let matrix = similarity_transform(landmarks, &reference_points(size));
    frame.warp_affine(matrix, size, size)
}

#[cfg(test)]
mod tests;
