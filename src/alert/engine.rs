use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{AlertConfig, AlertEvent, AlertStage, Band, Thresholds, TrackEvidence, band_label};
use crate::gallery::{Match, Matcher};
use crate::publish::{IdentityEvent, ModelIds, Outgoing, TrackOpinion, unix_ms};
use crate::track::TrackInfo;
use crate::types::EmbeddedFace;

/// Gallery identities considered per face; more only matter for evidence bookkeeping.
const RANKED: usize = 3;

#[derive(Debug, Clone, PartialEq)]
enum Stage {
    Watching,
    Candidate(String),
    Confirmed(String),
    /// The identity was confirmed on this camera moments ago; this track stays silent.
    Suppressed(String),
}

struct TrackState {
    evidence: TrackEvidence,
    stage: Stage,
    /// Embedded frames in a row that no longer support the candidate.
    contrary: u32,
    retracted: HashSet<String>,
    last_identity_event: Option<(SystemTime, String)>,
}

/// Per-camera, per-track alert state; fed in track order by one thread.
pub struct AlertEngine {
    config: AlertConfig,
    matcher: Matcher,
    models: ModelIds,
    /// Prefix of track ids, so ids from different runs never collide.
    run_id: String,
    tracks: HashMap<(Arc<str>, u64), TrackState>,
    /// (camera, identity) → no new alert before this time.
    cooldowns: HashMap<(Arc<str>, String), SystemTime>,
    /// Alerts not raised because of the cooldown.
    pub suppressed: u64,
}

impl AlertEngine {
    pub fn new(config: &AlertConfig, matcher: Matcher, models: ModelIds) -> AlertEngine {
        let run_id = format!("{:x}", unix_ms(SystemTime::now()));
        AlertEngine {
            config: config.clone(),
            matcher,
            models,
            run_id,
            tracks: HashMap::new(),
            cooldowns: HashMap::new(),
            suppressed: 0,
        }
    }

    /// Matches from now on against `matcher` (the gallery changed). Evidence gathered so
    /// far stays; identities no longer enrolled simply stop matching.
    pub fn set_matcher(&mut self, matcher: Matcher) {
        self.matcher = matcher;
    }

    pub fn active_tracks(&self) -> usize {
        self.tracks.len()
    }

    /// One embedded face of a track: its identity event (when due) and any alert steps.
    pub fn face(&mut self, face: &EmbeddedFace) -> Vec<Outgoing> {
        let key = (face.track.camera_id.clone(), face.track.track_id);
        let mut state = self.tracks.remove(&key).unwrap_or_else(|| TrackState {
            evidence: TrackEvidence::new(face),
            stage: Stage::Watching,
            contrary: 0,
            retracted: HashSet::new(),
            last_identity_event: None,
        });
        let band = self.config.band(face.quality.width_px).clone();
        let matches = self.matcher.ranked(&face.embedding, RANKED);
        state
            .evidence
            .add(face, &matches, |similarity| similarity >= band.confirm);
        let track_match = self.matcher.ranked(&state.evidence.template(), 1).pop();

        let mut out = Vec::new();
        if let Some(event) = self.identity_event(&mut state, face, matches.first(), track_match.as_ref(), &band) {
            out.push(Outgoing::Identity(Box::new(event)));
        }
        if let Some(top) = track_match {
            out.extend(
                self.advance(&mut state, face, &top, &band)
                    .into_iter()
                    .map(|a| Outgoing::Alert(Box::new(a))),
            );
        }
        self.tracks.insert(key, state);
        out
    }

    /// A track was lost: `ended` for a confirmed one, `retracted` for a candidate.
    pub fn track_ended(&mut self, track: &TrackInfo) -> Vec<Outgoing> {
        let Some(mut state) = self.tracks.remove(&(track.camera_id.clone(), track.track_id)) else {
            return Vec::new();
        };
        state.evidence.track = track.clone();
        let band = self.config.band(track.width_max_px).clone();
        let alert = match state.stage.clone() {
            Stage::Confirmed(identity) | Stage::Suppressed(identity) => {
                self.cool_down(track, &identity, track.last_seen);
                if matches!(state.stage, Stage::Suppressed(_)) {
                    return Vec::new();
                }
                self.alert(&mut state, AlertStage::Ended, &identity, None, &band, track.last_seen)
            }
            Stage::Candidate(identity) => self.alert(
                &mut state,
                AlertStage::Retracted,
                &identity,
                Some("track ended before confirmation"),
                &band,
                track.last_seen,
            ),
            Stage::Watching => return Vec::new(),
        };
        vec![Outgoing::Alert(Box::new(alert))]
    }

    /// Moves the track's alert state on after one face; returns the alerts raised.
    fn advance(&mut self, state: &mut TrackState, face: &EmbeddedFace, top: &Match, band: &Band) -> Vec<AlertEvent> {
        let at = face.frame.captured_at;
        let mut raised = Vec::new();
        if state.stage == Stage::Watching
            && top.similarity >= band.candidate
            && !state.retracted.contains(&top.identity)
        {
            if self.cooling(&face.track, &top.identity, at) {
                self.suppressed += 1;
                state.stage = Stage::Suppressed(top.identity.clone());
                return raised;
            }
            state.stage = Stage::Candidate(top.identity.clone());
            state.contrary = 0;
            raised.push(self.alert(state, AlertStage::Candidate, &top.identity, None, band, at));
        }
        match state.stage.clone() {
            Stage::Candidate(identity) => {
                let supported = state.evidence.supporting(&identity, self.config.confirm_window_frames);
                let agrees = top.identity == identity;
                if agrees && top.similarity >= band.confirm && supported >= self.config.confirm_min_frames {
                    state.stage = Stage::Confirmed(identity.clone());
                    self.cool_down(&face.track, &identity, at);
                    raised.push(self.alert(state, AlertStage::Confirmed, &identity, None, band, at));
                } else if !agrees || top.similarity < band.candidate {
                    state.contrary += 1;
                    if state.contrary >= self.config.retract_after_frames {
                        let reason = Some("evidence fell below the candidate threshold");
                        raised.push(self.alert(state, AlertStage::Retracted, &identity, reason, band, at));
                        state.retracted.insert(identity);
                        state.stage = Stage::Watching;
                    }
                } else {
                    state.contrary = 0;
                }
            }
            Stage::Suppressed(identity) => self.cool_down(&face.track, &identity, at),
            Stage::Watching | Stage::Confirmed(_) => {}
        }
        raised
    }

    fn cooling(&self, track: &TrackInfo, identity: &str, at: SystemTime) -> bool {
        self.cooldowns
            .get(&(track.camera_id.clone(), identity.to_string()))
            .is_some_and(|until| at < *until)
    }

    fn cool_down(&mut self, track: &TrackInfo, identity: &str, from: SystemTime) {
        let until = from + Duration::from_secs_f64(self.config.cooldown_s);
        let entry = self
            .cooldowns
            .entry((track.camera_id.clone(), identity.to_string()))
            .or_insert(until);
        *entry = (*entry).max(until);
    }

    fn track_id(&self, track: &TrackInfo) -> String {
        format!("{}-{}", self.run_id, track.track_id)
    }

    fn alert(
        &self,
        state: &mut TrackState,
        stage: AlertStage,
        identity: &str,
        reason: Option<&str>,
        band: &Band,
        at: SystemTime,
    ) -> AlertEvent {
        let track = state.evidence.track.clone();
        let track_id = self.track_id(&track);
        let track_similarity = self.track_similarity(&state.evidence, identity);
        let key = AlertEvent::key_for(&track.camera_id, &track_id, identity, stage);
        AlertEvent {
            schema_version: super::ALERT_SCHEMA_VERSION,
            alert_id: AlertEvent::id_for(&key),
            key,
            stage,
            camera_id: track.camera_id.to_string(),
            track_id,
            identity: identity.to_string(),
            reason: reason.map(str::to_string),
            captured_at_ms: unix_ms(at),
            emitted_at_ms: unix_ms(SystemTime::now()),
            bbox: state.evidence.last_bbox,
            evidence: state
                .evidence
                .summary(identity, track_similarity, self.config.confirm_window_frames),
            thresholds: Thresholds {
                band: band_label(&self.config.bands, band),
                candidate: band.candidate,
                confirm: band.confirm,
                confirm_min_frames: self.config.confirm_min_frames,
                confirm_window_frames: self.config.confirm_window_frames,
            },
            models: self.models.clone(),
            thumbnails: None,
            best_face: match stage {
                AlertStage::Candidate | AlertStage::Confirmed => state.evidence.best_crop.clone(),
                AlertStage::Ended | AlertStage::Retracted => None,
            },
        }
    }

    /// The track template's similarity to `identity` (not only to its best match).
    fn track_similarity(&self, evidence: &TrackEvidence, identity: &str) -> f32 {
        self.matcher
            .ranked(&evidence.template(), self.matcher.identities())
            .into_iter()
            .find(|m| m.identity == identity)
            .map_or(0.0, |m| m.similarity)
    }

    /// An identity event when the track's identity changed or the interval has passed.
    fn identity_event(
        &self,
        state: &mut TrackState,
        face: &EmbeddedFace,
        frame_best: Option<&Match>,
        track_best: Option<&Match>,
        band: &Band,
    ) -> Option<IdentityEvent> {
        let named = track_best
            .filter(|m| m.similarity >= band.candidate)
            .map_or(crate::publish::UNKNOWN, |m| m.identity.as_str());
        let at = face.frame.captured_at;
        let interval = Duration::from_millis(self.config.identity_interval_ms);
        let due = state.last_identity_event.as_ref().is_none_or(|(last, identity)| {
            identity != named || at.duration_since(*last).unwrap_or_default() >= interval
        });
        if !due {
            return None;
        }
        state.last_identity_event = Some((at, named.to_string()));
        let opinion = TrackOpinion {
            track_id: self.track_id(&face.track),
            frames_seen: face.track.frames_seen,
            best: track_best.cloned(),
            threshold: band.candidate,
            band: band_label(&self.config.bands, band),
        };
        Some(IdentityEvent::new(face, frame_best, opinion, &self.models))
    }
}
