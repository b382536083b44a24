use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{AlertConfig, AlertEvent, AlertStage, Band, Policy, Thresholds, TrackEvidence, band_label};
use super::{IdentityEvent, ModelIds, Outgoing, TrackOpinion, unix_ms};
use crate::gallery::{Match, Matcher};
use crate::track::TrackInfo;
use crate::types::{BgrImage, EmbeddedFace};

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

/// A track that ended without matching any identity, for the unknowns stage.
#[derive(Debug, Clone)]
pub struct UnmatchedTrack {
    pub track: TrackInfo,
    /// Quality-weighted mean embedding, L2-normalised.
    pub template: Vec<f32>,
    pub frames_embedded: u64,
    /// Quality weight of its best face.
    pub best_quality: f32,
    /// That face, aligned.
    pub best_crop: Option<BgrImage>,
}

/// What the unknowns stage knows of a running track's stranger.
#[derive(Debug, Clone, PartialEq)]
pub struct Sighting {
    pub unknown_id: String,
    /// Marked "never alert".
    pub ignored: bool,
    /// Distinct visits within `[alerts.unknowns] within_s`, this one included.
    pub recent_visits: usize,
}

struct TrackState {
    evidence: TrackEvidence,
    stage: Stage,
    /// A `recurring` alert went out for this track.
    recurring: bool,
    /// Embedded frames in a row that no longer support the candidate.
    contrary: u32,
    retracted: HashSet<String>,
    last_identity_event: Option<(SystemTime, String)>,
}

/// Per-camera, per-track alert state; fed in track order by one thread.
pub struct AlertEngine {
    /// The alert config with its bands raised for the gallery's size (`[alerts.open_set]`).
    config: AlertConfig,
    /// The bands as configured.
    configured_bands: Vec<Band>,
    /// The open-set floor in force, if any.
    floor: Option<f32>,
    matcher: Matcher,
    /// The detector and embedding space of every event; the recognizer is each face's own.
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
        let mut engine = AlertEngine {
            config: config.clone(),
            configured_bands: config.bands.clone(),
            floor: None,
            matcher,
            models,
            run_id,
            tracks: HashMap::new(),
            cooldowns: HashMap::new(),
            suppressed: 0,
        };
        engine.fit_thresholds_to_gallery();
        engine
    }

    /// Raises the bands to the open-set floor of the matcher's gallery size, and says which
    /// thresholds are in force for how many identities.
    fn fit_thresholds_to_gallery(&mut self) {
        let configured = AlertConfig {
            bands: self.configured_bands.clone(),
            ..self.config.clone()
        };
        let (bands, floor) = configured.bands_for_gallery(self.matcher.templates());
        self.config.bands = bands;
        self.floor = floor;
        for band in &self.config.bands {
            tracing::info!(
                band = band_label(&self.config.bands, band),
                candidate = band.candidate,
                confirm = band.confirm,
                open_set_floor = floor,
                identities = self.matcher.identities(),
                templates = self.matcher.templates(),
                "match thresholds in force"
            );
        }
    }

    /// The open-set floor the thresholds are raised to (`[alerts.open_set]`), if any.
    pub fn threshold_floor(&self) -> Option<f32> {
        self.floor
    }

    /// The model ids of an event whose face `recognizer` embedded (per-camera models and
    /// width routes make it differ from face to face).
    fn models_with(&self, recognizer: &str) -> ModelIds {
        ModelIds {
            recognizer: recognizer.to_string(),
            ..self.models.clone()
        }
    }

    /// Matches from now on against `matcher` (the gallery changed). Evidence gathered so
    /// far stays; identities no longer enrolled simply stop matching.
    pub fn set_matcher(&mut self, matcher: Matcher) {
        self.matcher = matcher;
        self.fit_thresholds_to_gallery();
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
            recurring: false,
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
            Stage::Candidate(identity) if self.policy(&identity).candidates => self.alert(
                &mut state,
                AlertStage::Retracted,
                &identity,
                Some("track ended before confirmation"),
                &band,
                track.last_seen,
            ),
            Stage::Candidate(_) => return Vec::new(),
            Stage::Watching => return Vec::new(),
        };
        vec![Outgoing::Alert(Box::new(alert))]
    }

    /// The running track's template, L2-normalised.
    pub fn track_template(&self, track: &TrackInfo) -> Option<Vec<f32>> {
        let state = self.tracks.get(&(track.camera_id.clone(), track.track_id))?;
        Some(state.evidence.template())
    }

    /// The track, if it is about to end (call before [`AlertEngine::track_ended`]) having
    /// matched no identity: never a candidate, and its template below its band's threshold.
    pub fn unmatched(&self, track: &TrackInfo) -> Option<UnmatchedTrack> {
        let state = self.tracks.get(&(track.camera_id.clone(), track.track_id))?;
        if state.stage != Stage::Watching {
            return None;
        }
        let template = state.evidence.template();
        let band = self.config.band(track.width_max_px);
        if self
            .matcher
            .best(&template)
            .is_some_and(|m| m.similarity >= band.candidate)
        {
            return None;
        }
        Some(UnmatchedTrack {
            track: track.clone(),
            template,
            frames_embedded: state.evidence.embedded,
            best_quality: state.evidence.best_face.map_or(0.0, |(weight, _, _)| weight),
            best_crop: state.evidence.best_crop.clone(),
        })
    }

    /// A `recurring` alert when the track's stranger has been seen on enough visits
    /// (`[alerts.unknowns]`): once per track, not for ignored strangers, and not again on
    /// this camera within the cooldown.
    pub fn recurring(&mut self, track: &TrackInfo, at: SystemTime, sighting: &Sighting) -> Option<AlertEvent> {
        let policy = self.config.unknowns.clone()?;
        let key = (track.camera_id.clone(), track.track_id);
        let mut state = self.tracks.remove(&key)?;
        let identity = format!("unknown:{}", sighting.unknown_id);
        let due = !state.recurring && !sighting.ignored && sighting.recent_visits >= policy.min_visits;
        let alert = match due && !self.cooling(track, &identity, at) {
            true => {
                state.recurring = true;
                let cooldown = policy.cooldown_s.unwrap_or(self.config.cooldown_s);
                self.cooldowns.insert(
                    (track.camera_id.clone(), identity.clone()),
                    at + Duration::from_secs_f64(cooldown),
                );
                let band = self.config.band(track.width_max_px).clone();
                let mut alert = self.alert(&mut state, AlertStage::Recurring, &identity, None, &band, at);
                alert.identity = super::UNKNOWN.to_string();
                alert.watchlist = "unknowns".to_string();
                alert.unknown_id = Some(sighting.unknown_id.clone());
                Some(alert)
            }
            false => {
                if due {
                    self.suppressed += 1;
                    state.recurring = true;
                }
                None
            }
        };
        self.tracks.insert(key, state);
        alert
    }

    /// Moves the track's alert state on after one face; returns the alerts raised.
    fn advance(&mut self, state: &mut TrackState, face: &EmbeddedFace, top: &Match, band: &Band) -> Vec<AlertEvent> {
        let at = face.frame.captured_at;
        let mut raised = Vec::new();
        if state.stage == Stage::Watching
            && top.similarity >= band.candidate
            && !state.retracted.contains(&top.identity)
        {
            let policy = self.policy(&top.identity);
            if !policy.alerts {
                return raised;
            }
            if self.cooling(&face.track, &top.identity, at) {
                self.suppressed += 1;
                state.stage = Stage::Suppressed(top.identity.clone());
                return raised;
            }
            state.stage = Stage::Candidate(top.identity.clone());
            state.contrary = 0;
            if policy.candidates {
                raised.push(self.alert(state, AlertStage::Candidate, &top.identity, None, band, at));
            }
        }
        match state.stage.clone() {
            Stage::Candidate(identity) => {
                let policy = self.policy(&identity);
                let supported = state.evidence.supporting(&identity, self.config.confirm_window_frames);
                let agrees = top.identity == identity;
                if agrees && top.similarity >= band.confirm && supported >= policy.confirm_min_frames {
                    state.stage = Stage::Confirmed(identity.clone());
                    self.cool_down(&face.track, &identity, at);
                    raised.push(self.alert(state, AlertStage::Confirmed, &identity, None, band, at));
                } else if !agrees || top.similarity < band.candidate {
                    state.contrary += 1;
                    if state.contrary >= self.config.retract_after_frames {
                        let reason = Some("evidence fell below the candidate threshold");
                        if policy.candidates {
                            raised.push(self.alert(state, AlertStage::Retracted, &identity, reason, band, at));
                        }
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

    /// The alert policy of the identity's watchlist.
    fn policy(&self, identity: &str) -> Policy {
        self.config.policy(self.matcher.watchlist_of(identity))
    }

    fn cooling(&self, track: &TrackInfo, identity: &str, at: SystemTime) -> bool {
        self.cooldowns
            .get(&(track.camera_id.clone(), identity.to_string()))
            .is_some_and(|until| at < *until)
    }

    fn cool_down(&mut self, track: &TrackInfo, identity: &str, from: SystemTime) {
        let until = from + Duration::from_secs_f64(self.policy(identity).cooldown_s);
        let entry = self
            .cooldowns
            .entry((track.camera_id.clone(), identity.to_string()))
            .or_insert(until);
        *entry = (*entry).max(until);
    }

    /// `<run>-<n>`: unique per camera across restarts; see [`track_number`].
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
            unknown_id: None,
            worker_id: None,
            watchlist: self.matcher.watchlist_of(identity).to_string(),
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
                confirm_min_frames: self.policy(identity).confirm_min_frames,
                confirm_window_frames: self.config.confirm_window_frames,
            },
            models: self.models_with(&state.evidence.recognizer),
            thumbnails: None,
            best_face: match stage {
                AlertStage::Candidate | AlertStage::Confirmed | AlertStage::Recurring => {
                    state.evidence.best_crop.clone()
                }
                AlertStage::Ended | AlertStage::Retracted => None,
            },
        }
    }

    /// The track template's similarity to `identity` (not only to its best match).
    fn track_similarity(&self, evidence: &TrackEvidence, identity: &str) -> f32 {
        self.matcher.similarity(&evidence.template(), identity).unwrap_or(0.0)
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
            .map_or(super::UNKNOWN, |m| m.identity.as_str());
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
        Some(IdentityEvent::new(
            face,
            frame_best,
            opinion,
            &self.models_with(&face.recognizer),
        ))
    }
}

/// The per-camera track number `n` in a track id `<run>-<n>`.
pub fn track_number(track_id: &str) -> Option<u64> {
    track_id.rsplit('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::alert::OpenSetConfig;
    use crate::gallery::dot;
    use crate::image::BgrImage;
    use crate::types::{BBox, Detection, FaceQuality, FrameMeta};

    const ADA: [f32; 4] = [1.0, 0.0, 0.0, 0.0];
    const BOB: [f32; 4] = [0.0, 0.0, 1.0, 0.0];

    fn engine() -> AlertEngine {
        engine_with(AlertConfig::default(), "default")
    }

    /// Ada on `watchlist`, Bob on the default one.
    fn engine_with(config: AlertConfig, watchlist: &str) -> AlertEngine {
        let mut matcher = Matcher::new(4);
        matcher.add("ada", &ADA);
        matcher.add("bob", &BOB);
        matcher.set_watchlist("ada", watchlist);
        let models = ModelIds {
            detector: "d".into(),
            recognizer: "r".into(),
            embedding_space: "s".into(),
        };
        AlertEngine::new(&config, matcher, models)
    }

    /// A unit embedding with cosine `similarity` to Ada and none to Bob.
    fn like_ada(similarity: f32) -> Vec<f32> {
        vec![similarity, (1.0 - similarity * similarity).sqrt(), 0.0, 0.0]
    }

    fn stranger() -> Vec<f32> {
        vec![0.05, 0.0, 0.0, (1.0f32 - 0.0025).sqrt()]
    }

    /// Face of `track` at frame `seq` (25 fps, starting at `t0`), 20 px wide.
    fn face(track: u64, seq: u64, t0: u64, embedding: Vec<f32>) -> EmbeddedFace {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(t0) + Duration::from_millis(seq * 40);
        let camera: Arc<str> = Arc::from("door");
        let bbox = BBox {
            x: 100.0,
            y: 80.0,
            w: 20.0,
            h: 24.0,
        };
        EmbeddedFace {
            frame: FrameMeta {
                camera_id: camera.clone(),
                seq,
                pts_ns: None,
                captured_at: at,
            },
            detection: Detection {
                bbox,
                landmarks: [(110.0, 90.0); 5],
                score: 0.9,
            },
            quality: FaceQuality {
                width_px: 20.0,
                detection_score: 0.9,
                sharpness: 150.0,
                yaw_deg: 0.0,
                roll_deg: 0.0,
                touches_border: false,
            },
            track: TrackInfo {
                camera_id: camera,
                track_id: track,
                frames_seen: seq + 1,
                first_seq: 0,
                last_seq: seq,
                first_seen: SystemTime::UNIX_EPOCH + Duration::from_secs(t0),
                last_seen: at,
                width_min_px: 20.0,
                width_max_px: 20.0,
            },
            crop: BgrImage::new(4, 4),
            embedding,
            recognizer: Arc::from("r"),
        }
    }

    fn alerts(out: Vec<Outgoing>) -> Vec<(AlertStage, String)> {
        out.into_iter()
            .filter_map(|o| match o {
                Outgoing::Alert(a) => Some((a.stage, a.identity.clone())),
                Outgoing::Identity(_) => None,
            })
            .collect()
    }

    /// Feeds `count` faces of `track`, returning every alert raised and the last face.
    fn walk(
        engine: &mut AlertEngine,
        track: u64,
        t0: u64,
        frames: std::ops::Range<u64>,
        embedding: impl Fn(u64) -> Vec<f32>,
    ) -> (Vec<(AlertStage, String)>, EmbeddedFace) {
        let mut raised = Vec::new();
        let mut last = None;
        for seq in frames {
            let f = face(track, seq, t0, embedding(seq));
            raised.extend(alerts(engine.face(&f)));
            last = Some(f);
        }
        (raised, last.unwrap())
    }

    #[test]
    fn a_steady_match_goes_candidate_confirmed_ended() {
        let mut engine = engine();
        let (raised, last) = walk(&mut engine, 1, 0, 0..6, |_| like_ada(0.6));
        let ada = |stage| (stage, "ada".to_string());
        assert_eq!(raised, [ada(AlertStage::Candidate), ada(AlertStage::Confirmed)]);
        assert_eq!(alerts(engine.track_ended(&last.track)), [ada(AlertStage::Ended)]);
        assert_eq!(engine.active_tracks(), 0);
    }

    #[test]
    fn the_open_set_floor_rises_with_the_gallery_and_silences_a_weak_match() {
        let open_set = OpenSetConfig {
            impostor_mean: 0.05,
            impostor_sd: 0.1,
            false_candidates_per_probe: 0.01,
        };
        let config = AlertConfig {
            open_set: Some(open_set.clone()),
            ..AlertConfig::default()
        };
        let (_, small) = config.bands_for_gallery(2);
        let (raised, large) = config.bands_for_gallery(1_000_000);
        let (small, large) = (small.unwrap(), large.unwrap());
        assert!(large > small + 0.15, "{small} → {large}");
        for (band, configured) in raised.iter().zip(&config.bands) {
            assert_eq!(band.candidate, configured.candidate.max(large));
            assert_eq!(band.confirm, configured.confirm.max(large));
        }
        // Two enrolled: floor 0.05 + 0.1 × z(0.005) ≈ 0.31, under the 20 px band's 0.36, so a
        // 0.6 match alerts; the same match against a floor set for a bigger gallery does not.
        let mut engine = engine_with(config, "default");
        assert!(engine.threshold_floor().unwrap() < 0.36);
        let (raised, _) = walk(&mut engine, 1, 0, 0..6, |_| like_ada(0.6));
        assert!(!raised.is_empty(), "a 0.6 match alerts with two enrolled");
        let strict = AlertConfig {
            open_set: Some(OpenSetConfig {
                false_candidates_per_probe: 1e-9,
                ..open_set
            }),
            ..AlertConfig::default()
        };
        let mut engine = engine_with(strict, "default");
        assert!(engine.threshold_floor().unwrap() > 0.6);
        let (raised, _) = walk(&mut engine, 1, 0, 0..6, |_| like_ada(0.6));
        assert!(raised.is_empty(), "below the floor: no alert, {raised:?}");
    }

    #[test]
    fn a_candidate_whose_evidence_falls_away_is_retracted() {
        let mut engine = engine();
        // One frame just above the candidate threshold, then a stranger's face.
        let (raised, last) = walk(&mut engine, 1, 0, 0..12, |seq| {
            if seq == 0 { like_ada(0.40) } else { stranger() }
        });
        let stages: Vec<AlertStage> = raised.iter().map(|(s, _)| *s).collect();
        assert_eq!(stages, [AlertStage::Candidate, AlertStage::Retracted]);
        assert!(
            alerts(engine.track_ended(&last.track)).is_empty(),
            "nothing more to say"
        );
    }

    #[test]
    fn a_track_ending_before_confirmation_retracts_its_candidate() {
        let mut engine = engine();
        let (raised, last) = walk(&mut engine, 1, 0, 0..1, |_| like_ada(0.5));
        assert_eq!(raised, [(AlertStage::Candidate, "ada".to_string())]);
        let ended = engine.track_ended(&last.track);
        let Some(Outgoing::Alert(alert)) = ended.first() else {
            panic!("{ended:?}")
        };
        assert_eq!(alert.stage, AlertStage::Retracted);
        assert_eq!(alert.reason.as_deref(), Some("track ended before confirmation"));
    }

    #[test]
    fn the_same_person_again_within_the_cooldown_raises_nothing() {
        let mut engine = engine();
        let (_, last) = walk(&mut engine, 1, 0, 0..6, |_| like_ada(0.6));
        engine.track_ended(&last.track);
        // A broken-off track of the same visit, 2 s later.
        let (raised, last) = walk(&mut engine, 2, 2, 0..6, |_| like_ada(0.6));
        assert!(raised.is_empty(), "{raised:?}");
        assert!(alerts(engine.track_ended(&last.track)).is_empty());
        assert_eq!(engine.suppressed, 1);
        // A new visit long after the cooldown alerts again.
        let (raised, _) = walk(&mut engine, 3, 120, 0..6, |_| like_ada(0.6));
        assert_eq!(raised.len(), 2, "{raised:?}");
    }

    #[test]
    fn identity_events_come_per_interval_and_on_change_not_per_frame() {
        let mut engine = engine();
        let mut identities = Vec::new();
        // 75 frames = 3 s at 25 fps; the face turns into a stranger at frame 50.
        for seq in 0..75 {
            let embedding = if seq < 50 { like_ada(0.6) } else { stranger() };
            for out in engine.face(&face(1, seq, 0, embedding)) {
                if let Outgoing::Identity(e) = out {
                    identities.push((seq, e.identity.clone(), e.track_id.clone()));
                }
            }
        }
        let seqs: Vec<u64> = identities.iter().map(|(s, _, _)| *s).collect();
        assert!(identities.len() <= 6, "{seqs:?}");
        assert_eq!(seqs[..3], [0, 25, 50], "first face, then one per second");
        assert!(identities.iter().all(|(_, _, track)| track.ends_with("-1")));
        assert_eq!(identities[0].1, "ada");
    }

    #[test]
    fn watchlist_policies_shape_the_alerts() {
        let config: AlertConfig = toml::from_str(
            "[watchlists.staff]\nalerts = false\n[watchlists.vip]\ncandidates = false\nconfirm_min_frames = 1\n",
        )
        .unwrap();
        config.validate().unwrap();

        let mut staff = engine_with(config.clone(), "staff");
        let (raised, last) = walk(&mut staff, 1, 0, 0..10, |_| like_ada(0.6));
        assert!(raised.is_empty(), "staff raise no alerts: {raised:?}");
        assert!(alerts(staff.track_ended(&last.track)).is_empty());

        let mut vip = engine_with(config, "vip");
        let f = face(1, 0, 0, like_ada(0.6));
        let out = vip.face(&f);
        let Some(Outgoing::Alert(confirmed)) = out.iter().find(|o| matches!(o, Outgoing::Alert(_))) else {
            panic!("{out:?}")
        };
        assert_eq!(
            (confirmed.stage, confirmed.watchlist.as_str()),
            (AlertStage::Confirmed, "vip"),
            "no candidate, confirmed on the first frame"
        );
        assert_eq!(confirmed.thresholds.confirm_min_frames, 1);
    }

    #[test]
    fn only_a_track_that_matched_nobody_is_handed_to_the_unknowns() {
        let mut engine = engine();
        let (_, ada) = walk(&mut engine, 1, 0, 0..6, |_| like_ada(0.6));
        assert!(engine.unmatched(&ada.track).is_none(), "Ada was confirmed");
        let (_, stranger_face) = walk(&mut engine, 2, 0, 0..6, |_| stranger());
        let unmatched = engine.unmatched(&stranger_face.track).unwrap();
        assert_eq!(unmatched.frames_embedded, 6);
        assert!(unmatched.best_crop.is_some() && unmatched.best_quality > 0.0);
        assert!((dot(&unmatched.template, &stranger()) - 1.0).abs() < 1e-4);
        assert_eq!(engine.track_template(&stranger_face.track), Some(unmatched.template));
    }

    #[test]
    fn a_recurring_stranger_alerts_once_per_track_and_not_within_the_cooldown() {
        let config: AlertConfig = toml::from_str("[unknowns]\nmin_visits = 3\ncooldown_s = 60\n").unwrap();
        config.validate().unwrap();
        let mut engine = engine_with(config, "default");
        let sighting = |visits| Sighting {
            unknown_id: "5c1e7a0e-0000-4000-8000-000000000001".into(),
            ignored: false,
            recent_visits: visits,
        };
        let (_, f) = walk(&mut engine, 1, 0, 0..3, |_| stranger());
        let at = f.frame.captured_at;
        assert!(
            engine.recurring(&f.track, at, &sighting(2)).is_none(),
            "two visits are not enough"
        );
        let alert = engine.recurring(&f.track, at, &sighting(3)).unwrap();
        assert_eq!(
            (alert.stage, alert.identity.as_str()),
            (AlertStage::Recurring, "unknown")
        );
        assert_eq!(
            alert.unknown_id.as_deref(),
            Some("5c1e7a0e-0000-4000-8000-000000000001")
        );
        assert!(
            alert
                .key
                .ends_with("/unknown:5c1e7a0e-0000-4000-8000-000000000001/recurring")
        );
        assert!(alert.best_face.is_some());
        assert!(engine.recurring(&f.track, at, &sighting(3)).is_none(), "once per track");
        // Another track of the same stranger 10 s later: cooling down.
        let (_, g) = walk(&mut engine, 2, 10, 0..3, |_| stranger());
        assert!(engine.recurring(&g.track, g.frame.captured_at, &sighting(4)).is_none());
        assert_eq!(engine.suppressed, 1);
        let ignored = Sighting {
            ignored: true,
            ..sighting(9)
        };
        let (_, h) = walk(&mut engine, 3, 500, 0..3, |_| stranger());
        assert!(
            engine.recurring(&h.track, h.frame.captured_at, &ignored).is_none(),
            "ignored"
        );
        assert!(
            engine.recurring(&h.track, h.frame.captured_at, &sighting(4)).is_some(),
            "after the cooldown"
        );
    }
}
