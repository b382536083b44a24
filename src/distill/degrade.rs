//! Turns a high-resolution aligned crop into what a surveillance camera would have seen of
//! the same face: optics blur, down-sampling to a tiny face, sensor noise, the encoder's JPEG
//! artefacts and exposure changes; then up-sampled to the student's input size.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::image::{BgrImage, ImageError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
        }
    }
}

impl Degradation {
    /// A random degradation of `crop`, returned at `out_size`×`out_size`.
    pub fn apply(&self, crop: &BgrImage, out_size: u32, rng: &mut impl Rng) -> Result<BgrImage, ImageError> {
        let mut image = crop.clone();
        if rng.random_bool(self.blur_p) {
            image = image.blurred(rng.random_range(0.3..=self.blur_sigma.max(0.3)))?;
        }
        let px = rng.random_range(self.min_px..=self.max_px.max(self.min_px));
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
        image.resized(out_size, out_size)
    }
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
        // Box–Muller: one normal sample per channel value.
        let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
        let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        *v = (*v as f64 + normal * sigma).round().clamp(0.0, 255.0) as u8;
    }
}
