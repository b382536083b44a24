//! An identity-disjoint split of face photos for training a student: a **test** side (the
//! labelled evaluation sets and some pool photos, never trained on, reported by `squint
//! eval`), a **validation** side (pool photos for choosing recipes and epochs, never reported)
//! and a **training** side (the rest of the pool). A pool photo whose face is a near-duplicate
//! of a held-out face (teacher cosine above the limit: the same person in another photo, as
//! far as the teacher can tell) leaves the training side, and the validation side likewise
//! loses faces close to the test side.

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::FacesError;
use super::photo::{AlignedPhotos, align_photos, file_name};
use super::sets::distractor_photos;
use crate::detect::Detector;
use crate::distill::dataset::{embed_in_batches, image_files};
use crate::gallery::dot;
use crate::recognize::Recognizer;

#[derive(Debug, Clone)]
pub struct SplitConfig {
    /// Photos of one person each (CelebA's singles): shared out over the three sides.
    pub pool: PathBuf,
    /// Labelled sets held out entirely (a folder of photos, or of per-person folders).
    pub held_out: Vec<PathBuf>,
    /// Pool photos held out for testing (the evaluation's distractors and strangers).
    pub test_photos: usize,
    /// Pool photos held out for validation.
    pub val_photos: usize,
    /// Teacher cosine above which two faces count as the same person.
    pub near_duplicate: f32,
    /// Gets `train/` and `val/` (aligned crops, named `<photo>-0.png`), `test/` (copies of the
    /// held-out pool photos) and `split.json`.
    pub out: PathBuf,
    pub progress: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SplitReport {
    pub near_duplicate: f32,
    pub held_out_sets: Vec<String>,
    /// Faces of the held-out sets the detector found.
    pub held_out_faces: usize,
    /// Pool photo names on each side.
    pub test: Vec<String>,
    pub val: Vec<String>,
    pub train: Vec<String>,
    /// Pool photos kept off their side for resembling a held-out face.
    pub excluded: Vec<Excluded>,
    /// Photos in which the detector found no face (on no side).
    pub without_face: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Excluded {
    pub photo: String,
    /// The side it would have gone to.
    pub side: &'static str,
    /// The held-out face it resembles, and how much.
    pub nearest: String,
    pub cosine: f32,
}

/// Faces with their teacher embeddings and names.
struct Embedded {
    names: Vec<String>,
    aligned: AlignedPhotos,
    embeddings: Vec<Vec<f32>>,
}

impl Embedded {
    fn of(
        photos: &[PathBuf],
        detector: &mut Detector,
        teacher: &mut Recognizer,
        bar: &ProgressBar,
    ) -> Result<Embedded, FacesError> {
        let aligned = align_photos(detector, photos, teacher.input_size(), bar)?;
        let embeddings =
            embed_in_batches(teacher, &aligned.crops.iter().collect::<Vec<_>>()).map_err(FacesError::from)?;
        Ok(Embedded {
            names: aligned.names(),
            aligned,
            embeddings,
        })
    }

    /// The most similar face of `self` to `embedding`: (name, cosine).
    fn nearest(&self, embedding: &[f32]) -> Option<(&str, f32)> {
        self.embeddings
            .iter()
            .zip(&self.names)
            .map(|(e, name)| (name.as_str(), dot(e, embedding)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    fn extend(&mut self, other: &Embedded, indices: &[usize]) {
        for &i in indices {
            self.names.push(other.names[i].clone());
            self.embeddings.push(other.embeddings[i].clone());
        }
    }
}

/// Splits `config.pool` and writes the three sides and `split.json` under `config.out`
/// (replacing what an earlier split wrote there).
pub fn split_faces(
    config: &SplitConfig,
    detector: &mut Detector,
    teacher: &mut Recognizer,
) -> Result<SplitReport, FacesError> {
    let mut held_out_photos = Vec::new();
    for set in &config.held_out {
        held_out_photos.extend(distractor_photos(set)?);
    }
    let pool = ordered_pool(&config.pool)?;
    if pool.len() <= config.test_photos + config.val_photos {
        return Err(FacesError::Data {
            path: config.pool.clone(),
            message: format!(
                "{} photos cannot give {} test and {} validation photos and leave any to train on",
                pool.len(),
                config.test_photos,
                config.val_photos
            ),
        });
    }
    let bar = if config.progress {
        ProgressBar::new((held_out_photos.len() + pool.len()) as u64).with_message("finding faces")
    } else {
        ProgressBar::hidden()
    };
    let mut protected = Embedded::of(&held_out_photos, detector, teacher, &bar)?;
    let held_out_faces = protected.names.len();
    let (test_paths, rest) = pool.split_at(config.test_photos);
    let (val_paths, train_paths) = rest.split_at(config.val_photos);
    let test = Embedded::of(test_paths, detector, teacher, &bar)?;
    let val = Embedded::of(val_paths, detector, teacher, &bar)?;
    let train = Embedded::of(train_paths, detector, teacher, &bar)?;
    bar.finish_and_clear();

    let mut excluded = Vec::new();
    protected.extend(&test, &(0..test.names.len()).collect::<Vec<_>>());
    let val_kept = keep_distinct(&val, &protected, config.near_duplicate, "val", &mut excluded);
    protected.extend(&val, &val_kept);
    let train_kept = keep_distinct(&train, &protected, config.near_duplicate, "train", &mut excluded);

    let out = |side: &str| config.out.join(side);
    for side in ["train", "val", "test"] {
        reset_folder(&out(side))?;
    }
    write_crops(&val, &val_kept, &out("val"))?;
    write_crops(&train, &train_kept, &out("train"))?;
    for path in &test.aligned.paths {
        let to = out("test").join(file_name(path));
        std::fs::copy(path, &to).map_err(|e| FacesError::Data {
            path: to.clone(),
            message: format!("cannot copy the test photo: {e}"),
        })?;
    }
    let without_face = [&protected.aligned, &test.aligned, &val.aligned, &train.aligned]
        .iter()
        .flat_map(|a| a.without_face.iter().map(|p| file_name(p)))
        .collect();
    let report = SplitReport {
        near_duplicate: config.near_duplicate,
        held_out_sets: config.held_out.iter().map(|p| p.display().to_string()).collect(),
        held_out_faces,
        test: test.names.clone(),
        val: val_kept.iter().map(|&i| val.names[i].clone()).collect(),
        train: train_kept.iter().map(|&i| train.names[i].clone()).collect(),
        excluded,
        without_face,
    };
    let path = config.out.join("split.json");
    let text = serde_json::to_string_pretty(&report).map_err(|e| FacesError::Data {
        path: path.clone(),
        message: e.to_string(),
    })?;
    std::fs::write(&path, text).map_err(|e| FacesError::Data {
        path,
        message: format!("cannot write: {e}"),
    })?;
    Ok(report)
}

/// The pool's photos in the order of a hash of their names: which photos are held out
/// depends only on the names, not on how many there are or how the folder lists them.
fn ordered_pool(pool: &Path) -> Result<Vec<PathBuf>, FacesError> {
    let mut photos = image_files(pool)?;
    photos.sort_by_key(|p| (Sha256::digest(file_name(p).as_bytes()).to_vec(), file_name(p)));
    Ok(photos)
}

/// Indices of `faces` no closer than `limit` to any `protected` face; the others are
/// recorded in `excluded`.
fn keep_distinct(
    faces: &Embedded,
    protected: &Embedded,
    limit: f32,
    side: &'static str,
    excluded: &mut Vec<Excluded>,
) -> Vec<usize> {
    let mut kept = Vec::new();
    for (i, embedding) in faces.embeddings.iter().enumerate() {
        match protected.nearest(embedding) {
            Some((nearest, cosine)) if cosine > limit => excluded.push(Excluded {
                photo: faces.names[i].clone(),
                side,
                nearest: nearest.to_string(),
                cosine,
            }),
            _ => kept.push(i),
        }
    }
    kept
}

fn write_crops(faces: &Embedded, indices: &[usize], folder: &Path) -> Result<(), FacesError> {
    for &i in indices {
        let stem = Path::new(&faces.names[i])
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        faces.aligned.crops[i].save(&folder.join(format!("{stem}-0.png")))?;
    }
    Ok(())
}

/// An empty `folder`, created if missing.
fn reset_folder(folder: &Path) -> Result<(), FacesError> {
    let error = |e: std::io::Error| FacesError::Data {
        path: folder.to_path_buf(),
        message: format!("cannot prepare the folder: {e}"),
    };
    if folder.exists() {
        std::fs::remove_dir_all(folder).map_err(error)?;
    }
    std::fs::create_dir_all(folder).map_err(error)
}
