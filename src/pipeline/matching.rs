//! The alert stage's per-face work, shared by the running pipeline and the benchmarks:
//! match and alert, and with `[unknowns]`, label unknown tracks with their stranger and file
//! ended ones under a cluster.

use std::collections::HashMap;
use std::sync::Arc;

use crate::alert::AlertEngine;
use crate::publish::{IdentityEvent, Outgoing, UNKNOWN};
use crate::track::TrackInfo;
use crate::types::EmbeddedFace;
use crate::unknowns::{Filed, Strangers, UnknownsError};

pub struct Matching {
    pub engine: AlertEngine,
    pub strangers: Option<Strangers>,
    /// The last identity event of each running unknown track, repeated with the final
    /// `unknown_id` when the track ends filed under another cluster.
    unknown_events: HashMap<(Arc<str>, u64), IdentityEvent>,
}

/// What one ended track produced.
pub struct Ended {
    pub out: Vec<Outgoing>,
    /// With `[unknowns]`, for a track that matched nobody: where it was filed.
    pub filed: Option<Result<Filed, UnknownsError>>,
}

impl Matching {
    pub fn new(engine: AlertEngine, strangers: Option<Strangers>) -> Matching {
        Matching {
            engine,
            strangers,
            unknown_events: HashMap::new(),
        }
    }

    /// One embedded face: identity event (unknown ones labelled with their stranger) and
    /// alerts, a `recurring` one included.
    pub fn face(&mut self, face: &EmbeddedFace) -> Vec<Outgoing> {
        let mut out = self.engine.face(face);
        self.label_unknown(face, &mut out);
        out
    }

    fn label_unknown(&mut self, face: &EmbeddedFace, out: &mut Vec<Outgoing>) {
        let Some(strangers) = self.strangers.as_mut() else {
            return;
        };
        let key = (face.track.camera_id.clone(), face.track.track_id);
        let mut alerts = Vec::new();
        for event in out.iter_mut() {
            let Outgoing::Identity(event) = event else { continue };
            if event.identity != UNKNOWN {
                self.unknown_events.remove(&key);
                continue;
            }
            let Some(template) = self.engine.track_template(&face.track) else {
                continue;
            };
            let sighting = strangers.sighting(&template, face.track.width_max_px, face.track.first_seen);
            event.unknown_id = sighting.as_ref().map(|s| s.unknown_id.clone());
            self.unknown_events.insert(key.clone(), (**event).clone());
            if let Some(alert) = sighting.and_then(|s| self.engine.recurring(&face.track, face.frame.captured_at, &s)) {
                alerts.push(Outgoing::Alert(Box::new(alert)));
            }
        }
        out.extend(alerts);
    }

    /// A track ended: it is filed under a stranger cluster if it matched nobody (and, when
    /// that is not the cluster its events named, its last identity event goes out again with
    /// the final id), then its alerts end.
    pub fn track_ended(&mut self, track: &TrackInfo) -> Ended {
        let last = self.unknown_events.remove(&(track.camera_id.clone(), track.track_id));
        // Only with [unknowns]: summarising the track copies its template and best crop.
        let filed = match self.strangers.as_mut() {
            Some(strangers) => self
                .engine
                .unmatched(track)
                .map(|unmatched| strangers.track_ended(&unmatched)),
            None => None,
        };
        let mut out = Vec::new();
        if let (Some(Ok(Filed::Assigned(assignment))), Some(mut event)) = (&filed, last) {
            let id = assignment.id().to_string();
            if event.unknown_id.as_deref() != Some(id.as_str()) {
                event.event_id = uuid::Uuid::new_v4();
                event.unknown_id = Some(id);
                out.push(Outgoing::Identity(Box::new(event)));
            }
        }
        out.extend(self.engine.track_ended(track));
        Ended { out, filed }
    }

    /// Stranger clusters held, when `[unknowns]` is on.
    pub fn clusters(&self) -> Option<usize> {
        self.strangers.as_ref().map(|s| s.clusters().all().len())
    }
}
