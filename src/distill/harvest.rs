//! Collects the unlabeled distillation set: aligned high-resolution face crops from cameras,
//! video files and photo folders. Faces are tracked so one person walking past yields a few
//! distinct crops (best quality, spread over the track) rather than hundreds of near-copies.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::DistillError;
use super::dataset::{image_files, load_image};
use crate::align::{reference_points, similarity_transform};
use crate::detect::{Detector, assess_all};
use crate::image::BgrImage;
use crate::ingest::{CameraConfig, CameraSource};
use crate::track::{TrackConfig, TrackedFace, Tracker};
use crate::types::{Detection, FrameMeta};

#[derive(Debug, Clone)]
pub struct HarvestConfig {
    pub out: PathBuf,
    /// Cameras or files to pull frames from (`squint harvest --config` or `--video`).
    pub sources: Vec<CameraConfig>,
    pub templates: PathBuf,
    /// Folders of face photos (and their sub-folders one level deep).
    pub photos: Vec<PathBuf>,
    /// Live cameras are harvested for this long; files until they end.
    pub seconds: f64,
    /// Side of the aligned crops: the teacher's input size.
    pub crop_size: u32,
    /// Smaller faces are not high-resolution enough to teach from.
    pub min_face_px: f32,
    /// Minimum [`crate::detect::FaceQuality::weight`] of a kept face.
    pub min_quality: f32,
    /// Crops kept per track at most.
    pub per_track: usize,
    /// Kept crops of one track are at least this many frames apart.
    pub min_gap_frames: u64,
    /// Jittered copies (small rotation, scale, shift, mirror) written per photo face.
    pub augment: usize,
    pub seed: u64,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct HarvestReport {
    pub crops_written: usize,
    pub frames: u64,
    pub faces_seen: usize,
    pub too_small: usize,
    pub low_quality: usize,
    pub tracks: usize,
    pub photos: usize,
    pub photos_without_face: usize,
}

/// A face worth keeping, waiting for its track to end.
struct Candidate {
    seq: u64,
    weight: f32,
    crop: BgrImage,
}

/// Bound on the candidates remembered per track (the best ones are kept).
const CANDIDATES_PER_TRACK: usize = 64;

pub fn harvest(config: &HarvestConfig, detector: &mut Detector) -> Result<HarvestReport, DistillError> {
    std::fs::create_dir_all(&config.out).map_err(|source| DistillError::Io {
        path: config.out.clone(),
        source,
    })?;
    let mut report = HarvestReport::default();
    for source in &config.sources {
        harvest_source(config, source, detector, &mut report)?;
    }
    let mut rng = StdRng::seed_from_u64(config.seed);
    for folder in &config.photos {
        harvest_photos(config, folder, detector, &mut rng, &mut report)?;
    }
    if report.crops_written == 0 {
        tracing::warn!(
            faces = report.faces_seen,
            too_small = report.too_small,
            low_quality = report.low_quality,
            "no crops harvested; lower --min-face-px / --min-quality or use footage with larger faces"
        );
    }
    let path = config.out.join("harvest.json");
    let text = serde_json::to_string_pretty(&report).map_err(|e| DistillError::Invalid(e.to_string()))?;
    std::fs::write(&path, text).map_err(|source| DistillError::Io { path, source })?;
    Ok(report)
}

fn harvest_source(
    config: &HarvestConfig,
    camera: &CameraConfig,
    detector: &mut Detector,
    report: &mut HarvestReport,
) -> Result<(), DistillError> {
    let (mut source, rx, stop) = CameraSource::spawn_alone(camera, &config.templates, 2)?;
    let track_config = TrackConfig {
        budget: false,
        ..TrackConfig::default()
    };
    let mut tracker = Tracker::new(Arc::from(camera.id.as_str()), &track_config);
    let mut pending: HashMap<u64, Vec<Candidate>> = HashMap::new();
    let deadline = camera
        .is_live()
        .then(|| Instant::now() + Duration::from_secs_f64(config.seconds));
    let name = sanitize(&camera.id);
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let frame = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(frame) => frame,
            Err(_) if source.is_finished() && rx.is_empty() => break,
            Err(_) => continue,
        };
        report.frames += 1;
        let faces = assess_all(&frame.image, detector.detect(&frame.image)?);
        let (tracked, ended) = tracker.update(&FrameMeta::from(&frame), faces);
        for face in tracked {
            if let Some(candidate) = consider(config, &frame.image, &face, report)? {
                let list = pending.entry(face.track.track_id).or_default();
                list.push(candidate);
                if list.len() > CANDIDATES_PER_TRACK {
                    list.sort_by(|a, b| b.weight.total_cmp(&a.weight));
                    list.truncate(CANDIDATES_PER_TRACK);
                }
            }
        }
        for track in ended {
            write_track(config, &name, track.track_id, pending.remove(&track.track_id), report)?;
        }
    }
    stop.store(true, Ordering::Relaxed);
    source.join();
    for track in tracker.end_all() {
        write_track(config, &name, track.track_id, pending.remove(&track.track_id), report)?;
    }
    Ok(())
}

/// The aligned crop of a tracked face when it is large and good enough.
fn consider(
    config: &HarvestConfig,
    frame: &BgrImage,
    face: &TrackedFace,
    report: &mut HarvestReport,
) -> Result<Option<Candidate>, DistillError> {
    report.faces_seen += 1;
    if face.quality.width_px < config.min_face_px {
        report.too_small += 1;
        return Ok(None);
    }
    let weight = face.quality.weight();
    if weight < config.min_quality {
        report.low_quality += 1;
        return Ok(None);
    }
    let crop = crate::align::align_face(frame, &face.detection.landmarks, config.crop_size)?;
    Ok(Some(Candidate {
        seq: face.track.last_seq,
        weight,
        crop,
    }))
}

/// Writes up to `per_track` of the track's best crops, at least `min_gap_frames` apart.
fn write_track(
    config: &HarvestConfig,
    source: &str,
    track_id: u64,
    candidates: Option<Vec<Candidate>>,
    report: &mut HarvestReport,
) -> Result<(), DistillError> {
    let Some(mut candidates) = candidates else {
        return Ok(());
    };
    report.tracks += 1;
    candidates.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    let mut kept: Vec<&Candidate> = Vec::new();
    for candidate in &candidates {
        if kept.len() >= config.per_track {
            break;
        }
        if kept
            .iter()
            .all(|k| k.seq.abs_diff(candidate.seq) >= config.min_gap_frames)
        {
            kept.push(candidate);
        }
    }
    for candidate in kept {
        let file = format!("{source}-t{track_id:05}-f{:07}.png", candidate.seq);
        save(&candidate.crop, &config.out.join(file))?;
        report.crops_written += 1;
    }
    Ok(())
}

fn harvest_photos(
    config: &HarvestConfig,
    folder: &Path,
    detector: &mut Detector,
    rng: &mut StdRng,
    report: &mut HarvestReport,
) -> Result<(), DistillError> {
    let mut files = image_files(folder).unwrap_or_default();
    if let Ok(entries) = std::fs::read_dir(folder) {
        let mut subfolders: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
        subfolders.sort();
        for sub in subfolders {
            files.extend(image_files(&sub).unwrap_or_default());
        }
    }
    if files.is_empty() {
        return Err(DistillError::Data {
            path: folder.to_path_buf(),
            message: "no photos in it or its sub-folders (png, jpg, jpeg, bmp, webp)".into(),
        });
    }
    for path in files {
        let image = load_image(&path)?;
        report.photos += 1;
        let detected = detector.detect(&image)?;
        let faces: Vec<Detection> = detected
            .iter()
            .filter(|d| d.bbox.w >= config.min_face_px)
            .cloned()
            .collect();
        report.faces_seen += detected.len();
        report.too_small += detected.len() - faces.len();
        report.photos_without_face += usize::from(faces.is_empty());
        let stem = sanitize(&path.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default());
        for (i, face) in faces.iter().enumerate() {
            let aligned = crate::align::align_face(&image, &face.landmarks, config.crop_size)?;
            save(&aligned, &config.out.join(format!("{stem}-{i}.png")))?;
            report.crops_written += 1;
            for k in 0..config.augment {
                let jittered = jitter(&image, face, config.crop_size, rng)?;
                save(&jittered, &config.out.join(format!("{stem}-{i}-a{k:03}.png")))?;
                report.crops_written += 1;
            }
        }
    }
    Ok(())
}

/// The face aligned with a small random similarity on top (±8° rotation, ±8 % scale, ±3 %
/// shift) and mirrored half the time: the spread of real alignments.
fn jitter(image: &BgrImage, face: &Detection, size: u32, rng: &mut StdRng) -> Result<BgrImage, DistillError> {
    let align = similarity_transform(&face.landmarks, &reference_points(size));
    let angle = rng.random_range(-8f64..8.0).to_radians();
    let scale = rng.random_range(0.92..1.08);
    let shift = size as f64 * 0.03;
    let (tx, ty) = (rng.random_range(-shift..shift), rng.random_range(-shift..shift));
    let c = size as f64 / 2.0;
    let (a, b) = (scale * angle.cos(), scale * angle.sin());
    let jitter = [[a, -b, c - a * c + b * c + tx], [b, a, c - b * c - a * c + ty]];
    let crop = image.warp_affine(compose(&jitter, &align), size, size)?;
    Ok(if rng.random_bool(0.5) { crop.mirrored() } else { crop })
}

/// `outer ∘ inner` for 2×3 affine matrices.
fn compose(outer: &[[f64; 3]; 2], inner: &[[f64; 3]; 2]) -> [[f64; 3]; 2] {
    let mut out = [[0.0; 3]; 2];
    for r in 0..2 {
        for c in 0..3 {
            out[r][c] = outer[r][0] * inner[0][c] + outer[r][1] * inner[1][c] + if c == 2 { outer[r][2] } else { 0.0 };
        }
    }
    out
}

fn save(image: &BgrImage, path: &Path) -> Result<(), DistillError> {
    image.save(path).map_err(|e| DistillError::Data {
        path: path.to_path_buf(),
        message: format!("cannot write the crop: {e}"),
    })
}

/// A file-name-safe version of a camera id or file stem.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
