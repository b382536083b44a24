//! A restoration front-end: three small convolutions that turn a degraded crop into one the
//! *frozen* teacher embeds like the sharp face. Only the front-end learns — the teacher does
//! not change, so nothing it knows about telling people apart is forgotten. It starts as the
//! identity (its last convolution is zero), i.e. as the teacher itself, and is exported in
//! front of the teacher's graph as one model with the teacher's inputs and embedding space.
//!
//! `x + 255 · conv₃(relu(conv₂(relu(conv₁(x / 255)))))` on the packed crop (0–255 values).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{Device, Tensor, Var};
use rand::SeedableRng;

use super::DistillError;
use super::onnx::{self, ModelProto};
use super::student::kaiming;
use super::vars;

/// Pixel values of the packed crop: the convolutions work on them scaled to 0–1.
const PIXEL: f64 = 255.0;
/// Name prefix of the front-end's tensors and nodes in the exported graph.
const PREFIX: &str = "restore";

pub struct Restorer {
    /// `conv{1,2,3}.weight` `[out, in, 3, 3]` and `.bias` `[out]`.
    vars: BTreeMap<String, Var>,
    channels: usize,
}

impl Restorer {
    /// A front-end of `channels` feature maps that starts as the identity.
    pub fn new(channels: usize, seed: u64) -> Result<Restorer, DistillError> {
        if channels == 0 {
            return Err(DistillError::Invalid("the restorer needs at least one channel".into()));
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut kaiming = |out: usize, inp: usize| kaiming(&mut rng, &[out, inp, 3, 3], inp * 9);
        let zeros = |dims: &[usize]| -> Result<Var, DistillError> {
            Ok(Var::zeros(dims, candle_core::DType::F32, &Device::Cpu)?)
        };
        let vars = BTreeMap::from([
            ("conv1.weight".to_string(), kaiming(channels, 3)?),
            ("conv1.bias".to_string(), zeros(&[channels])?),
            ("conv2.weight".to_string(), kaiming(channels, channels)?),
            ("conv2.bias".to_string(), zeros(&[channels])?),
            ("conv3.weight".to_string(), zeros(&[3, channels, 3, 3])?),
            ("conv3.bias".to_string(), zeros(&[3])?),
        ]);
        Ok(Restorer { vars, channels })
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    fn var(&self, name: &str) -> &Tensor {
        // The six names are made in `new`.
        self.vars[name].as_tensor()
    }

    fn conv(&self, x: &Tensor, layer: &str) -> Result<Tensor, DistillError> {
        let bias = self.var(&format!("{layer}.bias"));
        Ok(x.conv2d(self.var(&format!("{layer}.weight")), 1, 1, 1, 1)?
            .broadcast_add(&bias.reshape((1, bias.dim(0)?, 1, 1))?)?)
    }

    /// The restored crop, `[N, 3, H, W]` as packed.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, DistillError> {
        let h = self.conv(&(x / PIXEL)?, "conv1")?.relu()?;
        let h = self.conv(&h, "conv2")?.relu()?;
        Ok((x + (self.conv(&h, "conv3")? * PIXEL)?)?)
    }

    pub fn trainable(&self) -> Vec<(&str, &Var)> {
        self.vars.iter().map(|(n, v)| (n.as_str(), v)).collect()
    }

    pub fn parameter_count(&self) -> usize {
        self.vars.values().map(|v| v.elem_count()).sum()
    }

    pub fn tensors(&self) -> HashMap<String, Tensor> {
        vars::detached(&self.vars)
    }

    pub fn load_tensors(&self, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<(), DistillError> {
        vars::load(&self.vars, tensors, path, "the restorer")
    }

    /// Puts the front-end between `model`'s input `input` and every node that read it.
    pub fn prepend_to(&self, model: &mut ModelProto, input: &str) -> Result<(), DistillError> {
        let Some(graph) = model.graph.as_mut() else {
            return Err(DistillError::Invalid("the teacher's graph is empty".into()));
        };
        let restored = format!("{PREFIX}.out");
        for node in &mut graph.node {
            for name in node.input.iter_mut().filter(|n| *n == input) {
                *name = restored.clone();
            }
        }
        let name = |s: &str| format!("{PREFIX}.{s}");
        for (tensor, var) in &self.vars {
            let values = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            graph
                .initializer
                .push(onnx::float_tensor(&name(tensor), var.dims(), &values));
        }
        graph
            .initializer
            .push(onnx::float_tensor(&name("inverse_pixel"), &[], &[(1.0 / PIXEL) as f32]));
        graph
            .initializer
            .push(onnx::float_tensor(&name("pixel"), &[], &[PIXEL as f32]));
        let conv = |layer: &str, from: &str, to: &str| {
            onnx::node(
                "Conv",
                &name(layer),
                &[from, &name(&format!("{layer}.weight")), &name(&format!("{layer}.bias"))],
                &[to],
                vec![onnx::ints("kernel_shape", &[3, 3]), onnx::ints("pads", &[1, 1, 1, 1])],
            )
        };
        let (scaled, h1, a1, h2, a2, h3, r) = (
            name("scaled"),
            name("h1"),
            name("a1"),
            name("h2"),
            name("a2"),
            name("h3"),
            name("residual"),
        );
        let front = vec![
            onnx::node(
                "Mul",
                &name("scale"),
                &[input, &name("inverse_pixel")],
                &[&scaled],
                vec![],
            ),
            conv("conv1", &scaled, &h1),
            onnx::node("Relu", &name("relu1"), &[&h1], &[&a1], vec![]),
            conv("conv2", &a1, &h2),
            onnx::node("Relu", &name("relu2"), &[&h2], &[&a2], vec![]),
            conv("conv3", &a2, &h3),
            onnx::node("Mul", &name("unscale"), &[&h3, &name("pixel")], &[&r], vec![]),
            onnx::node("Add", &name("add"), &[input, &r], &[&restored], vec![]),
        ];
        graph.node.splice(0..0, front);
        Ok(())
    }
}
