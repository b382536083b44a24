//! `squint bench stages`: milliseconds per frame and per face for each stage of the frame
//! path (decode, detect, align, embed at several batch sizes) on a video file, as JSON.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::align::align_face;
use crate::detect::Detector;
use crate::image::BgrImage;
use crate::recognize::Recognizer;
use crate::serve::VideoReader;

#[derive(Debug, Serialize)]
pub struct EmbedTiming {
    pub batch: usize,
    pub ms_per_face: f64,
    pub faces_per_s: f64,
}

#[derive(Debug, Serialize)]
pub struct StageTimings {
    pub video: String,
    pub width: u32,
    pub height: u32,
    pub frames: usize,
    pub faces: usize,
    /// Decode and convert to BGR, one GStreamer pipeline, as fast as it goes.
    pub decode_ms_per_frame: f64,
    pub detect_ms_per_frame: f64,
    pub align_ms_per_face: f64,
    pub embed: Vec<EmbedTiming>,
}

fn ms(started: Instant, count: usize) -> f64 {
    if count == 0 {
        0.0
    } else {
        started.elapsed().as_secs_f64() * 1000.0 / count as f64
    }
}

pub fn run_stages(
    video: &Path,
    max_frames: usize,
    detector: &mut Detector,
    recognizer: &mut Recognizer,
    batches: &[usize],
) -> anyhow::Result<StageTimings> {
    let reader = VideoReader::open(video, false)?;
    let mut frames: Vec<BgrImage> = Vec::with_capacity(max_frames);
    let started = Instant::now();
    while frames.len() < max_frames {
        match reader.next_frame()? {
            Some(frame) => frames.push(frame),
            None => break,
        }
    }
    let decode = ms(started, frames.len());
    anyhow::ensure!(!frames.is_empty(), "{} has no frames", video.display());

    let started = Instant::now();
    let detections = frames
        .iter()
        .map(|f| detector.detect(f))
        .collect::<Result<Vec<_>, _>>()?;
    let detect = ms(started, frames.len());

    let size = recognizer.input_size();
    let started = Instant::now();
    let mut crops = Vec::new();
    for (frame, faces) in frames.iter().zip(&detections) {
        for face in faces {
            crops.push(align_face(frame, &face.landmarks, size)?);
        }
    }
    let align = ms(started, crops.len());
    if crops.is_empty() {
        crops.push(BgrImage::new(size, size));
    }

    let mut embed = Vec::new();
    for &batch in batches {
        let inputs: Vec<&BgrImage> = crops.iter().cycle().take(batch).collect();
        recognizer.embed(&inputs)?; // warm-up: first runs allocate
        let rounds = (64 / batch).max(2);
        let started = Instant::now();
        for _ in 0..rounds {
            recognizer.embed(&inputs)?;
        }
        let per_face = ms(started, rounds * batch);
        embed.push(EmbedTiming {
            batch,
            ms_per_face: per_face,
            faces_per_s: 1000.0 / per_face,
        });
    }
    let (width, height) = (frames[0].width, frames[0].height);
    Ok(StageTimings {
        video: video.display().to_string(),
        width,
        height,
        frames: frames.len(),
        faces: detections.iter().map(Vec::len).sum(),
        decode_ms_per_frame: decode,
        detect_ms_per_frame: detect,
        align_ms_per_face: align,
        embed,
    })
}
