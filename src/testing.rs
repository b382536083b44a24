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
