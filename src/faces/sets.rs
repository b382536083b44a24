//! Labelled face sets on disk: one sub-folder per identity, photos inside. Distractor folders
//! hold photos of other people, one person per photo.

use std::path::{Path, PathBuf};

use super::FacesError;
use crate::distill::dataset::image_files;

#[derive(Debug, Clone)]
pub struct Identity {
    pub name: String,
    /// Sorted by file name; the first photo with a face becomes the gallery photo.
    pub photos: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct LabelledSet {
    /// The folder's name, e.g. `olivetti`.
    pub name: String,
    pub root: PathBuf,
    pub identities: Vec<Identity>,
}

impl LabelledSet {
    /// Reads `root`: every sub-folder holding images is an identity.
    pub fn load(root: &Path) -> Result<LabelledSet, FacesError> {
        let mut identities = Vec::new();
        for folder in subfolders(root)? {
            let Ok(photos) = image_files(&folder) else { continue };
            let name = super::photo::file_name(&folder);
            identities.push(Identity { name, photos });
        }
        if identities.is_empty() {
            return Err(FacesError::Data {
                path: root.to_path_buf(),
                message: "no identity folders with photos in it; expected one sub-folder per person".into(),
            });
        }
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "set".into());
        Ok(LabelledSet {
            name,
            root: root.to_path_buf(),
            identities,
        })
    }

    /// Photos beyond the first of each identity: the probes, if every photo has a face.
    pub fn probe_photos(&self) -> usize {
        self.identities.iter().map(|i| i.photos.len().saturating_sub(1)).sum()
    }
}

/// Photos of other people: the images of `root` and of its sub-folders, one person each.
pub fn distractor_photos(root: &Path) -> Result<Vec<PathBuf>, FacesError> {
    let mut photos = image_files(root).unwrap_or_default();
    for folder in subfolders(root)? {
        photos.extend(image_files(&folder).unwrap_or_default());
    }
    if photos.is_empty() {
        return Err(FacesError::Data {
            path: root.to_path_buf(),
            message: "no photos in it or its sub-folders (png, jpg, jpeg, bmp, webp)".into(),
        });
    }
    Ok(photos)
}

fn subfolders(root: &Path) -> Result<Vec<PathBuf>, FacesError> {
    let entries = std::fs::read_dir(root).map_err(|e| FacesError::Data {
        path: root.to_path_buf(),
        message: format!("cannot read the folder: {e}"),
    })?;
    let mut folders: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    folders.sort();
    Ok(folders)
}
