use std::path::Path;

use super::RecognizeError;
use crate::image::BgrImage;
use crate::model::{ColorOrder, ModelCard, ModelError, ModelSession, Placement, Provider, TensorSpec};

/// Embeds aligned face crops with the model its card describes.
pub struct Recognizer {
    model: ModelSession,
    size: u32,
    embedding_size: usize,
    embedding_space: String,
    /// Reused NCHW input buffer, grown to the largest batch seen.
    input: Vec<f32>,
}

impl Recognizer {
    /// On the CPU.
    pub fn load(card: &ModelCard, ort_library: Option<&Path>, threads: usize) -> Result<Recognizer, RecognizeError> {
        let cpu = Placement {
            provider: Provider::Cpu,
            device_id: 0,
        };
        Recognizer::load_on(card, ort_library, threads, cpu)
    }

    pub fn load_on(
        card: &ModelCard,
        ort_library: Option<&Path>,
        threads: usize,
        placement: Placement,
    ) -> Result<Recognizer, RecognizeError> {
        let (embedding_size, embedding_space) = card.require_embedding()?;
        let [w, h] = card.input_size.unwrap_or([0, 0]);
        if w != h {
            return Err(ModelError::Card {
                path: card.card_path.clone(),
                message: format!("input_size {w}x{h} must be square"),
            }
            .into());
        }
        let input = TensorSpec {
            name: card.input.clone(),
            dims: vec![None, Some(3), Some(h as i64), Some(w as i64)],
        };
        let output_name = card.outputs.first().cloned().unwrap_or_default();
        let output = TensorSpec {
            name: output_name,
            dims: vec![None, Some(embedding_size as i64)],
        };
        let model = ModelSession::load_on(card, ort_library, threads, placement, &input, &[output])?;
        Ok(Recognizer {
            model,
            size: w,
            embedding_size,
            embedding_space,
            input: Vec::new(),
        })
    }

    /// Side of the square crop the model takes.
    pub fn input_size(&self) -> u32 {
        self.size
    }

    pub fn model_id(&self) -> &str {
        &self.model.card.id
    }

    /// The model file the card points at.
    pub fn model_path(&self) -> std::path::PathBuf {
        self.model.card.model_path()
    }

    pub fn embedding_size(&self) -> usize {
        self.embedding_size
    }

    pub fn embedding_space(&self) -> &str {
        &self.embedding_space
    }

    /// L2-normalised embeddings, one per crop, in order.
    pub fn embed(&mut self, crops: &[&BgrImage]) -> Result<Vec<Vec<f32>>, RecognizeError> {
        if crops.is_empty() {
            return Ok(Vec::new());
        }
        for crop in crops {
            if crop.width != self.size || crop.height != self.size || crop.validate().is_err() {
                return Err(RecognizeError::CropSize {
                    width: crop.width,
                    height: crop.height,
                    size: self.size,
                });
            }
        }
        self.fill_input(crops);
        let data = self.model.run_nchw(&self.input, crops.len(), self.size as usize)?;
        if data.len() != crops.len() * self.embedding_size {
            return Err(self
                .model
                .run_error(format!(
                    "output has {} values for {} crops of {}",
                    data.len(),
                    crops.len(),
                    self.embedding_size
                ))
                .into());
        }
        Ok(data
            .chunks_exact(self.embedding_size)
            .map(|chunk| {
                let mut v = chunk.to_vec();
                l2_normalize(&mut v);
                v
            })
            .collect())
    }

    fn fill_input(&mut self, crops: &[&BgrImage]) {
        pack_crops(&self.model.card, crops, &mut self.input);
    }
}

/// Packs equally sized crops as NCHW floats, (pixel·scale − mean) / std in the card's colour
/// order. Shared by the recognizer and by training, so a student learns on exactly the
/// input its card will get.
pub fn pack_crops(card: &ModelCard, crops: &[&BgrImage], input: &mut Vec<f32>) {
    let plane = crops.first().map_or(0, |c| (c.width * c.height) as usize);
    input.resize(crops.len() * 3 * plane, 0.0);
    // Source channel (BGR) feeding each model channel.
    let order = match card.color {
        ColorOrder::Rgb => [2, 1, 0],
        ColorOrder::Bgr => [0, 1, 2],
    };
    for (n, crop) in crops.iter().enumerate() {
        let base = n * 3 * plane;
        for (c, &src) in order.iter().enumerate() {
            let (mean, std) = (card.mean[c], card.std[c]);
            let out = &mut input[base + c * plane..base + (c + 1) * plane];
            for (dst, px) in out.iter_mut().zip(crop.data.chunks_exact(3)) {
                *dst = (px[src] as f32 * card.scale - mean) / std;
            }
        }
    }
}

pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > f32::EPSILON {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}
