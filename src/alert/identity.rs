use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::gallery::Match;
use crate::types::{BBox, EmbeddedFace, FaceQuality};

/// Bumped on any incompatible change; documented in `schemas/identity-event.v3.json`.
/// Version 2: one event per track and interval instead of per frame, with track fields.
/// Version 3: `unknown_id`.
pub const EVENT_SCHEMA_VERSION: u32 = 3;

/// Identity of a face no gallery entry matched at the threshold.
pub const UNKNOWN: &str = "unknown";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelIds {
    pub detector: String,
    pub recognizer: String,
    pub embedding_space: String,
}

/// What a track's evidence says so far, for its identity events.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackOpinion {
    pub track_id: String,
    pub frames_seen: u64,
    /// The gallery identity closest to the track's template.
    pub best: Option<Match>,
    /// Threshold of the face's size band.
    pub threshold: f32,
    pub band: String,
}

/// A track's current identity with its latest face, as published to Kafka: one per track
/// when it starts or changes identity, and at most one per configured interval otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityEvent {
    pub schema_version: u32,
    pub event_id: Uuid,
    pub camera_id: String,
    /// `<run>-<n>`: unique per camera.
    pub track_id: String,
    pub track_frames_seen: u64,
    pub frame_seq: u64,
    pub frame_pts_ns: Option<u64>,
    /// Wall-clock time the frame left the decoder, milliseconds since the Unix epoch.
    pub captured_at_ms: u64,
    pub bbox: BBox,
    /// Right eye, left eye, nose, right and left mouth corner; frame pixels.
    pub landmarks: [[f32; 2]; 5],
    pub face_width_px: f32,
    pub detection_score: f32,
    /// Size, sharpness, pose and border contact of the face.
    pub quality: FaceQuality,
    /// Gallery name of the track, or `unknown`.
    pub identity: String,
    /// An unknown track's stranger cluster (`[unknowns]`), stable across visits.
    pub unknown_id: Option<String>,
    /// The worker that saw it (`[cluster]`); absent outside a cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// Cosine similarity of the track's template (quality-weighted mean embedding) to
    /// `best_candidate`; absent when the gallery is empty.
    pub similarity: Option<f32>,
    /// This face's own best similarity to any gallery identity.
    pub frame_similarity: Option<f32>,
    /// Best gallery identity even when below the threshold, for tuning.
    pub best_candidate: Option<String>,
    /// The face-size band's candidate threshold that `similarity` was held against.
    pub match_threshold: f32,
    /// Face-size band, e.g. `16-24`.
    pub band: String,
    pub models: ModelIds,
}

pub(crate) fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A time in ms since the Unix epoch as `2026-12-02T08:00:00Z`.
pub fn timestamp(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + std::time::Duration::from_millis(ms)).to_string()
}

impl IdentityEvent {
    pub fn new(
        face: &EmbeddedFace,
        frame_best: Option<&Match>,
        track: TrackOpinion,
        models: &ModelIds,
    ) -> IdentityEvent {
        let best = track.best;
        let named = best
            .as_ref()
            .filter(|m| m.similarity >= track.threshold)
            .map(|m| m.identity.clone());
        let d = &face.detection;
        IdentityEvent {
            schema_version: EVENT_SCHEMA_VERSION,
            event_id: Uuid::new_v4(),
            camera_id: face.frame.camera_id.to_string(),
            track_id: track.track_id,
            track_frames_seen: track.frames_seen,
            frame_seq: face.frame.seq,
            frame_pts_ns: face.frame.pts_ns,
            captured_at_ms: unix_ms(face.frame.captured_at),
            bbox: d.bbox,
            landmarks: d.landmarks.map(|(x, y)| [x, y]),
            face_width_px: d.bbox.w,
            detection_score: d.score,
            quality: face.quality,
            identity: named.unwrap_or_else(|| UNKNOWN.to_string()),
            unknown_id: None,
            worker_id: None,
            similarity: best.as_ref().map(|m| m.similarity),
            frame_similarity: frame_best.map(|m| m.similarity),
            best_candidate: best.map(|m| m.identity),
            match_threshold: track.threshold,
            band: track.band,
            models: models.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::types::{Detection, FrameMeta};

    fn face() -> EmbeddedFace {
        EmbeddedFace {
            frame: FrameMeta {
                camera_id: Arc::from("door"),
                seq: 7,
                pts_ns: Some(40),
                captured_at: SystemTime::now(),
            },
            detection: Detection {
                bbox: BBox {
                    x: 1.0,
                    y: 2.0,
                    w: 30.0,
                    h: 36.0,
                },
                landmarks: [(5.0, 6.0); 5],
                score: 0.9,
            },
            quality: FaceQuality {
                width_px: 30.0,
                detection_score: 0.9,
                sharpness: 120.0,
                yaw_deg: 3.0,
                roll_deg: -2.0,
                touches_border: false,
            },
            crop: crate::image::BgrImage::new(4, 4),
            embedding: vec![1.0],
            recognizer: Arc::from("r"),
            track: crate::track::TrackInfo {
                camera_id: Arc::from("door"),
                track_id: 3,
                frames_seen: 4,
                first_seq: 4,
                last_seq: 7,
                first_seen: SystemTime::now(),
                last_seen: SystemTime::now(),
                width_min_px: 28.0,
                width_max_px: 30.0,
            },
        }
    }

    fn ada(similarity: f32) -> Option<Match> {
        Some(Match {
            identity: "ada".into(),
            similarity,
        })
    }

    fn track(best: Option<Match>, threshold: f32) -> TrackOpinion {
        TrackOpinion {
            track_id: "r-3".into(),
            frames_seen: 4,
            best,
            threshold,
            band: "24-40".into(),
        }
    }

    fn ids() -> ModelIds {
        ModelIds {
            detector: "d".into(),
            recognizer: "r".into(),
            embedding_space: "s".into(),
        }
    }

    #[test]
    fn names_identity_only_at_or_above_threshold() {
        let above = IdentityEvent::new(&face(), ada(0.2).as_ref(), track(ada(0.5), 0.4), &ids());
        assert_eq!(above.identity, "ada");
        assert_eq!((above.similarity, above.frame_similarity), (Some(0.5), Some(0.2)));
        let below = IdentityEvent::new(&face(), ada(0.5).as_ref(), track(ada(0.3), 0.4), &ids());
        assert_eq!(below.identity, UNKNOWN, "the track's template decides, not one frame");
        assert_eq!(below.best_candidate.as_deref(), Some("ada"));
        let empty = IdentityEvent::new(&face(), None, track(None, 0.4), &ids());
        assert_eq!((empty.identity.as_str(), empty.similarity), (UNKNOWN, None));
    }

    #[test]
    fn json_round_trips_with_documented_field_names() {
        let event = IdentityEvent::new(&face(), ada(0.5).as_ref(), track(ada(0.5), 0.4), &ids());
        let json = serde_json::to_value(&event).unwrap();
        for key in [
            "schema_version",
            "event_id",
            "camera_id",
            "track_id",
            "frame_pts_ns",
            "captured_at_ms",
            "bbox",
            "landmarks",
            "face_width_px",
            "detection_score",
            "identity",
            "similarity",
            "match_threshold",
            "models",
        ] {
            assert!(json.get(key).is_some(), "missing {key} in {json}");
        }
        assert_eq!(serde_json::from_value::<IdentityEvent>(json).unwrap(), event);
    }

    #[test]
    fn events_validate_against_the_published_schema() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/identity-event.v3.json");
        let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(schema["properties"]["schema_version"]["const"], EVENT_SCHEMA_VERSION);
        let validator = jsonschema::validator_for(&schema).unwrap();
        for (frame, best) in [(ada(0.5), ada(0.5)), (None, None)] {
            let event =
                serde_json::to_value(IdentityEvent::new(&face(), frame.as_ref(), track(best, 0.4), &ids())).unwrap();
            let errors: Vec<String> = validator.iter_errors(&event).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{errors:?}");
        }
        let mut extra = serde_json::to_value(IdentityEvent::new(&face(), None, track(None, 0.4), &ids())).unwrap();
        extra["undocumented"] = 1.into();
        assert!(!validator.is_valid(&extra), "the schema rejects undocumented fields");
    }
}
