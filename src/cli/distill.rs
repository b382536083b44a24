//! `squint harvest`, `squint distill` and `squint adapt`.

use std::path::Path;

use anyhow::{Context, bail};

use super::{AdaptArgs, BlendArgs, DistillArgs, HarvestArgs};
use crate::config::Config;
use crate::detect::Detector;
use crate::distill::adapt::AdaptRequest;
use crate::distill::net::Init;
use crate::distill::{Degradation, DistillError, HarvestConfig, TrainConfig};
use crate::ingest::CameraConfig;
use crate::model::ModelCard;

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
            (Init::Teacher, None) => teacher_input_size(&args.teacher)?,
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
