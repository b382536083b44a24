use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::EvidenceSummary;
use super::ModelIds;
use crate::types::{BBox, BgrImage};

/// Bumped on any incompatible change; documented in `schemas/alert-event.v2.json`.
/// Version 2: the `recurring` stage for strangers, and `unknown_id`.
pub const ALERT_SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStage {
    /// Evidence first crossed the candidate threshold: an early heads-up.
    Candidate,
    /// Enough frames crossed the confirm threshold: an alert to act on.
    Confirmed,
    /// A confirmed track was lost.
    Ended,
    /// A candidate's evidence fell away, or its track ended unconfirmed.
    Retracted,
    /// An unknown face seen on enough distinct visits (`[alerts.unknowns]`).
    Recurring,
}

impl AlertStage {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStage::Candidate => "candidate",
            AlertStage::Confirmed => "confirmed",
            AlertStage::Ended => "ended",
            AlertStage::Retracted => "retracted",
            AlertStage::Recurring => "recurring",
        }
    }
}

/// The thresholds an alert decision used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Face-size band of the deciding face, e.g. `16-24`.
    pub band: String,
    pub candidate: f32,
    pub confirm: f32,
    pub confirm_min_frames: usize,
    pub confirm_window_frames: u64,
}

/// One step of a (camera, track, identity) alert, as published to the alerts topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub schema_version: u32,
    /// Derived from `key`: a replayed alert has the same id.
    pub alert_id: Uuid,
    /// `camera/track/identity/stage`: unique per alert step, for de-duplication.
    pub key: String,
    pub stage: AlertStage,
    pub camera_id: String,
    pub track_id: String,
    pub identity: String,
    /// For `recurring`: the stranger's cluster (`squint unknowns show ID`).
    pub unknown_id: Option<String>,
    /// The worker that saw it (`[cluster]`); absent outside a cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// The identity's gallery watchlist, whose policy applied.
    pub watchlist: String,
    /// Why a candidate was retracted.
    pub reason: Option<String>,
    /// Capture time of the frame that decided this step, ms since the Unix epoch.
    pub captured_at_ms: u64,
    pub emitted_at_ms: u64,
    /// The track's last face box, frame pixels.
    pub bbox: BBox,
    pub evidence: EvidenceSummary,
    pub thresholds: Thresholds,
    pub models: ModelIds,
    /// Best face crop and context frame, for `candidate` and `confirmed` when
    /// `[alerts.thumbnails]` is configured.
    pub thumbnails: Option<Thumbnails>,
    /// The track's best aligned face, until it is written as a thumbnail.
    #[serde(skip)]
    pub best_face: Option<BgrImage>,
}

/// Where an alert's pictures were written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thumbnails {
    /// JPEG of the track's best aligned face.
    pub face: String,
    /// JPEG of the camera's latest frame at alert time, faces boxed and named.
    pub frame: Option<String>,
    /// The face JPEG itself, base64, when `embed_base64` is on.
    pub face_jpeg_base64: Option<String>,
}

impl AlertEvent {
    pub fn key_for(camera_id: &str, track_id: &str, identity: &str, stage: AlertStage) -> String {
        format!("{camera_id}/{track_id}/{identity}/{}", stage.as_str())
    }

    pub fn id_for(key: &str) -> Uuid {
        Uuid::new_v5(&Uuid::NAMESPACE_OID, key.as_bytes())
    }
}
