//! `squint bench-alerts`: alert precision and recall per face-size band, time from a face's
//! first frame to `confirmed`, the similarity distributions the default thresholds were
//! chosen from, and what the recognition budget saves, on generated scenes with ground
//! truth. Runs the pipeline's own stages (detect, track, align, embed, alert) frame by
//! frame, so nothing is dropped and results repeat exactly.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::scene::{Models, Observed, load_models, observe, read_truth, track_appearances};
use crate::alert::{AlertEngine, AlertEvent, AlertStage, band_label};
use crate::config::Config;
use crate::gallery::{Gallery, Matcher};
use crate::publish::Outgoing;
use crate::scenario::GroundTruth;
use crate::types::TrackMessage;

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
struct Observations {
    seen: Observed,
    /// (track id, face width, similarity per identity) of every embedded face.
    similarities: Vec<FaceSimilarities>,
    /// Alerts with the frame index they were raised at.
    alerts: Vec<(usize, AlertEvent)>,
}

pub fn run(config: &Config, scenes: &[PathBuf]) -> anyhow::Result<AlertBench> {
    let Models {
        mut detector,
        mut recognizer,
        ids: models,
        dim,
    } = load_models(config)?;
    let matcher = Gallery::open_read_only(&config.gallery.path)?.matcher(&models.embedding_space, dim)?;
    // Video time, far enough in the past that nothing in the scenes is "now".
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let mut runs = Vec::new();
    for budget in [true, false] {
        let mut config = config.clone();
        config.track.budget = budget;
        let mut per_scene = Vec::new();
        for scene in scenes {
            let truth = read_truth(scene)?;
            let seen = observe(&config, scene, start, &mut detector, &mut recognizer)?;
            let engine = AlertEngine::new(&config.alerts, matcher.clone(), models.clone());
            per_scene.push((truth, alert_on(engine, &matcher, seen)));
        }
        runs.push(score(&config, &matcher, budget, &per_scene));
    }
    Ok(AlertBench {
        scenes: scenes.iter().map(|s| s.display().to_string()).collect(),
        runs,
    })
}

/// Feeds a scene's faces and track ends through the alert engine.
fn alert_on(mut engine: AlertEngine, matcher: &Matcher, mut seen: Observed) -> Observations {
    let mut similarities = Vec::new();
    let mut alerts = Vec::new();
    // The crops are let go scene by scene; only what was found about them is kept.
    let messages = std::mem::take(&mut seen.messages);
    for (index, message) in &messages {
        let out = match message {
            TrackMessage::Face(face) => {
                let all = matcher.ranked(&face.embedding, matcher.identities());
                let sims = all.into_iter().map(|m| (m.identity, m.similarity)).collect();
                similarities.push((face.track.track_id, face.quality.width_px, sims));
                engine.face(face)
            }
            TrackMessage::Ended(track) => engine.track_ended(track),
        };
        alerts.extend(out.into_iter().filter_map(|event| match event {
            Outgoing::Alert(alert) => Some((*index, *alert)),
            _ => None,
        }));
    }
    Observations {
        seen,
        similarities,
        alerts,
    }
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
    for (truth, observed) in scenes {
        faces += observed.seen.faces;
        embedded += observed.seen.embedded;
        embed_time += observed.seen.embed_time;
        let track_appearance = track_appearances(truth, &observed.seen);
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
            let confirm = observed.alerts.iter().find(|(_, a)| {
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
        for (_, alert) in &observed.alerts {
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
        for (track, width, sims) in &observed.similarities {
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

pub(super) fn quantile(values: &mut [f32], q: f64) -> Option<f32> {
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
