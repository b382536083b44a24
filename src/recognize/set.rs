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

    /// Side of the crops `camera`'s model takes (routed models take the same, checked at
    /// start-up).
    pub fn input_size_of(&self, camera: &str) -> u32 {
        self.recognizer(self.model_of(camera)).input_size()
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
