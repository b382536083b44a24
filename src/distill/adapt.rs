//! Adaptive batch normalisation: re-estimate every BN layer's mean and variance on unlabeled
//! crops from one camera, so the network normalises that camera's faces (its exposure, noise,
//! compression) the way it normalised its training faces. Works on any ONNX model with unfused
//! BatchNormalization nodes — the teacher (SFace has 29) or a distilled student.
//!
//! All statistics come from one pass: each BN node is fed the batch mean and variance of its own
//! input (computed in the graph), so every layer sees inputs already normalised by the adapted
//! layers before it, exactly as the adapted model will.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ndarray::ArrayView4;
use ort::session::Session;
use ort::value::TensorRef;
use serde::Serialize;

use super::DistillError;
use super::dataset::{image_files, load_image};
use super::onnx::{self, ModelProto};
use crate::image::BgrImage;
use crate::model::ModelCard;
use crate::recognize::pack_crops;

#[derive(Debug, Clone, Serialize)]
pub struct AdaptReport {
    pub layers: usize,
    pub crops: usize,
    pub card: PathBuf,
    pub model: PathBuf,
    /// Largest change of a running mean, in units of the old standard deviation.
    pub largest_mean_shift: f32,
}

pub struct AdaptRequest<'a> {
    pub card: &'a Path,
    pub crops: &'a Path,
    /// The new card; the model is written beside it as `<stem>.onnx`.
    pub out_card: &'a Path,
    pub ort_library: Option<&'a Path>,
    pub threads: usize,
    /// At most this many crops (evenly spread over the folder) go into the one batch.
    pub max_crops: usize,
}

/// One BN node: its input and the initializers holding its running statistics.
struct BnLayer {
    input: String,
    mean: String,
    var: String,
}

pub fn adapt_model(request: &AdaptRequest) -> Result<AdaptReport, DistillError> {
    let card = ModelCard::load(request.card)?;
    let model_path = card.model_path();
    let mut model = onnx::read(&model_path)?;
    let layers = bn_layers(&model, &model_path)?;
    let crops = load_camera_crops(request.crops, &card, request.max_crops)?;
    let (stats_model, names) = batch_statistics_graph(&model, &layers)?;
    let outputs = run(
        &stats_model,
        &card,
        &crops,
        &names,
        request.ort_library,
        request.threads,
    )?;
    let mut largest_mean_shift = 0f32;
    for (layer, (mean_name, var_name)) in layers.iter().zip(names.chunks_exact(2).map(|p| (&p[0], &p[1]))) {
        let old_mean = initializer_values(&model, &layer.mean, &model_path)?;
        let old_var = initializer_values(&model, &layer.var, &model_path)?;
        for ((new, old), var) in outputs[mean_name].iter().zip(&old_mean).zip(&old_var) {
            largest_mean_shift = largest_mean_shift.max((new - old).abs() / var.sqrt().max(1e-6));
        }
        set_initializer(&mut model, &layer.mean, &outputs[mean_name]);
        set_initializer(&mut model, &layer.var, &outputs[var_name]);
    }
    let model_out = super::export::model_path_beside(request.out_card);
    onnx::write(&model, &model_out)?;
    write_card(request, &card, &model_out, crops.len())?;
    Ok(AdaptReport {
        layers: layers.len(),
        crops: crops.len(),
        card: request.out_card.to_path_buf(),
        model: model_out,
        largest_mean_shift,
    })
}

/// The input tensor of every BN layer, in graph order (for inspecting activations).
pub fn bn_inputs(model: &ModelProto, path: &Path) -> Result<Vec<String>, DistillError> {
    Ok(bn_layers(model, path)?.into_iter().map(|l| l.input).collect())
}

fn bn_layers(model: &ModelProto, path: &Path) -> Result<Vec<BnLayer>, DistillError> {
    let graph = model.graph.as_ref().ok_or_else(|| DistillError::Onnx {
        path: path.to_path_buf(),
        message: "it has no graph".into(),
    })?;
    let layers: Vec<BnLayer> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "BatchNormalization" && n.input.len() == 5)
        .map(|n| BnLayer {
            input: n.input[0].clone(),
            mean: n.input[3].clone(),
            var: n.input[4].clone(),
        })
        .collect();
    if layers.is_empty() {
        return Err(DistillError::Onnx {
            path: path.to_path_buf(),
            message: "it has no BatchNormalization layers (folded into the convolutions at export?); adaptive BN needs a model with unfused BN, e.g. SFace or a student from `squint distill`".into(),
        });
    }
    Ok(layers)
}

/// The crops of one camera at the model's input size (resized when they are not).
fn load_camera_crops(folder: &Path, card: &ModelCard, max_crops: usize) -> Result<Vec<BgrImage>, DistillError> {
    let [size, _] = card.input_size.ok_or_else(|| {
        DistillError::Invalid(format!(
            "model card {} has no input_size; adapt works on recognizers",
            card.card_path.display()
        ))
    })?;
    let files = image_files(folder)?;
    let step = files.len().div_ceil(max_crops.max(2));
    let mut crops = Vec::new();
    for path in files.iter().step_by(step.max(1)) {
        crops.push(load_image(path)?.resized_to(Some((size, size)))?);
    }
    if crops.len() < 2 {
        return Err(DistillError::Data {
            path: folder.to_path_buf(),
            message: "adaptive BN needs at least 2 crops (batch statistics of one crop are meaningless); harvest more from the camera".into(),
        });
    }
    Ok(crops)
}

/// A copy of `model` in which every BN layer normalises with the mean and variance of its
/// own input over the batch (all axes but the channel), and those statistics are graph
/// outputs. Returns the model and the output names, (mean, var) per layer in order.
fn batch_statistics_graph(model: &ModelProto, layers: &[BnLayer]) -> Result<(ModelProto, Vec<String>), DistillError> {
    let mut model = model.clone();
    let axes_as_input = onnx::opset(&model) >= 18;
    let Some(graph) = model.graph.as_mut() else {
        return Err(DistillError::Invalid("model has no graph".into()));
    };
    graph
        .initializer
        .push(onnx::int64_tensor("adapt.shape_ncl", &[0, 0, -1]));
    graph.initializer.push(onnx::int64_tensor("adapt.shape_c", &[-1]));
    graph.initializer.push(onnx::int64_tensor("adapt.axes", &[0, 2]));
    let mut nodes = Vec::with_capacity(graph.node.len() + layers.len() * 7);
    let mut names = Vec::new();
    let mut layer_index = 0;
    for mut node in std::mem::take(&mut graph.node) {
        if node.op_type == "BatchNormalization" && node.input.len() == 5 {
            let p = format!("adapt.{layer_index}");
            let reduce = |input: &str, output: &str| {
                if axes_as_input {
                    let attrs = vec![onnx::int("keepdims", 1)];
                    onnx::node("ReduceMean", output, &[input, "adapt.axes"], &[output], attrs)
                } else {
                    let attrs = vec![onnx::ints("axes", &[0, 2]), onnx::int("keepdims", 1)];
                    onnx::node("ReduceMean", output, &[input], &[output], attrs)
                }
            };
            let x = node.input[0].clone();
            let (x3, m3, d, d2, v3) = (
                format!("{p}.x3"),
                format!("{p}.m3"),
                format!("{p}.d"),
                format!("{p}.d2"),
                format!("{p}.v3"),
            );
            let (mean, var) = (format!("{p}.mean"), format!("{p}.var"));
            nodes.push(onnx::node("Reshape", &x3, &[&x, "adapt.shape_ncl"], &[&x3], vec![]));
            nodes.push(reduce(&x3, &m3));
            nodes.push(onnx::node("Sub", &d, &[&x3, &m3], &[&d], vec![]));
            nodes.push(onnx::node("Mul", &d2, &[&d, &d], &[&d2], vec![]));
            nodes.push(reduce(&d2, &v3));
            nodes.push(onnx::node("Reshape", &mean, &[&m3, "adapt.shape_c"], &[&mean], vec![]));
            nodes.push(onnx::node("Reshape", &var, &[&v3, "adapt.shape_c"], &[&var], vec![]));
            node.input[3] = mean.clone();
            node.input[4] = var.clone();
            graph.output.push(onnx::float_value(&mean, None));
            graph.output.push(onnx::float_value(&var, None));
            names.extend([mean, var]);
            layer_index += 1;
        }
        nodes.push(node);
    }
    graph.node = nodes;
    if layer_index != layers.len() {
        return Err(DistillError::Invalid("BN layers changed while rewriting".into()));
    }
    Ok((model, names))
}

/// `model` with extra graph outputs (e.g. a layer's input), for inspecting activations.
pub fn with_outputs(model: &ModelProto, names: &[&str]) -> ModelProto {
    let mut model = model.clone();
    if let Some(graph) = model.graph.as_mut() {
        graph.output.extend(names.iter().map(|n| onnx::float_value(n, None)));
    }
    model
}

/// Runs `model` (in memory) on the crops packed per `card`, in one batch, and returns the
/// named outputs flattened.
pub fn run(
    model: &ModelProto,
    card: &ModelCard,
    crops: &[BgrImage],
    outputs: &[String],
    ort_library: Option<&Path>,
    threads: usize,
) -> Result<HashMap<String, Vec<f32>>, DistillError> {
    let path = card.model_path();
    let run_error = |e: &dyn std::fmt::Display| crate::model::ModelError::Run {
        path: path.clone(),
        message: e.to_string(),
    };
    let env = crate::model::environment(ort_library)?;
    let bytes = prost::Message::encode_to_vec(model);
    let mut session = Session::builder(env)
        .map_err(|e| run_error(&e))?
        .with_intra_threads(threads.max(1))
        .map_err(|e| run_error(&e))?
        .commit_from_memory(&bytes)
        .map_err(|e| run_error(&e))?;
    let mut input = Vec::new();
    pack_crops(card, &crops.iter().collect::<Vec<_>>(), &mut input);
    let side = crops.first().map_or(0, |c| c.width as usize);
    let view = ArrayView4::from_shape((crops.len(), 3, side, side), &input).map_err(|e| run_error(&e))?;
    let tensor = TensorRef::from_array_view(view).map_err(|e| run_error(&e))?;
    let results = session
        .run(ort::inputs![card.input.as_str() => tensor])
        .map_err(|e| run_error(&e))?;
    let mut values = HashMap::new();
    for name in outputs {
        let (_, data) = results[name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| run_error(&e))?;
        values.insert(name.clone(), data.to_vec());
    }
    Ok(values)
}

pub fn initializer_values(model: &ModelProto, name: &str, path: &Path) -> Result<Vec<f32>, DistillError> {
    model
        .graph
        .as_ref()
        .and_then(|g| g.initializer.iter().find(|t| t.name == name))
        .and_then(onnx::float_values)
        .ok_or_else(|| DistillError::Onnx {
            path: path.to_path_buf(),
            message: format!("BN statistic `{name}` is not a float initializer; cannot adapt it"),
        })
}

fn set_initializer(model: &mut ModelProto, name: &str, values: &[f32]) {
    if let Some(tensor) = model
        .graph
        .as_mut()
        .and_then(|g| g.initializer.iter_mut().find(|t| t.name == name))
    {
        onnx::set_float_values(tensor, values);
    }
}

/// The original card with the new file and an id that says what it was adapted to.
fn write_card(request: &AdaptRequest, card: &ModelCard, model: &Path, crops: usize) -> Result<(), DistillError> {
    let stem = model.file_stem().and_then(|s| s.to_str()).unwrap_or("adapted");
    let header = format!(
        "# `{}` with its batch-norm statistics re-estimated by `squint adapt` on {crops} crops\n# from {}. Same inputs, outputs and embedding space as the original.\n",
        card.id,
        request.crops.display()
    );
    super::export::derived_card(
        request.card,
        request.out_card,
        &super::export::DerivedCard {
            id: &format!("{}+{stem}", card.id),
            model,
            header: &header,
            licence: None,
            input_size: None,
        },
    )
}
