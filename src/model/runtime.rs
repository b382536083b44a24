use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;

use super::ModelError;

static ENVIRONMENT: OnceLock<Environment> = OnceLock::new();

/// Where the ONNX Runtime shared library is: the configured path, else `ORT_DYLIB_PATH`.
pub fn ort_library_path(configured: Option<&Path>) -> Result<PathBuf, ModelError> {
    let (path, hint) = match configured {
        Some(path) => (path.to_path_buf(), "from models.onnxruntime"),
        None => match std::env::var_os("ORT_DYLIB_PATH") {
            Some(path) => (PathBuf::from(path), "from ORT_DYLIB_PATH"),
            None => (
                PathBuf::from("<unset>"),
                "neither ORT_DYLIB_PATH nor models.onnxruntime is set",
            ),
        },
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(ModelError::RuntimeMissing { path, hint })
    }
}

/// Loads ONNX Runtime once per process and returns its environment.
///
/// The library path is checked first: `ort` panics at its first call when the library is
/// missing, and a panic would hide which path was wrong.
pub fn environment(configured: Option<&Path>) -> Result<&'static Environment, ModelError> {
    if let Some(env) = ENVIRONMENT.get() {
        return Ok(env);
    }
    let path = ort_library_path(configured)?;
    let load_error = |message: String| ModelError::RuntimeLoad {
        path: path.clone(),
        message,
    };
    let builder = ort::init_from(&path).map_err(|e| load_error(e.to_string()))?;
    let env = builder
        .with_name("squint")
        .build()
        .map_err(|e| load_error(e.to_string()))?;
    tracing::info!(library = %path.display(), "ONNX Runtime loaded");
    Ok(ENVIRONMENT.get_or_init(|| env))
}
