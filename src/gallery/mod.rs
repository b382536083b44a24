//! The gallery of enrolled people: an SQLite file of identities and their face templates
//! (embeddings), and an in-memory matcher built from it.

mod config;
mod enroll;
mod matcher;
mod store;
mod watch;

pub use config::GalleryConfig;
pub use enroll::{Enroller, align_photo, largest_face};
pub use matcher::{Match, Matcher, dot};
pub use store::{
    DEFAULT_WATCHLIST, ExportedEmbedding, ExportedIdentity, GALLERY_SCHEMA_VERSION, Gallery, GalleryExport,
    IdentitySummary,
};
pub use watch::GalleryWatch;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum GalleryError {
    #[error("gallery {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error(
        "gallery {path} holds embeddings of space `{stored}`, but the recognizer produces `{requested}`; enroll into a new gallery with this model, or use a recognizer distilled into `{stored}`"
    )]
    SpaceMismatch {
        path: PathBuf,
        stored: String,
        requested: String,
    },
    #[error("gallery {path}: embedding has {got} values, expected {expected}")]
    Dimension { path: PathBuf, got: usize, expected: usize },
    #[error("{path}: no face found; use a photo where the face is visible and at least ~40 px wide")]
    NoFace { path: PathBuf },
    #[error("{path}: {message}")]
    Image { path: PathBuf, message: String },
    #[error("gallery {path}: no identity `{name}`; enroll them before adding negatives")]
    UnknownIdentity { path: PathBuf, name: String },
    #[error(
        "gallery {path} has schema version {version}, newer than this Squint reads ({supported}); upgrade Squint (the file was left untouched)"
    )]
    NewerSchema {
        path: PathBuf,
        version: u32,
        supported: u32,
    },
}

#[cfg(test)]
mod tests;
