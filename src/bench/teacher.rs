//! `squint bench-teacher`: what fine-tuning the teacher itself (the teacher-initialised,
//! accuracy-first student) costs on this machine. SFace run by candle with its weights as
//! variables: seconds per face for a forward pass, and for forward + backward of the instance
//! loss, at one batch size; and the hours one epoch over a training set of a given size takes.

use std::time::Instant;

use serde::Serialize;

use crate::distill::teacher::OnnxNet;
use crate::distill::train::{normalise, to_tensor};
use crate::image::BgrImage;
use crate::model::ModelCard;
use crate::recognize::Recognizer;

#[derive(Debug, Serialize)]
pub struct TeacherStepBench {
    pub model: String,
    pub parameters: usize,
    pub batch: usize,
    pub steps: usize,
    pub forward_s_per_face: f64,
    pub train_step_s_per_face: f64,
    /// The same model through ONNX Runtime (inference only), same crops, same run.
    pub ort_s_per_face: f64,
    /// Training step in candle over inference in ONNX Runtime.
    pub train_over_ort: f64,
    /// One pass over `epoch_faces` degraded faces with forward and backward.
    pub epoch_faces: usize,
    pub epoch_hours: f64,
}

/// Times `steps` forward passes and `steps` forward + backward passes of `batch` crops.
pub fn run(
    card: &ModelCard,
    crops: &[BgrImage],
    batch: usize,
    steps: usize,
    epoch_faces: usize,
) -> anyhow::Result<TeacherStepBench> {
    anyhow::ensure!(
        !crops.is_empty() && batch > 0 && steps > 0,
        "need crops, a batch and steps"
    );
    let net = OnnxNet::load(card)?;
    let chunk: Vec<&BgrImage> = crops.iter().cycle().take(batch).collect();
    let input = to_tensor(card, &chunk, &mut Vec::new())?;
    let target = normalise(&net.forward(&input)?.detach())?;
    let started = Instant::now();
    for _ in 0..steps {
        std::hint::black_box(net.forward(&input)?);
    }
    let forward = started.elapsed().as_secs_f64() / (steps * batch) as f64;
    let started = Instant::now();
    for _ in 0..steps {
        let output = normalise(&net.forward(&input)?)?;
        let loss = (&output * &target)?.sum(1)?.mean_all()?.affine(-1.0, 1.0)?;
        std::hint::black_box(loss.backward()?);
    }
    let train_step = started.elapsed().as_secs_f64() / (steps * batch) as f64;
    let mut ort = Recognizer::load(card, None, 2)?;
    ort.embed(&chunk)?;
    let started = Instant::now();
    for _ in 0..steps {
        std::hint::black_box(ort.embed(&chunk)?);
    }
    let ort_s = started.elapsed().as_secs_f64() / (steps * batch) as f64;
    Ok(TeacherStepBench {
        model: card.id.clone(),
        parameters: net.parameters(),
        batch,
        steps,
        forward_s_per_face: forward,
        train_step_s_per_face: train_step,
        ort_s_per_face: ort_s,
        train_over_ort: train_step / ort_s,
        epoch_faces,
        epoch_hours: train_step * epoch_faces as f64 / 3600.0,
    })
}
