//! The recognizers of one worker: the default model, any per-camera model (e.g. one adapted to
//! that camera with `squint adapt`), and the models faces are routed to by their width (e.g.
//! one fine-tuned for tiny faces). Crops are batched per model.

use std::collections::HashMap;
use std::sync::Arc;

use super::{RecognizeError, Recognizer};
use crate::image::BgrImage;

/// Faces of widths `[min_px, max_px)` go to `model`.
#[derive(Debug, Clone, Copy)]
pub struct WidthRoute {
    pub min_px: f32,
    pub max_px: f32,
    pub model: usize,
}

/// The side of the aligned crop a face needs, by its width: the input of the model its width
/// is routed to (a 56 px model for tiny faces beside SFace's 112 px, say). The detect stage
/// aligns each face at this size; the recognize stage routes it by the same width.
#[derive(Debug, Clone, PartialEq)]
pub struct CropSizes {
    default: u32,
    /// `(min_px, max_px, side)` of each route whose model takes another size.
    bands: Vec<(f32, f32, u32)>,
}

impl CropSizes {
    /// One size for every face.
    pub fn uniform(side: u32) -> CropSizes {
        CropSizes {
            default: side,
            bands: Vec::new(),
        }
    }

    pub fn for_width(&self, width_px: f32) -> u32 {
        self.bands
            .iter()
            .find(|(min, max, _)| (*min..*max).contains(&width_px))
            .map_or(self.default, |&(_, _, side)| side)
    }
}

/// One face to embed: its camera, its width in the frame, its aligned crop.
pub type Job<'a> = (&'a str, f32, &'a BgrImage);

pub struct RecognizerSet {
    models: Vec<Recognizer>,
    /// Each model's id, shared by the events of the faces it embeds.
    ids: Vec<Arc<str>>,
    /// Index into `models` for cameras that do not use the default (index 0).
    by_camera: HashMap<String, usize>,
    /// Width routes of cameras without routes of their own.
    site_routes: Vec<WidthRoute>,
    camera_routes: HashMap<String, Vec<WidthRoute>>,
}

impl RecognizerSet {
    pub fn new(default: Recognizer) -> RecognizerSet {
        let mut set = RecognizerSet {
            models: Vec::new(),
            ids: Vec::new(),
            by_camera: HashMap::new(),
            site_routes: Vec::new(),
            camera_routes: HashMap::new(),
        };
        set.add(default);
        set
    }

    /// Adds a model and returns its index, for [`RecognizerSet::assign`] and routes.
    pub fn add(&mut self, recognizer: Recognizer) -> usize {
        self.ids.push(Arc::from(recognizer.model_id()));
        self.models.push(recognizer);
        self.models.len() - 1
    }

    pub fn assign(&mut self, camera: &str, model: usize) {
        self.by_camera.insert(camera.to_string(), model);
    }

    /// Width routes for `camera`, or for every camera without its own when `None`.
    pub fn set_routes(&mut self, camera: Option<&str>, routes: Vec<WidthRoute>) {
        match camera {
            Some(camera) => {
                self.camera_routes.insert(camera.to_string(), routes);
            }
            None => self.site_routes = routes,
        }
    }

    pub fn model_of(&self, camera: &str) -> usize {
        self.by_camera.get(camera).copied().unwrap_or(0)
    }

    /// The model that embeds a face `width_px` wide seen by `camera`.
    pub fn model_for(&self, camera: &str, width_px: f32) -> usize {
        let routes = self.camera_routes.get(camera).unwrap_or(&self.site_routes);
        routes
            .iter()
            .find(|r| (r.min_px..r.max_px).contains(&width_px))
            .map_or_else(|| self.model_of(camera), |r| r.model)
    }

    pub fn recognizer(&self, model: usize) -> &Recognizer {
        &self.models[model.min(self.models.len() - 1)]
    }

    /// Every model's id, by index.
    pub fn model_ids(&self) -> &[Arc<str>] {
        &self.ids
    }

    /// Sides of the crops `camera`'s faces need: its model's input, and each route's model's
    /// input in that route's band.
    pub fn crop_sizes_of(&self, camera: &str) -> CropSizes {
        let routes = self.camera_routes.get(camera).unwrap_or(&self.site_routes);
        self.crop_sizes(self.model_of(camera), routes)
    }

    /// Sides for a camera that arrives later with the site's model and routes (cluster
    /// membership).
    pub fn site_crop_sizes(&self) -> CropSizes {
        self.crop_sizes(0, &self.site_routes)
    }

    fn crop_sizes(&self, model: usize, routes: &[WidthRoute]) -> CropSizes {
        let default = self.recognizer(model).input_size();
        CropSizes {
            default,
            bands: routes
                .iter()
                .map(|r| (r.min_px, r.max_px, self.recognizer(r.model).input_size()))
                .filter(|&(_, _, side)| side != default)
                .collect(),
        }
    }

    /// Embeds crops of many cameras: one batch per model, results (embedding, index of the
    /// model that made it) in the crops' order. A failed batch yields its error for each of
    /// its crops.
    pub fn embed(&mut self, crops: &[Job]) -> Vec<Result<(Vec<f32>, usize), String>> {
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); self.models.len()];
        for (i, (camera, width, _)) in crops.iter().enumerate() {
            groups[self.model_for(camera, *width)].push(i);
        }
        let mut out: Vec<Result<(Vec<f32>, usize), String>> = vec![Err(String::new()); crops.len()];
        for (model, indices) in groups.iter().enumerate().filter(|(_, g)| !g.is_empty()) {
            let images: Vec<&BgrImage> = indices.iter().map(|&i| crops[i].2).collect();
            match self.models[model].embed(&images) {
                Ok(embeddings) => {
                    for (&i, embedding) in indices.iter().zip(embeddings) {
                        out[i] = Ok((embedding, model));
                    }
                }
                Err(e) => {
                    let message = RecognizeError::to_string(&e);
                    for &i in indices {
                        out[i] = Err(message.clone());
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::CropSizes;

    #[test]
    fn a_face_gets_the_crop_size_of_the_band_its_width_falls_in() {
        let sizes = CropSizes {
            default: 112,
            bands: vec![(0.0, 20.0, 56), (30.0, 40.0, 64)],
        };
        assert_eq!(sizes.for_width(12.0), 56);
        assert_eq!(sizes.for_width(19.9), 56);
        assert_eq!(sizes.for_width(20.0), 112, "max_px is exclusive, as in routing");
        assert_eq!(sizes.for_width(35.0), 64);
        assert_eq!(sizes.for_width(80.0), 112);
        assert_eq!(CropSizes::uniform(112).for_width(12.0), 112);
    }
}
