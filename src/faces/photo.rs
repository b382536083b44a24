//! A face photo's face, found at full resolution.

use std::path::Path;

use super::FacesError;
use crate::detect::Detector;
use crate::gallery::largest_face;
use crate::image::BgrImage;
use crate::types::Detection;

/// A photo's face as the detector found it at full resolution.
pub struct SharpFace {
    pub image: BgrImage,
    pub detection: Detection,
}

/// Border added around photos before detection, as a fraction of their larger side: datasets
/// crop faces tightly (Olivetti's fill the frame) and YuNet needs some context.
const PAD_FRACTION: f32 = 0.5;

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

/// The largest face of an image already in memory (padded first, like [`find_face`]).
pub fn face_in(detector: &mut Detector, image: &BgrImage) -> Result<Option<SharpFace>, FacesError> {
    let border = (image.width.max(image.height) as f32 * PAD_FRACTION) as u32;
    let image = image.padded(border)?;
    let faces = detector.detect(&image)?;
    Ok(largest_face(&faces)
        .cloned()
        .map(|detection| SharpFace { image, detection }))
}
