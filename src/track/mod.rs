//! Tracking: gives each face a track id per camera that survives short misses, keeps the
//! track's running facts (frames seen, face size range), and decides which faces are worth
//! embedding (the recognition budget). Runs in the detect thread, which sees every camera's
//! frames in order.

mod budget;
mod config;
mod tracker;

pub use budget::Budget;
pub use config::TrackConfig;
pub use tracker::{TrackInfo, TrackedFace, Tracker};
