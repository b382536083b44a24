//! `squint harvest`, `squint distill`, `squint adapt` and `squint blend`: their arguments and handlers.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::ModelArgs;
use crate::config::Config;
use crate::detect::Detector;
use crate::distill::adapt::AdaptRequest;
use crate::distill::net::Init;
use crate::distill::{Degradation, DistillError, HarvestConfig, TrainConfig};
use crate::ingest::CameraConfig;
use crate::model::ModelCard;

#[derive(Debug, clap::Args)]
pub struct HarvestArgs {
    /// Output folder for the crops (and harvest.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Harvest the cameras of this config (live ones for --seconds each, one after another).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Video files, repeatable.
    #[arg(long = "video")]
    pub videos: Vec<PathBuf>,
    /// Folders of face photos (sub-folders one level deep included), repeatable.
    #[arg(long = "photos")]
    pub photos: Vec<PathBuf>,
    #[arg(long, default_value_t = 60.0)]
    pub seconds: f64,
    /// Smallest face width kept, in pixels.
    #[arg(long, default_value_t = 40.0)]
    pub min_face_px: f32,
    /// Smallest face quality weight kept (0–1: size, sharpness, pose, detection score).
    #[arg(long, default_value_t = 0.3)]
    pub min_quality: f32,
    /// Crops kept per track.
    #[arg(long, default_value_t = 3)]
    pub per_track: usize,
    /// Frames between two kept crops of one track.
    #[arg(long, default_value_t = 12)]
    pub min_gap_frames: u64,
    /// Jittered copies per photo face (rotation, scale, shift, mirror).
    #[arg(long, default_value_t = 0)]
    pub augment: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[arg(long, default_value = "pipelines")]
    pub templates: PathBuf,
    #[command(flatten)]
    pub models: ModelArgs,
}

#[derive(Debug, clap::Args)]
pub struct DistillArgs {
    /// Folder of aligned HR crops (from `squint harvest` or `squint split-faces`).
    #[arg(long)]
    pub data: PathBuf,
    /// Held-out crops of people not in --data (`squint split-faces` writes them); without it
    /// --val-fraction of --data is held out.
    #[arg(long)]
    pub val_data: Option<PathBuf>,
    /// Aligned crops of generated faces (`squint synth-faces`'s aligned/ folder, `squint
    /// morph-faces`'s output); repeat for several folders.
    #[arg(long)]
    pub synthetic: Vec<PathBuf>,
    /// Share of each batch drawn from --synthetic (0–0.9).
    #[arg(long, default_value_t = 0.0)]
    pub synthetic_share: f64,
    /// Train on at most this many sources (people, tracks) of --data: learning curves.
    #[arg(long)]
    pub max_sources: Option<usize>,
    /// Output folder: checkpoint.*, student.onnx, student.card.toml, report.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Teacher model card.
    #[arg(long, default_value = "models/sface.card.toml")]
    pub teacher: PathBuf,
    /// Train a small student from scratch, or fine-tune the teacher's own network and
    /// weights on degraded faces (it keeps the teacher's input size and embedding space).
    #[arg(long, value_enum, default_value = "scratch")]
    pub init: crate::distill::net::Init,
    /// Student input side in pixels (divisible by 4); default 32, or the teacher's with
    /// --init teacher.
    #[arg(long)]
    pub input_size: Option<u32>,
    /// Student stem channels (stages use 2× and 4×).
    #[arg(long, default_value_t = 32)]
    pub width: usize,
    /// Feed the student the Haar wavelet LL band instead of pixels.
    #[arg(long)]
    pub lowfreq: bool,
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, default_value_t = 3e-3)]
    pub learning_rate: f64,
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f64,
    /// Weight of the instance loss (1 − cosine to the teacher's embedding).
    #[arg(long, default_value_t = 1.0)]
    pub instance_weight: f64,
    /// Weight of the relation loss (similarities to the batch and the queue).
    #[arg(long, default_value_t = 1.0)]
    pub relation_weight: f64,
    /// Weight of the contrastive loss (own teacher embedding among the queue's).
    #[arg(long, default_value_t = 0.0)]
    pub contrastive_weight: f64,
    /// Softmax temperature of the contrastive loss.
    #[arg(long, default_value_t = 0.1)]
    pub temperature: f64,
    /// Teacher embeddings of recent batches kept for relation and contrastive terms (0: off).
    #[arg(long, default_value_t = 0)]
    pub queue: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[arg(long, default_value_t = 0.2)]
    pub val_fraction: f64,
    /// Hold out whole sources (`source`: tracks, photo faces; measures faces never seen) or
    /// single crops (`crop`: for sets too small to spare whole faces).
    #[arg(long, default_value = "source", value_parser = ["source", "crop"])]
    pub split: String,
    /// Probe widths of the validation table.
    #[arg(long, value_delimiter = ',', default_value = "12,16,20,24,32")]
    pub probe_sizes: Vec<u32>,
    /// Smallest and largest width the training crops are degraded to.
    #[arg(long, default_value_t = 10)]
    pub min_px: u32,
    #[arg(long, default_value_t = 32)]
    pub max_px: u32,
    /// Landmark error of the detector on tiny faces, px of the small face (standard deviation
    /// per coordinate; `squint eval` reports the measured error): training crops are
    /// re-aligned from landmarks moved this much. 0: off.
    #[arg(long, default_value_t = 0.0)]
    pub jitter_px: f64,
    /// Chance of a motion blur.
    #[arg(long, default_value_t = 0.0)]
    pub motion_blur: f64,
    /// Chance of a flat patch over part of the face (hand, scarf).
    #[arg(long, default_value_t = 0.0)]
    pub occlusion: f64,
    /// Chance of grey conversion (IR night images).
    #[arg(long, default_value_t = 0.0)]
    pub grey: f64,
    /// Continue from the checkpoint in --out.
    #[arg(long)]
    pub resume: bool,
    /// Train at most this many epochs now, then checkpoint and stop (time-boxed runs);
    /// continue with --resume.
    #[arg(long)]
    pub stop_after: Option<usize>,
    /// Share of each batch's faces left sharp, so a fine-tuned teacher keeps what it did on
    /// sharp faces (0–1).
    #[arg(long, default_value_t = 0.0)]
    pub sharp_share: f64,
    /// Export the epoch with the best held-out rank-1, not the last (early stopping).
    #[arg(long)]
    pub keep_best: bool,
    /// With --init teacher: train only the first K convolutions (with their BatchNorm and
    /// PReLU) and keep the rest, head included, as the teacher has them (surgical
    /// fine-tuning: degradation shifts the input, identity lives in the late layers).
    #[arg(long)]
    pub train_convs: Option<usize>,
    /// Versions of every training and synthetic crop, each with the teacher's own embedding
    /// as its target (1: the crop; 2: also mirrored; 3 and up: also shifted, turned and
    /// zoomed a little). Each extra version costs one teacher pass over the crops, cached.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=8))]
    pub target_variants: u64,
    /// Keep an exponential moving average of the weights with this decay (e.g. 0.998) and
    /// validate, keep and export it instead of the last step's weights (0: off).
    #[arg(long, default_value_t = 0.0)]
    pub ema: f64,
    /// Model id written into the card (default student-<size>px-w<width>).
    #[arg(long)]
    pub id: Option<String>,
    /// The training data, written into the card (with --licence).
    #[arg(long)]
    pub trained_on: Option<String>,
    /// The licence the weights inherit from their training data, written into the card.
    #[arg(long)]
    pub licence: Option<String>,
    /// ONNX Runtime threads for the teacher.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

#[derive(Debug, clap::Args)]
pub struct AdaptArgs {
    /// Card of the model to adapt (teacher or student).
    #[arg(long)]
    pub model: PathBuf,
    /// Folder of unlabeled aligned face crops from the camera.
    #[arg(long)]
    pub crops: PathBuf,
    /// The adapted model's card; the ONNX file is written beside it.
    #[arg(long)]
    pub out: PathBuf,
    /// At most this many crops go into the statistics (one batch).
    #[arg(long, default_value_t = 256)]
    pub max_crops: usize,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

#[derive(Debug, clap::Args)]
pub struct BlendArgs {
    /// Card of the original model (α = 0), e.g. models/sface.card.toml.
    #[arg(long)]
    pub base: PathBuf,
    /// Card of its fine-tuned copy (α = 1), e.g. one `squint distill --init teacher` wrote.
    #[arg(long)]
    pub tuned: PathBuf,
    /// Share of the fine-tuned weights, 0 to 1.
    #[arg(long)]
    pub alpha: f32,
    /// The blended model's card; the ONNX file is written beside it.
    #[arg(long)]
    pub out: PathBuf,
    /// The new card's id (default: the fine-tuned id with `-a<ALPHA>`).
    #[arg(long)]
    pub id: Option<String>,
}

pub fn harvest(args: &HarvestArgs) -> anyhow::Result<()> {
    if args.config.is_none() && args.videos.is_empty() && args.photos.is_empty() {
        bail!("nothing to harvest: give --config (its cameras), --video FILE or --photos FOLDER");
    }
    let config = args.config.as_deref().map(Config::load).transpose()?;
    let (detector_card, teacher_card, templates) = match &config {
        Some(c) => (
            c.models.detector.clone(),
            c.models.recognizer.clone(),
            c.pipeline.templates_dir().to_path_buf(),
        ),
        None => (
            args.models.detector.clone(),
            args.models.recognizer.clone(),
            args.templates.clone(),
        ),
    };
    let ort_library = config.as_ref().and_then(|c| c.models.onnxruntime.clone());
    let detect = config.as_ref().map(|c| c.detect.clone()).unwrap_or_default();
    let mut detector = Detector::load(&ModelCard::load(&detector_card)?, ort_library.as_deref(), &detect)?;
    let teacher = ModelCard::load(&teacher_card)?;
    let crop_size = teacher
        .input_size
        .map(|[w, _]| w)
        .with_context(|| format!("{} has no input_size", teacher_card.display()))?;
    let mut sources: Vec<CameraConfig> = config.map(|c| c.cameras).unwrap_or_default();
    for video in &args.videos {
        sources.push(file_source(video)?);
    }
    let harvest = HarvestConfig {
        out: args.out.clone(),
        sources,
        templates,
        photos: args.photos.clone(),
        seconds: args.seconds,
        crop_size,
        min_face_px: args.min_face_px,
        min_quality: args.min_quality,
        per_track: args.per_track,
        min_gap_frames: args.min_gap_frames,
        augment: args.augment,
        seed: args.seed,
    };
    let report = crate::distill::harvest(&harvest, &mut detector)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!(
        "{} crops of {crop_size}x{crop_size} px in {}",
        report.crops_written,
        args.out.display()
    );
    Ok(())
}

/// A video file as a source that plays as fast as it is consumed.
fn file_source(video: &Path) -> anyhow::Result<CameraConfig> {
    if !video.is_file() {
        bail!("video {} not found", video.display());
    }
    let id = video
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut table = toml::Table::new();
    table.insert("id".into(), id.into());
    table.insert("url".into(), video.to_string_lossy().into_owned().into());
    Ok(toml::Value::Table(table).try_into()?)
}

/// The side of the square crops the teacher's card declares.
fn teacher_input_size(card: &Path) -> anyhow::Result<u32> {
    ModelCard::load(card)?
        .input_size
        .map(|[w, _]| w)
        .with_context(|| format!("{} has no input_size", card.display()))
}

pub fn distill(args: &DistillArgs) -> anyhow::Result<()> {
    let config = TrainConfig {
        data: args.data.clone(),
        val_data: args.val_data.clone(),
        synthetic: args.synthetic.clone(),
        synthetic_share: args.synthetic_share,
        max_sources: args.max_sources,
        out: args.out.clone(),
        teacher: args.teacher.clone(),
        ort_library: None,
        threads: args.threads,
        init: args.init,
        input_size: match (args.init, args.input_size) {
            (_, Some(size)) => size,
            (Init::Scratch, None) => 32,
            (Init::Teacher | Init::Restorer, None) => teacher_input_size(&args.teacher)?,
        },
        width: args.width,
        lowfreq: args.lowfreq,
        epochs: args.epochs,
        batch: args.batch,
        learning_rate: args.learning_rate,
        weight_decay: args.weight_decay,
        instance_weight: args.instance_weight,
        relation_weight: args.relation_weight,
        contrastive_weight: args.contrastive_weight,
        temperature: args.temperature,
        queue: args.queue,
        seed: args.seed,
        val_fraction: args.val_fraction,
        split_by_source: args.split == "source",
        probe_sizes: args.probe_sizes.clone(),
        degradation: Degradation {
            min_px: args.min_px,
            max_px: args.max_px,
            jitter_px: args.jitter_px,
            motion_blur_p: args.motion_blur,
            occlusion_p: args.occlusion,
            grey_p: args.grey,
            ..Degradation::default()
        },
        resume: args.resume,
        stop_after: args.stop_after,
        sharp_share: args.sharp_share,
        keep_best: args.keep_best,
        train_convs: args.train_convs,
        target_variants: args.target_variants as usize,
        ema: args.ema,
        id: args.id.clone(),
        provenance: match (&args.trained_on, &args.licence) {
            (Some(trained_on), Some(licence)) => Some(crate::distill::export::Provenance {
                trained_on: trained_on.clone(),
                licence: licence.clone(),
            }),
            (None, None) => None,
            _ => bail!("give --trained-on and --licence together: the card records both or neither"),
        },
        progress: true,
        measure_speed: true,
    };
    let report = match crate::distill::distill(&config) {
        Err(stopped @ DistillError::Stopped { .. }) => {
            eprintln!("{stopped}");
            return Ok(());
        }
        result => result?,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!(
        "student {} ({} parameters): {}",
        report.student_id,
        report.parameters,
        report.card.display()
    );
    eprintln!(
        "probe px | student↔teacher(HR) | untrained | teacher(LR↑)↔teacher(HR) | rank-1 student | rank-1 teacher(LR↑)"
    );
    for row in &report.validation {
        eprintln!(
            "{:>8} | {:>19.3} | {:>9.3} | {:>24.3} | {:>14.3} | {:>19.3}",
            row.probe_px, row.student, row.untrained, row.teacher_upsampled, row.student_rank1, row.teacher_rank1
        );
    }
    for row in &report.speed {
        eprintln!(
            "batch {:>2}: student {:.3} ms/face, teacher {:.3} ms/face ({:.0}x)",
            row.batch,
            row.student_ms_per_face,
            row.teacher_ms_per_face,
            row.teacher_ms_per_face / row.student_ms_per_face.max(1e-9)
        );
    }
    Ok(())
}

pub fn adapt(args: &AdaptArgs) -> anyhow::Result<()> {
    let request = AdaptRequest {
        card: &args.model,
        crops: &args.crops,
        out_card: &args.out,
        ort_library: None,
        threads: args.threads,
        max_crops: args.max_crops,
    };
    let report = crate::distill::adapt_model(&request)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

pub fn blend(args: &BlendArgs) -> anyhow::Result<()> {
    let request = crate::distill::BlendRequest {
        base: &args.base,
        tuned: &args.tuned,
        alpha: args.alpha,
        out_card: &args.out,
        id: args.id.as_deref(),
    };
    let report = crate::distill::blend(&request)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!(
        "{} = {:.2} x base + {:.2} x fine-tuned ({} tensors; fine-tuning had moved the weights {:.2} % of their norm): {}",
        report.id,
        1.0 - report.alpha,
        report.alpha,
        report.tensors,
        100.0 * report.tuned_relative_distance,
        report.card.display()
    );
    Ok(())
}
