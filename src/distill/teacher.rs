//! A recognizer's ONNX graph run by candle, its weights as trainable variables: the teacher
//! itself can then be fine-tuned on degraded faces (the accuracy-first student, initialised
//! from SFace) with the same losses and optimiser as the small student.
//!
//! The graph is evaluated by candle-onnx (every SFace op: Conv, BatchNormalization in
//! inference mode, PRelu, Sub, Mul, Dropout, Flatten, Gemm). Weights are taken out of the
//! graph's initializers and fed back as inputs, so gradients reach them.

use std::collections::HashMap;

use candle_core::{DType, Tensor, Var};

use super::DistillError;
use super::onnx::{self, ModelProto};
use crate::model::ModelCard;

pub struct OnnxNet {
    /// The graph without its float initializers (those are `weights`).
    graph: ModelProto,
    weights: Vec<(String, Var)>,
    input: String,
    output: String,
}

impl OnnxNet {
    /// The model a recognizer card points at.
    pub fn load(card: &ModelCard) -> Result<OnnxNet, DistillError> {
        let path = card.model_path();
        let mut graph = onnx::read(&path)?;
        let onnx_error = |message: String| DistillError::Onnx {
            path: path.clone(),
            message,
        };
        let proto = graph
            .graph
            .as_mut()
            .ok_or_else(|| onnx_error("no graph in it".into()))?;
        let mut weights = Vec::new();
        let mut kept = Vec::new();
        for tensor in std::mem::take(&mut proto.initializer) {
            let value = candle_onnx::eval::get_tensor(&tensor, &tensor.name)
                .map_err(|e| onnx_error(format!("initializer {}: {e}", tensor.name)))?;
            if value.dtype() == DType::F32 {
                weights.push((tensor.name.clone(), Var::from_tensor(&value)?));
            } else {
                kept.push(tensor); // shapes and indices stay constants
            }
        }
        proto.initializer = kept;
        let output = card
            .outputs
            .first()
            .cloned()
            .ok_or_else(|| onnx_error(format!("card {} names no output", card.card_path.display())))?;
        Ok(OnnxNet {
            graph,
            weights,
            input: card.input.clone(),
            output,
        })
    }

    /// Raw embeddings [N, D] of a packed input [N, 3, H, W] (as `pack_crops` makes it).
    pub fn forward(&self, input: &Tensor) -> Result<Tensor, DistillError> {
        let mut values: HashMap<String, Tensor> = self
            .weights
            .iter()
            .map(|(name, var)| (name.clone(), var.as_tensor().clone()))
            .collect();
        values.insert(self.input.clone(), input.clone());
        let mut outputs = candle_onnx::simple_eval(&self.graph, values)?;
        outputs
            .remove(&self.output)
            .ok_or_else(|| DistillError::Invalid(format!("the graph produced no output `{}`", self.output)))
    }

    /// The trainable weights, for an optimiser.
    pub fn vars(&self) -> Vec<Var> {
        self.weights.iter().map(|(_, v)| v.clone()).collect()
    }

    /// The trainable weights with their initializer names.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        self.weights.clone()
    }

    pub fn parameters(&self) -> usize {
        self.weights.iter().map(|(_, v)| v.elem_count()).sum()
    }
}
