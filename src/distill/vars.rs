//! Named trainable tensors: what every trainable network (student, teacher chain, restorer)
//! gives to checkpoints and takes back from them.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Tensor, Var};

use super::DistillError;

/// The current values, by name (sharing the vars' storage: save them before the next step).
pub fn detached<'a>(vars: impl IntoIterator<Item = (&'a String, &'a Var)>) -> HashMap<String, Tensor> {
    vars.into_iter()
        .map(|(name, var)| (name.clone(), var.as_detached_tensor()))
        .collect()
}

/// Overwrites every var from `tensors` (read from `path`); names and shapes must match what
/// `owner` (the network, in words) has.
pub fn load<'a>(
    vars: impl IntoIterator<Item = (&'a String, &'a Var)>,
    tensors: &HashMap<String, Tensor>,
    path: &Path,
    owner: &str,
) -> Result<(), DistillError> {
    for (name, var) in vars {
        let tensor = tensors.get(name).ok_or_else(|| DistillError::Checkpoint {
            path: path.to_path_buf(),
            message: format!("tensor `{name}` of {owner} is missing"),
        })?;
        if tensor.dims() != var.dims() {
            return Err(DistillError::Checkpoint {
                path: path.to_path_buf(),
                message: format!("tensor `{name}` is {:?}, {owner} has {:?}", tensor.dims(), var.dims()),
            });
        }
        var.set(tensor)?;
    }
    Ok(())
}
