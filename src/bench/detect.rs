//! `squint bench-detect`: cost and recall of each detection mode on real street footage with
//! faces of known size pasted in.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::detect::{DetectConfig, DetectMode, Detector};
use crate::gallery::largest_face;
use crate::image::BgrImage;
use crate::model::ModelCard;
use crate::scenario::FacePatch;
use crate::serve::VideoReader;
use crate::types::{BBox, Detection};

/// The modes compared: name, mode, scale.
pub const MODES: [(&str, DetectMode, f32); 4] = [
    ("native", DetectMode::Native, 1.0),
    ("upscale_1.5", DetectMode::Upscale, 1.5),
    ("upscale_2", DetectMode::Upscale, 2.0),
    ("tiles_2x2_x2", DetectMode::Tiles, 2.0),
];

#[derive(Debug, Serialize)]
pub struct Cost {
    pub mode: String,
    pub width: u32,
    pub height: u32,
    pub threads: usize,
    pub ms_per_frame: f64,
}

#[derive(Debug, Serialize)]
pub struct Recall {
    pub mode: String,
    pub face_px: u32,
    pub faces: usize,
    pub found: usize,
    pub recall: f64,
    /// Detections matching no pasted face, per frame. Includes the real pedestrians' faces
    /// of the footage (see `background_detections_per_frame`).
    pub other_detections_per_frame: f64,
    pub background_detections_per_frame: f64,
}

fn config(mode: DetectMode, upscale: f32, threads: usize) -> DetectConfig {
    DetectConfig {
        mode,
        upscale,
        threads,
        min_face_px: 4.0,
        ..DetectConfig::default()
    }
}

/// A detection counts for a pasted face by [`BBox::found_by`].
pub(super) fn matches(d: &Detection, truth: &BBox) -> bool {
    truth.found_by(&d.bbox)
}

pub fn cost(card: &ModelCard, frames: &[BgrImage], threads: &[usize]) -> anyhow::Result<Vec<Cost>> {
    let mut out = Vec::new();
    for size in [(768, 576), (1920, 1080)] {
        let scaled = frames
            .iter()
            .map(|f| f.resized(size.0, size.1))
            .collect::<Result<Vec<_>, _>>()?;
        for &(name, mode, upscale) in &MODES {
            for &t in threads {
                let mut detector = Detector::load(card, None, &config(mode, upscale, t))?;
                detector.detect(&scaled[0])?; // warm-up
                let started = Instant::now();
                for frame in &scaled {
                    detector.detect(frame)?;
                }
                let ms = started.elapsed().as_secs_f64() * 1000.0 / scaled.len() as f64;
                out.push(Cost {
                    mode: name.into(),
                    width: size.0,
                    height: size.1,
                    threads: t,
                    ms_per_frame: ms,
                });
            }
        }
    }
    Ok(out)
}

/// Pastes each photo's face at `px` wide on a fixed grid of places in every frame.
fn compose(frames: &[BgrImage], patches: &[FacePatch], px: u32) -> anyhow::Result<(Vec<BgrImage>, Vec<BBox>)> {
    let (w, h) = (frames[0].width as f32, frames[0].height as f32);
    let places: Vec<BBox> = (0..8)
        .map(|i| {
            let (col, row) = ((i % 4) as f32, (i / 4) as f32);
            BBox {
                x: w * (0.1 + 0.22 * col),
                y: h * (0.3 + 0.4 * row),
                w: px as f32,
                h: px as f32 * 1.2,
            }
        })
        .collect();
    let mut out = Vec::new();
    for frame in frames {
        let mut frame = frame.clone();
        for (i, place) in places.iter().enumerate() {
            patches[i % patches.len()].paste(&mut frame, *place)?;
        }
        out.push(frame);
    }
    Ok((out, places))
}

/// Each photo's largest face, cut for pasting.
pub fn face_patches(card: &ModelCard, photos: &[&Path]) -> anyhow::Result<Vec<FacePatch>> {
    let mut finder = Detector::load(card, None, &DetectConfig::default())?;
    let mut patches = Vec::new();
    for photo in photos {
        let image = BgrImage::load(photo)?;
        let faces = finder.detect(&image)?;
        let face = largest_face(&faces).ok_or_else(|| anyhow::anyhow!("no face in {}", photo.display()))?;
        patches.push(FacePatch::cut(&image, &face.bbox));
    }
    Ok(patches)
}

pub fn recall(card: &ModelCard, frames: &[BgrImage], patches: &[FacePatch]) -> anyhow::Result<Vec<Recall>> {
    let mut out = Vec::new();
    for &(name, mode, upscale) in &MODES {
        let mut detector = Detector::load(card, None, &config(mode, upscale, 2))?;
        let background: usize = frames
            .iter()
            .map(|f| detector.detect(f).map(|d| d.len()))
            .sum::<Result<_, _>>()?;
        for px in [8, 10, 12, 16, 24, 32] {
            let (scenes, places) = compose(frames, patches, px)?;
            let (mut found, mut other) = (0, 0);
            for scene in &scenes {
                let dets = detector.detect(scene)?;
                found += places.iter().filter(|p| dets.iter().any(|d| matches(d, p))).count();
                other += dets.iter().filter(|d| !places.iter().any(|p| matches(d, p))).count();
            }
            let faces = places.len() * scenes.len();
            out.push(Recall {
                mode: name.into(),
                face_px: px,
                faces,
                found,
                recall: found as f64 / faces as f64,
                other_detections_per_frame: other as f64 / scenes.len() as f64,
                background_detections_per_frame: background as f64 / frames.len() as f64,
            });
        }
    }
    Ok(out)
}

/// The first `count` frames of a video (every `step`-th, for variety).
pub fn sample_frames(video: &Path, count: usize, step: usize) -> anyhow::Result<Vec<BgrImage>> {
    let reader = VideoReader::open(video, false)?;
    let mut frames = Vec::new();
    let mut index = 0;
    while frames.len() < count {
        let Some(frame) = reader.next_frame()? else { break };
        if index % step.max(1) == 0 {
            frames.push(frame);
        }
        index += 1;
    }
    anyhow::ensure!(!frames.is_empty(), "{} has no frames", video.display());
    Ok(frames)
}
