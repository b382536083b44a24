//! The pipeline's frame path (detect, track, align, embed) run over one generated scene frame
//! by frame, so nothing is dropped and results repeat exactly; what it yields is what the
//! alert stage would receive, in order.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::align::align_face;
use crate::config::Config;
use crate::detect::Detector;
use crate::model::ModelCard;
use crate::publish::ModelIds;
use crate::recognize::Recognizer;
use crate::scenario::GroundTruth;
use crate::serve::VideoReader;
use crate::track::Tracker;
use crate::types::{BBox, EmbeddedFace, FrameMeta, TrackMessage};

/// The config's detector and recognizer, loaded as the pipeline loads them.
pub(super) struct Models {
    pub detector: Detector,
    pub recognizer: Recognizer,
    pub ids: ModelIds,
    pub dim: usize,
}

pub(super) fn load_models(config: &Config) -> anyhow::Result<Models> {
    let ort = config.models.onnxruntime.as_deref();
    let detector_card = ModelCard::load(&config.models.detector)?;
    let recognizer_card = ModelCard::load(&config.models.recognizer)?;
    let (dim, space) = recognizer_card.require_embedding()?;
    Ok(Models {
        detector: Detector::load(&detector_card, ort, &config.detect)?,
        recognizer: Recognizer::load(&recognizer_card, ort, config.recognize.threads)?,
        ids: ModelIds {
            detector: detector_card.id.clone(),
            recognizer: recognizer_card.id.clone(),
            embedding_space: space,
        },
        dim,
    })
}

/// The camera id the benchmarks' scenes are played on.
pub(super) const CAMERA: &str = "bench";

/// One scene as the alert stage sees it.
#[derive(Default)]
pub(super) struct Observed {
    /// Embedded faces and track ends, with the frame index each came at.
    pub messages: Vec<(usize, TrackMessage<EmbeddedFace>)>,
    /// Track id → (frame index, box) of every face, embedded or not.
    pub track_boxes: HashMap<u64, Vec<(usize, BBox)>>,
    pub faces: u64,
    pub embedded: u64,
    pub embed_time: Duration,
}

/// Plays `scene/scene.mp4` with frame `i` captured at `start + i / fps` (video time, so
/// cooldowns, intervals and visit gaps behave as they would live).
pub(super) fn observe(
    config: &Config,
    scene: &Path,
    start: SystemTime,
    detector: &mut Detector,
    recognizer: &mut Recognizer,
) -> anyhow::Result<Observed> {
    let fps = read_truth(scene)?.fps;
    let reader = VideoReader::open(&scene.join("scene.mp4"), false)?;
    let camera: Arc<str> = Arc::from(CAMERA);
    let mut tracker = Tracker::new(camera.clone(), &config.track);
    let mut seen = Observed::default();
    let mut index = 0usize;
    while let Some(image) = reader.next_frame()? {
        let frame = FrameMeta {
            camera_id: camera.clone(),
            seq: index as u64,
            pts_ns: None,
            captured_at: start + Duration::from_secs_f64(index as f64 / fps),
        };
        let faces = crate::detect::assess_all(&image, detector.detect(&image)?);
        let (tracked, ended) = tracker.update(&frame, faces);
        for face in tracked {
            seen.faces += 1;
            let boxes = seen.track_boxes.entry(face.track.track_id).or_default();
            boxes.push((index, face.detection.bbox));
            if !face.embed {
                continue;
            }
            let crop = align_face(&image, &face.detection.landmarks, recognizer.input_size())?;
            let started = Instant::now();
            let embedding = recognizer.embed(&[&crop])?.pop().unwrap_or_default();
            seen.embed_time += started.elapsed();
            seen.embedded += 1;
            let embedded = EmbeddedFace {
                frame: frame.clone(),
                detection: face.detection,
                quality: face.quality,
                track: face.track,
                crop,
                embedding,
                recognizer: std::sync::Arc::from(recognizer.model_id()),
            };
            seen.messages.push((index, TrackMessage::Face(embedded)));
        }
        seen.messages
            .extend(ended.into_iter().map(|track| (index, TrackMessage::Ended(track))));
        index += 1;
    }
    seen.messages.extend(
        tracker
            .end_all()
            .into_iter()
            .map(|track| (index, TrackMessage::Ended(track))),
    );
    Ok(seen)
}

pub(super) fn read_truth(scene: &Path) -> anyhow::Result<GroundTruth> {
    let path = scene.join("truth.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("{}: {e} (a folder made by `squint scenario`?)", path.display()))?;
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The appearance (index into the truth) a track followed: the one its boxes overlap in
/// most of its frames, if that is at least half of them.
pub(super) fn appearance_of(truth: &GroundTruth, boxes: &[(usize, BBox)]) -> Option<usize> {
    let mut votes: HashMap<usize, usize> = HashMap::new();
    for (frame, bbox) in boxes {
        for (i, appearance) in truth.appearances.iter().enumerate() {
            if appearance.box_at(*frame).is_some_and(|b| b.iou(bbox) >= 0.3) {
                *votes.entry(i).or_default() += 1;
            }
        }
    }
    votes
        .into_iter()
        .max_by_key(|&(i, n)| (n, std::cmp::Reverse(i)))
        .filter(|&(_, n)| n * 2 >= boxes.len())
        .map(|(i, _)| i)
}

/// Track id → the appearance it followed, for every track that followed one.
pub(super) fn track_appearances(truth: &GroundTruth, seen: &Observed) -> HashMap<u64, usize> {
    seen.track_boxes
        .iter()
        .filter_map(|(track, boxes)| appearance_of(truth, boxes).map(|a| (*track, a)))
        .collect()
}
