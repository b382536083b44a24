//! The distillation set: a folder of aligned high-resolution face crops (what `squint
//! harvest` writes, or your own), split into training and held-out crops, with the teacher's
//! embedding of every crop computed once and cached beside them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use sha2::{Digest, Sha256};

use super::DistillError;
use crate::image::BgrImage;
use crate::recognize::Recognizer;

const IMAGE_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "bmp", "webp"];
const TEACHER_BATCH: usize = 32;

pub struct Crops {
    pub paths: Vec<PathBuf>,
    /// At the teacher's input size.
    pub images: Vec<BgrImage>,
}

/// Image files of `folder` (not recursive), sorted by name so every run sees the same order.
pub fn image_files(folder: &Path) -> Result<Vec<PathBuf>, DistillError> {
    let entries = std::fs::read_dir(folder).map_err(|e| DistillError::Data {
        path: folder.to_path_buf(),
        message: format!("cannot read the folder: {e}"),
    })?;
    let mut images = Vec::new();
    let mut others = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let is_image = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
        if path.is_file() && is_image {
            images.push(path);
        } else if path.is_file() {
            others += 1;
        }
    }
    if images.is_empty() {
        return Err(DistillError::Data {
            path: folder.to_path_buf(),
            message: format!(
                "no face crops in it ({others} other files); expected aligned face images ({}); make them with `squint harvest`",
                IMAGE_EXTENSIONS.join(", ")
            ),
        });
    }
    images.sort();
    Ok(images)
}

/// One image, or an error naming its file.
pub fn load_image(path: &Path) -> Result<BgrImage, DistillError> {
    BgrImage::load(path).map_err(|e| DistillError::Data {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Embeddings of `images` in batches of the teacher's usual size, in order.
pub fn embed_in_batches(recognizer: &mut Recognizer, images: &[&BgrImage]) -> Result<Vec<Vec<f32>>, DistillError> {
    let mut rows = Vec::with_capacity(images.len());
    for chunk in images.chunks(TEACHER_BATCH) {
        rows.extend(recognizer.embed(chunk)?);
    }
    Ok(rows)
}

/// Loads every crop of `folder`; each must already be `size`×`size` (aligned for the teacher).
pub fn load_crops(folder: &Path, size: u32) -> Result<Crops, DistillError> {
    let paths = image_files(folder)?;
    let mut images = Vec::with_capacity(paths.len());
    for path in &paths {
        let image = load_image(path)?;
        if (image.width, image.height) != (size, size) {
            return Err(DistillError::Data {
                path: path.clone(),
                message: format!(
                    "crop is {}x{}, the teacher takes {size}x{size} aligned crops; harvest with the teacher's card (--recognizer)",
                    image.width, image.height
                ),
            });
        }
        images.push(image);
    }
    Ok(Crops { paths, images })
}

/// Holds out about `val_fraction` of the crops for validation. By source (the default):
/// every crop of one track (`<camera>-t<track>-f<frame>`) or of one photo face
/// (`<photo>-<face>[-a<copy>]`) lands on the same side, so held-out faces are faces the student
/// never trained on. By crop: any crop may be held out, so held-out crops can be other
/// copies of trained faces (only for sets too small to hold out whole faces). The side is
/// chosen by a hash of the name, so adding crops does not reshuffle the split.
pub fn split(paths: &[PathBuf], val_fraction: f64, by_source: bool) -> (Vec<usize>, Vec<usize>) {
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (i, path) in paths.iter().enumerate() {
        let stem = path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let key = if by_source { source_of(&stem) } else { &stem };
        let digest = Sha256::digest(key.as_bytes());
        let bucket = u16::from_le_bytes([digest[0], digest[1]]) as f64 / 65536.0;
        if bucket < val_fraction {
            val.push(i);
        } else {
            train.push(i);
        }
    }
    (train, val)
}

/// The crop's source: its name without a trailing `-f<frame>` or `-a<copy>`.
pub fn source_of(stem: &str) -> &str {
    match stem.rsplit_once('-') {
        Some((source, suffix))
            if suffix.len() > 1
                && (suffix.starts_with('f') || suffix.starts_with('a'))
                && suffix[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            source
        }
        _ => stem,
    }
}

/// The teacher's L2-normalised embeddings of every crop, as an `[N, D]` tensor. Cached in
/// `<folder>/.teacher-<key>.safetensors`, keyed by the teacher's model file and the crops.
pub fn teacher_embeddings(folder: &Path, crops: &Crops, teacher: &mut Recognizer) -> Result<Tensor, DistillError> {
    let cache = folder.join(format!(".teacher-{}.safetensors", cache_key(crops, teacher)?));
    if let Ok(mut tensors) = candle_core::safetensors::load(&cache, &Device::Cpu)
        && let Some(embeddings) = tensors.remove("embeddings")
        && embeddings.dims().first() == Some(&crops.images.len())
    {
        tracing::info!(cache = %cache.display(), "teacher embeddings read from the cache");
        return Ok(embeddings);
    }
    let rows = embed_in_batches(teacher, &crops.images.iter().collect::<Vec<_>>())?;
    let dim = rows.first().map_or(0, Vec::len);
    let embeddings = Tensor::from_vec(rows.concat(), (crops.images.len(), dim), &Device::Cpu)?;
    let tensors = HashMap::from([("embeddings".to_string(), embeddings.clone())]);
    if let Err(e) = candle_core::safetensors::save(&tensors, &cache) {
        tracing::warn!(cache = %cache.display(), error = %e, "cannot cache the teacher embeddings");
    }
    Ok(embeddings)
}

fn cache_key(crops: &Crops, teacher: &Recognizer) -> Result<String, DistillError> {
    let mut hasher = Sha256::new();
    hasher.update(teacher.model_id().as_bytes());
    let model = std::fs::read(teacher.model_path()).map_err(|source| DistillError::Io {
        path: teacher.model_path(),
        source,
    })?;
    hasher.update(Sha256::digest(&model));
    for (path, image) in crops.paths.iter().zip(&crops.images) {
        hasher.update(path.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
        hasher.update(Sha256::digest(&image.data));
    }
    Ok(format!("{:x}", hasher.finalize())[..16].to_string())
}
