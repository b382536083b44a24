//! `squint train-refiner`: the landmark refiner for tiny faces.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::config::Config;
use crate::distill::dataset::image_files;
use crate::refiner::{RefinerConfig, train_refiner};

#[derive(Debug, clap::Args)]
pub struct TrainRefinerArgs {
    /// `split.json` of `squint split-faces`: its training side trains, its validation side
    /// chooses the epoch (the test side stays for `squint eval --refiner`).
    #[arg(long)]
    pub split: PathBuf,
    /// The folder of photos the split names (the `--pool` given to `squint split-faces`).
    #[arg(long)]
    pub pool: PathBuf,
    /// More training photos of nobody in the split, e.g. DCGAN faces or morphs (repeatable).
    #[arg(long = "extra")]
    pub extra: Vec<PathBuf>,
    /// At most this many photos from each --extra folder (first by name).
    #[arg(long, default_value_t = 1000)]
    pub extra_limit: usize,
    #[arg(long, default_value = "models/yunet.card.toml")]
    pub detector: PathBuf,
    /// Take the detector settings (`[detect]`) and ONNX Runtime from this config, so the
    /// refiner learns the errors of the detector the pipeline runs.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Background footage for the frames the faces are put in (default: assets/vtest.avi
    /// when present, else a mid-grey frame).
    #[arg(long)]
    pub background: Option<PathBuf>,
    #[arg(long, default_value = "run/refiner")]
    pub out: PathBuf,
    #[arg(long, default_value = "squint-landmark-refiner")]
    pub id: String,
    /// Side of the patch the refiner sees.
    #[arg(long, default_value_t = 32)]
    pub side: u32,
    /// Channels of its first convolution.
    #[arg(long, default_value_t = 16)]
    pub width: usize,
    #[arg(long, default_value_t = 12)]
    pub epochs: usize,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, default_value_t = 2e-3)]
    pub learning_rate: f64,
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f64,
    /// Times each training face is shown (another width, spot and degradation each time).
    #[arg(long, default_value_t = 4)]
    pub rounds: usize,
    #[arg(long, value_delimiter = ',', default_value = "10,11,12,13,14,15,16,18,20,22,24")]
    pub train_sizes: Vec<u32>,
    #[arg(long, value_delimiter = ',', default_value = "12,16,20,24")]
    pub val_sizes: Vec<u32>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// What the training photos are, for the model card.
    #[arg(long, default_value = "your own photos")]
    pub trained_on: String,
    /// The licence the weights inherit from the training photos, for the model card.
    #[arg(long, default_value = "the terms of your training photos")]
    pub licence: String,
}

pub fn train_refiner_command(args: &TrainRefinerArgs) -> anyhow::Result<()> {
    let (train, val) = split_sides(&args.split, &args.pool)?;
    let mut train = train;
    for folder in &args.extra {
        let photos = image_files(folder)?;
        train.extend(photos.into_iter().take(args.extra_limit));
    }
    let config_file = args.config.as_deref().map(Config::load).transpose()?;
    let config = RefinerConfig {
        train,
        val,
        detector: config_file
            .as_ref()
            .map_or(args.detector.clone(), |c| c.models.detector.clone()),
        detect: config_file.as_ref().map(|c| c.detect.clone()).unwrap_or_default(),
        ort_library: config_file.as_ref().and_then(|c| c.models.onnxruntime.clone()),
        background: super::eval::background(args.background.as_deref())?,
        out: args.out.clone(),
        id: args.id.clone(),
        side: args.side,
        width: args.width,
        epochs: args.epochs,
        batch: args.batch,
        learning_rate: args.learning_rate,
        weight_decay: args.weight_decay,
        rounds: args.rounds,
        train_sizes: args.train_sizes.clone(),
        val_sizes: args.val_sizes.clone(),
        seed: args.seed,
        trained_on: args.trained_on.clone(),
        licence: args.licence.clone(),
        progress: true,
    };
    let report = train_refiner(&config)?;
    println!(
        "refiner: {} training faces ({} samples), kept epoch {} of {}",
        report.train_faces,
        report.train_samples,
        report.best_epoch,
        report.epochs.len()
    );
    println!(
        "validation ({} faces each), mean landmark error in frame px [90 % interval]:",
        report.val_faces
    );
    for row in &report.val {
        println!(
            "  {:>2} px: detector {:.3} [{:.3}, {:.3}]  refined {:.3} [{:.3}, {:.3}]  change {:+.3} [{:+.3}, {:+.3}]",
            row.px,
            row.detector.mean,
            row.detector.low,
            row.detector.high,
            row.refined.mean,
            row.refined.low,
            row.refined.high,
            row.change.mean,
            row.change.low,
            row.change.high
        );
    }
    println!("card: {}", report.card.display());
    Ok(())
}

/// The two sides of a `split.json` (written by `squint split-faces`) the refiner uses.
#[derive(serde::Deserialize)]
struct SplitSides {
    train: Vec<String>,
    val: Vec<String>,
}

/// The pool photos on the split's training and validation sides.
fn split_sides(split: &Path, pool: &Path) -> anyhow::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let text = std::fs::read_to_string(split).with_context(|| format!("reading {}", split.display()))?;
    let sides: SplitSides = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: not a split; give the split.json that `squint split-faces` wrote",
            split.display()
        )
    })?;
    let paths = |names: Vec<String>| -> anyhow::Result<Vec<PathBuf>> {
        names
            .into_iter()
            .map(|name| {
                let path = pool.join(&name);
                if !path.is_file() {
                    bail!(
                        "{} names {name}, which is not in {} (give the --pool the split was made from)",
                        split.display(),
                        pool.display()
                    );
                }
                Ok(path)
            })
            .collect()
    };
    Ok((paths(sides.train)?, paths(sides.val)?))
}
