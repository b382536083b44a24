//! Alert pictures on disk: the track's best face and the camera's frame for each
//! `candidate` and `confirmed` alert, in a folder bounded by size and age (oldest removed
//! first).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine;
use serde::Deserialize;

use super::{AlertEvent, Thumbnails};
use crate::check::{KeyError, check_range};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThumbnailConfig {
    /// Folder for the pictures; leave out to write none.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    #[serde(default = "default_max_age")]
    pub max_age_s: u64,
    /// Also put the face JPEG (a few kB) into the alert event, base64.
    #[serde(default)]
    pub embed_base64: bool,
}

impl Default for ThumbnailConfig {
    fn default() -> Self {
        ThumbnailConfig {
            dir: None,
            max_bytes: default_max_bytes(),
            max_age_s: default_max_age(),
            embed_base64: false,
        }
    }
}

fn default_max_bytes() -> u64 {
    512 << 20
}
fn default_max_age() -> u64 {
    7 * 24 * 3600
}

impl ThumbnailConfig {
    pub(crate) fn validate(&self) -> Result<(), KeyError> {
        check_range("thumbnails.max_bytes", self.max_bytes, 64 << 10, u64::MAX)?;
        check_range("thumbnails.max_age_s", self.max_age_s, 60, u64::MAX)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ThumbnailError {
    #[error("alert thumbnails {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("alert thumbnail not encoded: {0}")]
    Encode(#[from] crate::image::ImageError),
}

/// The thumbnail folder and what is in it, oldest first.
pub struct ThumbnailStore {
    dir: PathBuf,
    config: ThumbnailConfig,
    files: VecDeque<(SystemTime, PathBuf, u64)>,
    bytes: u64,
}

impl ThumbnailStore {
    /// `None` when thumbnails are off.
    pub fn open(config: &ThumbnailConfig) -> Result<Option<ThumbnailStore>, ThumbnailError> {
        let Some(dir) = config.dir.clone() else {
            return Ok(None);
        };
        let io = |source| ThumbnailError::Io {
            path: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let mut files = Vec::new();
        for camera in std::fs::read_dir(&dir).map_err(io)?.flatten() {
            for file in std::fs::read_dir(camera.path()).into_iter().flatten().flatten() {
                if let Ok(meta) = file.metadata() {
                    files.push((
                        meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                        file.path(),
                        meta.len(),
                    ));
                }
            }
        }
        files.sort();
        let bytes = files.iter().map(|f| f.2).sum();
        let mut store = ThumbnailStore {
            dir,
            config: config.clone(),
            files: files.into(),
            bytes,
        };
        store.prune();
        Ok(Some(store))
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Writes the alert's best face (and `frame_jpeg`, when given) and records where in the
    /// alert.
    pub fn attach(&mut self, alert: &mut AlertEvent, frame_jpeg: Option<Vec<u8>>) -> Result<(), ThumbnailError> {
        let Some(face) = alert.best_face.take() else {
            return Ok(());
        };
        let face_jpeg = face.jpeg()?;
        let folder = self.dir.join(safe_name(&alert.camera_id));
        std::fs::create_dir_all(&folder).map_err(|source| ThumbnailError::Io {
            path: folder.clone(),
            source,
        })?;
        let stem = format!("{}-{}", alert.alert_id, alert.stage.as_str());
        let face_path = self.write(&folder.join(format!("{stem}-face.jpg")), &face_jpeg)?;
        let frame_path = match frame_jpeg {
            Some(jpeg) => Some(self.write(&folder.join(format!("{stem}-frame.jpg")), &jpeg)?),
            None => None,
        };
        alert.thumbnails = Some(Thumbnails {
            face: face_path,
            frame: frame_path,
            face_jpeg_base64: self
                .config
                .embed_base64
                .then(|| base64::engine::general_purpose::STANDARD.encode(&face_jpeg)),
        });
        self.prune();
        Ok(())
    }

    fn write(&mut self, path: &Path, bytes: &[u8]) -> Result<String, ThumbnailError> {
        std::fs::write(path, bytes).map_err(|source| ThumbnailError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        self.files
            .push_back((SystemTime::now(), path.to_path_buf(), bytes.len() as u64));
        self.bytes += bytes.len() as u64;
        Ok(path.display().to_string())
    }

    /// Removes files past the age limit, then the oldest until under the size limit.
    fn prune(&mut self) {
        let oldest_kept = SystemTime::now() - Duration::from_secs(self.config.max_age_s);
        while let Some((modified, path, size)) = self.files.front().cloned() {
            if modified >= oldest_kept && self.bytes <= self.config.max_bytes {
                break;
            }
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(file = %path.display(), error = %e, "old alert thumbnail not removed");
            }
            self.bytes -= size;
            self.files.pop_front();
        }
    }
}

/// Camera ids become folder names: keep letters, digits, `-` and `_`.
fn safe_name(camera_id: &str) -> String {
    camera_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{AlertStage, EvidenceSummary, Thresholds};
    use crate::image::BgrImage;
    use crate::types::BBox;

    fn alert(n: u32) -> AlertEvent {
        let key = format!("cam/../1/ada/{n}");
        AlertEvent {
            schema_version: crate::alert::ALERT_SCHEMA_VERSION,
            alert_id: AlertEvent::id_for(&key),
            key,
            stage: AlertStage::Confirmed,
            camera_id: "gate/../1".into(),
            track_id: "r-1".into(),
            identity: "ada".into(),
            unknown_id: None,
            worker_id: None,
            watchlist: "default".into(),
            reason: None,
            captured_at_ms: 0,
            emitted_at_ms: 0,
            bbox: BBox {
                x: 0.0,
                y: 0.0,
                w: 20.0,
                h: 24.0,
            },
            evidence: EvidenceSummary {
                frames_seen: 1,
                frames_embedded: 1,
                frames_supporting: 1,
                best_similarity: 0.5,
                mean_similarity: 0.5,
                track_similarity: 0.5,
                face_width_min_px: 20.0,
                face_width_max_px: 20.0,
                first_seen_ms: 0,
                last_seen_ms: 0,
            },
            thresholds: Thresholds {
                band: "16-24".into(),
                candidate: 0.3,
                confirm: 0.4,
                confirm_min_frames: 3,
                confirm_window_frames: 75,
            },
            models: crate::alert::ModelIds {
                detector: "d".into(),
                recognizer: "r".into(),
                embedding_space: "s".into(),
            },
            thumbnails: None,
            best_face: Some(noise(112)),
        }
    }

    /// Noise does not compress, so each JPEG has a predictable, sizeable weight.
    fn noise(size: u32) -> BgrImage {
        let mut image = BgrImage::new(size, size);
        let mut state = 12345u32;
        for byte in &mut image.data {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *byte = (state >> 16) as u8;
        }
        image
    }

    #[test]
    fn pictures_are_written_referenced_and_kept_under_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let config = ThumbnailConfig {
            dir: Some(dir.path().join("thumbs")),
            max_bytes: 200_000,
            embed_base64: true,
            ..ThumbnailConfig::default()
        };
        let mut store = ThumbnailStore::open(&config).unwrap().unwrap();
        let frame = noise(300).jpeg().unwrap();
        let mut last = None;
        for n in 0..30 {
            let mut alert = alert(n);
            store.attach(&mut alert, Some(frame.clone())).unwrap();
            let folder_bytes: u64 = walk(dir.path()).iter().map(|p| p.metadata().unwrap().len()).sum();
            assert!(
                folder_bytes <= 200_000,
                "folder holds {folder_bytes} bytes after alert {n}"
            );
            last = alert.thumbnails;
        }
        let last = last.unwrap();
        let face = BgrImage::load(Path::new(&last.face)).unwrap();
        assert_eq!((face.width, face.height), (112, 112));
        let frame_file = BgrImage::load(Path::new(last.frame.as_deref().unwrap())).unwrap();
        assert_eq!((frame_file.width, frame_file.height), (300, 300));
        assert!(
            last.face.contains("/thumbs/gate____1/"),
            "camera ids cannot climb out: {}",
            last.face
        );
        assert!(!last.face.contains("/../"), "{}", last.face);
        let encoded = last.face_jpeg_base64.unwrap();
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap();
        assert_eq!(decoded, std::fs::read(&last.face).unwrap());
        assert!(walk(dir.path()).len() < 60, "oldest pictures were removed");
    }

    #[test]
    fn alerts_with_and_without_pictures_validate_against_the_schema() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/alert-event.v2.json");
        let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = ThumbnailConfig {
            dir: Some(dir.path().to_path_buf()),
            embed_base64: true,
            ..ThumbnailConfig::default()
        };
        let mut store = ThumbnailStore::open(&config).unwrap().unwrap();
        let mut with = alert(1);
        store.attach(&mut with, None).unwrap();
        for alert in [with, alert(2)] {
            let value = serde_json::to_value(&alert).unwrap();
            let errors: Vec<String> = validator.iter_errors(&value).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{errors:?}");
            assert!(value.get("best_face").is_none(), "pixels never go into the event");
        }
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            if entry.path().is_dir() {
                out.extend(walk(&entry.path()));
            } else {
                out.push(entry.path());
            }
        }
        out
    }
}
