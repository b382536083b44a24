//! Synthetic faces from the DCGAN generator of the `gan-face-generate` wheel (trained on the
//! DigiFace-1M renders), run with candle on the CPU. The weights are read straight from the
//! PyTorch checkpoint (`netG_state_dict`) with candle's pickle reader: no Python, no torch.
//!
//! Architecture (the PyTorch DCGAN tutorial's generator, z = 100, ngf = 64):
//! ConvTranspose2d 100→512 (4×4, stride 1) → 512→256 → 256→128 → 128→64 (4×4, stride 2,
//! padding 1), each followed by BatchNorm2d + ReLU, then 64→3 and Tanh: 64×64 RGB in [-1, 1].

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::{FacesError, face_in};
use crate::align::align_face;
use crate::detect::Detector;
use crate::image::BgrImage;

pub const LATENT: usize = 100;
/// Output channels of the five transposed convolutions.
const CHANNELS: [usize; 6] = [LATENT, 512, 256, 128, 64, 3];
/// Sequential indices of the conv layers and their batch norms in `netG_state_dict` (`main.N`).
const CONV_KEYS: [usize; 5] = [0, 3, 6, 9, 12];
const BN_EPS: f64 = 1e-5;

struct BatchNorm {
    /// Per channel, shaped [1, C, 1, 1]: x · scale + shift.
    scale: Tensor,
    shift: Tensor,
}

pub struct Generator {
    convs: Vec<Tensor>,
    norms: Vec<BatchNorm>,
}

impl Generator {
    pub fn load(path: &Path) -> Result<Generator, FacesError> {
        let weights_error = |message: String| FacesError::Weights {
            path: path.to_path_buf(),
            message,
        };
        if !path.is_file() {
            return Err(weights_error(
                "not found; run scripts/setup.sh --faces (it extracts gan_face_generate/weights.tar)".into(),
            ));
        }
        let pth = candle_core::pickle::PthTensors::new(path, Some("netG_state_dict"))
            .map_err(|e| weights_error(format!("not a PyTorch checkpoint with netG_state_dict: {e}")))?;
        let tensor = |name: String, shape: &[usize]| -> Result<Tensor, FacesError> {
            let t = pth
                .get(&name)
                .map_err(|e| weights_error(format!("{name}: {e}")))?
                .ok_or_else(|| weights_error(format!("{name} missing; expected the DCGAN generator (z=100, ngf=64)")))?
                .to_dtype(DType::F32)?;
            if t.dims() != shape {
                return Err(weights_error(format!(
                    "{name} has shape {:?}, expected {shape:?}",
                    t.dims()
                )));
            }
            Ok(t)
        };
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        for (layer, key) in CONV_KEYS.iter().enumerate() {
            let (c_in, c_out) = (CHANNELS[layer], CHANNELS[layer + 1]);
            convs.push(tensor(format!("main.{key}.weight"), &[c_in, c_out, 4, 4])?);
            if layer + 1 < CONV_KEYS.len() {
                let bn = |part: &str| tensor(format!("main.{}.{part}", key + 1), &[c_out]);
                let (gamma, beta, mean, var) = (bn("weight")?, bn("bias")?, bn("running_mean")?, bn("running_var")?);
                let scale = (gamma / (var + BN_EPS)?.sqrt()?)?;
                let shift = (beta - (&mean * &scale)?)?;
                norms.push(BatchNorm {
                    scale: scale.reshape((1, c_out, 1, 1))?,
                    shift: shift.reshape((1, c_out, 1, 1))?,
                });
            }
        }
        Ok(Generator { convs, norms })
    }

    /// Images for latent codes `z` [N, 100], as [N, 3, 64, 64] RGB in [-1, 1] (inference:
    /// batch norm uses the running statistics).
    pub fn generate(&self, z: &Tensor) -> Result<Tensor, FacesError> {
        let n = z.dim(0)?;
        let mut x = z.reshape((n, LATENT, 1, 1))?;
        for (layer, kernel) in self.convs.iter().enumerate() {
            let (stride, padding) = if layer == 0 { (1, 0) } else { (2, 1) };
            x = x.conv_transpose2d(kernel, padding, 0, stride, 1)?;
            x = match self.norms.get(layer) {
                Some(bn) => x.broadcast_mul(&bn.scale)?.broadcast_add(&bn.shift)?.relu()?,
                None => x.tanh()?,
            };
        }
        Ok(x)
    }
}

/// Latent codes for samples `first..first+count` of `seed`: sample k's code depends only on
/// the seed and k, so batches and resumed runs give the same faces.
pub fn latents(seed: u64, first: usize, count: usize) -> Result<Tensor, FacesError> {
    let mut values = Vec::with_capacity(count * LATENT);
    for k in first..first + count {
        let mut rng = StdRng::seed_from_u64(seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for _ in 0..LATENT {
            // Box–Muller: a standard normal from two uniforms.
            let (u1, u2): (f32, f32) = (rng.random_range(f32::EPSILON..1.0), rng.random());
            values.push((-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos());
        }
    }
    Ok(Tensor::from_vec(values, (count, LATENT), &Device::Cpu)?)
}

/// [N, 3, H, W] RGB in [-1, 1] → BGR images.
pub fn to_images(images: &Tensor) -> Result<Vec<BgrImage>, FacesError> {
    let (n, _, h, w) = images.dims4()?;
    let bytes: Vec<u8> = ((images + 1.0)? * 127.5)?
        .clamp(0.0, 255.0)?
        .round()?
        .to_dtype(DType::U8)?
        .flatten_all()?
        .to_vec1()?;
    let plane = h * w;
    Ok((0..n)
        .map(|i| {
            let mut image = BgrImage::new(w as u32, h as u32);
            let base = i * 3 * plane;
            for p in 0..plane {
                for (bgr, rgb) in [(0, 2), (1, 1), (2, 0)] {
                    image.data[p * 3 + bgr] = bytes[base + rgb * plane + p];
                }
            }
            image
        })
        .collect())
}

#[derive(Debug, Clone)]
pub struct SynthConfig {
    pub weights: PathBuf,
    pub count: usize,
    pub seed: u64,
    pub out: PathBuf,
    /// Side of the aligned crops written to `out/aligned` (the teacher's input).
    pub crop_size: u32,
    pub progress: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SynthReport {
    pub faces: usize,
    pub aligned: usize,
    pub without_face: usize,
    pub seconds: f64,
}

const BATCH: usize = 32;

/// Writes `out/faces/NNNNNN.png` (64×64) and, where the detector finds the face,
/// `out/aligned/NNNNNN.png` aligned from its landmarks, as `harvest --photos` would.
pub fn synth_faces(config: &SynthConfig, detector: &mut Detector) -> Result<SynthReport, FacesError> {
    let started = Instant::now();
    let generator = Generator::load(&config.weights)?;
    let (faces_dir, aligned_dir) = (config.out.join("faces"), config.out.join("aligned"));
    for dir in [&faces_dir, &aligned_dir] {
        super::create_folder(dir)?;
    }
    let bar = super::progress_bar(config.progress, config.count);
    let mut report = SynthReport {
        faces: 0,
        aligned: 0,
        without_face: 0,
        seconds: 0.0,
    };
    for first in (0..config.count).step_by(BATCH) {
        let count = BATCH.min(config.count - first);
        let images = to_images(&generator.generate(&latents(config.seed, first, count)?)?)?;
        for (k, image) in images.iter().enumerate() {
            let name = format!("{:06}.png", first + k);
            image.save(&faces_dir.join(&name))?;
            report.faces += 1;
            match face_in(detector, image)? {
                Some(face) => {
                    let crop = align_face(&face.image, &face.detection.landmarks, config.crop_size)?;
                    crop.save(&aligned_dir.join(&name))?;
                    report.aligned += 1;
                }
                None => report.without_face += 1,
            }
        }
        bar.inc(count as u64);
    }
    bar.finish_and_clear();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
