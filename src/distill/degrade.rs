//! Turns a high-resolution aligned crop into what a surveillance camera would have seen of
//! the same face: the detector's landmark jitter, something in front of the face, optics and
//! motion blur, down-sampling to a tiny face, sensor noise, the encoder's JPEG artefacts,
//! exposure changes and night-time grey (IR); then up-sampled to the student's input size.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::align::{reference_points, similarity_transform};
use crate::image::{BgrImage, ImageError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Degradation {
    /// Face widths the crop is down-sampled to, in pixels (inclusive range).
    pub min_px: u32,
    pub max_px: u32,
    /// Chance of a Gaussian blur (sigma up to `blur_sigma` px at full resolution).
    pub blur_p: f64,
    pub blur_sigma: f64,
    /// Chance of Gaussian noise (sigma up to `noise_sigma` grey levels).
    pub noise_p: f64,
    pub noise_sigma: f64,
    /// Chance of a JPEG round trip at a quality between `jpeg_min_quality` and 95.
    pub jpeg_p: f64,
    pub jpeg_min_quality: i32,
    /// Brightness offset up to ±`brightness` grey levels and contrast factor 1 ± `contrast`.
    pub brightness: f64,
    pub contrast: f64,
    /// Chance of a linear motion blur up to `motion_blur_px` long (at full resolution).
    pub motion_blur_p: f64,
    pub motion_blur_px: f64,
    /// Standard deviation of each landmark coordinate's error, in pixels of the tiny face:
    /// the crop is re-aligned from landmarks moved this much, as a detector on a small face
    /// would place them (`squint eval` reports the measured error per face width).
    pub jitter_px: f64,
    /// Chance of a flat patch (hand, scarf, phone) over up to `occlusion_max` of the crop's
    /// side, entering from one edge.
    pub occlusion_p: f64,
    pub occlusion_max: f64,
    /// Chance of grey conversion (infrared night images, grey cameras).
    pub grey_p: f64,
}

impl Default for Degradation {
    fn default() -> Self {
        Degradation {
            min_px: 10,
            max_px: 32,
            blur_p: 0.5,
            blur_sigma: 1.5,
            noise_p: 0.5,
            noise_sigma: 8.0,
            jpeg_p: 0.5,
            jpeg_min_quality: 30,
            brightness: 30.0,
            contrast: 0.3,
            motion_blur_p: 0.0,
            motion_blur_px: 9.0,
            jitter_px: 0.0,
            occlusion_p: 0.0,
            occlusion_max: 0.35,
            grey_p: 0.0,
        }
    }
}

impl Degradation {
    /// A random degradation of `crop`, returned at `out_size`×`out_size`.
    pub fn apply(&self, crop: &BgrImage, out_size: u32, rng: &mut impl Rng) -> Result<BgrImage, ImageError> {
        let px = rng.random_range(self.min_px..=self.max_px.max(self.min_px));
        let mut image = if self.jitter_px > 0.0 {
            realigned(crop, self.jitter_px * crop.width as f64 / px as f64, rng)?
        } else {
            crop.clone()
        };
        if rng.random_bool(self.occlusion_p) {
            occlude(&mut image, self.occlusion_max, rng);
        }
        if rng.random_bool(self.blur_p) {
            image = image.blurred(rng.random_range(0.3..=self.blur_sigma.max(0.3)))?;
        }
        if rng.random_bool(self.motion_blur_p) {
            let length = rng.random_range(2.0..=self.motion_blur_px.max(2.0));
            image = image.motion_blurred(length, rng.random_range(0.0..180.0))?;
        }
        image = image.resized(px, px)?;
        if rng.random_bool(self.noise_p) {
            add_noise(&mut image, rng.random_range(0.0..=self.noise_sigma), rng);
        }
        if rng.random_bool(self.jpeg_p) {
            image = image.jpeg_roundtrip(rng.random_range(self.jpeg_min_quality.min(95)..=95))?;
        }
        let contrast = 1.0 + rng.random_range(-self.contrast..=self.contrast);
        let brightness = rng.random_range(-self.brightness..=self.brightness);
        adjust_exposure(&mut image, contrast, brightness);
        if rng.random_bool(self.grey_p) {
            image = image.grey();
        }
        image.resized(out_size, out_size)
    }

    /// Every camera effect on at a typical rate, with landmark jitter `jitter_px`: the recipe
    /// for students meant for real cameras.
    pub fn camera(jitter_px: f64) -> Degradation {
        Degradation {
            motion_blur_p: 0.25,
            jitter_px,
            occlusion_p: 0.15,
            grey_p: 0.2,
            ..Degradation::default()
        }
    }
}

/// The crop re-aligned from its reference landmarks each moved by a normal error of `sigma`
/// crop pixels per coordinate: what alignment from a detector's slightly wrong landmarks gives.
fn realigned(crop: &BgrImage, sigma: f64, rng: &mut impl Rng) -> Result<BgrImage, ImageError> {
    let reference = reference_points(crop.width);
    let noisy = reference.map(|(x, y)| (x + (normal(rng) * sigma) as f32, y + (normal(rng) * sigma) as f32));
    let matrix = similarity_transform(&noisy, &reference);
    crop.warp_affine_replicate(matrix, crop.width, crop.height)
}

/// A flat patch of a random grey covering a band along one random edge, up to `max_fraction`
/// of the side deep and at least half the side long.
fn occlude(image: &mut BgrImage, max_fraction: f64, rng: &mut impl Rng) {
    let (w, h) = (image.width as usize, image.height as usize);
    let depth = rng.random_range(0.1..=max_fraction.max(0.1));
    let length = rng.random_range(0.5..=1.0);
    let start = rng.random_range(0.0..=(1.0 - length));
    let shade: u8 = rng.random();
    let (x0, x1, y0, y1) = match rng.random_range(0..4) {
        // bottom (scarf, mask), left, right (a hand, a phone), top (a cap's brim)
        0 => (start, start + length, 1.0 - depth, 1.0),
        1 => (0.0, depth, start, start + length),
        2 => (1.0 - depth, 1.0, start, start + length),
        _ => (start, start + length, 0.0, depth),
    };
    let to_px = |f: f64, side: usize| ((f * side as f64).round() as usize).min(side);
    for y in to_px(y0, h)..to_px(y1, h) {
        let row = y * w * 3;
        image.data[row + to_px(x0, w) * 3..row + to_px(x1, w) * 3].fill(shade);
    }
}

/// One standard normal sample (Box–Muller).
pub fn normal(rng: &mut impl Rng) -> f64 {
    let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// The fixed probe used for validation and for `squint adapt`-free comparisons: the crop
/// down-sampled to `px` and up-sampled to `out_size`, nothing else.
pub fn probe(crop: &BgrImage, px: u32, out_size: u32) -> Result<BgrImage, ImageError> {
    crop.resized(px, px)?.resized(out_size, out_size)
}

/// pixel · contrast + brightness around mid-grey, clamped.
pub fn adjust_exposure(image: &mut BgrImage, contrast: f64, brightness: f64) {
    for v in &mut image.data {
        *v = ((*v as f64 - 128.0) * contrast + 128.0 + brightness)
            .round()
            .clamp(0.0, 255.0) as u8;
    }
}

/// Gaussian sensor noise of `sigma` grey levels on every channel value.
pub fn add_noise(image: &mut BgrImage, sigma: f64, rng: &mut impl Rng) {
    for v in &mut image.data {
        *v = (*v as f64 + normal(rng) * sigma).round().clamp(0.0, 255.0) as u8;
    }
}
