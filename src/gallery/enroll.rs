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

/// The photo's largest face, aligned to a `size`×`size` crop.
pub fn align_photo(detector: &mut Detector, path: &Path, size: u32) -> Result<BgrImage, GalleryError> {
    let image_error = |message: String| GalleryError::Image {
        path: path.to_path_buf(),
        message,
    };
    let image = BgrImage::load(path).map_err(|e| image_error(e.to_string()))?;
    let faces = detector.detect(&image).map_err(|e| image_error(e.to_string()))?;
    let face = largest_face(&faces).ok_or_else(|| GalleryError::NoFace {
        path: path.to_path_buf(),
    })?;
    align_face(&image, &face.landmarks, size).map_err(|e| image_error(e.to_string()))
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
        let embedding = self.embed_photo(photo)?;
        let space = self.recognizer.embedding_space().to_string();
        gallery.add_template(name, &photo.to_string_lossy(), &space, &embedding)
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
    /// input), so tiny probes meet a template of their own resolution. Returns how many.
    pub fn enroll_degraded(
        &mut self,
        gallery: &mut Gallery,
        name: &str,
        photo: &Path,
        widths: &[u32],
    ) -> Result<usize, GalleryError> {
        let size = self.recognizer.input_size();
        let crop = align_photo(&mut self.detector, photo, size)?;
        let space = self.recognizer.embedding_space().to_string();
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
