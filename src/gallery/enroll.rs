use std::path::Path;

use super::{Gallery, GalleryError};
use crate::align::align_face;
use crate::detect::Detector;
use crate::image::BgrImage;
use crate::recognize::Recognizer;
use crate::types::Detection;

/// The largest face of a detection list (enrolment photos show one person up close).
pub fn largest_face(faces: &[Detection]) -> Option<&Detection> {
    faces.iter().max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area()))
}

/// Longest side of the copy the detector sees at enrolment. Photos are detected at native
/// scale on a copy at most this large (never the pipeline's upscaled search), then aligned
/// on the full-resolution photo: the cost stays ~0.1 s whatever the camera that took it, and
/// one fixed scale keeps templates stable (the same photo detected at ×1 and ×1.5 gives
/// embeddings only 0.91–0.97 apart, from landmark jitter alone).
pub const ENROL_DETECT_SIDE: u32 = 1280;

/// Photos above this many pixels are refused before they are decoded (10000×10000).
pub const MAX_PHOTO_PIXELS: u64 = 100_000_000;

/// The photo's largest face, aligned to a `size`×`size` crop.
pub fn align_photo(detector: &mut Detector, path: &Path, size: u32) -> Result<BgrImage, GalleryError> {
    let image_error = |message: String| GalleryError::Image {
        path: path.to_path_buf(),
        message,
    };
    check_photo_size(path)?;
    let image = BgrImage::load(path).map_err(|e| image_error(e.to_string()))?;
    let face = photo_face(detector, &image)
        .map_err(|e| image_error(e.to_string()))?
        .ok_or_else(|| GalleryError::NoFace {
            path: path.to_path_buf(),
        })?;
    align_face(&image, &face.landmarks, size).map_err(|e| image_error(e.to_string()))
}

/// Refuses a photo whose header declares an absurd size, before decoding it would take
/// seconds and gigabytes. A header that cannot be read is left to the decoder to report.
fn check_photo_size(path: &Path) -> Result<(), GalleryError> {
    let Ok(size) = imagesize::size(path) else { return Ok(()) };
    let pixels = size.width as u64 * size.height as u64;
    if pixels > MAX_PHOTO_PIXELS {
        return Err(GalleryError::Image {
            path: path.to_path_buf(),
            message: format!(
                "{}×{} px is too large to enrol (at most {} megapixels); scale it down so the face is a few hundred pixels wide",
                size.width,
                size.height,
                MAX_PHOTO_PIXELS / 1_000_000
            ),
        });
    }
    Ok(())
}

/// The largest face of a photo, in the photo's own pixels: looked for on a copy no longer
/// than [`ENROL_DETECT_SIDE`], then on half and a quarter of that, since YuNet misses
/// faces that fill most of its input.
pub fn photo_face(detector: &mut Detector, image: &BgrImage) -> Result<Option<Detection>, crate::detect::DetectError> {
    let longest = image.width.max(image.height).max(1);
    let mut tried = Vec::new();
    for side in [ENROL_DETECT_SIDE, ENROL_DETECT_SIDE / 2, ENROL_DETECT_SIDE / 4] {
        let scale = (side as f32 / longest as f32).min(1.0);
        let (width, height) = (
            ((image.width as f32 * scale).round() as u32).max(1),
            ((image.height as f32 * scale).round() as u32).max(1),
        );
        if tried.contains(&width) {
            continue;
        }
        tried.push(width);
        let copy = match scale < 1.0 {
            true => image.resized(width, height)?,
            false => image.clone(),
        };
        let faces = detector.detect(&copy)?;
        if let Some(face) = largest_face(&faces) {
            return Ok(Some(face.clone().scaled(image.width as f32 / width as f32)));
        }
    }
    Ok(None)
}

/// Turns photos into gallery templates: detect the largest face, align, embed.
pub struct Enroller {
    pub detector: Detector,
    pub recognizer: Recognizer,
}

impl Enroller {
    /// Embeds the photo's largest face and stores it as a template of `name`, in the
    /// recognizer's embedding space.
    pub fn enroll(&mut self, gallery: &mut Gallery, name: &str, photo: &Path) -> Result<(), GalleryError> {
        self.enroll_multi_res(gallery, name, photo, &[]).map(drop)
    }

    /// Stores the photo's face as a negative of `name`: faces closer to it than to `name`'s
    /// own templates are not matched to `name`.
    pub fn enroll_negative(&mut self, gallery: &mut Gallery, name: &str, photo: &Path) -> Result<(), GalleryError> {
        let embedding = self.embed_photo(photo)?;
        let space = self.recognizer.embedding_space().to_string();
        gallery.add_negative(name, &photo.to_string_lossy(), &space, &embedding)
    }

    /// Multi-resolution enrolment: besides the photo's own template, stores templates of the
    /// face degraded to each of `widths` pixels (down-sampled, then back up to the model's
    /// input), so tiny probes meet a template of their own resolution. The photo is detected
    /// and aligned once for all of them. Returns how many degraded templates were stored.
    pub fn enroll_multi_res(
        &mut self,
        gallery: &mut Gallery,
        name: &str,
        photo: &Path,
        widths: &[u32],
    ) -> Result<usize, GalleryError> {
        let size = self.recognizer.input_size();
        let crop = align_photo(&mut self.detector, photo, size)?;
        let space = self.recognizer.embedding_space().to_string();
        let embedding = self.embed_crop(&crop, photo)?;
        gallery.add_template(name, &photo.to_string_lossy(), &space, &embedding)?;
        let image_error = |message: String| GalleryError::Image {
            path: photo.to_path_buf(),
            message,
        };
        for &width in widths {
            let degraded = crop
                .resized(width, width)
                .and_then(|small| small.resized(size, size))
                .map_err(|e| image_error(e.to_string()))?;
            let embedding = self.embed_crop(&degraded, photo)?;
            let source = format!("{}@{width}px", photo.to_string_lossy());
            gallery.add_template(name, &source, &space, &embedding)?;
        }
        Ok(widths.len())
    }

    pub fn embed_photo(&mut self, path: &Path) -> Result<Vec<f32>, GalleryError> {
        let crop = align_photo(&mut self.detector, path, self.recognizer.input_size())?;
        self.embed_crop(&crop, path)
    }

    fn embed_crop(&mut self, crop: &BgrImage, path: &Path) -> Result<Vec<f32>, GalleryError> {
        let image_error = |message: String| GalleryError::Image {
            path: path.to_path_buf(),
            message,
        };
        let mut embeddings = self.recognizer.embed(&[crop]).map_err(|e| image_error(e.to_string()))?;
        embeddings
            .pop()
            .ok_or_else(|| image_error("recognizer returned no embedding".into()))
    }
}
