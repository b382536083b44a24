use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::gallery::Match;
use crate::types::{BBox, EmbeddedFace, FaceQuality};

/// Bumped on any incompatible change; documented in `schemas/identity-event.v1.json`.
pub const EVENT_SCHEMA_VERSION: u32 = 1;

/// Identity of a face no gallery entry matched at the threshold.
pub const UNKNOWN: &str = "unknown";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelIds {
    pub detector: String,
    pub recognizer: String,
    pub embedding_space: String,
}

/// One recognized (or unknown) face, as published to Kafka.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityEvent {
    pub schema_version: u32,
    pub event_id: Uuid,
    pub camera_id: String,
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
    /// Gallery name, or `unknown`.
    pub identity: String,
    /// Cosine similarity to the best gallery identity (also when below the threshold);
    /// absent when the gallery is empty.
    pub similarity: Option<f32>,
    /// Best gallery identity even when below the threshold, for tuning.
    pub best_candidate: Option<String>,
    pub match_threshold: f32,
    pub models: ModelIds,
}

pub(crate) fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl IdentityEvent {
    pub fn new(face: &EmbeddedFace, best: Option<Match>, threshold: f32, models: &ModelIds) -> IdentityEvent {
        let named = best
            .as_ref()
            .filter(|m| m.similarity >= threshold)
            .map(|m| m.identity.clone());
        let d = &face.detection;
        IdentityEvent {
            schema_version: EVENT_SCHEMA_VERSION,
            event_id: Uuid::new_v4(),
            camera_id: face.frame.camera_id.to_string(),
            frame_seq: face.frame.seq,
            frame_pts_ns: face.frame.pts_ns,
            captured_at_ms: unix_ms(face.frame.captured_at),
            bbox: d.bbox,
            landmarks: d.landmarks.map(|(x, y)| [x, y]),
            face_width_px: d.bbox.w,
            detection_score: d.score,
            quality: face.quality,
            identity: named.unwrap_or_else(|| UNKNOWN.to_string()),
            similarity: best.as_ref().map(|m| m.similarity),
            best_candidate: best.map(|m| m.identity),
            match_threshold: threshold,
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
            embedding: vec![1.0],
        }
    }

    fn ada(similarity: f32) -> Option<Match> {
        Some(Match {
            identity: "ada".into(),
            similarity,
        })
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
        let above = IdentityEvent::new(&face(), ada(0.5), 0.4, &ids());
        assert_eq!(above.identity, "ada");
        let below = IdentityEvent::new(&face(), ada(0.3), 0.4, &ids());
        assert_eq!(below.identity, UNKNOWN);
        assert_eq!(below.best_candidate.as_deref(), Some("ada"));
        let empty = IdentityEvent::new(&face(), None, 0.4, &ids());
        assert_eq!((empty.identity.as_str(), empty.similarity), (UNKNOWN, None));
    }

    #[test]
    fn json_round_trips_with_documented_field_names() {
        let event = IdentityEvent::new(&face(), ada(0.5), 0.4, &ids());
        let json = serde_json::to_value(&event).unwrap();
        for key in [
            "schema_version",
            "event_id",
            "camera_id",
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
    fn event_fields_match_the_published_schema() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/identity-event.v1.json");
        let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let event = serde_json::to_value(IdentityEvent::new(&face(), None, 0.4, &ids())).unwrap();
        let keys = |v: &serde_json::Value| -> Vec<String> {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        let mut required: Vec<String> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        required.sort();
        assert_eq!(keys(&event), required, "every field is documented and required");
        assert_eq!(keys(&schema["properties"]), required);
        assert_eq!(schema["properties"]["schema_version"]["const"], EVENT_SCHEMA_VERSION);
        assert_eq!(
            keys(&event["models"]),
            keys(&schema["properties"]["models"]["properties"])
        );
        assert_eq!(keys(&event["bbox"]), keys(&schema["properties"]["bbox"]["properties"]));
        assert_eq!(
            keys(&event["quality"]),
            keys(&schema["properties"]["quality"]["properties"])
        );
    }
}
