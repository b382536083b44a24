//! `squint bench-gallery`: exact matching against the HNSW index on galleries of 10k to 1M.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::ModelArgs;
use crate::bench::gallery::{GalleryBenchPlan, RealPerson};
use crate::detect::DetectConfig;
use crate::distill::dataset::image_files;
use crate::gallery::Enroller;
use crate::model::ModelCard;

#[derive(Debug, clap::Args)]
pub struct BenchGalleryArgs {
    /// Gallery sizes (identities), each written and measured in turn.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    pub sizes: Vec<usize>,
    /// Photos (one folder) whose embeddings the synthetic identities are drawn like.
    #[arg(long)]
    pub fit: PathBuf,
    /// A folder with one subfolder per real person (repeatable): the first photo by name is
    /// enrolled, the others are probes. The last person is held back and enrolled while the
    /// matcher runs.
    #[arg(long = "people", required = true)]
    pub people: Vec<PathBuf>,
    /// Probes of nobody enrolled, drawn like the synthetic identities.
    #[arg(long, default_value_t = 500)]
    pub unmated: usize,
    /// HNSW search widths (efSearch) measured.
    #[arg(long, value_delimiter = ',', default_value = "32,64,96,128")]
    pub expansions: Vec<usize>,
    /// Templates taken from the index per probe before exact re-ranking.
    #[arg(long, default_value_t = 32)]
    pub candidates: usize,
    #[arg(long, default_value_t = 2.0)]
    pub reload_s: f64,
    /// Also report recall over the probes whose exact best similarity reaches this (those
    /// an alert threshold near it would name).
    #[arg(long, default_value_t = 0.3)]
    pub decided_above: f32,
    /// Where the galleries and their indexes are written (about 1 GB at 1M identities).
    #[arg(long, default_value = "run/bench-gallery")]
    pub dir: PathBuf,
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Draw the threshold-vs-gallery-size chart (PNG).
    #[arg(long)]
    pub chart: Option<PathBuf>,
    #[command(flatten)]
    pub models: ModelArgs,
}

pub fn bench_gallery(args: &BenchGalleryArgs) -> anyhow::Result<()> {
    let card = ModelCard::load(&args.models.recognizer)?;
    let (_, space) = card.require_embedding()?;
    let mut enroller = Enroller {
        detector: crate::detect::Detector::load(
            &ModelCard::load(&args.models.detector)?,
            None,
            &DetectConfig::default(),
        )?,
        recognizer: crate::recognize::Recognizer::load(&card, None, 2)?,
    };
    let fit = embed_all(&mut enroller, &image_files(&args.fit)?);
    let mut people = Vec::new();
    for folder in &args.people {
        people.extend(real_people(&mut enroller, folder)?);
    }
    let late = people
        .pop()
        .context("--people holds no person with two usable photos")?;
    anyhow::ensure!(
        !people.is_empty(),
        "--people holds only one person with two usable photos"
    );
    std::fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    let plan = GalleryBenchPlan {
        sizes: args.sizes.clone(),
        fit,
        people,
        late: (late.template, late.probes[0].clone()),
        unmated_probes: args.unmated,
        expansions: args.expansions.clone(),
        candidates: args.candidates,
        reload_s: args.reload_s,
        decided_above: args.decided_above,
        dir: args.dir.clone(),
        space,
    };
    let report = crate::bench::gallery::run(&plan)?;
    if let Some(path) = &args.chart {
        crate::bench::gallery_chart::draw(&report, path)?;
    }
    super::commands::write_report(&serde_json::to_value(report)?, args.out.as_deref())
}

/// The embeddings of the photos with a usable face (the others are logged and skipped).
fn embed_all(enroller: &mut Enroller, photos: &[PathBuf]) -> Vec<Vec<f32>> {
    let bar = indicatif::ProgressBar::new(photos.len() as u64).with_message("embedding photos");
    let embeddings = photos
        .iter()
        .filter_map(|photo| {
            bar.inc(1);
            enroller
                .embed_photo(photo)
                .inspect_err(|e| tracing::debug!(error = %e, "photo skipped"))
                .ok()
        })
        .collect();
    bar.finish_and_clear();
    embeddings
}

/// Each subfolder with at least two usable photos: its first as the template, the rest
/// as probes.
fn real_people(enroller: &mut Enroller, folder: &Path) -> anyhow::Result<Vec<RealPerson>> {
    let mut people = Vec::new();
    let mut subfolders: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| format!("reading {}", folder.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    subfolders.sort();
    for person in subfolders {
        let mut embeddings = embed_all(enroller, &image_files(&person)?).into_iter();
        let (Some(template), probes) = (embeddings.next(), embeddings.collect::<Vec<_>>()) else {
            continue;
        };
        if probes.is_empty() {
            continue;
        }
        let name = format!(
            "{}/{}",
            folder.file_name().unwrap_or_default().to_string_lossy(),
            person.file_name().unwrap_or_default().to_string_lossy()
        );
        people.push(RealPerson { name, template, probes });
    }
    Ok(people)
}
