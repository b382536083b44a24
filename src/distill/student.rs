//! The student: a compact CNN with batch norm that embeds low-resolution faces into the
//! teacher's space. Layers are written directly on candle tensors (not candle-nn modules) so
//! the ONNX export reproduces each operation exactly, which the parity test checks.
//!
//! ```text
//! [haar LL: 2×2 average ×2, halves the side]          (student.lowfreq)
//! stem    conv3×3  3→w          BN ReLU
//! stage1  conv3×3  w→2w  /2*    BN ReLU   conv3×3 2w→2w BN ReLU    (* stride 1 after LL)
//! stage2  conv3×3 2w→4w  /2     BN ReLU   conv3×3 4w→4w BN ReLU
//! GDC     depthwise conv over the whole S/4×S/4 map     BN          (MobileFaceNet's head)
//! linear  4w→embedding
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::DistillError;
use super::vars;

pub const BN_EPSILON: f64 = 1e-5;
/// Weight of the current batch in the running statistics.
pub const BN_MOMENTUM: f64 = 0.1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudentShape {
    /// Side of the square input crop in pixels (24 or 32 are typical; divisible by 4).
    pub input_size: u32,
    /// Channels of the stem; the stages use 2× and 4× this.
    pub width: usize,
    pub embedding_size: usize,
    /// Feed the network the Haar wavelet LL band (the low frequencies that survive
    /// down-sampling) instead of the pixels.
    pub lowfreq: bool,
}

/// One convolution followed by batch norm (and ReLU unless it is the head).
#[derive(Debug, Clone)]
pub struct ConvBn {
    pub name: String,
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub groups: usize,
    pub relu: bool,
}

impl StudentShape {
    pub fn validate(&self) -> Result<(), DistillError> {
        if self.input_size < 8 || !self.input_size.is_multiple_of(4) {
            return Err(DistillError::Invalid(format!(
                "student input size {} must be at least 8 and divisible by 4",
                self.input_size
            )));
        }
        if self.width == 0 || self.embedding_size == 0 {
            return Err(DistillError::Invalid(
                "student width and embedding size must be > 0".into(),
            ));
        }
        Ok(())
    }

    /// The conv+BN layers in order.
    pub fn layers(&self) -> Vec<ConvBn> {
        let w = self.width;
        let first_stride = if self.lowfreq { 1 } else { 2 };
        let conv = |name: &str, cin, cout, stride| ConvBn {
            name: name.into(),
            in_channels: cin,
            out_channels: cout,
            kernel: 3,
            stride,
            padding: 1,
            groups: 1,
            relu: true,
        };
        let head_side = self.input_size as usize / 4;
        vec![
            conv("stem", 3, w, 1),
            conv("stage1a", w, 2 * w, first_stride),
            conv("stage1b", 2 * w, 2 * w, 1),
            conv("stage2a", 2 * w, 4 * w, 2),
            conv("stage2b", 4 * w, 4 * w, 1),
            ConvBn {
                name: "gdc".into(),
                in_channels: 4 * w,
                out_channels: 4 * w,
                kernel: head_side,
                stride: 1,
                padding: 0,
                groups: 4 * w,
                relu: false,
            },
        ]
    }

    pub fn head_channels(&self) -> usize {
        4 * self.width
    }
}

/// The student's tensors by name: `<layer>.weight`, `<layer>.bn_scale`, `<layer>.bn_bias`,
/// `<layer>.bn_mean`, `<layer>.bn_var`, `fc.weight`, `fc.bias`.
pub struct Student {
    pub shape: StudentShape,
    pub params: BTreeMap<String, Var>,
    layers: Vec<ConvBn>,
}

impl Student {
    /// Kaiming-uniform initialisation from `seed` (candle's own RNG cannot be seeded on the
    /// CPU, and training must be reproducible).
    pub fn new(shape: StudentShape, seed: u64) -> Result<Student, DistillError> {
        shape.validate()?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut params = BTreeMap::new();
        let layers = shape.layers();
        for layer in &layers {
            let fan_in = layer.in_channels / layer.groups * layer.kernel * layer.kernel;
            let dims = [
                layer.out_channels,
                layer.in_channels / layer.groups,
                layer.kernel,
                layer.kernel,
            ];
            params.insert(format!("{}.weight", layer.name), kaiming(&mut rng, &dims, fan_in)?);
            let c = layer.out_channels;
            params.insert(format!("{}.bn_scale", layer.name), constant(c, 1.0)?);
            params.insert(format!("{}.bn_bias", layer.name), constant(c, 0.0)?);
            params.insert(format!("{}.bn_mean", layer.name), constant(c, 0.0)?);
            params.insert(format!("{}.bn_var", layer.name), constant(c, 1.0)?);
        }
        let (fc_in, fc_out) = (shape.head_channels(), shape.embedding_size);
        params.insert("fc.weight".into(), kaiming(&mut rng, &[fc_out, fc_in], fc_in)?);
        params.insert("fc.bias".into(), constant(fc_out, 0.0)?);
        Ok(Student { shape, params, layers })
    }

    pub fn layers(&self) -> &[ConvBn] {
        &self.layers
    }

    pub fn param(&self, name: &str) -> Result<&Var, DistillError> {
        self.params
            .get(name)
            .ok_or_else(|| DistillError::Invalid(format!("student has no tensor `{name}`")))
    }

    /// Tensors the optimiser updates (BN running statistics are updated by the forward pass).
    pub fn trainable(&self) -> Vec<(&str, &Var)> {
        self.params
            .iter()
            .filter(|(name, _)| !name.ends_with(".bn_mean") && !name.ends_with(".bn_var"))
            .map(|(name, var)| (name.as_str(), var))
            .collect()
    }

    /// Number of trainable values.
    pub fn parameter_count(&self) -> usize {
        self.trainable().iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// Embeddings (not normalised) of an NCHW batch. In training mode BN normalises with the
    /// batch's statistics and folds them into the running ones.
    pub fn forward(&self, input: &Tensor, train: bool) -> Result<Tensor, DistillError> {
        let mut x = if self.shape.lowfreq {
            haar_ll(input)?
        } else {
            input.clone()
        };
        for layer in &self.layers {
            let weight = self.param(&format!("{}.weight", layer.name))?;
            x = x.conv2d(weight.as_tensor(), layer.padding, layer.stride, 1, layer.groups)?;
            x = self.batch_norm(&layer.name, &x, train)?;
            if layer.relu {
                x = x.relu()?;
            }
        }
        let x = x.flatten_from(1)?;
        let weight = self.param("fc.weight")?.as_tensor();
        let bias = self.param("fc.bias")?.as_tensor();
        Ok(x.matmul(&weight.t()?)?.broadcast_add(bias)?)
    }

    fn batch_norm(&self, layer: &str, x: &Tensor, train: bool) -> Result<Tensor, DistillError> {
        let get = |suffix: &str| self.param(&format!("{layer}.{suffix}"));
        let (scale, bias) = (get("bn_scale")?.as_tensor(), get("bn_bias")?.as_tensor());
        let (running_mean, running_var) = (get("bn_mean")?, get("bn_var")?);
        let channels = scale.dim(0)?;
        let as_4d = |t: &Tensor| t.reshape((1, channels, 1, 1));
        let (mean, var) = if train {
            let mean = x.mean_keepdim(0)?.mean_keepdim(2)?.mean_keepdim(3)?;
            let var = x
                .broadcast_sub(&mean)?
                .sqr()?
                .mean_keepdim(0)?
                .mean_keepdim(2)?
                .mean_keepdim(3)?;
            let blend = |running: &Var, batch: &Tensor| -> Result<(), DistillError> {
                let batch = batch.detach().flatten_all()?;
                let updated = ((running.as_tensor() * (1.0 - BN_MOMENTUM))? + (batch * BN_MOMENTUM)?)?;
                Ok(running.set(&updated)?)
            };
            blend(running_mean, &mean)?;
            blend(running_var, &var)?;
            (mean, var)
        } else {
            (as_4d(running_mean.as_tensor())?, as_4d(running_var.as_tensor())?)
        };
        let normalised = x.broadcast_sub(&mean)?.broadcast_div(&(var + BN_EPSILON)?.sqrt()?)?;
        Ok(normalised.broadcast_mul(&as_4d(scale)?)?.broadcast_add(&as_4d(bias)?)?)
    }

    /// Every tensor, for checkpoints.
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        vars::detached(&self.params)
    }

    /// Overwrites the tensors from a checkpoint; shapes must match.
    pub fn load_tensors(&self, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<(), DistillError> {
        vars::load(&self.params, tensors, path, "the student")
    }
}

/// Haar analysis' LL band: (a + b + c + d) / 2 of every 2×2 block.
pub fn haar_ll(x: &Tensor) -> Result<Tensor, DistillError> {
    Ok((x.avg_pool2d(2)? * 2.0)?)
}

/// He-uniform initial weights for a layer of `fan_in` inputs per output.
pub(super) fn kaiming(rng: &mut rand::rngs::StdRng, dims: &[usize], fan_in: usize) -> Result<Var, DistillError> {
    let bound = (6.0 / fan_in as f64).sqrt() as f32;
    let count = dims.iter().product();
    let values: Vec<f32> = (0..count).map(|_| rng.random_range(-bound..bound)).collect();
    Ok(Var::from_vec(values, dims, &Device::Cpu)?)
}

fn constant(len: usize, value: f32) -> Result<Var, DistillError> {
    Ok(Var::from_tensor(
        &Tensor::full(value, len, &Device::Cpu)?.to_dtype(DType::F32)?,
    )?)
}
