//! Weight interpolation between a model and its fine-tuned copy (WiSE-FT): every trained
//! tensor becomes `(1 − α) · base + α · tuned`. Fine-tuning on a few hundred people moves
//! SFace toward tiny faces but away from what tells other people apart; a point on the line
//! between the two keeps most of both, and needs no training. α is chosen on a validation side.
//! A model fine-tuned at a smaller input (`distill --init teacher --input-size 56`) blends with
//! the base's network at that size: the base's dense head resampled exactly as that training
//! started from it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::DistillError;
use super::chain::FaceChain;
use super::export::{DerivedCard, derived_card, model_path_beside};
use super::onnx;
use crate::model::ModelCard;

#[derive(Clone, Copy)]
pub struct BlendRequest<'a> {
    /// The original model (α = 0), e.g. SFace.
    pub base: &'a Path,
    /// Its fine-tuned copy (α = 1): the same graph with other weights.
    pub tuned: &'a Path,
    pub alpha: f32,
    /// The blended model's card; the ONNX file is written beside it.
    pub out_card: &'a Path,
    /// The new card's id (default: `<tuned id>-a<α>`).
    pub id: Option<&'a str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlendReport {
    pub id: String,
    pub alpha: f32,
    pub card: PathBuf,
    pub model: PathBuf,
    /// Float tensors interpolated.
    pub tensors: usize,
    /// Values interpolated.
    pub values: usize,
    /// ‖tuned − base‖ / ‖base‖ over all interpolated values: how far fine-tuning moved.
    pub tuned_relative_distance: f64,
    /// The input size the base was resampled to, when the tuned model takes smaller crops.
    pub base_resampled_to: Option<u32>,
}

/// Writes `(1 − α) · base + α · tuned` as a model and card beside `out_card`.
pub fn blend(request: &BlendRequest) -> Result<BlendReport, DistillError> {
    let alpha = request.alpha;
    if !(0.0..=1.0).contains(&alpha) || alpha.is_nan() {
        return Err(DistillError::Invalid(format!(
            "--alpha {alpha} is outside 0..=1 (0 = the base model, 1 = the fine-tuned one)"
        )));
    }
    let base_card = ModelCard::load(request.base)?;
    let tuned_card = ModelCard::load(request.tuned)?;
    check_cards(request, &base_card, &tuned_card)?;
    let base_path = base_card.model_path();
    let tuned_path = tuned_card.model_path();
    let (base, base_resampled_to) = base_initializers(&base_card, &tuned_card)?;
    let mut model = onnx::read(&tuned_path)?;
    let graph = model.graph.as_mut().ok_or_else(|| DistillError::Onnx {
        path: tuned_path.clone(),
        message: "it has no graph".into(),
    })?;
    let (mut tensors, mut values, mut moved, mut norm) = (0, 0, 0f64, 0f64);
    for tensor in &mut graph.initializer {
        let Some(tuned) = onnx::float_values(tensor) else {
            continue;
        };
        let Some((dims, original)) = base.get(&tensor.name) else {
            return Err(mismatch(&base_path, &tensor.name, "is missing"));
        };
        if *dims != tensor.dims || original.len() != tuned.len() {
            let message = format!("has shape {dims:?}, the fine-tuned model's has {:?}", tensor.dims);
            return Err(mismatch(&base_path, &tensor.name, &message));
        }
        let mixed: Vec<f32> = original
            .iter()
            .zip(&tuned)
            .map(|(b, t)| (1.0 - alpha) * b + alpha * t)
            .collect();
        moved += original
            .iter()
            .zip(&tuned)
            .map(|(b, t)| f64::from(t - b).powi(2))
            .sum::<f64>();
        norm += original.iter().map(|b| f64::from(*b).powi(2)).sum::<f64>();
        onnx::set_float_values(tensor, &mixed);
        tensors += 1;
        values += mixed.len();
    }
    let model_out = model_path_beside(request.out_card);
    onnx::write(&model, &model_out)?;
    let id = request
        .id
        .map_or_else(|| format!("{}-a{}", tuned_card.id, alpha_label(alpha)), str::to_string);
    let resampled = base_resampled_to.map_or(String::new(), |size| format!(" at {size} px"));
    let header = format!(
        "# Weight interpolation written by `squint blend`: each weight is {:.2} x `{}`{resampled} + {alpha:.2} x `{}`\n\
         # (fine-tuned). Same inputs, outputs and embedding space as both; it inherits the\n\
         # fine-tuned model's data and licence.\n",
        1.0 - alpha,
        base_card.id,
        tuned_card.id,
    );
    derived_card(
        request.tuned,
        request.out_card,
        &DerivedCard {
            id: &id,
            model: &model_out,
            header: &header,
            licence: None,
            input_size: None,
        },
    )?;
    Ok(BlendReport {
        id,
        alpha,
        card: request.out_card.to_path_buf(),
        model: model_out,
        tensors,
        values,
        tuned_relative_distance: (moved / norm.max(f64::MIN_POSITIVE)).sqrt(),
        base_resampled_to,
    })
}

/// The base's float initializers; for a tuned model of a smaller input, those of the base's
/// network at that size (with the size it was resampled to).
fn base_initializers(base: &ModelCard, tuned: &ModelCard) -> Result<(Initializers, Option<u32>), DistillError> {
    if base.input_size == tuned.input_size {
        return Ok((onnx::float_initializers(&onnx::read(&base.model_path())?), None));
    }
    let size = tuned.input_size.map_or(0, |[w, _]| w);
    let resampled = FaceChain::load_at(base, size)?.onnx_model()?;
    Ok((onnx::float_initializers(&resampled), Some(size)))
}

/// `0.3` → `"0.3"`, `0.25` → `"0.25"`: the shortest form that names α.
fn alpha_label(alpha: f32) -> String {
    let text = format!("{alpha:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Both cards must describe the same network fed the same way.
fn check_cards(request: &BlendRequest, base: &ModelCard, tuned: &ModelCard) -> Result<(), DistillError> {
    let differ = |what: &str, a: String, b: String| {
        Err(DistillError::Invalid(format!(
            "{} and {} differ in {what} ({a} vs {b}): only a model and its own fine-tuned copy can be blended",
            request.base.display(),
            request.tuned.display()
        )))
    };
    if base.embedding_space != tuned.embedding_space {
        return differ(
            "embedding_space",
            format!("{:?}", base.embedding_space),
            format!("{:?}", tuned.embedding_space),
        );
    }
    let smaller = matches!((base.input_size, tuned.input_size), (Some([bw, bh]), Some([tw, th])) if tw == th && tw < bw && th < bh);
    if base.input_size != tuned.input_size && !smaller {
        return differ(
            "input_size",
            format!("{:?}", base.input_size),
            format!("{:?}", tuned.input_size),
        );
    }
    if base.input != tuned.input || base.outputs != tuned.outputs {
        return differ(
            "input/outputs",
            format!("{} → {:?}", base.input, base.outputs),
            format!("{} → {:?}", tuned.input, tuned.outputs),
        );
    }
    Ok(())
}

fn mismatch(base: &Path, tensor: &str, what: &str) -> DistillError {
    DistillError::Onnx {
        path: base.to_path_buf(),
        message: format!(
            "initializer `{tensor}` of the fine-tuned model {what} here: only a model and its own fine-tuned copy can be blended"
        ),
    }
}

type Initializers = HashMap<String, (Vec<i64>, Vec<f32>)>;

#[cfg(test)]
mod tests {
    use super::alpha_label;

    #[test]
    fn alpha_labels_are_short() {
        assert_eq!(alpha_label(0.3), "0.3");
        assert_eq!(alpha_label(0.25), "0.25");
        assert_eq!(alpha_label(1.0), "1");
    }
}
