//! `squint bench-alerts`: alert precision and recall per face-size band, time from a face's
//! first frame to `confirmed`, the similarity distributions the default thresholds were
//! chosen from, and what the recognition budget saves, on generated scenes with ground
//! truth. Runs the pipeline's own stages (detect, track, align, embed, alert) frame by
//! frame, so nothing is dropped and results repeat exactly.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::alert::{AlertEngine, AlertEvent, AlertStage, band_label};
use crate::align::align_face;
use crate::config::Config;
use crate::detect::Detector;
use crate::gallery::{Gallery, Matcher};
use crate::model::ModelCard;
use crate::publish::{ModelIds, Outgoing};
use crate::recognize::Recognizer;
use crate::scenario::GroundTruth;
use crate::serve::VideoReader;
use crate::track::Tracker;
use crate::types::{BBox, EmbeddedFace, FrameMeta};

#[derive(Debug, Default, Serialize)]
pub struct BandResult {
    pub band: String,
    /// Passes of enrolled people through the scene.
    pub enrolled_appearances: usize,
    pub confirmed: usize,
    pub recall: f64,
    /// Confirmed alerts naming the right person, over all confirmed alerts in the band.
    pub precision: f64,
    pub wrong_confirmed: usize,
    pub candidates: usize,
    pub retracted: usize,
    /// Seconds from the person's first frame in the scene to `confirmed`.
    pub time_to_confirm_s_median: Option<f64>,
    pub time_to_confirm_s_max: Option<f64>,
    /// Per-frame similarity to the right identity (enrolled people).
    pub genuine_p10: Option<f32>,
    pub genuine_median: Option<f32>,
    /// Per-frame best similarity to any wrong identity (everyone).
    pub impostor_p99: Option<f32>,
    pub impostor_max: Option<f32>,
}

#[derive(Debug, Serialize)]
pub struct RunResult {
    pub budget: bool,
    pub faces: u64,
    pub embedded: u64,
    pub embed_seconds: f64,
    pub bands: Vec<BandResult>,
}

#[derive(Debug, Serialize)]
pub struct AlertBench {
    pub scenes: Vec<String>,
    pub runs: Vec<RunResult>,
}

/// (track id, face width, similarity per identity) of one embedded face.
type FaceSimilarities = (u64, f32, Vec<(String, f32)>);

/// What one run recorded about one scene.
#[derive(Default)]
struct Observations {
    /// Track id → (frame index, box) of every face.
    track_boxes: HashMap<u64, Vec<(usize, BBox)>>,
    /// (track id, face width, similarity per identity) of every embedded face.
    similarities: Vec<FaceSimilarities>,
    /// Alerts with the frame index they were raised at.
    alerts: Vec<(usize, AlertEvent)>,
    faces: u64,
    embedded: u64,
    embed_time: Duration,
}

pub fn run(config: &Config, scenes: &[PathBuf]) -> anyhow::Result<AlertBench> {
    let ort = config.models.onnxruntime.as_deref();
    let detector_card = ModelCard::load(&config.models.detector)?;
    let recognizer_card = ModelCard::load(&config.models.recognizer)?;
    let mut detector = Detector::load(&detector_card, ort, &config.detect)?;
    let mut recognizer = Recognizer::load(&recognizer_card, ort, config.recognize.threads)?;
    let (dim, space) = recognizer_card.require_embedding()?;
    let matcher = Gallery::open_read_only(&config.gallery.path)?.matcher(&space, dim)?;
    let models = ModelIds {
        detector: detector_card.id.clone(),
        recognizer: recognizer_card.id.clone(),
        embedding_space: space,
    };
    let mut runs = Vec::new();
    for budget in [true, false] {
        let mut config = config.clone();
        config.track.budget = budget;
        let mut per_scene = Vec::new();
        for scene in scenes {
            let truth: GroundTruth = serde_json::from_str(&std::fs::read_to_string(scene.join("truth.json"))?)?;
            let observed = observe(&config, scene, &mut detector, &mut recognizer, &matcher, &models)?;
            per_scene.push((truth, observed));
        }
        runs.push(score(&config, &matcher, budget, &per_scene));
    }
    Ok(AlertBench {
        scenes: scenes.iter().map(|s| s.display().to_string()).collect(),
        runs,
    })
}

fn observe(
    config: &Config,
    scene: &Path,
    detector: &mut Detector,
    recognizer: &mut Recognizer,
    matcher: &Matcher,
    models: &ModelIds,
) -> anyhow::Result<Observations> {
    let reader = VideoReader::open(&scene.join("scene.mp4"), false)?;
    let camera: Arc<str> = Arc::from("bench");
    let mut tracker = Tracker::new(camera.clone(), &config.track);
    let mut engine = AlertEngine::new(&config.alerts, matcher.clone(), models.clone());
    let mut seen = Observations::default();
    let fps = 25.0;
    let mut index = 0usize;
    while let Some(image) = reader.next_frame()? {
        // Video time, so cooldowns and intervals behave as they would live.
        let frame = FrameMeta {
            camera_id: camera.clone(),
            seq: index as u64,
            pts_ns: None,
            captured_at: SystemTime::UNIX_EPOCH + Duration::from_secs_f64(1e9 + index as f64 / fps),
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
            };
            let all = matcher.ranked(&embedded.embedding, matcher.identities());
            let sims = all.into_iter().map(|m| (m.identity, m.similarity)).collect();
            seen.similarities
                .push((embedded.track.track_id, embedded.quality.width_px, sims));
            record(&mut seen, index, engine.face(&embedded));
        }
        for track in ended {
            record(&mut seen, index, engine.track_ended(&track));
        }
        index += 1;
    }
    for track in tracker.end_all() {
        record(&mut seen, index, engine.track_ended(&track));
    }
    Ok(seen)
}

fn record(seen: &mut Observations, index: usize, out: Vec<Outgoing>) {
    for event in out {
        if let Outgoing::Alert(alert) = event {
            seen.alerts.push((index, *alert));
        }
    }
}

/// The appearance (index into the truth) a track followed: the one its boxes overlap in
/// most of its frames.
fn appearance_of(truth: &GroundTruth, boxes: &[(usize, BBox)]) -> Option<usize> {
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
        .max_by_key(|&(_, n)| n)
        .filter(|&(_, n)| n * 2 >= boxes.len())
        .map(|(i, _)| i)
}

fn track_of(alert: &AlertEvent) -> u64 {
    crate::alert::track_number(&alert.track_id).unwrap_or(0)
}

#[derive(Default)]
struct Tally {
    enrolled: usize,
    confirmed_right: usize,
    wrong: usize,
    candidates: usize,
    retracted: usize,
    to_confirm: Vec<f64>,
    genuine: Vec<f32>,
    impostor: Vec<f32>,
}

fn score(config: &Config, matcher: &Matcher, budget: bool, scenes: &[(GroundTruth, Observations)]) -> RunResult {
    let bands = &config.alerts.bands;
    let band_of = |width: f32| band_label(bands, config.alerts.band(width));
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let enrolled = |name: &str| matcher.names().any(|n| n == name);
    let (mut faces, mut embedded, mut embed_time) = (0, 0, Duration::ZERO);
    for (truth, seen) in scenes {
        faces += seen.faces;
        embedded += seen.embedded;
        embed_time += seen.embed_time;
        let track_appearance: HashMap<u64, usize> = seen
            .track_boxes
            .iter()
            .filter_map(|(track, boxes)| appearance_of(truth, boxes).map(|a| (*track, a)))
            .collect();
        let appearance_band = |i: usize| {
            let a = &truth.appearances[i];
            band_of((a.start.w + a.end.w) / 2.0)
        };
        for (i, appearance) in truth.appearances.iter().enumerate() {
            let tally = tallies.entry(appearance_band(i)).or_default();
            if !enrolled(&appearance.identity) {
                continue;
            }
            tally.enrolled += 1;
            let confirm = seen.alerts.iter().find(|(_, a)| {
                a.stage == AlertStage::Confirmed
                    && a.identity == appearance.identity
                    && track_appearance.get(&track_of(a)) == Some(&i)
            });
            if let Some((frame, _)) = confirm {
                tally.confirmed_right += 1;
                tally
                    .to_confirm
                    .push(frame.saturating_sub(appearance.first_frame) as f64 / truth.fps);
            }
        }
        for (_, alert) in &seen.alerts {
            let appearance = track_appearance.get(&track_of(alert)).copied();
            let band = appearance.map_or_else(|| alert.thresholds.band.clone(), appearance_band);
            let tally = tallies.entry(band).or_default();
            let right = appearance.is_some_and(|i| truth.appearances[i].identity == alert.identity);
            match alert.stage {
                AlertStage::Confirmed if !right => tally.wrong += 1,
                AlertStage::Candidate => tally.candidates += 1,
                AlertStage::Retracted => tally.retracted += 1,
                _ => {}
            }
        }
        for (track, width, sims) in &seen.similarities {
            let Some(&i) = track_appearance.get(track) else {
                continue;
            };
            let identity = &truth.appearances[i].identity;
            let tally = tallies.entry(band_of(*width)).or_default();
            for (name, similarity) in sims {
                if name == identity {
                    tally.genuine.push(*similarity);
                }
            }
            let wrong = sims
                .iter()
                .filter(|(n, _)| n != identity)
                .map(|(_, s)| *s)
                .fold(f32::MIN, f32::max);
            if wrong > f32::MIN {
                tally.impostor.push(wrong);
            }
        }
    }
    let bands = tallies.into_iter().map(|(band, t)| band_result(band, t)).collect();
    RunResult {
        budget,
        faces,
        embedded,
        embed_seconds: embed_time.as_secs_f64(),
        bands,
    }
}

fn quantile(values: &mut [f32], q: f64) -> Option<f32> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f32::total_cmp);
    let index = ((values.len() - 1) as f64 * q).round() as usize;
    Some(values[index])
}

fn band_result(band: String, mut t: Tally) -> BandResult {
    let confirmed = t.confirmed_right + t.wrong;
    let mut times: Vec<f32> = t.to_confirm.iter().map(|&s| s as f32).collect();
    BandResult {
        band,
        enrolled_appearances: t.enrolled,
        confirmed,
        recall: t.confirmed_right as f64 / t.enrolled.max(1) as f64,
        precision: if confirmed == 0 {
            1.0
        } else {
            t.confirmed_right as f64 / confirmed as f64
        },
        wrong_confirmed: t.wrong,
        candidates: t.candidates,
        retracted: t.retracted,
        time_to_confirm_s_median: quantile(&mut times, 0.5).map(f64::from),
        time_to_confirm_s_max: quantile(&mut times, 1.0).map(f64::from),
        genuine_p10: quantile(&mut t.genuine, 0.1),
        genuine_median: quantile(&mut t.genuine, 0.5),
        impostor_p99: quantile(&mut t.impostor, 0.99),
        impostor_max: quantile(&mut t.impostor, 1.0),
    }
}
