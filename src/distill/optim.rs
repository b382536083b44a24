//! The optimiser and its schedule: AdamW with decoupled weight decay, and a cosine learning
//! rate.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use super::DistillError;

/// Learning rate decayed along a cosine from `base` to 5 % of it.
pub fn cosine_rate(base: f64, step: usize, total: usize) -> f64 {
    let t = step as f64 / total.max(1) as f64;
    base * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos()))
}

/// AdamW with decoupled weight decay; its moments are saved in checkpoints so a resumed run
/// continues exactly.
#[derive(Default)]
pub struct AdamW {
    pub(super) first: HashMap<String, Tensor>,
    pub(super) second: HashMap<String, Tensor>,
    pub(super) steps: i32,
}

impl AdamW {
    const BETA1: f64 = 0.9;
    const BETA2: f64 = 0.999;
    const EPSILON: f64 = 1e-8;

    pub fn step(
        &mut self,
        trainable: &[(&str, &Var)],
        grads: &GradStore,
        rate: f64,
        decay: f64,
    ) -> Result<(), DistillError> {
        self.steps += 1;
        let correction1 = 1.0 - Self::BETA1.powi(self.steps);
        let correction2 = 1.0 - Self::BETA2.powi(self.steps);
        for &(name, var) in trainable {
            // Gradients carry the op graph of the step that made them (every activation of
            // the batch); moments kept across steps must not, or memory grows every step.
            let Some(grad) = grads.get(var.as_tensor()).map(Tensor::detach) else {
                continue;
            };
            let grad = &grad;
            let m = match self.first.get(name) {
                Some(m) => ((m * Self::BETA1)? + (grad * (1.0 - Self::BETA1))?)?,
                None => (grad * (1.0 - Self::BETA1))?,
            };
            let v = match self.second.get(name) {
                Some(v) => ((v * Self::BETA2)? + (grad.sqr()? * (1.0 - Self::BETA2))?)?,
                None => (grad.sqr()? * (1.0 - Self::BETA2))?,
            };
            let update = ((&m / correction1)? / ((&v / correction2)?.sqrt()? + Self::EPSILON)?)?;
            let decayed = (var.as_tensor() * (1.0 - rate * decay))?;
            var.set(&(decayed - (update * rate)?)?)?;
            self.first.insert(name.to_string(), m.detach());
            self.second.insert(name.to_string(), v.detach());
        }
        Ok(())
    }

    /// True when no kept moment holds on to a step's op graph.
    #[cfg(test)]
    pub(super) fn holds_no_graph(&self) -> bool {
        self.first.values().chain(self.second.values()).all(|t| !t.track_op())
    }
}
