//! `squint eval`, `squint synth-faces`, `squint morph-faces` and `squint face-pairs`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use indicatif::ProgressBar;

use super::ModelArgs;
use crate::config::Config;
use crate::detect::{DetectConfig, Detector};
use crate::distill::dataset::embed_in_batches;
use crate::eval::probes::CameraDegradation;
use crate::eval::{EvalConfig, GalleryKind, VideoConfig};
use crate::faces::{SplitConfig, SynthConfig, align_photos, distractor_photos};
use crate::gallery::dot;
use crate::image::BgrImage;
use crate::model::ModelCard;
use crate::recognize::Recognizer;

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Labelled set: a folder with one sub-folder of photos per identity (repeatable). The
    /// first photo (by name) of each identity is enrolled, the others are probes (see --enrol).
    #[arg(long = "set")]
    pub sets: Vec<PathBuf>,
    /// Photos of other people (repeatable): alternately enrolled as extra gallery identities
    /// and used as strangers for the open-set numbers.
    #[arg(long = "distractors")]
    pub distractors: Vec<PathBuf>,
    /// Recognizer cards that embed the probes (repeatable; SFace by default).
    #[arg(long = "recognizer")]
    pub recognizers: Vec<PathBuf>,
    /// The card that enrols the gallery; every recognizer must share its embedding space.
    #[arg(long, default_value = "models/sface.card.toml")]
    pub enroll_with: PathBuf,
    #[arg(long, default_value = "models/yunet.card.toml")]
    pub detector: PathBuf,
    /// Take the detector settings (`[detect]`) and ONNX Runtime from this config.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Gallery strategies (repeatable; both by default).
    #[arg(long = "gallery", value_enum)]
    pub galleries: Vec<crate::eval::GalleryKind>,
    /// Which photo of each person is enrolled: the first, or each in turn with the others
    /// probing it (both directions of every pair).
    #[arg(long, value_enum, default_value = "first")]
    pub enrol: crate::eval::Enrolment,
    /// Resamples of the bootstrap over people behind the 90 % intervals (0: none).
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
    /// Widths of the degraded templates of a multi-res gallery.
    #[arg(long, value_delimiter = ',', default_value = "16,24,32")]
    pub multi_res: Vec<u32>,
    /// Probe face widths in pixels.
    #[arg(long, value_delimiter = ',', default_value = "12,16,20,24,32,40")]
    pub sizes: Vec<u32>,
    /// Track lengths: each probe is seen in N frames (own placement, landmark jitter and
    /// camera noise per frame), fused as the pipeline fuses a track; one row per N.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub frames: Vec<usize>,
    /// Camera blur of the frame (sigma, px; 0 = none).
    #[arg(long, default_value_t = 0.0)]
    pub blur: f64,
    /// Sensor noise of the frame (sigma, grey levels; 0 = none).
    #[arg(long, default_value_t = 0.0)]
    pub noise: f64,
    /// JPEG round trip of the frame at this quality.
    #[arg(long)]
    pub jpeg: Option<i32>,
    /// Exposure of the frame: CONTRAST,BRIGHTNESS around mid-grey (a darker, flatter camera:
    /// 0.6,-40).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub exposure: Option<Vec<f64>>,
    /// Background footage for the probe frames (default: assets/vtest.avi when present,
    /// else a mid-grey frame).
    #[arg(long)]
    pub background: Option<PathBuf>,
    /// Make every photo grey (for grey sets such as Olivetti).
    #[arg(long)]
    pub grey: bool,
    /// Real footage without labels (repeatable): tracks as identities.
    #[arg(long = "video")]
    pub videos: Vec<PathBuf>,
    /// Frames between the two faces of a genuine video pair.
    #[arg(long, default_value_t = 10)]
    pub min_gap_frames: u64,
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Save the first probe frame of each set and width here (what the detector saw).
    #[arg(long)]
    pub dump_frames: Option<PathBuf>,
    /// Write the strangers' detected faces, aligned at 112 px, here: unlabeled crops of this
    /// camera for `squint adapt`.
    #[arg(long)]
    pub dump_stranger_crops: Option<PathBuf>,
    /// Landmark refiner card (`squint train-refiner`): the detected rows use its landmarks
    /// for faces narrower than --refine-below (default: the config's `[align]`, else none).
    #[arg(long)]
    pub refiner: Option<PathBuf>,
    #[arg(long)]
    pub refine_below: Option<f32>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

#[derive(Debug, clap::Args)]
pub struct MorphFacesArgs {
    /// Aligned crops, one face each (`squint split-faces`'s train/).
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long)]
    pub count: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Gets morph-NNNNNN.png at the crops' size.
    #[arg(long)]
    pub out: PathBuf,
    /// Least share of either face in a blend (0–0.5).
    #[arg(long, default_value_t = 0.3)]
    pub min_weight: f64,
}

#[derive(Debug, clap::Args)]
pub struct SynthFacesArgs {
    #[arg(long)]
    pub count: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[arg(long)]
    pub out: PathBuf,
    /// The generator checkpoint (default: dcgan-weights.tar where scripts/setup.sh --faces
    /// put it: $SQUINT_FACES, else ~/.cache/squint/faces).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    #[command(flatten)]
    pub models: ModelArgs,
}

#[derive(Debug, clap::Args)]
pub struct FacePairsArgs {
    /// Folder of photos, one (unknown) person each.
    #[arg(long)]
    pub photos: PathBuf,
    /// Teacher cosine above which two photos are a candidate pair.
    #[arg(long, default_value_t = 0.45)]
    pub min_cosine: f32,
    /// Contact sheet: each candidate pair side by side with its cosine.
    #[arg(long)]
    pub sheet: Option<PathBuf>,
    #[command(flatten)]
    pub models: ModelArgs,
}

#[derive(Debug, clap::Args)]
pub struct SplitFacesArgs {
    /// Photos of one person each, shared out over the three sides (CelebA's singles).
    #[arg(long)]
    pub pool: PathBuf,
    /// A set held out entirely: photos, or one folder per person (repeatable).
    #[arg(long = "held-out")]
    pub held_out: Vec<PathBuf>,
    /// Pool photos held out for testing (`squint eval --distractors OUT/test`).
    #[arg(long, default_value_t = 200)]
    pub test: usize,
    /// Pool photos held out for validation (`squint distill --val-data OUT/val`).
    #[arg(long, default_value_t = 100)]
    pub val: usize,
    /// Teacher cosine above which a training face counts as a held-out person's.
    #[arg(long, default_value_t = 0.6)]
    pub near_duplicate: f32,
    /// Gets train/ and val/ (aligned crops), test/ (photos) and split.json.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub models: ModelArgs,
}

pub fn eval(args: &EvalArgs) -> anyhow::Result<()> {
    let config = args.config.as_deref().map(Config::load).transpose()?;
    let recognizers = if args.recognizers.is_empty() {
        vec![PathBuf::from("models/sface.card.toml")]
    } else {
        args.recognizers.clone()
    };
    let galleries = if args.galleries.is_empty() {
        vec![GalleryKind::Single, GalleryKind::MultiRes]
    } else {
        args.galleries.clone()
    };
    let eval = EvalConfig {
        sets: args.sets.clone(),
        distractors: args.distractors.clone(),
        recognizers,
        enroll_with: args.enroll_with.clone(),
        detector: config
            .as_ref()
            .map_or(args.detector.clone(), |c| c.models.detector.clone()),
        detect: config.as_ref().map(|c| c.detect.clone()).unwrap_or_default(),
        align: align_config(config.as_ref(), args),
        ort_library: config.as_ref().and_then(|c| c.models.onnxruntime.clone()),
        galleries,
        enrolment: args.enrol,
        bootstrap: args.bootstrap,
        multi_res_widths: args.multi_res.clone(),
        sizes: args.sizes.clone(),
        frames: args.frames.clone(),
        degradation: CameraDegradation {
            blur_sigma: args.blur,
            noise_sigma: args.noise,
            jpeg_quality: args.jpeg,
            exposure: exposure(args.exposure.as_deref())?,
        },
        background: background(args.background.as_deref())?,
        grey: args.grey,
        seed: args.seed,
        threads: args.threads,
        progress: true,
        videos: args
            .videos
            .iter()
            .map(|video| VideoConfig {
                video: video.clone(),
                min_gap_frames: args.min_gap_frames,
                every: 1,
                max_pairs_per_track: 50,
            })
            .collect(),
        dump_frames: args.dump_frames.clone(),
        dump_stranger_crops: args.dump_stranger_crops.clone(),
    };
    let report = crate::eval::evaluate(&eval)?;
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.plot {
        crate::eval::plot::draw(&report, path)?;
    }
    println!("{}", report.markdown());
    eprintln!("eval took {:.0} s", report.seconds);
    Ok(())
}

/// The probe frames' background: the given video (which must exist), else the demo footage
/// when setup put it there, else none (a grey frame).
/// The config's `[align]` with --refiner and --refine-below applied over it.
fn align_config(config: Option<&Config>, args: &EvalArgs) -> crate::align::AlignConfig {
    let mut align = config.map(|c| c.align.clone()).unwrap_or_default();
    if let Some(card) = &args.refiner {
        align.refiner = Some(card.clone());
    }
    if let Some(below) = args.refine_below {
        align.refine_below_px = below;
    }
    align
}

pub(super) fn background(given: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    const DEMO: &str = "assets/vtest.avi";
    match given {
        Some(path) if !path.is_file() => bail!("--background {}: no such video", path.display()),
        Some(path) => Ok(Some(path.to_path_buf())),
        None if Path::new(DEMO).is_file() => Ok(Some(PathBuf::from(DEMO))),
        None => {
            tracing::warn!("{DEMO} not found (run scripts/setup.sh); probes go on a grey frame");
            Ok(None)
        }
    }
}

pub fn synth_faces(args: &SynthFacesArgs) -> anyhow::Result<()> {
    let weights = match &args.weights {
        Some(path) => path.clone(),
        None => faces_dir()
            .map(|dir| dir.join("dcgan-weights.tar"))
            .context("give --weights (gan_face_generate/weights.tar) or run scripts/setup.sh --faces")?,
    };
    let mut detector = Detector::load(&ModelCard::load(&args.models.detector)?, None, &DetectConfig::default())?;
    let teacher = ModelCard::load(&args.models.recognizer)?;
    let crop_size = teacher
        .input_size
        .map(|[w, _]| w)
        .with_context(|| format!("{} has no input_size", args.models.recognizer.display()))?;
    let config = SynthConfig {
        weights,
        count: args.count,
        seed: args.seed,
        out: args.out.clone(),
        crop_size,
        progress: true,
    };
    let report = crate::faces::synth_faces(&config, &mut detector)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

pub fn morph_faces(args: &MorphFacesArgs) -> anyhow::Result<()> {
    let config = crate::faces::MorphConfig {
        data: args.data.clone(),
        count: args.count,
        seed: args.seed,
        out: args.out.clone(),
        min_weight: args.min_weight,
        progress: true,
    };
    let report = crate::faces::morph_faces(&config)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// `--exposure CONTRAST,BRIGHTNESS`.
fn exposure(values: Option<&[f64]>) -> anyhow::Result<Option<(f64, f64)>> {
    match values {
        None => Ok(None),
        Some(&[contrast, brightness]) if contrast > 0.0 => Ok(Some((contrast, brightness))),
        Some(other) => bail!(
            "--exposure takes CONTRAST,BRIGHTNESS with a contrast > 0 (e.g. 0.6,-40 for a darker, flatter camera), not {other:?}"
        ),
    }
}

/// Where `scripts/setup.sh --faces` put the face data: `$SQUINT_FACES`, else its default.
fn faces_dir() -> Option<PathBuf> {
    std::env::var_os("SQUINT_FACES")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/squint/faces")))
}

/// Pairs per contact sheet (rows of four).
const PAIRS_PER_SHEET: usize = 24;

pub fn face_pairs(args: &FacePairsArgs) -> anyhow::Result<()> {
    let mut detector = Detector::load(&ModelCard::load(&args.models.detector)?, None, &DetectConfig::default())?;
    let mut teacher = Recognizer::load(&ModelCard::load(&args.models.recognizer)?, None, 2)?;
    let size = teacher.input_size();
    let photos = distractor_photos(&args.photos)?;
    let aligned = align_photos(&mut detector, &photos, size, &ProgressBar::hidden())?;
    let names = aligned.names();
    let crops = aligned.crops;
    let embeddings = embed_in_batches(&mut teacher, &crops.iter().collect::<Vec<_>>())?;
    let mut pairs = Vec::new();
    for a in 0..embeddings.len() {
        for b in a + 1..embeddings.len() {
            let cosine = dot(&embeddings[a], &embeddings[b]);
            if cosine >= args.min_cosine {
                pairs.push((cosine, a, b));
            }
        }
    }
    pairs.sort_by(|x, y| y.0.total_cmp(&x.0));
    for (n, (cosine, a, b)) in pairs.iter().enumerate() {
        println!("{n:4} {cosine:.3} {} {}", names[*a], names[*b]);
    }
    eprintln!("{} candidate pairs among {} faces", pairs.len(), names.len());
    if let Some(sheet) = &args.sheet {
        for (page, chunk) in pairs.chunks(PAIRS_PER_SHEET).enumerate() {
            let path = sheet.with_file_name(format!(
                "{}-{page:02}.png",
                sheet.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default()
            ));
            let tiles: Vec<(&BgrImage, &BgrImage)> = chunk.iter().map(|(_, a, b)| (&crops[*a], &crops[*b])).collect();
            contact_sheet(&tiles, size)?.save(&path)?;
            eprintln!(
                "pairs {}..{}: {}",
                page * PAIRS_PER_SHEET,
                page * PAIRS_PER_SHEET + chunk.len(),
                path.display()
            );
        }
    }
    Ok(())
}

/// Pairs side by side, four pairs a row, separated by white gaps.
fn contact_sheet(pairs: &[(&BgrImage, &BgrImage)], size: u32) -> anyhow::Result<BgrImage> {
    const PER_ROW: u32 = 4;
    const GAP: u32 = 12;
    let cell = (2 * size + GAP, size + GAP);
    let rows = (pairs.len() as u32).div_ceil(PER_ROW);
    let mut sheet = BgrImage::new(cell.0 * PER_ROW, cell.1 * rows.max(1));
    sheet.data.fill(255);
    for (i, (a, b)) in pairs.iter().enumerate() {
        let (col, row) = (i as u32 % PER_ROW, i as u32 / PER_ROW);
        blit(&mut sheet, a, col * cell.0, row * cell.1);
        blit(&mut sheet, b, col * cell.0 + size, row * cell.1);
    }
    Ok(sheet)
}

fn blit(dst: &mut BgrImage, src: &BgrImage, x: u32, y: u32) {
    let row = src.width as usize * 3;
    for yy in 0..src.height as usize {
        let to = ((y as usize + yy) * dst.width as usize + x as usize) * 3;
        dst.data[to..to + row].copy_from_slice(&src.data[yy * row..(yy + 1) * row]);
    }
}

pub fn split_faces(args: &SplitFacesArgs) -> anyhow::Result<()> {
    let mut detector = Detector::load(&ModelCard::load(&args.models.detector)?, None, &DetectConfig::default())?;
    let mut teacher = Recognizer::load(&ModelCard::load(&args.models.recognizer)?, None, 2)?;
    let config = SplitConfig {
        pool: args.pool.clone(),
        held_out: args.held_out.clone(),
        test_photos: args.test,
        val_photos: args.val,
        near_duplicate: args.near_duplicate,
        out: args.out.clone(),
        progress: true,
    };
    let report = crate::faces::split_faces(&config, &mut detector, &mut teacher)?;
    eprintln!(
        "{} held-out faces; pool: {} test, {} validation, {} training; {} near-duplicates excluded, {} photos without a face; {}",
        report.held_out_faces,
        report.test.len(),
        report.val.len(),
        report.train.len(),
        report.excluded.len(),
        report.without_face.len(),
        args.out.join("split.json").display()
    );
    Ok(())
}
