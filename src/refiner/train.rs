//! Trains the refiner on detected tiny faces of the training photos, keeps the epoch with
//! the lowest landmark error on the validation photos' faces, and exports it as ONNX.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use super::RefinerError;
use super::samples::{Sample, SampleSpec, make_samples, mirrored};
use crate::align::{PatchGeometry, REFINER_OUTPUTS};
use crate::detect::{DetectConfig, Detector};
use crate::distill::export;
use crate::distill::onnx;
use crate::distill::optim::{AdamW, cosine_rate};
use crate::distill::pool::to_tensor;
use crate::distill::{Student, StudentShape};
use crate::eval::run::progress;
use crate::faces::{SharpFace, find_face};
use crate::image::BgrImage;
use crate::model::ModelCard;

/// The refiner's output name in its ONNX graph and card.
pub const OUTPUT: &str = "offsets";

#[derive(Debug, Clone)]
pub struct RefinerConfig {
    /// Photos (one face each) the refiner learns from.
    pub train: Vec<PathBuf>,
    /// Photos of other people: choose the epoch and report the error.
    pub val: Vec<PathBuf>,
    /// Card of the detector (YuNet): the teacher on sharp photos and the detector whose
    /// landmarks are refined on tiny faces.
    pub detector: PathBuf,
    /// The pipeline's detector settings (`[detect]`): the refiner learns that detector's errors.
    pub detect: DetectConfig,
    pub ort_library: Option<PathBuf>,
    /// Video whose frames are the faces' backgrounds (mid-grey without).
    pub background: Option<PathBuf>,
    /// Gets `refiner.onnx`, `refiner.card.toml` and `report.json`.
    pub out: PathBuf,
    pub id: String,
    /// Side of the square patch (divisible by 4).
    pub side: u32,
    /// Channels of the first convolution (the student CNN's width).
    pub width: usize,
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Times each training face is shown at a random width, spot and degradation.
    pub rounds: usize,
    /// Face widths training draws from.
    pub train_sizes: Vec<u32>,
    /// Face widths the validation error is reported at.
    pub val_sizes: Vec<u32>,
    pub seed: u64,
    /// What the photos are and the licence the weights inherit from them.
    pub trained_on: String,
    pub licence: String,
    pub progress: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct EpochRow {
    pub epoch: usize,
    pub train_loss_patch_px: f64,
    /// Mean refined landmark error over every validation sample, frame pixels.
    pub val_error_px: f64,
    pub seconds: f64,
}

/// Mean landmark error (frame pixels) with a 90 % bootstrap interval over faces.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Interval {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SizeRow {
    pub px: u32,
    pub faces: usize,
    pub detector: Interval,
    pub refined: Interval,
    /// The refined error minus the detector's, paired per face.
    pub change: Interval,
}

#[derive(Debug, Clone, Serialize)]
pub struct RefinerReport {
    pub card: PathBuf,
    pub train_photos: usize,
    pub train_faces: usize,
    pub val_photos: usize,
    pub val_faces: usize,
    pub train_samples: usize,
    pub parameters: usize,
    pub epochs: Vec<EpochRow>,
    pub best_epoch: usize,
    /// Validation side, the kept epoch.
    pub val: Vec<SizeRow>,
    pub seconds: f64,
}

pub fn train_refiner(config: &RefinerConfig) -> Result<RefinerReport, RefinerError> {
    validate(config)?;
    let started = Instant::now();
    let ort = config.ort_library.as_deref();
    let card = ModelCard::load(&config.detector)?;
    let mut finder = Detector::load(&card, ort, &DetectConfig::default())?;
    let mut detector = Detector::load(&card, ort, &config.detect)?;
    let geometry = PatchGeometry { side: config.side };
    let train_faces = sharp_faces(&config.train, &mut finder, config.progress, "training photos")?;
    let val_faces = sharp_faces(&config.val, &mut finder, config.progress, "validation photos")?;
    let spec = SampleSpec {
        sizes: config.train_sizes.clone(),
        rounds: config.rounds,
        degrade: true,
        seed: config.seed,
    };
    let backgrounds = match &config.background {
        // Other frames than `squint eval` takes (10 at a step of 25).
        Some(video) => crate::bench::detect::sample_frames(video, 40, 23).map_err(|e| RefinerError::Data {
            path: video.clone(),
            message: format!("cannot read background frames: {e}"),
        })?,
        None => Vec::new(),
    };
    let bar = progress(config.progress, train_faces.len() * config.rounds, "training faces");
    let train = make_samples(&train_faces, &backgrounds, &spec, &mut detector, geometry, &bar)?;
    bar.finish_and_clear();
    let mut val = Vec::new();
    for &px in &config.val_sizes {
        let spec = SampleSpec {
            sizes: vec![px],
            rounds: 1,
            degrade: false,
            seed: config.seed ^ 0x5eed,
        };
        let bar = progress(config.progress, val_faces.len(), &format!("validation {px} px"));
        val.push((
            px,
            make_samples(&val_faces, &backgrounds, &spec, &mut detector, geometry, &bar)?,
        ));
        bar.finish_and_clear();
    }
    if train.len() < config.batch {
        return Err(RefinerError::Invalid(format!(
            "the detector found only {} training faces; give more photos or lower --batch",
            train.len()
        )));
    }
    tracing::info!(samples = train.len(), "training samples made");
    let shape = StudentShape {
        input_size: config.side,
        width: config.width,
        embedding_size: REFINER_OUTPUTS,
        lowfreq: false,
    };
    let student = zero_head(shape, config.seed)?;
    let trained = fit(config, &student, &train, &val, geometry)?;
    let card = RefinerCard {
        id: &config.id,
        trained_on: &config.trained_on,
        licence: &config.licence,
    };
    let card = write_model(&config.out, &card, &student)?;
    let report = RefinerReport {
        card,
        train_photos: config.train.len(),
        train_faces: train_faces.len(),
        val_photos: config.val.len(),
        val_faces: val_faces.len(),
        train_samples: train.len(),
        parameters: student.parameter_count(),
        epochs: trained.epochs,
        best_epoch: trained.best_epoch,
        val: size_rows(&student, &val, config.seed)?,
        seconds: started.elapsed().as_secs_f64(),
    };
    let path = config.out.join("report.json");
    let json = serde_json::to_string_pretty(&report).map_err(|e| RefinerError::Invalid(e.to_string()))?;
    std::fs::write(&path, json).map_err(|source| RefinerError::Io { path, source })?;
    Ok(report)
}

/// A refiner network whose offsets are all zero: it aligns as the detector does, and
/// training starts from there and learns corrections.
fn zero_head(shape: StudentShape, seed: u64) -> Result<Student, RefinerError> {
    let student = Student::new(shape, seed)?;
    let fc = student.param("fc.weight")?;
    fc.set(&fc.as_tensor().zeros_like()?)?;
    Ok(student)
}

/// Writes an untrained refiner (all offsets zero: the detector's alignment) into `out`; a
/// baseline, and a check that a pipeline runs a refiner end to end. Returns its card.
pub fn write_untrained(out: &Path, side: u32) -> Result<PathBuf, RefinerError> {
    let shape = StudentShape {
        input_size: side,
        width: 4,
        embedding_size: REFINER_OUTPUTS,
        lowfreq: false,
    };
    let card = RefinerCard {
        id: "squint-refiner-untrained",
        trained_on: "nothing (untrained: the detector's alignment)",
        licence: "MIT OR Apache-2.0 (no data)",
    };
    write_model(out, &card, &zero_head(shape, 0)?)
}

fn validate(config: &RefinerConfig) -> Result<(), RefinerError> {
    let invalid = |m: String| Err(RefinerError::Invalid(m));
    if config.train.is_empty() || config.val.is_empty() {
        return invalid("give training and validation photos (--split with --pool)".into());
    }
    if config.side < 16 || !config.side.is_multiple_of(4) {
        return invalid(format!("--side {} must be at least 16 and divisible by 4", config.side));
    }
    if config.epochs == 0 || config.batch < 2 || config.rounds == 0 || config.width == 0 {
        return invalid("--epochs, --rounds and --width must be at least 1, --batch at least 2".into());
    }
    let sizes = config.train_sizes.iter().chain(&config.val_sizes);
    if config.train_sizes.is_empty() || config.val_sizes.is_empty() || sizes.clone().any(|&s| !(6..=64).contains(&s)) {
        return invalid("training and validation face widths must be given, each from 6 to 64 px".into());
    }
    Ok(())
}

/// The face of each photo (photos without one are skipped and counted in the log).
fn sharp_faces(
    photos: &[PathBuf],
    finder: &mut Detector,
    visible: bool,
    what: &str,
) -> Result<Vec<SharpFace>, RefinerError> {
    let bar = progress(visible, photos.len(), what);
    let mut faces = Vec::with_capacity(photos.len());
    for path in photos {
        if let Some(face) = find_face(finder, path, false)? {
            faces.push(face);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if faces.len() < photos.len() {
        tracing::info!(
            what,
            missed = photos.len() - faces.len(),
            "photos without a face skipped"
        );
    }
    Ok(faces)
}

pub(super) struct Trained {
    pub(super) epochs: Vec<EpochRow>,
    pub(super) best_epoch: usize,
}

/// AdamW on the mean point distance; the weights of the epoch with the lowest validation
/// error are restored at the end.
pub(super) fn fit(
    config: &RefinerConfig,
    student: &Student,
    train: &[Sample],
    val: &[(u32, Vec<Sample>)],
    geometry: PatchGeometry,
) -> Result<Trained, RefinerError> {
    let card = export::training_card(student);
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut optimiser = AdamW::default();
    let steps_per_epoch = train.len() / config.batch;
    let total = steps_per_epoch * config.epochs;
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut buffer = Vec::new();
    let mut epochs = Vec::new();
    let mut best: Option<(f64, usize, HashMap<String, Tensor>)> = None;
    for epoch in 1..=config.epochs {
        let started = Instant::now();
        order.shuffle(&mut rng);
        let bar = progress(
            config.progress,
            steps_per_epoch,
            &format!("epoch {epoch}/{}", config.epochs),
        );
        let mut loss_sum = 0.0;
        for (step, batch) in order.chunks_exact(config.batch).enumerate() {
            let (patches, targets): (Vec<BgrImage>, Vec<[f32; REFINER_OUTPUTS]>) = batch
                .iter()
                .map(|&i| {
                    if rng.random_bool(0.5) {
                        mirrored(&train[i], geometry)
                    } else {
                        (train[i].patch.clone(), train[i].target)
                    }
                })
                .unzip();
            let input = to_tensor(&card, &patches.iter().collect::<Vec<_>>(), &mut buffer)?;
            let predicted = student.forward(&input, true)?;
            let loss = point_distance(&predicted, &targets_tensor(&targets)?)?;
            let grads = loss.backward()?;
            let rate = cosine_rate(config.learning_rate, (epoch - 1) * steps_per_epoch + step, total);
            optimiser.step(&student.trainable(), &grads, rate, config.weight_decay)?;
            loss_sum += loss.to_scalar::<f32>()? as f64;
            bar.inc(1);
        }
        bar.finish_and_clear();
        let errors: Vec<f64> = val
            .iter()
            .map(|(_, samples)| refined_errors(student, samples))
            .collect::<Result<Vec<_>, _>>()?
            .concat();
        let val_error = errors.iter().sum::<f64>() / errors.len().max(1) as f64;
        let row = EpochRow {
            epoch,
            train_loss_patch_px: loss_sum / steps_per_epoch.max(1) as f64,
            val_error_px: val_error,
            seconds: started.elapsed().as_secs_f64(),
        };
        tracing::info!(
            epoch,
            train_loss = row.train_loss_patch_px,
            val_error_px = val_error,
            seconds = row.seconds,
            "refiner epoch"
        );
        epochs.push(row);
        if best.as_ref().is_none_or(|(error, _, _)| val_error < *error) {
            best = Some((val_error, epoch, deep_copy(student)?));
        }
    }
    let (_, best_epoch, tensors) = best.ok_or_else(|| RefinerError::Invalid("no epoch ran".into()))?;
    student.load_tensors(&tensors, &config.out)?;
    Ok(Trained { epochs, best_epoch })
}

/// The student's tensors copied (a detached view shares storage with the live weights).
fn deep_copy(student: &Student) -> Result<HashMap<String, Tensor>, RefinerError> {
    student
        .tensors()
        .into_iter()
        .map(|(name, t)| Ok((name, t.copy()?)))
        .collect()
}

fn targets_tensor(targets: &[[f32; REFINER_OUTPUTS]]) -> Result<Tensor, RefinerError> {
    let flat: Vec<f32> = targets.iter().flatten().copied().collect();
    Ok(Tensor::from_vec(flat, (targets.len(), REFINER_OUTPUTS), &Device::Cpu)?)
}

/// Mean Euclidean distance between predicted and true points (patch pixels): the error
/// itself, not its square, so a few faces the detector got badly wrong do not dominate.
pub fn point_distance(predicted: &Tensor, targets: &Tensor) -> Result<Tensor, RefinerError> {
    let n = predicted.dim(0)?;
    let diff = (predicted - targets)?.reshape((n, REFINER_OUTPUTS / 2, 2))?;
    Ok((diff.sqr()?.sum(2)? + 1e-6)?.sqrt()?.mean_all()?)
}

/// The refiner's offsets for samples, in inference mode.
pub fn predict(student: &Student, samples: &[Sample]) -> Result<Vec<[f32; REFINER_OUTPUTS]>, RefinerError> {
    let card = export::training_card(student);
    let mut buffer = Vec::new();
    let mut out = Vec::with_capacity(samples.len());
    for chunk in samples.chunks(256) {
        let patches: Vec<&BgrImage> = chunk.iter().map(|s| &s.patch).collect();
        let offsets = student.forward(&to_tensor(&card, &patches, &mut buffer)?, false)?;
        for row in offsets.to_vec2::<f32>()? {
            let mut o = [0.0; REFINER_OUTPUTS];
            o.copy_from_slice(&row);
            out.push(o);
        }
    }
    Ok(out)
}

fn refined_errors(student: &Student, samples: &[Sample]) -> Result<Vec<f64>, RefinerError> {
    Ok(predict(student, samples)?
        .iter()
        .zip(samples)
        .map(|(o, s)| s.error_px(o))
        .collect())
}

fn size_rows(student: &Student, val: &[(u32, Vec<Sample>)], seed: u64) -> Result<Vec<SizeRow>, RefinerError> {
    val.iter()
        .map(|(px, samples)| {
            let detector: Vec<f64> = samples.iter().map(Sample::detector_error_px).collect();
            let refined = refined_errors(student, samples)?;
            let change: Vec<f64> = refined.iter().zip(&detector).map(|(r, d)| r - d).collect();
            Ok(SizeRow {
                px: *px,
                faces: samples.len(),
                detector: bootstrap_mean(&detector, seed),
                refined: bootstrap_mean(&refined, seed),
                change: bootstrap_mean(&change, seed),
            })
        })
        .collect()
}

/// The mean and its 90 % bootstrap interval (1,000 resamples), as `squint eval` reports it.
fn bootstrap_mean(values: &[f64], seed: u64) -> Interval {
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    let [low, high] = crate::eval::metrics::mean_interval(values, 1000, seed).unwrap_or([mean, mean]);
    Interval { mean, low, high }
}

/// Writes `refiner.onnx` and its card into the output folder; returns the card's path.
pub(super) fn write_model(dir: &Path, card: &RefinerCard, student: &Student) -> Result<PathBuf, RefinerError> {
    std::fs::create_dir_all(dir).map_err(|source| RefinerError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut model = export::to_onnx(student)?;
    rename_output(&mut model, export::OUTPUT, OUTPUT);
    onnx::write(&model, &dir.join("refiner.onnx"))?;
    let card_path = dir.join("refiner.card.toml");
    std::fs::write(&card_path, card_text(card, student)).map_err(|source| RefinerError::Io {
        path: card_path.clone(),
        source,
    })?;
    Ok(card_path)
}

fn rename_output(model: &mut onnx::ModelProto, from: &str, to: &str) {
    let Some(graph) = model.graph.as_mut() else { return };
    for output in graph.output.iter_mut().filter(|o| o.name == from) {
        output.name = to.into();
    }
    for node in &mut graph.node {
        for name in node.output.iter_mut().filter(|n| n.as_str() == from) {
            *name = to.into();
        }
    }
}

/// What a refiner's card says about it besides its shape.
pub(super) struct RefinerCard<'a> {
    pub(super) id: &'a str,
    pub(super) trained_on: &'a str,
    pub(super) licence: &'a str,
}

fn card_text(card: &RefinerCard, student: &Student) -> String {
    let side = student.shape.input_size;
    format!(
        "# Landmark refiner trained by `squint train-refiner`: re-finds the five landmarks of faces\n\
         # below `align.refine_below_px` from a {side}x{side} patch aligned on the detector's own points.\n\
         # {params} parameters. Outputs (dx, dy) per point in patch pixels.\n\
         # Trained on: {trained_on}.\n\
         # Licence: {licence}\n\
         {fields}\
         licence = {licence:?}\n",
        params = student.parameter_count(),
        trained_on = card.trained_on,
        licence = card.licence,
        fields = export::card_fields(card.id, "refiner.onnx", side, OUTPUT),
    )
}
