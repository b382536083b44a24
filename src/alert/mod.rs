//! Alerting: turns a track's embedded faces into evidence about gallery identities and that
//! evidence into two-stage alerts (`candidate`, then `confirmed`; `ended` or `retracted`),
//! plus rate-limited identity events per track. Thresholds depend on the face's size band.
//! The events themselves (`IdentityEvent`, `AlertEvent`, their `Outgoing` envelope) are
//! defined here, where they are made; the publish stage only ships them.

mod config;
mod engine;
mod event;
mod evidence;
mod identity;
mod open_set;
mod outgoing;
mod thumbnails;

pub use config::{AlertConfig, Band, OpenSetConfig, Policy, RecurringPolicy, WatchlistPolicy, band_for, band_label};
pub use engine::{AlertEngine, Sighting, UnmatchedTrack, track_number};
pub use event::{ALERT_SCHEMA_VERSION, AlertEvent, AlertStage, Thresholds, Thumbnails};
pub use evidence::{EvidenceSummary, TrackEvidence, WeightedTemplate};
pub(crate) use identity::unix_ms;
pub use identity::{EVENT_SCHEMA_VERSION, IdentityEvent, ModelIds, TrackOpinion, UNKNOWN, timestamp};
pub use open_set::{ImpostorModel, inverse_upper_tail, upper_tail};
pub use outgoing::{Outgoing, TopicKind};
pub use thumbnails::{ThumbnailConfig, ThumbnailError, ThumbnailStore};
