//! `squint bench-teacher`: what fine-tuning the teacher itself (the teacher-initialised
//! student) costs on this machine, against ONNX Runtime inference of the same model on the
//! same crops in the same run. Two implementations of the trainable SFace are timed:
//!
//! - `chain`: the trainer's own channels-last evaluation ([`FaceChain`]) with single-pass
//!   depthwise and BatchNorm + PReLU kernels — what `squint distill --init teacher` trains;
//! - `candle_onnx` (with `--baseline`): the graph run by candle-onnx, where every grouped
//!   convolution is one convolution per group.
//!
//! Each reports seconds per face for the forward pass, the backward pass and a whole training
//! step (forward + backward + AdamW), with the chain's time split by kernel.

use std::time::Instant;

use candle_core::Tensor;
use serde::Serialize;

use crate::distill::chain::FaceChain;
use crate::distill::kernels::{self, KernelProfile};
use crate::distill::teacher::OnnxNet;
use crate::distill::train::{AdamW, normalise, to_tensor};
use crate::image::BgrImage;
use crate::model::ModelCard;
use crate::recognize::Recognizer;

#[derive(Debug, Serialize)]
pub struct TeacherStepBench {
    pub model: String,
    pub parameters: usize,
    pub batch: usize,
    pub steps: usize,
    /// The model through ONNX Runtime (inference only, 2 threads), same crops, same run.
    pub ort_s_per_face: f64,
    pub chain: StepTimes,
    /// The kernels' share of the chain's forward and backward passes, per face; the rest is
    /// matrix products (1×1 convolutions, the head) and glue.
    pub chain_kernels_s_per_face: KernelProfile,
    pub candle_onnx: Option<StepTimes>,
    /// One pass of the chain over `epoch_faces` degraded faces (training steps).
    pub epoch_faces: usize,
    pub epoch_hours: f64,
}

#[derive(Debug, Serialize)]
pub struct StepTimes {
    pub forward_s_per_face: f64,
    pub backward_s_per_face: f64,
    /// Forward + backward + AdamW update.
    pub train_step_s_per_face: f64,
    /// Training step over ONNX Runtime inference.
    pub train_over_ort: f64,
}

/// What one implementation offers the benchmark.
trait Trainable {
    fn forward(&self, input: &Tensor) -> anyhow::Result<Tensor>;
    fn vars(&self) -> Vec<(String, candle_core::Var)>;
}

impl Trainable for FaceChain {
    fn forward(&self, input: &Tensor) -> anyhow::Result<Tensor> {
        Ok(FaceChain::forward(self, input)?)
    }
    fn vars(&self) -> Vec<(String, candle_core::Var)> {
        self.trainable()
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect()
    }
}

impl Trainable for OnnxNet {
    fn forward(&self, input: &Tensor) -> anyhow::Result<Tensor> {
        Ok(OnnxNet::forward(self, input)?)
    }
    fn vars(&self) -> Vec<(String, candle_core::Var)> {
        self.named_vars()
    }
}

/// Times `steps` forward passes and `steps` training steps of `batch` crops with each
/// implementation, and ONNX Runtime inference between them.
pub fn run(
    card: &ModelCard,
    crops: &[BgrImage],
    batch: usize,
    steps: usize,
    epoch_faces: usize,
    baseline: bool,
) -> anyhow::Result<TeacherStepBench> {
    anyhow::ensure!(
        !crops.is_empty() && batch > 0 && steps > 0,
        "need crops, a batch and steps"
    );
    let chunk: Vec<&BgrImage> = crops.iter().cycle().take(batch).collect();
    let input = to_tensor(card, &chunk, &mut Vec::new())?;
    let chain = FaceChain::load(card)?;
    let target = normalise(&chain.forward(&input)?.detach())?;
    let faces = (steps * batch) as f64;

    let mut ort = Recognizer::load(card, None, 2)?;
    ort.embed(&chunk)?;
    let started = Instant::now();
    for _ in 0..steps {
        std::hint::black_box(ort.embed(&chunk)?);
    }
    let ort_s = started.elapsed().as_secs_f64() / faces;

    // One untimed step first: allocations and thread start-up are not the steady state.
    time_steps(&chain, &input, &target, 1, ort_s)?;
    kernels::reset_profile();
    let chain_times = time_steps(&chain, &input, &target, steps, ort_s)?;
    let profile = kernels::profile();
    // Forward passes run twice per timed round (once alone, once inside the step).
    let per_face = |s: f64, passes: f64| s / (faces * passes);
    let chain_kernels = KernelProfile {
        depthwise_forward_s: per_face(profile.depthwise_forward_s, 2.0),
        depthwise_backward_s: per_face(profile.depthwise_backward_s, 1.0),
        affine_forward_s: per_face(profile.affine_forward_s, 2.0),
        affine_backward_s: per_face(profile.affine_backward_s, 1.0),
    };
    let candle_onnx = if baseline {
        let net = OnnxNet::load(card)?;
        Some(time_steps(&net, &input, &target, steps, ort_s)?)
    } else {
        None
    };
    Ok(TeacherStepBench {
        model: card.id.clone(),
        parameters: chain.parameter_count(),
        batch,
        steps,
        ort_s_per_face: ort_s,
        epoch_faces,
        epoch_hours: chain_times.train_step_s_per_face * epoch_faces as f64 / 3600.0,
        chain: chain_times,
        chain_kernels_s_per_face: chain_kernels,
        candle_onnx,
    })
}

fn time_steps(
    net: &impl Trainable,
    input: &Tensor,
    target: &Tensor,
    steps: usize,
    ort_s: f64,
) -> anyhow::Result<StepTimes> {
    let faces = (steps * input.dim(0)?) as f64;
    let vars = net.vars();
    let trainable: Vec<(&str, &candle_core::Var)> = vars.iter().map(|(n, v)| (n.as_str(), v)).collect();
    let mut optimizer = AdamW::default();
    let (mut forward, mut backward, mut step) = (0.0, 0.0, 0.0);
    for _ in 0..steps {
        let started = Instant::now();
        std::hint::black_box(net.forward(input)?);
        forward += started.elapsed().as_secs_f64();

        let started = Instant::now();
        let output = normalise(&net.forward(input)?)?;
        let loss = (&output * target)?.sum(1)?.mean_all()?.affine(-1.0, 1.0)?;
        let forward_done = started.elapsed().as_secs_f64();
        let grads = loss.backward()?;
        backward += started.elapsed().as_secs_f64() - forward_done;
        // A tiny rate: the weights barely move, so every timed step sees the same network.
        optimizer.step(&trainable, &grads, 1e-9, 0.0)?;
        step += started.elapsed().as_secs_f64();
    }
    Ok(StepTimes {
        forward_s_per_face: forward / faces,
        backward_s_per_face: backward / faces,
        train_step_s_per_face: step / faces,
        train_over_ort: step / faces / ort_s,
    })
}
