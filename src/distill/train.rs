//! Training: the student learns, on degraded versions of each crop, to land where the teacher
//! puts the sharp crop (instance loss), to keep the teacher's similarities to the batch and to
//! a queue of recent teacher embeddings (relation loss), and optionally to pick its own
//! teacher embedding out of that queue (contrastive loss). Batches mix real crops with a
//! share of synthetic ones. Checkpoints after every epoch; a run resumes exactly where one
//! stopped, and the same seed gives the same student.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::DistillError;
use super::dataset;
use super::degrade::{self, Degradation};
use super::ema::Ema;
use super::export::{self, CardInfo};
use super::net::{Init, Net, NetShape};
use super::pool::{Pool, Subset};
use super::student::StudentShape;
use crate::image::BgrImage;
use crate::model::ModelCard;
use crate::recognize::{Recognizer, pack_crops};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Folder of aligned HR crops at the teacher's input size.
    pub data: PathBuf,
    /// Held-out crops of people not in `data` (an identity-disjoint split); without it
    /// `val_fraction` of `data` is held out.
    pub val_data: Option<PathBuf>,
    /// Folders of aligned crops of generated faces (`squint synth-faces`, `squint
    /// morph-faces`), mixed into every batch.
    #[serde(default)]
    pub synthetic: Vec<PathBuf>,
    /// Share of each batch drawn from `synthetic` (0–0.9): real faces should dominate.
    pub synthetic_share: f64,
    /// Train on at most this many sources (people, tracks) of `data`, chosen by name hash:
    /// the learning curve's x axis.
    pub max_sources: Option<usize>,
    /// Where checkpoints, the ONNX student, its card and report.json go.
    pub out: PathBuf,
    /// The teacher's model card.
    pub teacher: PathBuf,
    pub ort_library: Option<PathBuf>,
    /// ONNX Runtime threads for the teacher.
    pub threads: usize,
    /// A small student from scratch, or the teacher's own network (`input_size` then is
    /// the teacher's).
    #[serde(default)]
    pub init: Init,
    pub input_size: u32,
    pub width: usize,
    pub lowfreq: bool,
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub instance_weight: f64,
    pub relation_weight: f64,
    /// Weight of the contrastive loss (own teacher embedding against the queue's).
    pub contrastive_weight: f64,
    /// Softmax temperature of the contrastive loss.
    pub temperature: f64,
    /// Teacher embeddings of recent batches kept for the relation and contrastive terms
    /// (0: the batch alone).
    pub queue: usize,
    pub seed: u64,
    /// Share of crops held out for validation (chosen by file name).
    pub val_fraction: f64,
    /// Hold out whole sources (tracks, photo faces) rather than single crops; see
    /// [`dataset::split`].
    pub split_by_source: bool,
    /// Probe widths of the validation table.
    pub probe_sizes: Vec<u32>,
    pub degradation: Degradation,
    /// Continue from `<out>/checkpoint.*` when present.
    pub resume: bool,
    /// Train at most this many epochs in this run, then checkpoint and stop without
    /// exporting (continue later with `resume`); the schedule still spans `epochs`.
    pub stop_after: Option<usize>,
    /// Share of each batch's faces left sharp (not degraded): a fine-tuned teacher must keep
    /// embedding sharp faces where it did.
    #[serde(default)]
    pub sharp_share: f64,
    /// Export the epoch with the best held-out rank-1 rather than the last (early stopping on
    /// the validation side).
    #[serde(default)]
    pub keep_best: bool,
    /// Surgical fine-tuning (`--init teacher`): train only the first this many convolutions.
    pub train_convs: Option<usize>,
    /// Versions of every training and synthetic crop (1: the crop alone; 2: also mirrored;
    /// more: also shifted, turned and zoomed), each with the teacher's own embedding of it:
    /// consistent targets for augmented crops ([`pool::variant`]).
    #[serde(default = "one")]
    pub target_variants: usize,
    /// Decay of an exponential moving average of the weights (0: off); when on, validation,
    /// the kept epoch and the export use the average.
    #[serde(default)]
    pub ema: f64,
    /// The card's id; default `student-<size>px-w<width>`.
    pub id: Option<String>,
    /// Written into the card: the training data and the licence the weights inherit.
    pub provenance: Option<export::Provenance>,
    pub progress: bool,
    /// Time the exported student against the teacher after training (a few seconds).
    pub measure_speed: bool,
}

fn one() -> usize {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub seconds: f64,
    pub instance_loss: f64,
    pub relation_loss: f64,
    #[serde(default)]
    pub contrastive_loss: f64,
    /// Peak resident memory of the process so far (MiB; 0 where /proc is not readable).
    #[serde(default)]
    pub peak_memory_mib: f64,
    /// Held-out student(LR)↔teacher(HR) cosine, averaged over the probe sizes.
    pub val_cosine: f64,
    /// Held-out identification, averaged over the probe sizes: the share of probes whose own
    /// sharp face (teacher embedding) is the nearest among all held-out faces'.
    #[serde(default)]
    pub val_rank1: f64,
    /// Both losses on the held-out probes (no random degradation), averaged over the sizes.
    pub val_instance_loss: f64,
    pub val_relation_loss: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeRow {
    pub probe_px: u32,
    /// Mean cosine of student(probe) to teacher(HR crop) on held-out crops.
    pub student: f64,
    /// The same before training.
    pub untrained: f64,
    /// Baseline: teacher(probe up-sampled to its input) to teacher(HR crop).
    pub teacher_upsampled: f64,
    /// Identification among the held-out faces (each probe against every held-out face's
    /// sharp teacher embedding): the student, and the teacher fed the probe up-sampled. Unlike
    /// the cosine, a constant output scores nothing here (the mean teacher embedding alone has
    /// cosine ~0.3 to every face).
    #[serde(default)]
    pub student_rank1: f64,
    #[serde(default)]
    pub teacher_rank1: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DistillReport {
    pub teacher: String,
    pub student_id: String,
    pub card: PathBuf,
    pub shape: NetShape,
    pub parameters: usize,
    pub train_crops: usize,
    pub synthetic_crops: usize,
    pub val_crops: usize,
    pub epochs: Vec<EpochReport>,
    pub validation: Vec<ProbeRow>,
    /// Held-out losses before training, to compare with the epochs'.
    pub untrained: Validation,
    /// Milliseconds per face through ONNX Runtime, exported student vs teacher, same run.
    pub speed: Vec<Speed>,
    /// The epoch exported when the best one was kept (`keep_best`).
    #[serde(default)]
    pub best_epoch: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Speed {
    pub batch: usize,
    pub student_ms_per_face: f64,
    pub teacher_ms_per_face: f64,
}

/// What a checkpoint records besides the tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Progress {
    shape: NetShape,
    step: usize,
    epochs: Vec<EpochReport>,
    untrained: Validation,
    /// The epoch whose weights `<out>/best.safetensors` holds (`keep_best`).
    #[serde(default)]
    best_epoch: Option<usize>,
}

/// The held-out crops probed at each size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Validation {
    /// Mean cosine per probe size.
    pub cosines: Vec<f64>,
    /// Identification rank-1 per probe size.
    #[serde(default)]
    pub rank1: Vec<f64>,
    pub instance_loss: f64,
    pub relation_loss: f64,
}

/// Trains a student on `config.data`, exports it, and writes `<out>/report.json`.
pub fn distill(config: &TrainConfig) -> Result<DistillReport, DistillError> {
    check(config)?;
    let teacher_card = ModelCard::load(&config.teacher)?;
    let (shape, teacher_size) = student_shape(config, &teacher_card)?;
    let net = Net::new(config.init, shape, &teacher_card, config.seed, config.train_convs)?;
    let mut teacher = Recognizer::load(&teacher_card, config.ort_library.as_deref(), config.threads)?;
    let variants = config.target_variants;
    let data = Pool::load(&config.data, teacher_size, variants, &mut teacher)?;
    let held_out_pool = config
        .val_data
        .as_deref()
        .map(|f| Pool::load(f, teacher_size, 1, &mut teacher))
        .transpose()?;
    let synthetic_pool = Pool::load_all(&config.synthetic, teacher_size, variants, &mut teacher)?;
    let (train, val) = match &held_out_pool {
        Some(pool) => (
            limit_sources(&data.paths, (0..data.len()).collect(), config.max_sources),
            Subset::all(pool)?,
        ),
        None => {
            let (train, val) = split_crops(config, &data.paths)?;
            let train = limit_sources(&data.paths, train, config.max_sources);
            (train, Subset::new(&data, &val)?)
        }
    };
    let subsets = Subsets {
        training: Subset::new(&data, &train)?,
        held_out: val,
        synthetic: synthetic_pool.as_ref().map(Subset::all).transpose()?,
    };
    let mut run = Training::start(config, net, subsets)?;
    run.train_remaining_epochs()?;
    run.finish(&teacher_card, &mut teacher)
}

/// `indices` restricted to the crops of at most `max` sources, the sources taken in the order
/// of a hash of their names (so a smaller set is a subset of a larger one).
pub(super) fn limit_sources(paths: &[PathBuf], indices: Vec<usize>, max: Option<usize>) -> Vec<usize> {
    let Some(max) = max else {
        return indices;
    };
    let source = |i: usize| {
        let stem = paths[i]
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        dataset::source_of(&stem).to_string()
    };
    let mut sources: Vec<String> = indices.iter().map(|&i| source(i)).collect();
    sources.sort_by_key(|s| (Sha256::digest(s.as_bytes()).to_vec(), s.clone()));
    sources.dedup();
    let kept: std::collections::HashSet<&String> = sources.iter().take(max).collect();
    indices.into_iter().filter(|&i| kept.contains(&source(i))).collect()
}

/// The student for the teacher's embedding; its input must be smaller than the teacher's.
fn student_shape(config: &TrainConfig, teacher: &ModelCard) -> Result<(StudentShape, u32), DistillError> {
    let (dim, _) = teacher.require_embedding()?;
    let teacher_size = teacher.input_size.map_or(0, |[w, _]| w);
    let shape = StudentShape {
        input_size: config.input_size,
        width: config.width,
        embedding_size: dim,
        lowfreq: config.lowfreq,
    };
    shape.validate()?;
    if config.init == Init::Teacher && config.input_size > teacher_size {
        return Err(DistillError::Invalid(format!(
            "--init teacher trains the teacher at its own input size {teacher_size} or smaller, not {}",
            config.input_size
        )));
    }
    if config.init == Init::Scratch && config.input_size >= teacher_size {
        return Err(DistillError::Invalid(format!(
            "student input size {} must be smaller than the teacher's {teacher_size} ({}): the student is for low-resolution faces",
            config.input_size,
            config.teacher.display()
        )));
    }
    Ok((shape, teacher_size))
}

/// (training, held-out) crop indices; both must be usable.
fn split_crops(config: &TrainConfig, paths: &[PathBuf]) -> Result<(Vec<usize>, Vec<usize>), DistillError> {
    let (train, val) = dataset::split(paths, config.val_fraction, config.split_by_source);
    if train.len() < 2 || val.is_empty() {
        return Err(DistillError::Data {
            path: config.data.clone(),
            message: format!(
                "{} crops give {} for training and {} held out; need at least 2 and 1: harvest more faces{}",
                paths.len(),
                train.len(),
                val.len(),
                if config.split_by_source {
                    " (or --split crop)"
                } else {
                    ""
                }
            ),
        });
    }
    Ok((train, val))
}

/// What one run trains on and validates with.
struct Subsets<'a> {
    training: Subset<'a>,
    held_out: Subset<'a>,
    synthetic: Option<Subset<'a>>,
}

/// One training run: the student, its optimiser and progress, and the subsets.
struct Training<'a> {
    config: &'a TrainConfig,
    student: Net,
    /// How crops are packed for the student (what its exported card will declare).
    card: ModelCard,
    training: Subset<'a>,
    held_out: Subset<'a>,
    synthetic: Option<Subset<'a>>,
    /// Teacher embeddings of recent batches, newest last, with the crop each came from.
    queue: TeacherQueue,
    /// The moving average of the weights, when asked for.
    ema: Option<Ema>,
    /// `held_out` at each probe size, packed for the student.
    probes: Vec<Tensor>,
    optimizer: AdamW,
    progress: Progress,
}

impl<'a> Training<'a> {
    /// A new student, or the one in `<out>`'s checkpoint when resuming.
    fn start(config: &'a TrainConfig, student: Net, subsets: Subsets<'a>) -> Result<Training<'a>, DistillError> {
        let Subsets {
            training,
            held_out,
            synthetic,
        } = subsets;
        if training.len() < 2 {
            return Err(DistillError::Data {
                path: config.data.clone(),
                message: format!("{} crops left for training; need at least 2", training.len()),
            });
        }
        let card = student.training_card();
        let probes = probe_inputs(&card, &held_out, &config.probe_sizes, config.input_size)?;
        let mut optimizer = AdamW::default();
        let mut ema = (config.ema > 0.0).then(|| Ema::new(config.ema, &student)).transpose()?;
        let progress = match load_checkpoint(config, &student, &mut optimizer, ema.as_mut())? {
            Some(progress) => progress,
            None => Progress {
                shape: student.shape(),
                step: 0,
                epochs: Vec::new(),
                untrained: validate(&student, &probes, &held_out.targets)?,
                best_epoch: None,
            },
        };
        Ok(Training {
            config,
            student,
            card,
            training,
            held_out,
            synthetic,
            queue: TeacherQueue::new(config.queue),
            ema,
            probes,
            optimizer,
            progress,
        })
    }

    /// Trains up to `epochs` (or `stop_after` more), checkpointing after each.
    fn train_remaining_epochs(&mut self) -> Result<(), DistillError> {
        let config = self.config;
        let mut run_epochs = 0;
        while self.progress.epochs.len() < config.epochs {
            if config.stop_after.is_some_and(|n| run_epochs >= n) {
                return Err(DistillError::Stopped {
                    epochs_done: self.progress.epochs.len(),
                    epochs: config.epochs,
                    checkpoint: config.out.clone(),
                });
            }
            run_epochs += 1;
            let report = self.epoch(self.progress.epochs.len() + 1)?;
            tracing::info!(
                epoch = report.epoch,
                seconds = format!("{:.1}", report.seconds),
                instance_loss = format!("{:.4}", report.instance_loss),
                relation_loss = format!("{:.4}", report.relation_loss),
                val_cosine = format!("{:.3}", report.val_cosine),
                val_rank1 = format!("{:.3}", report.val_rank1),
                "epoch done"
            );
            let best_so_far = self.progress.epochs.iter().all(|e| e.val_rank1 < report.val_rank1);
            self.progress.epochs.push(report);
            if config.keep_best && best_so_far {
                self.with_exported_weights(|net| save_tensors(&net.tensors(), &best_path(&config.out)))?;
                self.progress.best_epoch = Some(self.progress.epochs.len());
            }
            save_checkpoint(
                config,
                &self.student,
                &self.optimizer,
                self.ema.as_ref(),
                &self.progress,
            )?;
        }
        Ok(())
    }

    /// One pass over the training crops in a seeded order, then validation.
    fn epoch(&mut self, epoch: usize) -> Result<EpochReport, DistillError> {
        let config = self.config;
        let started = Instant::now();
        let mut rng = StdRng::seed_from_u64(config.seed.wrapping_add(epoch as u64 * 0x9E37_79B9));
        let mut order: Vec<usize> = (0..self.training.len()).collect();
        order.shuffle(&mut rng);
        let real_per_batch = self.real_per_batch();
        let steps_per_epoch = order.len().div_ceil(real_per_batch);
        let total_steps = steps_per_epoch * config.epochs;
        let bar = progress_bar(config.progress, steps_per_epoch, epoch, config.epochs);
        // The queue restarts with every epoch, so a run resumed from a checkpoint continues
        // exactly.
        self.queue.clear();
        let mut sums = [0.0; 3];
        let mut batches = 0;
        for chunk in order.chunks(real_per_batch).filter(|c| c.len() >= 2) {
            let rate = cosine_rate(config.learning_rate, self.progress.step, total_steps);
            let terms = self.step(chunk, rate, &mut rng)?;
            self.progress.step += 1;
            for (sum, term) in sums.iter_mut().zip(terms) {
                *sum += term;
            }
            batches += 1;
            bar.set_message(format!(
                "instance {:.4} relation {:.4} contrastive {:.3}",
                terms[0], terms[1], terms[2]
            ));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let seconds = started.elapsed().as_secs_f64();
        let val = self.with_exported_weights(|net| validate(net, &self.probes, &self.held_out.targets))?;
        let n = batches.max(1) as f64;
        Ok(EpochReport {
            epoch,
            seconds,
            instance_loss: sums[0] / n,
            relation_loss: sums[1] / n,
            contrastive_loss: sums[2] / n,
            peak_memory_mib: peak_memory_mib(),
            val_cosine: mean(&val.cosines),
            val_rank1: mean(&val.rank1),
            val_instance_loss: val.instance_loss,
            val_relation_loss: val.relation_loss,
        })
    }

    /// Runs `f` on the weights that would be exported: the moving average when there is one.
    fn with_exported_weights<T>(&self, f: impl FnOnce(&Net) -> Result<T, DistillError>) -> Result<T, DistillError> {
        match &self.ema {
            Some(ema) => ema.with_average(&self.student, f),
            None => f(&self.student),
        }
    }

    /// Real crops per batch: the rest of the batch is synthetic.
    fn real_per_batch(&self) -> usize {
        let synthetic = match &self.synthetic {
            Some(_) => (self.config.batch as f64 * self.config.synthetic_share).round() as usize,
            None => 0,
        };
        (self.config.batch - synthetic).max(2)
    }

    /// Degrades the batch's real crops and a draw of synthetic ones, runs forward and
    /// backward, updates; returns the instance, relation and contrastive losses.
    fn step(&mut self, real: &[usize], rate: f64, rng: &mut StdRng) -> Result<[f64; 3], DistillError> {
        let config = self.config;
        let synthetic: Vec<usize> = match &self.synthetic {
            Some(pool) => (0..config.batch.saturating_sub(real.len()))
                .map(|_| rng.random_range(0..pool.len()))
                .collect(),
            None => Vec::new(),
        };
        let (mut images, mut targets) = self.training.draw(real, rng)?;
        // Queue keys: real crops by index, synthetic ones after them (a crop's variants share
        // its key: none is another's negative).
        let mut keys: Vec<usize> = real.to_vec();
        if let Some(pool) = self.synthetic.as_ref().filter(|_| !synthetic.is_empty()) {
            let (more, more_targets) = pool.draw(&synthetic, rng)?;
            images.extend(more);
            targets = Tensor::cat(&[&targets, &more_targets], 0)?;
            keys.extend(synthetic.iter().map(|&j| self.training.len() + j));
        }
        let degraded = images
            .iter()
            .map(|image| {
                if config.sharp_share > 0.0 && rng.random_bool(config.sharp_share.min(1.0)) {
                    image.resized(config.input_size, config.input_size)
                } else {
                    config.degradation.apply(image, config.input_size, rng)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let input = to_tensor(&self.card, &degraded.iter().collect::<Vec<_>>(), &mut Vec::new())?;
        let output = normalise(&self.student.forward(&input, true)?)?;
        let queued = self.queue.tensor(&keys)?;
        let terms = batch_losses(&output, &targets, queued.as_ref(), config.temperature)?;
        let mut loss = ((&terms.instance * config.instance_weight)? + (&terms.relation * config.relation_weight)?)?;
        if config.contrastive_weight > 0.0 {
            loss = (loss + (&terms.contrastive * config.contrastive_weight)?)?;
        }
        let grads = loss.backward()?;
        self.optimizer
            .step(&self.student.trainable(), &grads, rate, config.weight_decay)?;
        if let Some(ema) = &mut self.ema {
            ema.update(&self.student)?;
        }
        self.queue.push(&keys, &targets)?;
        Ok([
            terms.instance.to_scalar::<f32>()? as f64,
            terms.relation.to_scalar::<f32>()? as f64,
            terms.contrastive.to_scalar::<f32>()? as f64,
        ])
    }

    /// Validation table, ONNX export with card, speed, and report.json.
    fn finish(self, teacher_card: &ModelCard, teacher: &mut Recognizer) -> Result<DistillReport, DistillError> {
        let config = self.config;
        if let Some(epoch) = self.progress.best_epoch.filter(|_| config.keep_best) {
            let path = best_path(&config.out);
            let tensors = candle_core::safetensors::load(&path, &Device::Cpu)?;
            self.student.load_tensors(&tensors, &path)?;
            tracing::info!(epoch, "exporting the epoch with the best held-out rank-1");
        } else if let Some(ema) = &self.ema {
            ema.install(&self.student)?;
        }
        let shape = self.student.shape();
        let validation = validation_table(
            config,
            &self.student,
            &self.probes,
            &self.held_out,
            teacher,
            &self.progress.untrained.cosines,
        )?;
        let id = config.id.clone().unwrap_or_else(|| self.student.default_id());
        let info = CardInfo {
            id: &id,
            embedding_space: teacher.embedding_space(),
            teacher_id: &teacher_card.id,
            provenance: config.provenance.as_ref(),
        };
        let card_path = self.student.export(&config.out, "student", &info)?;
        let speed = if config.measure_speed {
            measure_speed(config, &card_path, teacher, &self.held_out.originals())?
        } else {
            Vec::new()
        };
        let report = DistillReport {
            teacher: teacher_card.id.clone(),
            student_id: id,
            card: card_path,
            parameters: self.student.parameter_count(),
            shape,
            train_crops: self.training.len(),
            synthetic_crops: self.synthetic.as_ref().map_or(0, Subset::len),
            val_crops: self.held_out.len(),
            epochs: self.progress.epochs,
            validation,
            best_epoch: self.progress.best_epoch.filter(|_| config.keep_best),
            untrained: self.progress.untrained,
            speed,
        };
        write_json(&config.out.join("report.json"), &report)?;
        Ok(report)
    }
}

fn check(config: &TrainConfig) -> Result<(), DistillError> {
    let problems = [
        (config.epochs == 0, "epochs must be at least 1"),
        (
            config.batch < 2,
            "batch must be at least 2 (batch norm and the relation loss need pairs)",
        ),
        (config.learning_rate <= 0.0, "learning rate must be > 0"),
        (
            config.instance_weight < 0.0 || config.relation_weight < 0.0,
            "loss weights must be >= 0",
        ),
        (
            config.instance_weight == 0.0 && config.relation_weight == 0.0,
            "at least one loss weight must be > 0",
        ),
        (
            !(0.0..1.0).contains(&config.val_fraction) || config.val_fraction == 0.0,
            "val fraction must be in (0, 1)",
        ),
        (config.probe_sizes.is_empty(), "give at least one probe size"),
        (
            !(0.0..=0.9).contains(&config.synthetic_share),
            "synthetic share must be in [0, 0.9]: real faces must be in every batch",
        ),
        (
            config.synthetic.is_empty() && config.synthetic_share > 0.0,
            "a synthetic share needs a folder of synthetic crops (--synthetic)",
        ),
        (config.contrastive_weight < 0.0, "contrastive weight must be >= 0"),
        (config.temperature <= 0.0, "temperature must be > 0"),
        (config.max_sources == Some(0), "max sources must be at least 1"),
        (
            config.target_variants == 0,
            "target variants must be at least 1 (the crop itself)",
        ),
        (
            !(0.0..1.0).contains(&config.ema),
            "ema decay must be in [0, 1) (0: off; e.g. 0.998)",
        ),
        (
            !(0.0..1.0).contains(&config.sharp_share),
            "sharp share must be in [0, 1): most faces must be degraded",
        ),
        (
            config.degradation.min_px < 4 || config.degradation.min_px > config.degradation.max_px,
            "degradation sizes need 4 <= min_px <= max_px",
        ),
    ];
    match problems.iter().find(|(bad, _)| *bad) {
        Some((_, message)) => Err(DistillError::Invalid(message.to_string())),
        None => Ok(()),
    }
}

/// A first-in first-out memory of teacher embeddings from recent batches: the relation and
/// contrastive terms then see hundreds of identities per step instead of one batch's few
/// dozen, as cross-resolution relational distillation does.
pub(super) struct TeacherQueue {
    capacity: usize,
    entries: std::collections::VecDeque<(usize, Vec<f32>)>,
}

/// The queue as the loss sees it: embeddings `[Q, D]`, and a `[B, Q]` mask that is 0 except
/// for entries of crops in the batch (a large negative: the batch row already stands for the
/// crop, so it is neither its own negative nor another row's negative twice).
pub(super) struct Queued {
    pub(super) embeddings: Tensor,
    own: Tensor,
}

impl TeacherQueue {
    pub(super) fn new(capacity: usize) -> TeacherQueue {
        TeacherQueue {
            capacity,
            entries: Default::default(),
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
    }

    pub(super) fn tensor(&self, batch_keys: &[usize]) -> Result<Option<Queued>, DistillError> {
        let Some(dim) = self.entries.front().map(|(_, e)| e.len()) else {
            return Ok(None);
        };
        let values: Vec<f32> = self.entries.iter().flat_map(|(_, e)| e.iter().copied()).collect();
        let in_batch: Vec<f32> = self
            .entries
            .iter()
            .map(|(k, _)| if batch_keys.contains(k) { -1e4 } else { 0.0 })
            .collect();
        let mask: Vec<f32> = batch_keys.iter().flat_map(|_| in_batch.iter().copied()).collect();
        let q = self.entries.len();
        Ok(Some(Queued {
            embeddings: Tensor::from_vec(values, (q, dim), &Device::Cpu)?,
            own: Tensor::from_vec(mask, (batch_keys.len(), q), &Device::Cpu)?,
        }))
    }

    pub(super) fn push(&mut self, keys: &[usize], targets: &Tensor) -> Result<(), DistillError> {
        if self.capacity == 0 {
            return Ok(());
        }
        for (key, row) in keys.iter().zip(targets.to_vec2::<f32>()?) {
            self.entries.push_back((*key, row));
        }
        while self.entries.len() > self.capacity {
            self.entries.pop_front();
        }
        Ok(())
    }
}

fn progress_bar(visible: bool, len: usize, epoch: usize, epochs: usize) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64).with_prefix(format!("{epoch}/{epochs}"));
    if let Ok(style) = ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Learning rate decayed along a cosine from `base` to 5 % of it.
fn cosine_rate(base: f64, step: usize, total: usize) -> f64 {
    let t = step as f64 / total.max(1) as f64;
    base * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos()))
}

/// The loss terms of one training batch.
pub(super) struct BatchLosses {
    pub(super) instance: Tensor,
    pub(super) relation: Tensor,
    pub(super) contrastive: Tensor,
}

/// Instance loss as [`losses`]; relation loss over the batch's pairs and every (batch row,
/// queue entry) pair; contrastive loss: cross-entropy of picking the row's own teacher
/// embedding among the batch's and the queue's (InfoNCE at `temperature`).
pub(super) fn batch_losses(
    student: &Tensor,
    teacher: &Tensor,
    queued: Option<&Queued>,
    temperature: f64,
) -> Result<BatchLosses, DistillError> {
    let (instance, batch_relation) = losses(student, teacher)?;
    let n = student.dim(0)? as f64;
    let batch_pairs = (n * (n - 1.0)).max(1.0);
    let mut keys = teacher.clone();
    let mut mask = Tensor::zeros((student.dim(0)?, student.dim(0)?), student.dtype(), &Device::Cpu)?;
    let relation = match queued {
        Some(queued) => {
            let q = queued.embeddings.dim(0)? as f64;
            let to_queue = |x: &Tensor| x.matmul(&queued.embeddings.t()?);
            let queue_sum = (to_queue(student)? - to_queue(teacher)?)?.sqr()?.sum_all()?;
            keys = Tensor::cat(&[teacher, &queued.embeddings], 0)?;
            mask = Tensor::cat(&[&mask, &queued.own], 1)?;
            (((batch_relation * batch_pairs)? + queue_sum)? / (batch_pairs + n * q))?
        }
        None => batch_relation,
    };
    let logits = (student.matmul(&keys.t()?)? / temperature)?.add(&mask)?;
    let max = logits.max_keepdim(1)?.detach();
    let log_sum = (logits.broadcast_sub(&max)?.exp()?.sum_keepdim(1)?.log()? + max)?;
    let own = ((student * teacher)?.sum_keepdim(1)? / temperature)?;
    let contrastive = (log_sum - own)?.mean_all()?;
    Ok(BatchLosses {
        instance,
        relation,
        contrastive,
    })
}

/// (instance, relation): mean (1 − cos) between student and teacher embeddings, and the mean
/// squared difference of their pairwise cosine matrices off the diagonal.
pub fn losses(student: &Tensor, teacher: &Tensor) -> Result<(Tensor, Tensor), DistillError> {
    let instance = (student * teacher)?.sum(1)?.mean_all()?.affine(-1.0, 1.0)?;
    let n = student.dim(0)? as f64;
    let student_pairs = student.matmul(&student.t()?)?;
    let teacher_pairs = teacher.matmul(&teacher.t()?)?;
    let relation = ((student_pairs - teacher_pairs)?.sqr()?.sum_all()? / (n * (n - 1.0)).max(1.0))?;
    Ok((instance, relation))
}

pub fn normalise(x: &Tensor) -> Result<Tensor, DistillError> {
    let norm = (x.sqr()?.sum_keepdim(1)? + 1e-12)?.sqrt()?;
    Ok(x.broadcast_div(&norm)?)
}

pub fn to_tensor(card: &ModelCard, crops: &[&BgrImage], buffer: &mut Vec<f32>) -> Result<Tensor, DistillError> {
    pack_crops(card, crops, buffer);
    let side = crops.first().map_or(0, |c| c.width as usize);
    Ok(Tensor::from_slice(
        buffer.as_slice(),
        (crops.len(), 3, side, side),
        &Device::Cpu,
    )?)
}

/// The held-out crops at each probe size, packed for the student: the same every epoch, so
/// made once per run.
fn probe_inputs(card: &ModelCard, data: &Subset, probes: &[u32], size: u32) -> Result<Vec<Tensor>, DistillError> {
    let mut buffer = Vec::new();
    probes
        .iter()
        .map(|&px| {
            let inputs = data
                .images
                .iter()
                .map(|c| degrade::probe(c, px, size))
                .collect::<Result<Vec<_>, _>>()?;
            to_tensor(card, &inputs.iter().collect::<Vec<_>>(), &mut buffer)
        })
        .collect()
}

/// Held-out student(probe) ↔ teacher(HR): mean cosine per probe size, and both losses.
fn validate(student: &Net, probes: &[Tensor], targets: &Tensor) -> Result<Validation, DistillError> {
    let mut validation = Validation {
        cosines: Vec::new(),
        rank1: Vec::new(),
        instance_loss: 0.0,
        relation_loss: 0.0,
    };
    for input in probes {
        let output = normalise(&student.forward(input, false)?)?;
        validation.cosines.push(mean_cosine(&output, targets)?);
        validation.rank1.push(rank1(&output, targets)?);
        let (instance, relation) = losses(&output, targets)?;
        validation.instance_loss += instance.to_scalar::<f32>()? as f64 / probes.len() as f64;
        validation.relation_loss += relation.to_scalar::<f32>()? as f64 / probes.len() as f64;
    }
    Ok(validation)
}

/// Share of rows of `probes` whose most similar row of `gallery` is their own.
pub fn rank1(probes: &Tensor, gallery: &Tensor) -> Result<f64, DistillError> {
    let best: Vec<u32> = probes.matmul(&gallery.t()?)?.argmax(1)?.to_vec1()?;
    let hits = best.iter().enumerate().filter(|(i, b)| *i == **b as usize).count();
    Ok(hits as f64 / best.len().max(1) as f64)
}

fn mean_cosine(a: &Tensor, b: &Tensor) -> Result<f64, DistillError> {
    Ok((a * b)?.sum(1)?.mean_all()?.to_scalar::<f32>()? as f64)
}

fn validation_table(
    config: &TrainConfig,
    student: &Net,
    probes: &[Tensor],
    data: &Subset,
    teacher: &mut Recognizer,
    untrained: &[f64],
) -> Result<Vec<ProbeRow>, DistillError> {
    let trained = validate(student, probes, &data.targets)?;
    let size = teacher.input_size();
    let mut rows = Vec::new();
    for (i, &px) in config.probe_sizes.iter().enumerate() {
        let probes = data
            .images
            .iter()
            .map(|c| degrade::probe(c, px, size))
            .collect::<Result<Vec<_>, _>>()?;
        let embeddings = dataset::embed_in_batches(teacher, &probes.iter().collect::<Vec<_>>())?;
        let embedded = Tensor::from_vec(embeddings.concat(), data.targets.dims(), &Device::Cpu)?;
        rows.push(ProbeRow {
            probe_px: px,
            student: trained.cosines[i],
            untrained: untrained.get(i).copied().unwrap_or(f64::NAN),
            teacher_upsampled: mean_cosine(&embedded, &data.targets)?,
            student_rank1: trained.rank1[i],
            teacher_rank1: rank1(&embedded, &data.targets)?,
        });
    }
    Ok(rows)
}

/// Embeds the held-out crops with the exported student and with the teacher, alternating,
/// at batch 1 and 32, for about a second each; ms per face.
fn measure_speed(
    config: &TrainConfig,
    student_card: &Path,
    teacher: &mut Recognizer,
    crops: &[&BgrImage],
) -> Result<Vec<Speed>, DistillError> {
    let card = ModelCard::load(student_card)?;
    let mut student = Recognizer::load(&card, config.ort_library.as_deref(), config.threads)?;
    let small = crops
        .iter()
        .map(|c| degrade::probe(c, config.input_size, config.input_size))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rows = Vec::new();
    for batch in [1, 32] {
        let student_batch: Vec<&BgrImage> = small.iter().cycle().take(batch).collect();
        let teacher_batch: Vec<&BgrImage> = crops.iter().cycle().take(batch).copied().collect();
        let (mut student_s, mut teacher_s, mut rounds) = (0.0, 0.0, 0);
        while rounds < 3 || (student_s + teacher_s < 2.0 && rounds < 1000) {
            let started = Instant::now();
            student.embed(&student_batch)?;
            student_s += started.elapsed().as_secs_f64();
            let started = Instant::now();
            teacher.embed(&teacher_batch)?;
            teacher_s += started.elapsed().as_secs_f64();
            rounds += 1;
        }
        let per_face = |seconds: f64| seconds * 1000.0 / (rounds * batch) as f64;
        rows.push(Speed {
            batch,
            student_ms_per_face: per_face(student_s),
            teacher_ms_per_face: per_face(teacher_s),
        });
    }
    Ok(rows)
}

/// The process's peak resident memory in MiB (`VmHWM`), 0 where it cannot be read.
fn peak_memory_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// AdamW with decoupled weight decay; its moments are saved in checkpoints so a resumed run
/// continues exactly.
#[derive(Default)]
pub struct AdamW {
    first: HashMap<String, Tensor>,
    second: HashMap<String, Tensor>,
    steps: i32,
}

impl AdamW {
    const BETA1: f64 = 0.9;
    const BETA2: f64 = 0.999;
    const EPSILON: f64 = 1e-8;

    pub fn step(
        &mut self,
        trainable: &[(&str, &Var)],
        grads: &GradStore,
        rate: f64,
        decay: f64,
    ) -> Result<(), DistillError> {
        self.steps += 1;
        let correction1 = 1.0 - Self::BETA1.powi(self.steps);
        let correction2 = 1.0 - Self::BETA2.powi(self.steps);
        for &(name, var) in trainable {
            // Gradients carry the op graph of the step that made them (every activation of
            // the batch); moments kept across steps must not, or memory grows every step.
            let Some(grad) = grads.get(var.as_tensor()).map(Tensor::detach) else {
                continue;
            };
            let grad = &grad;
            let m = match self.first.get(name) {
                Some(m) => ((m * Self::BETA1)? + (grad * (1.0 - Self::BETA1))?)?,
                None => (grad * (1.0 - Self::BETA1))?,
            };
            let v = match self.second.get(name) {
                Some(v) => ((v * Self::BETA2)? + (grad.sqr()? * (1.0 - Self::BETA2))?)?,
                None => (grad.sqr()? * (1.0 - Self::BETA2))?,
            };
            let update = ((&m / correction1)? / ((&v / correction2)?.sqrt()? + Self::EPSILON)?)?;
            let decayed = (var.as_tensor() * (1.0 - rate * decay))?;
            var.set(&(decayed - (update * rate)?)?)?;
            self.first.insert(name.to_string(), m.detach());
            self.second.insert(name.to_string(), v.detach());
        }
        Ok(())
    }

    /// True when no kept moment holds on to a step's op graph.
    #[cfg(test)]
    pub(super) fn holds_no_graph(&self) -> bool {
        self.first.values().chain(self.second.values()).all(|t| !t.track_op())
    }
}

fn checkpoint_paths(out: &Path) -> (PathBuf, PathBuf) {
    (out.join("checkpoint.safetensors"), out.join("checkpoint.json"))
}

fn save_checkpoint(
    config: &TrainConfig,
    student: &Net,
    optimizer: &AdamW,
    ema: Option<&Ema>,
    progress: &Progress,
) -> Result<(), DistillError> {
    let (tensors_path, progress_path) = checkpoint_paths(&config.out);
    let mut tensors = student.tensors();
    if let Some(ema) = ema {
        ema.save_into(&mut tensors);
    }
    for (name, m) in &optimizer.first {
        tensors.insert(format!("adam.first/{name}"), m.clone());
    }
    for (name, v) in &optimizer.second {
        tensors.insert(format!("adam.second/{name}"), v.clone());
    }
    save_tensors(&tensors, &tensors_path)?;
    write_json(&progress_path, progress)
}

fn best_path(out: &Path) -> PathBuf {
    out.join("best.safetensors")
}

/// Through a temporary file, so a stop mid-write never leaves half a checkpoint.
fn save_tensors(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<(), DistillError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| DistillError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let tmp = path.with_extension("safetensors.tmp");
    candle_core::safetensors::save(tensors, &tmp)?;
    std::fs::rename(&tmp, path).map_err(|source| DistillError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Restores student, optimiser and progress from `<out>` when resuming and a checkpoint is
/// there; a checkpoint of a differently shaped student is refused.
fn load_checkpoint(
    config: &TrainConfig,
    student: &Net,
    optimizer: &mut AdamW,
    ema: Option<&mut Ema>,
) -> Result<Option<Progress>, DistillError> {
    let (tensors_path, progress_path) = checkpoint_paths(&config.out);
    if !config.resume || !progress_path.exists() {
        return Ok(None);
    }
    let checkpoint_error = |message: String| DistillError::Checkpoint {
        path: progress_path.clone(),
        message,
    };
    let text = std::fs::read_to_string(&progress_path).map_err(|e| checkpoint_error(e.to_string()))?;
    let progress: Progress = serde_json::from_str(&text).map_err(|e| checkpoint_error(e.to_string()))?;
    if progress.shape != student.shape() {
        return Err(checkpoint_error(format!(
            "it holds a student of {:?}, this run asks for {:?}; use another --out or the same student settings",
            progress.shape,
            student.shape()
        )));
    }
    let mut tensors = candle_core::safetensors::load(&tensors_path, &Device::Cpu)?;
    student.load_tensors(&tensors, &tensors_path)?;
    if let Some(ema) = ema {
        *ema = Ema::new(config.ema, student)?;
        ema.restore(&mut tensors);
    }
    for (name, _) in student.trainable() {
        if let Some(m) = tensors.remove(&format!("adam.first/{name}")) {
            optimizer.first.insert(name.to_string(), m);
        }
        if let Some(v) = tensors.remove(&format!("adam.second/{name}")) {
            optimizer.second.insert(name.to_string(), v);
        }
    }
    optimizer.steps = progress.step as i32;
    tracing::info!(epochs_done = progress.epochs.len(), checkpoint = %progress_path.display(), "resuming");
    Ok(Some(progress))
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), DistillError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| DistillError::Invalid(e.to_string()))?;
    std::fs::write(path, text).map_err(|source| DistillError::Io {
        path: path.to_path_buf(),
        source,
    })
}
