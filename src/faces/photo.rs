//! A face photo's face, found at full resolution.

use std::path::{Path, PathBuf};

use super::FacesError;
use crate::align::align_face;
use crate::detect::Detector;
use crate::gallery::largest_face;
use crate::image::BgrImage;
use crate::types::Detection;

/// A photo's face as the detector found it at full resolution.
pub struct SharpFace {
    pub image: BgrImage,
    pub detection: Detection,
}

/// Border added around small photos before detection, as a fraction of their larger side:
/// datasets crop faces tightly (Olivetti's 64×64 faces fill the frame) and YuNet needs some
/// context. Larger photos have context of their own.
const PAD_FRACTION: f32 = 0.5;
const PAD_BELOW_SIDE: u32 = 256;

/// The photo's largest face, `None` when the detector finds none.
pub fn find_face(detector: &mut Detector, path: &Path, grey: bool) -> Result<Option<SharpFace>, FacesError> {
    let photo_error = |message: String| FacesError::Data {
        path: path.to_path_buf(),
        message,
    };
    let image = BgrImage::load(path).map_err(|e| photo_error(e.to_string()))?;
    let image = if grey { image.grey() } else { image };
    face_in(detector, &image).map_err(|e| photo_error(e.to_string()))
}

/// Photos are shrunk to at most this side before detection: a portrait's face stays far
/// above the recognizer's 112 px, and a multi-megapixel photo would grow the detector's
/// working memory by gigabytes.
const MAX_SIDE: u32 = 1280;

/// The largest face of an image already in memory, shrunk and padded as [`find_face`] does.
pub fn face_in(detector: &mut Detector, image: &BgrImage) -> Result<Option<SharpFace>, FacesError> {
    let side = image.width.max(image.height);
    let image = if side > MAX_SIDE {
        let k = MAX_SIDE as f32 / side as f32;
        let size = (
            (image.width as f32 * k).round() as u32,
            (image.height as f32 * k).round() as u32,
        );
        image.resized(size.0.max(1), size.1.max(1))?
    } else {
        image.clone()
    };
    let side = image.width.max(image.height);
    let image = if side < PAD_BELOW_SIDE {
        image.padded((side as f32 * PAD_FRACTION) as u32)?
    } else {
        image
    };
    let faces = detector.detect(&image)?;
    Ok(largest_face(&faces)
        .cloned()
        .map(|detection| SharpFace { image, detection }))
}

/// Photos' faces aligned for a recognizer, with the photos in which no face was found.
pub struct AlignedPhotos {
    pub paths: Vec<PathBuf>,
    /// At the recognizer's input size, one per entry of `paths`.
    pub crops: Vec<BgrImage>,
    pub without_face: Vec<PathBuf>,
}

impl AlignedPhotos {
    /// The file names of the photos with a face, in order.
    pub fn names(&self) -> Vec<String> {
        self.paths.iter().map(|p| file_name(p)).collect()
    }
}

/// A photo's file name (not its folder), as the face sets and reports name photos.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Finds each photo's largest face ([`find_face`]) and aligns it at `size`×`size`.
pub fn align_photos(
    detector: &mut Detector,
    photos: &[PathBuf],
    size: u32,
    bar: &indicatif::ProgressBar,
) -> Result<AlignedPhotos, FacesError> {
    let mut aligned = AlignedPhotos {
        paths: Vec::new(),
        crops: Vec::new(),
        without_face: Vec::new(),
    };
    for path in photos {
        match find_face(detector, path, false)? {
            Some(face) => {
                aligned
                    .crops
                    .push(align_face(&face.image, &face.detection.landmarks, size)?);
                aligned.paths.push(path.clone());
            }
            None => aligned.without_face.push(path.clone()),
        }
        bar.inc(1);
    }
    Ok(aligned)
}
