//! Training and validation samples for the landmark refiner: sharp faces shrunk into camera
//! frames exactly as `squint eval` makes its probes, found again by the pipeline's detector,
//! and labelled with the sharp photo's landmarks (the teacher: YuNet where it is accurate).

use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::RefinerError;
use crate::align::{PatchGeometry, REFINER_OUTPUTS};
use crate::detect::Detector;
use crate::eval::probes::{CameraDegradation, Composer, SLOTS, locate};
use crate::faces::SharpFace;
use crate::image::BgrImage;

/// One detected tiny face: the patch the refiner sees and where the points truly are.
#[derive(Debug, Clone)]
pub struct Sample {
    pub patch: BgrImage,
    /// Offsets from the reference points to the sharp photo's landmarks, in patch pixels.
    pub target: [f32; REFINER_OUTPUTS],
    /// Patch pixels per frame pixel (the patch transform's scale): converts errors back.
    pub scale: f32,
}

impl Sample {
    /// Mean distance of the five points from the truth in frame pixels, for predicted offsets.
    pub fn error_px(&self, offsets: &[f32]) -> f64 {
        let total: f32 = (0..5)
            .map(|i| (offsets[2 * i] - self.target[2 * i]).hypot(offsets[2 * i + 1] - self.target[2 * i + 1]))
            .sum();
        (total / 5.0 / self.scale) as f64
    }

    /// The detector's own error (all offsets zero).
    pub fn detector_error_px(&self) -> f64 {
        self.error_px(&[0.0; REFINER_OUTPUTS])
    }
}

/// How the faces are put into frames.
#[derive(Debug, Clone)]
pub struct SampleSpec {
    /// Face widths drawn from, one per frame.
    pub sizes: Vec<u32>,
    /// Times each face is shown (each time at another width, spot and degradation).
    pub rounds: usize,
    /// Random camera degradations (blur, noise, JPEG, exposure, grey) on half the frames.
    pub degrade: bool,
    pub seed: u64,
}

/// Detects every face of `faces` in composed frames and cuts the refiner's patches.
pub fn make_samples(
    faces: &[SharpFace],
    backgrounds: &[BgrImage],
    spec: &SampleSpec,
    detector: &mut Detector,
    geometry: PatchGeometry,
    bar: &ProgressBar,
) -> Result<Vec<Sample>, RefinerError> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut composer = Composer::new(backgrounds.to_vec(), CameraDegradation::default(), spec.seed)?;
    let mut samples = Vec::new();
    let mut order: Vec<usize> = (0..faces.len()).collect();
    for _ in 0..spec.rounds {
        order.shuffle(&mut rng);
        for chunk in order.chunks(SLOTS) {
            let px = spec.sizes[rng.random_range(0..spec.sizes.len())];
            let grey = spec.degrade && rng.random_bool(0.2);
            composer.set_degradation(if spec.degrade && rng.random_bool(0.5) {
                random_degradation(&mut rng)
            } else {
                CameraDegradation::default()
            });
            let chosen: Vec<&SharpFace> = chunk.iter().map(|&i| &faces[i]).collect();
            let (frame, placed) = composer.compose(&chosen, px, rng.random_range(0..usize::MAX))?;
            let frame = if grey { frame.grey() } else { frame };
            let detections = detector.detect(&frame)?;
            for place in &placed {
                let Some(found) = locate(&detections, &place.truth) else {
                    continue;
                };
                let (patch, matrix) = geometry.cut(&frame, &found.landmarks)?;
                samples.push(Sample {
                    patch,
                    target: geometry.offsets(&matrix, &place.oracle),
                    scale: matrix[0][0].hypot(matrix[1][0]) as f32,
                });
            }
            bar.inc(chunk.len() as u64);
        }
    }
    Ok(samples)
}

/// A camera's worth of trouble, drawn at random: optics blur, sensor noise, an encoder, and
/// sometimes a dark, flat exposure.
fn random_degradation(rng: &mut StdRng) -> CameraDegradation {
    CameraDegradation {
        blur_sigma: rng.random_range(0.0..1.0),
        noise_sigma: rng.random_range(0.0..6.0),
        jpeg_quality: rng.random_bool(0.6).then(|| rng.random_range(35..90)),
        exposure: rng
            .random_bool(0.3)
            .then(|| (rng.random_range(0.6..1.0), rng.random_range(-40.0..20.0))),
    }
}

/// Mirrors a sample: the patch left to right, the points with it, left and right swapped.
pub fn mirrored(sample: &Sample, geometry: PatchGeometry) -> (BgrImage, [f32; REFINER_OUTPUTS]) {
    let reference = geometry.reference();
    let last = geometry.side as f32 - 1.0;
    // Eyes and mouth corners change sides; the nose stays.
    const SWAP: [usize; 5] = [1, 0, 2, 4, 3];
    let mut target = [0.0; REFINER_OUTPUTS];
    for (i, &from) in SWAP.iter().enumerate() {
        let x = last - (reference[from].0 + sample.target[2 * from]);
        let y = reference[from].1 + sample.target[2 * from + 1];
        target[2 * i] = x - reference[i].0;
        target[2 * i + 1] = y - reference[i].1;
    }
    (sample.patch.mirrored(), target)
}
