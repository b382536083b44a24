//! A recognizer that is one plain chain of layers (SFace / MobileFaceNet: convolutions, frozen
//! BatchNormalization, PReLU, a dense head) read from its ONNX graph and evaluated layer by
//! layer with trainable weights, fast enough on a CPU to fine-tune the teacher itself.
//!
//! Activations are kept channels-last (`[N, H, W, C]`): a 1×1 convolution is then one matrix
//! product over all pixels, and the depthwise convolutions and the BatchNorm + PReLU pairs run
//! as the single-pass kernels of [`super::kernels`]. BatchNorm uses the graph's running
//! statistics and never updates them (fine-tuning a pretrained network on small batches of
//! degraded faces must not re-estimate them); its scale and shift are trained.
//!
//! The weights keep the graph's own names and shapes, so export writes them back into a copy
//! of the original graph: the result is the same model with new weights, in the same
//! embedding space.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};
use candle_onnx::onnx::{NodeProto, attribute_proto};

use super::DistillError;
use super::kernels::{affine_prelu, depthwise_conv, im2col};
use super::onnx::{self, ModelProto};
use super::vars;
use crate::model::ModelCard;

#[derive(Debug, Clone)]
enum Layer {
    /// A full convolution (the network's first), as im2col + matmul.
    InputConv {
        weight: String,
        kernel: usize,
        stride: usize,
        pad: usize,
    },
    Depthwise {
        weight: String,
        stride: usize,
    },
    Pointwise {
        weight: String,
    },
    /// Frozen BatchNormalization, then PReLU when `slope` is set.
    Affine {
        gamma: String,
        beta: String,
        mean: String,
        var: String,
        epsilon: f64,
        slope: Option<String>,
    },
    /// Flatten (channels-first order, as the graph flattens) and a dense layer.
    Dense {
        weight: String,
        bias: String,
    },
}

pub struct FaceChain {
    model: ModelProto,
    path: PathBuf,
    /// `(x − sub) · mul` applied to the packed input before the first layer.
    sub: f32,
    mul: f32,
    layers: Vec<Layer>,
    /// Trained tensors by initializer name.
    vars: BTreeMap<String, Var>,
    /// Per trained tensor, how many convolutions deep it sits (its own included).
    stages: HashMap<String, usize>,
    convolutions: usize,
    /// Only the first this many convolutions (with their BatchNorm and PReLU) are trained.
    train_convs: Option<usize>,
    /// BatchNorm running statistics, fixed.
    constants: HashMap<String, Tensor>,
    input_size: u32,
    /// The input tensor's name in the graph.
    input: String,
}

impl FaceChain {
    /// The recognizer a card points at; refuses graphs that are not such a chain, naming the
    /// node where the chain breaks.
    pub fn load(card: &ModelCard) -> Result<FaceChain, DistillError> {
        let size = card.input_size.map_or(0, |[w, _]| w);
        FaceChain::load_at(card, size)
    }

    /// The same network for `input_size` × `input_size` crops: the convolutions are
    /// unchanged (they work at any size, at a quarter of the cost at half the side), the
    /// dense head's weights are resampled from the native final feature map to the smaller
    /// one (each new cell sums the weights of the native cells it covers, so a feature map
    /// that is the native one averaged down gives about the same output).
    pub fn load_at(card: &ModelCard, input_size: u32) -> Result<FaceChain, DistillError> {
        let path = card.model_path();
        let model = onnx::read(&path)?;
        let error = |message: String| DistillError::Onnx {
            path: path.clone(),
            message,
        };
        let graph = model.graph.as_ref().ok_or_else(|| error("it has no graph".into()))?;
        let values: HashMap<String, (Vec<usize>, Vec<f32>)> = onnx::float_initializers(&model)
            .into_iter()
            .map(|(name, (dims, v))| (name, (dims.iter().map(|&d| d as usize).collect(), v)))
            .collect();
        let mut parsed = Parser {
            values: &values,
            layers: Vec::new(),
            trained: Vec::new(),
            convolutions: 0,
            stage: 0,
            fixed: Vec::new(),
            sub: 0.0,
            mul: 1.0,
        };
        let mut current = card.input.clone();
        for node in &graph.node {
            if node.input.first() != Some(&current) {
                return Err(error(format!(
                    "node `{}` ({}) does not take the previous node's output `{current}`: only plain chains of layers can be trained",
                    node.name, node.op_type
                )));
            }
            parsed.node(node).map_err(error)?;
            current = node.output.first().cloned().unwrap_or_default();
        }
        let output = card.outputs.first().cloned().unwrap_or_default();
        if current != output {
            return Err(error(format!(
                "the chain ends in `{current}`, the card's output is `{output}`"
            )));
        }
        let native = card
            .input_size
            .map(|[w, _]| w)
            .ok_or_else(|| error(format!("card {} has no input_size", card.card_path.display())))?;
        if !(16..=native).contains(&input_size) {
            return Err(error(format!(
                "input size {input_size} is not supported: from 16 up to the model's own {native}"
            )));
        }
        let tensor = |name: &str| -> Result<Tensor, DistillError> {
            let (dims, v) = &values[name];
            Ok(Tensor::from_vec(v.clone(), dims.as_slice(), &Device::Cpu)?)
        };
        let head = parsed.layers.iter().find_map(|l| match l {
            Layer::Dense { weight, .. } => Some(weight.clone()),
            _ => None,
        });
        let (from, to) = (head_side(&parsed.layers, native), head_side(&parsed.layers, input_size));
        let mut vars = BTreeMap::new();
        let mut stages = HashMap::new();
        for (name, stage) in &parsed.trained {
            let mut value = tensor(name)?;
            if Some(name) == head.as_ref() && from != to {
                value = resample_head(&value, from, to)?;
            }
            vars.insert(name.clone(), Var::from_tensor(&value)?);
            stages.insert(name.clone(), *stage);
        }
        let mut constants = HashMap::new();
        for name in &parsed.fixed {
            constants.insert(name.clone(), tensor(name)?);
        }
        let convolutions = parsed.convolutions;
        Ok(FaceChain {
            sub: parsed.sub,
            mul: parsed.mul,
            layers: parsed.layers,
            model,
            path,
            vars,
            stages,
            convolutions,
            train_convs: None,
            constants,
            input_size,
            input: card.input.clone(),
        })
    }

    pub fn input_size(&self) -> u32 {
        self.input_size
    }

    /// Raw embeddings `[N, D]` of a batch packed per the card (`[N, 3, H, W]`).
    pub fn forward(&self, input: &Tensor) -> Result<Tensor, DistillError> {
        let mut x = input
            .permute((0, 2, 3, 1))?
            .contiguous()?
            .affine(self.mul as f64, -(self.sub * self.mul) as f64)?;
        for layer in &self.layers {
            x = self.apply(layer, &x)?;
        }
        Ok(x)
    }

    fn var(&self, name: &str) -> &Tensor {
        // Every name a layer holds was registered when the graph was parsed.
        self.vars[name].as_tensor()
    }

    fn apply(&self, layer: &Layer, x: &Tensor) -> Result<Tensor, DistillError> {
        Ok(match layer {
            Layer::InputConv {
                weight,
                kernel,
                stride,
                pad,
            } => {
                let w = self.var(weight);
                let (out, inp) = (w.dim(0)?, w.dim(1)?);
                let cols = im2col(x, *kernel, *stride, *pad)?;
                let (n, h, wd, _) = x.dims4()?;
                let (oh, ow) = (
                    conv_side(h, *kernel, *stride, *pad),
                    conv_side(wd, *kernel, *stride, *pad),
                );
                let w = w.permute((2, 3, 1, 0))?.reshape((kernel * kernel * inp, out))?;
                cols.matmul(&w)?.reshape((n, oh, ow, out))?
            }
            Layer::Depthwise { weight, stride } => {
                let w = self.var(weight);
                let taps = w.reshape((w.dim(0)?, 9))?.t()?;
                depthwise_conv(x, &taps, *stride)?
            }
            Layer::Pointwise { weight } => {
                let w = self.var(weight);
                let (n, h, wd, c) = x.dims4()?;
                let w = w.reshape((w.dim(0)?, c))?;
                x.reshape((n * h * wd, c))?
                    .matmul(&w.t()?)?
                    .reshape((n, h, wd, w.dim(0)?))?
            }
            Layer::Affine {
                gamma,
                beta,
                mean,
                var,
                epsilon,
                slope,
            } => {
                let scale = self.var(gamma).div(&(&self.constants[var] + *epsilon)?.sqrt()?)?;
                let shift = (self.var(beta) - (&self.constants[mean] * &scale)?)?;
                let slope = match slope {
                    Some(name) => self.var(name).flatten_all()?,
                    None => Tensor::ones(scale.dims(), DType::F32, &Device::Cpu)?,
                };
                affine_prelu(x, &Tensor::stack(&[&scale, &shift, &slope], 0)?)?
            }
            Layer::Dense { weight, bias } => {
                let x = match x.rank() {
                    4 => x.permute((0, 3, 1, 2))?.contiguous()?.flatten_from(1)?,
                    _ => x.clone(),
                };
                x.matmul(&self.var(weight).t()?)?.broadcast_add(self.var(bias))?
            }
        })
    }

    /// The tensors an optimiser updates, by initializer name.
    pub fn trainable(&self) -> Vec<(&str, &Var)> {
        let limit = self.train_convs.unwrap_or(usize::MAX);
        self.vars
            .iter()
            .filter(|(name, _)| self.stages.get(*name).is_some_and(|&s| s <= limit))
            .map(|(name, var)| (name.as_str(), var))
            .collect()
    }

    /// Surgical fine-tuning: train only the first `k` convolutions (with their BatchNorm
    /// and PReLU); the later stages and the dense head keep the teacher's weights.
    pub fn train_first_convs(&mut self, k: usize) -> Result<(), DistillError> {
        if !(1..=self.convolutions).contains(&k) {
            return Err(DistillError::Invalid(format!(
                "--train-convs {k}: {} has {} convolutions; give 1 to {0}",
                self.path.display(),
                self.convolutions
            )));
        }
        self.train_convs = Some(k);
        Ok(())
    }

    /// Nothing of the chain is trained (a front-end in front of it is).
    pub fn freeze(&mut self) {
        self.train_convs = Some(0);
    }

    /// The `--train-convs` limit, when training is surgical.
    pub fn trained_convs(&self) -> Option<usize> {
        self.train_convs
    }

    /// Values the optimiser updates.
    pub fn parameter_count(&self) -> usize {
        self.trainable().iter().map(|(_, v)| v.elem_count()).sum()
    }

    pub fn tensors(&self) -> HashMap<String, Tensor> {
        vars::detached(&self.vars)
    }

    /// Overwrites the weights from a checkpoint; names and shapes must match.
    pub fn load_tensors(&self, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<(), DistillError> {
        vars::load(&self.vars, tensors, path, &self.path.display().to_string())
    }

    /// The original graph with the trained weights (and, at another input size, the new
    /// input shape and head), written to `path`.
    pub fn write_onnx(&self, path: &Path) -> Result<(), DistillError> {
        onnx::write(&self.onnx_model()?, path)
    }

    /// The original graph with the trained weights (and the new input shape and head).
    pub fn onnx_model(&self) -> Result<ModelProto, DistillError> {
        let mut model = self.model.clone();
        if let Some(graph) = model.graph.as_mut() {
            for tensor in &mut graph.initializer {
                if let Some(var) = self.vars.get(&tensor.name) {
                    onnx::set_float_values(tensor, &var.as_tensor().flatten_all()?.to_vec1::<f32>()?);
                    tensor.dims = var.dims().iter().map(|&d| d as i64).collect();
                }
            }
            let side = self.input_size as i64;
            for input in graph.input.iter_mut().filter(|i| i.name == self.input) {
                *input = onnx::float_value(&self.input, Some(&[None, Some(3), Some(side), Some(side)]));
            }
        }
        Ok(model)
    }

    /// The graph's input name (the exported model keeps it).
    pub fn input_name(&self) -> &str {
        &self.input
    }
}

/// What parsing the graph's nodes collects.
struct Parser<'a> {
    values: &'a HashMap<String, (Vec<usize>, Vec<f32>)>,
    layers: Vec<Layer>,
    /// Trained tensors with the number of convolutions up to and including theirs (the
    /// dense head counts as one past the last).
    trained: Vec<(String, usize)>,
    convolutions: usize,
    /// The stage of the layer being parsed.
    stage: usize,
    fixed: Vec<String>,
    sub: f32,
    mul: f32,
}

impl Parser<'_> {
    fn node(&mut self, node: &NodeProto) -> Result<(), String> {
        let name = |i: usize| -> Result<String, String> {
            let input = node
                .input
                .get(i)
                .ok_or_else(|| format!("node `{}` lacks input {i}", node.name))?;
            if self.values.contains_key(input.as_str()) {
                Ok(input.clone())
            } else {
                Err(format!(
                    "node `{}`: input `{input}` is not a float initializer",
                    node.name
                ))
            }
        };
        match node.op_type.as_str() {
            "Sub" | "Mul" if self.layers.is_empty() => {
                let (_, v) = &self.values[name(1)?.as_str()];
                let &[value] = v.as_slice() else {
                    return Err(format!(
                        "node `{}`: only a scalar {} of the input is supported",
                        node.name, node.op_type
                    ));
                };
                if node.op_type == "Sub" {
                    self.sub += value / self.mul;
                } else {
                    self.mul *= value;
                }
            }
            "Conv" => self.conv(node, name(1)?)?,
            "BatchNormalization" => {
                let [gamma, beta, mean, var] = [name(1)?, name(2)?, name(3)?, name(4)?];
                self.train([&gamma, &beta]);
                self.fixed.extend([mean.clone(), var.clone()]);
                self.layers.push(Layer::Affine {
                    gamma,
                    beta,
                    mean,
                    var,
                    epsilon: float_attribute(node, "epsilon").unwrap_or(1e-5) as f64,
                    slope: None,
                });
            }
            "PRelu" => {
                let weight = name(1)?;
                match self.layers.last_mut() {
                    Some(Layer::Affine {
                        slope: slope @ None, ..
                    }) => *slope = Some(weight.clone()),
                    _ => return Err(format!("node `{}`: PRelu must follow a BatchNormalization", node.name)),
                }
                self.train([&weight]);
            }
            // Inference: Dropout passes its input through; Flatten is part of Dense.
            "Dropout" | "Flatten" => {}
            "Gemm" => {
                let transposed = int_attribute(node, "transB") == Some(1);
                let unit = |a: &str| float_attribute(node, a).is_none_or(|v| v == 1.0);
                if !transposed || int_attribute(node, "transA").unwrap_or(0) != 0 || !unit("alpha") || !unit("beta") {
                    return Err(format!(
                        "node `{}`: only Gemm with transB = 1, alpha = beta = 1 is supported",
                        node.name
                    ));
                }
                let (weight, bias) = (name(1)?, name(2)?);
                // The head (and what follows it) sits past every convolution: only a full
                // fine-tune trains it.
                self.stage = self.convolutions + 1;
                self.train([&weight, &bias]);
                self.layers.push(Layer::Dense { weight, bias });
            }
            other => {
                return Err(format!(
                    "node `{}`: operator {other} is not supported in a trainable chain",
                    node.name
                ));
            }
        }
        Ok(())
    }

    fn conv(&mut self, node: &NodeProto, weight: String) -> Result<(), String> {
        if node.input.len() > 2 {
            return Err(format!(
                "node `{}`: convolutions with a bias are not supported",
                node.name
            ));
        }
        let dims = &self.values[weight.as_str()].0;
        let &[out, per_group, kernel, kernel_w] = dims.as_slice() else {
            return Err(format!("node `{}`: weight {dims:?} is not 4-D", node.name));
        };
        let ints = |a: &str| ints_attribute(node, a).unwrap_or_default();
        let square = |v: Vec<i64>, default: i64| -> Option<usize> {
            let first = v.first().copied().unwrap_or(default);
            v.iter().all(|&x| x == first).then_some(first as usize)
        };
        let (stride, pad) = (square(ints("strides"), 1), square(ints("pads"), 0));
        let dilated = ints("dilations").iter().any(|&d| d != 1);
        let groups = int_attribute(node, "group").unwrap_or(1) as usize;
        let (Some(stride), Some(pad)) = (stride, pad) else {
            return Err(format!(
                "node `{}`: only equal strides and pads on every side are supported",
                node.name
            ));
        };
        let layer = match (groups, kernel, kernel_w, per_group) {
            _ if dilated => None,
            (1, 1, 1, _) if stride == 1 && pad == 0 => Some(Layer::Pointwise { weight: weight.clone() }),
            (g, 3, 3, 1) if g == out && pad == 1 && stride <= 2 => Some(Layer::Depthwise {
                weight: weight.clone(),
                stride,
            }),
            (1, k, kw, _) if k == kw && self.layers.is_empty() => Some(Layer::InputConv {
                weight: weight.clone(),
                kernel: k,
                stride,
                pad,
            }),
            _ => None,
        };
        let layer = layer.ok_or_else(|| {
            format!(
                "node `{}`: convolution {dims:?} (group {groups}, stride {stride}, pad {pad}) is not supported: \
                 1x1, 3x3 depthwise, or a full one on the input",
                node.name
            )
        })?;
        self.convolutions += 1;
        self.stage = self.convolutions;
        self.train([&weight]);
        self.layers.push(layer);
        Ok(())
    }

    fn train<const N: usize>(&mut self, names: [&String; N]) {
        let stage = self.stage;
        self.trained.extend(names.into_iter().map(|n| (n.clone(), stage)));
    }
}

fn attribute<'a>(node: &'a NodeProto, name: &str) -> Option<&'a candle_onnx::onnx::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn int_attribute(node: &NodeProto, name: &str) -> Option<i64> {
    attribute(node, name).map(|a| a.i)
}

fn float_attribute(node: &NodeProto, name: &str) -> Option<f32> {
    attribute(node, name)
        .filter(|a| a.r#type == attribute_proto::AttributeType::Float as i32)
        .map(|a| a.f)
}

fn ints_attribute(node: &NodeProto, name: &str) -> Option<Vec<i64>> {
    attribute(node, name).map(|a| a.ints.clone())
}

/// Output side of a convolution.
fn conv_side(side: usize, kernel: usize, stride: usize, pad: usize) -> usize {
    (side + 2 * pad).saturating_sub(kernel) / stride + 1
}

/// Side of the feature map the dense head sees for `input` × `input` crops.
fn head_side(layers: &[Layer], input: u32) -> usize {
    layers.iter().fold(input as usize, |side, layer| match layer {
        Layer::InputConv {
            kernel, stride, pad, ..
        } => conv_side(side, *kernel, *stride, *pad),
        Layer::Depthwise { stride, .. } => (side - 1) / stride + 1,
        _ => side,
    })
}

/// Dense weights `[D, C·from·from]` (channels-first flatten) resampled to `[D, C·to·to]`:
/// each new cell gets the native cells it covers, weighted by the share of each covered.
fn resample_head(weight: &Tensor, from: usize, to: usize) -> Result<Tensor, DistillError> {
    let (d, k) = weight.dims2()?;
    let c = k / (from * from);
    // cover[j][i]: the share of native cell i (along one axis) inside new cell j.
    let ratio = from as f64 / to as f64;
    let cover: Vec<Vec<f32>> = (0..to)
        .map(|j| {
            let (lo, hi) = (j as f64 * ratio, (j + 1) as f64 * ratio);
            (0..from)
                .map(|i| ((hi.min(i as f64 + 1.0) - lo.max(i as f64)).max(0.0)) as f32)
                .collect()
        })
        .collect();
    let w = weight.flatten_all()?.to_vec1::<f32>()?;
    let mut out = vec![0f32; d * c * to * to];
    for (plane, target) in w.chunks_exact(from * from).zip(out.chunks_exact_mut(to * to)) {
        for (jy, row) in cover.iter().enumerate() {
            for (jx, col) in cover.iter().enumerate() {
                let mut sum = 0.0;
                for (iy, &fy) in row.iter().enumerate().filter(|(_, f)| **f > 0.0) {
                    for (ix, &fx) in col.iter().enumerate().filter(|(_, f)| **f > 0.0) {
                        sum += plane[iy * from + ix] * fy * fx;
                    }
                }
                target[jy * to + jx] = sum;
            }
        }
    }
    Ok(Tensor::from_vec(out, (d, c * to * to), &Device::Cpu)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every native cell's weight is shared out among the new cells whole: a feature map
    /// constant per channel gives the same output at either size.
    #[test]
    fn the_resampled_head_keeps_each_channels_total_weight() {
        let (d, c, from, to) = (3, 2, 7, 4);
        let values: Vec<f32> = (0..d * c * from * from).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
        let weight = Tensor::from_vec(values, (d, c * from * from), &Device::Cpu).unwrap();
        let resampled = resample_head(&weight, from, to).unwrap();
        assert_eq!(resampled.dims(), [d, c * to * to]);
        let totals = |w: &Tensor, side: usize| -> Vec<f32> {
            w.reshape((d, c, side * side))
                .unwrap()
                .sum(2)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        for (a, b) in totals(&weight, from).iter().zip(totals(&resampled, to)) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        assert_eq!(
            head_side(
                &[Layer::Depthwise {
                    weight: String::new(),
                    stride: 2
                }],
                7
            ),
            4
        );
    }
}
