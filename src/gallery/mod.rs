//! The gallery of enrolled people: an SQLite file of identities and their face templates
//! (embeddings), and an in-memory matcher built from it.

mod config;
mod enroll;
mod import;
mod index;
mod matcher;
mod store;
mod unknowns;
mod watch;

pub use config::{GalleryConfig, IndexConfig, IndexMode};
pub use enroll::{ENROL_DETECT_SIDE, Enroller, MAX_PHOTO_PIXELS, align_photo, largest_face, photo_face};
pub use import::{ImportReport, ImportRequest, import};
pub use index::{IndexError, TemplateIndex, template_key};
pub use matcher::{Match, Matcher, dot};
pub use store::{
    DEFAULT_WATCHLIST, ExportedEmbedding, ExportedIdentity, GALLERY_SCHEMA_VERSION, Gallery, GalleryExport,
    IdentitySummary,
};
pub use unknowns::{StoredFace, StoredUnknown};
pub use watch::{GalleryWatch, WatchSpec};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum GalleryError {
    #[error(
        "gallery {path} does not exist; check the path (gallery.path in the config, or --gallery), or create the gallery by enrolling someone: squint enroll --gallery {path} --name NAME PHOTO"
    )]
    Missing { path: PathBuf },
    #[error(
        "gallery {path} cannot be changed: the file or its folder is read-only for this user; reading it (`squint run`, `gallery list`, `gallery export`) still works"
    )]
    ReadOnly { path: PathBuf },
    #[error(
        "{path} is not a Squint gallery (no gallery tables); point gallery.path or --gallery at a file made by `squint enroll`"
    )]
    NotAGallery { path: PathBuf },
    #[error(
        "gallery {path} has schema version {version}, older than this Squint's {supported}, and was opened read-only; upgrade it by running any writing command on it once with write access (e.g. `squint enroll`)"
    )]
    OlderSchema {
        path: PathBuf,
        version: u32,
        supported: u32,
    },
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
    #[error("import {path}: {message}")]
    Import { path: PathBuf, message: String },
    #[error(
        "identity name {name:?} is not usable: {reason}; give a name of 1–{MAX_NAME_CHARS} characters without tabs, newlines or other control characters"
    )]
    InvalidName { name: String, reason: &'static str },
    #[error("gallery {path}: no identity `{name}`; enroll them before adding negatives")]
    UnknownIdentity { path: PathBuf, name: String },
    #[error("gallery {path} has no unknown face cluster {id}; `squint unknowns list` shows the ids it has")]
    UnknownCluster { path: PathBuf, id: String },
    #[error(
        "unknown {id} in gallery {path} is marked ignored and cannot become an identity; enrol the person with a photo instead"
    )]
    IgnoredCluster { path: PathBuf, id: String },
    #[error(
        "gallery {path} has schema version {version}, newer than this Squint reads ({supported}); upgrade Squint (the file was left untouched)"
    )]
    NewerSchema {
        path: PathBuf,
        version: u32,
        supported: u32,
    },
}

/// Longest identity name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// An identity name as it will be stored, shown by `gallery list` (one line, tab-separated)
/// and carried in events: non-blank, no control characters, not too long.
pub fn validate_name(name: &str) -> Result<(), GalleryError> {
    let invalid = |reason| {
        Err(GalleryError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.trim().is_empty() {
        return invalid("it is empty or only spaces");
    }
    if name.chars().any(char::is_control) {
        return invalid("it holds a tab, newline or other control character");
    }
    if name.trim() != name {
        return invalid("it starts or ends with spaces");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return invalid("it is too long");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
