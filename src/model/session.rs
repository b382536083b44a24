use std::fmt;
use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::ValueType;

use super::{ModelCard, ModelError, Provider, environment};

/// Execution provider and device for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub provider: Provider,
    pub device_id: i32,
}

/// Expected tensor shape; `None` marks a dimension the model must leave dynamic.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    pub name: String,
    pub dims: Vec<Option<i64>>,
}

impl fmt::Display for TensorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self
            .dims
            .iter()
            .map(|d| d.map_or("?".to_string(), |v| v.to_string()))
            .collect();
        write!(f, "`{}` [{}]", self.name, dims.join(","))
    }
}

/// An ONNX Runtime session whose inputs and outputs were checked against its card.
pub struct ModelSession {
    pub card: ModelCard,
    pub session: Session,
}

impl ModelSession {
    /// Loads the card's model on the CPU and checks it takes `input` and gives `outputs`.
    pub fn load(
        card: &ModelCard,
        ort_library: Option<&Path>,
        intra_threads: usize,
        input: &TensorSpec,
        outputs: &[TensorSpec],
    ) -> Result<ModelSession, ModelError> {
        let cpu = Placement {
            provider: Provider::Cpu,
            device_id: 0,
        };
        ModelSession::load_on(card, ort_library, intra_threads, cpu, input, outputs)
    }

    /// As [`ModelSession::load`], on the given execution provider.
    pub fn load_on(
        card: &ModelCard,
        ort_library: Option<&Path>,
        intra_threads: usize,
        placement: Placement,
        input: &TensorSpec,
        outputs: &[TensorSpec],
    ) -> Result<ModelSession, ModelError> {
        let path = card.model_path();
        let expected = describe(input, outputs);
        if !path.is_file() {
            return Err(ModelError::FileMissing { path, expected });
        }
        let env = environment(ort_library)?;
        let load_error = |message: String| ModelError::Load {
            path: path.clone(),
            expected: expected.clone(),
            message,
        };
        let session = Session::builder(env)
            .map_err(|e| load_error(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| load_error(e.to_string()))?
            .with_intra_threads(intra_threads.max(1))
            .map_err(|e| load_error(e.to_string()))?
            .with_execution_providers(placement.provider.dispatch(placement.device_id))
            .map_err(|e| ModelError::Provider {
                path: path.clone(),
                provider: placement.provider.name(),
                message: e.to_string(),
            })?
            .commit_from_file(&path)
            .map_err(|e| load_error(e.to_string()))?;
        check_outlets(&path, &expected, &session, input, outputs)?;
        Ok(ModelSession {
            card: card.clone(),
            session,
        })
    }

    pub fn path(&self) -> PathBuf {
        self.card.model_path()
    }

    /// Runs the model on `n` square images of `side` packed as NCHW floats; the values of
    /// its first output, in order.
    pub fn run_nchw(&mut self, input: &[f32], n: usize, side: usize) -> Result<Vec<f32>, ModelError> {
        let path = self.card.model_path();
        let run_error = |e: &dyn fmt::Display| ModelError::Run {
            path: path.clone(),
            message: e.to_string(),
        };
        let view = ndarray::ArrayView4::from_shape((n, 3, side, side), input).map_err(|e| run_error(&e))?;
        let tensor = ort::value::TensorRef::from_array_view(view).map_err(|e| run_error(&e))?;
        let outputs = self
            .session
            .run(ort::inputs![self.card.input.as_str() => tensor])
            .map_err(|e| run_error(&e))?;
        let (_, data) = outputs[self.card.outputs[0].as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| run_error(&e))?;
        Ok(data.to_vec())
    }

    pub fn run_error(&self, e: impl fmt::Display) -> ModelError {
        ModelError::Run {
            path: self.path(),
            message: e.to_string(),
        }
    }
}

fn describe(input: &TensorSpec, outputs: &[TensorSpec]) -> String {
    let outs: Vec<String> = outputs.iter().map(ToString::to_string).collect();
    format!("input {input}, outputs {}", outs.join(", "))
}

fn check_outlets(
    path: &Path,
    expected: &str,
    session: &Session,
    input: &TensorSpec,
    outputs: &[TensorSpec],
) -> Result<(), ModelError> {
    let mismatch = |message: String| ModelError::Shape {
        path: path.to_path_buf(),
        expected: expected.to_string(),
        message,
    };
    let find = |outlets: &[ort::value::Outlet], spec: &TensorSpec, kind: &str| {
        outlets
            .iter()
            .find(|o| o.name() == spec.name)
            .map(|o| o.dtype().clone())
            .ok_or_else(|| {
                let names: Vec<&str> = outlets.iter().map(|o| o.name()).collect();
                mismatch(format!("no {kind} named `{}` (it has {names:?})", spec.name))
            })
    };
    let actual = find(session.inputs(), input, "input")?;
    check_dims(&actual, input).map_err(mismatch)?;
    for spec in outputs {
        let actual = find(session.outputs(), spec, "output")?;
        check_dims(&actual, spec).map_err(mismatch)?;
    }
    Ok(())
}

/// Model dims of -1 are dynamic. A spec's `None` demands a dynamic dim (so batching works);
/// `Some(v)` accepts `v` or a dynamic dim.
fn check_dims(actual: &ValueType, spec: &TensorSpec) -> Result<(), String> {
    let ValueType::Tensor { shape, .. } = actual else {
        return Err(format!("`{}` is not a tensor", spec.name));
    };
    let dims: Vec<i64> = shape.iter().copied().collect();
    if dims.len() != spec.dims.len() {
        return Err(format!("`{}` has shape {dims:?}", spec.name));
    }
    for (i, (&have, want)) in dims.iter().zip(&spec.dims).enumerate() {
        let ok = match want {
            None => have < 0,
            Some(v) => have < 0 || have == *v,
        };
        if !ok {
            return Err(format!("`{}` has shape {dims:?}; dimension {i} is wrong", spec.name));
        }
    }
    Ok(())
}
