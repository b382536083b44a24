//! Training: the student learns, on degraded versions of each crop, to land where the teacher
//! puts the sharp crop (instance loss), to keep the teacher's similarities to the batch and to
//! a queue of recent teacher embeddings (relation loss), and optionally to pick its own
//! teacher embedding out of that queue (contrastive loss). Batches mix real crops with a
//! share of synthetic ones. Checkpoints after every epoch; a run resumes exactly where one
//! stopped, and the same seed gives the same student.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use super::DistillError;
use super::checkpoint::{Progress, best_path, load_checkpoint, save_checkpoint, save_tensors, write_json};
pub use super::config::TrainConfig;
use super::dataset;
use super::ema::Ema;
use super::export::CardInfo;
use super::losses::{TeacherQueue, batch_losses};
pub use super::losses::{losses, normalise};
use super::net::{Init, Net};
pub use super::optim::AdamW;
use super::optim::cosine_rate;
pub use super::pool::to_tensor;
use super::pool::{Pool, Subset};
pub use super::report::{DistillReport, EpochReport, ProbeRow, Speed, Validation};
use super::student::StudentShape;
pub use super::validation::rank1;
use super::validation::{mean, measure_speed, peak_memory_mib, probe_inputs, validate, validation_table};
use crate::model::ModelCard;
use crate::recognize::Recognizer;

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
    if config.init != Init::Scratch && config.input_size > teacher_size {
        return Err(DistillError::Invalid(format!(
            "--init {} uses the teacher at its own input size {teacher_size} or smaller, not {}",
            if config.init == Init::Teacher {
                "teacher"
            } else {
                "restorer"
            },
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
