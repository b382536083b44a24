//! The recognizers of one worker: the default model plus any per-camera model (e.g. one
//! adapted to that camera with `squint adapt`). Crops are batched per model.

use std::collections::HashMap;

use super::{RecognizeError, Recognizer};
use crate::image::BgrImage;

pub struct RecognizerSet {
    models: Vec<Recognizer>,
    /// Index into `models` for cameras that do not use the default (index 0).
    by_camera: HashMap<String, usize>,
}

impl RecognizerSet {
    pub fn new(default: Recognizer) -> RecognizerSet {
        RecognizerSet {
            models: vec![default],
            by_camera: HashMap::new(),
        }
    }

    /// Adds a model and returns its index, for [`RecognizerSet::assign`].
    pub fn add(&mut self, recognizer: Recognizer) -> usize {
        self.models.push(recognizer);
        self.models.len() - 1
    }

    pub fn assign(&mut self, camera: &str, model: usize) {
        self.by_camera.insert(camera.to_string(), model);
    }

    pub fn model_of(&self, camera: &str) -> usize {
        self.by_camera.get(camera).copied().unwrap_or(0)
    }

    pub fn recognizer(&self, model: usize) -> &Recognizer {
        &self.models[model.min(self.models.len() - 1)]
    }

    /// Side of the crops `camera`'s model takes.
    pub fn input_size_of(&self, camera: &str) -> u32 {
        self.recognizer(self.model_of(camera)).input_size()
    }

    /// Embeds crops of many cameras: one batch per model, results in the crops' order.
    /// A failed batch yields its error for each of its crops.
    pub fn embed(&mut self, crops: &[(&str, &BgrImage)]) -> Vec<Result<Vec<f32>, String>> {
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); self.models.len()];
        for (i, (camera, _)) in crops.iter().enumerate() {
            groups[self.model_of(camera)].push(i);
        }
        let mut out: Vec<Result<Vec<f32>, String>> = vec![Err(String::new()); crops.len()];
        for (model, indices) in groups.iter().enumerate().filter(|(_, g)| !g.is_empty()) {
            let images: Vec<&BgrImage> = indices.iter().map(|&i| crops[i].1).collect();
            match self.models[model].embed(&images) {
                Ok(embeddings) => {
                    for (&i, embedding) in indices.iter().zip(embeddings) {
                        out[i] = Ok(embedding);
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
