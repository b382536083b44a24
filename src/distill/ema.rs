//! An exponential moving average of the trained weights: the average of the last few hundred
//! steps sits nearer the middle of the valley the optimiser rattles around in, and, starting
//! from the teacher, moves away from it more slowly — both help a fine-tuned teacher forget
//! less.

use std::collections::HashMap;
use std::path::Path;

use candle_core::Tensor;

use super::DistillError;
use super::net::Net;

pub(super) struct Ema {
    decay: f64,
    /// Averages of the trainable weights, by name.
    weights: HashMap<String, Tensor>,
}

impl Ema {
    /// Starts at the network's current weights.
    pub(super) fn new(decay: f64, net: &Net) -> Result<Ema, DistillError> {
        let weights = net
            .trainable()
            .into_iter()
            .map(|(name, var)| Ok((name.to_string(), var.as_detached_tensor().copy()?)))
            .collect::<Result<_, DistillError>>()?;
        Ok(Ema { decay, weights })
    }

    /// Restores averages saved by [`Ema::save_into`]; weights missing from `tensors` (a
    /// checkpoint from a run without the average) keep where [`Ema::new`] started them.
    pub(super) fn restore(&mut self, tensors: &mut HashMap<String, Tensor>) {
        for (name, weight) in &mut self.weights {
            if let Some(saved) = tensors.remove(&format!("ema/{name}")) {
                *weight = saved;
            }
        }
    }

    pub(super) fn save_into(&self, tensors: &mut HashMap<String, Tensor>) {
        for (name, weight) in &self.weights {
            tensors.insert(format!("ema/{name}"), weight.clone());
        }
    }

    /// average ← decay · average + (1 − decay) · weight, after an optimiser step.
    pub(super) fn update(&mut self, net: &Net) -> Result<(), DistillError> {
        for (name, var) in net.trainable() {
            if let Some(average) = self.weights.get_mut(name) {
                let current = var.as_detached_tensor();
                *average = ((&*average * self.decay)? + (current * (1.0 - self.decay))?)?;
            }
        }
        Ok(())
    }

    /// Puts the averaged weights into the network (for good: the export).
    pub(super) fn install(&self, net: &Net) -> Result<(), DistillError> {
        let mut averaged = copied(net)?;
        averaged.extend(self.weights.iter().map(|(k, v)| (k.clone(), v.clone())));
        net.load_tensors(&averaged, Path::new("<moving average>"))
    }

    /// Runs `f` with the averaged weights in the network, then puts the trained ones back.
    pub(super) fn with_average<T>(
        &self,
        net: &Net,
        f: impl FnOnce(&Net) -> Result<T, DistillError>,
    ) -> Result<T, DistillError> {
        let trained = copied(net)?;
        self.install(net)?;
        let result = f(net);
        net.load_tensors(&trained, Path::new("<trained weights>"))?;
        result
    }
}

/// The network's weights as copies: a var's detached tensor shares its storage, which
/// `load_tensors` overwrites (and candle refuses to set a var from its own storage).
fn copied(net: &Net) -> Result<HashMap<String, Tensor>, DistillError> {
    net.tensors()
        .into_iter()
        .map(|(name, t)| Ok((name, t.copy()?)))
        .collect()
}
