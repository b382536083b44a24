//! Writes a trained student as ONNX (dynamic batch, BN layers kept unfused so `squint adapt`
//! can re-estimate them) and the model card that lets `squint run` use it unchanged.

use std::path::{Path, PathBuf};

use candle_onnx::onnx::{GraphProto, OperatorSetIdProto};

use super::DistillError;
use super::onnx::{self, ModelProto};
use super::student::{BN_EPSILON, BN_MOMENTUM, Student};

pub const INPUT: &str = "input";
pub const OUTPUT: &str = "embedding";
const OPSET: i64 = 13;
/// Pixels are fed as (p − 127.5) / 127.5, RGB, like the training input.
pub const PIXEL_MEAN: f32 = 127.5;
pub const PIXEL_STD: f32 = 127.5;

/// What the card says besides the student's own shape.
pub struct CardInfo<'a> {
    pub id: &'a str,
    pub embedding_space: &'a str,
    pub teacher_id: &'a str,
    /// What the student was trained on, and the licence its weights inherit from it; `None`:
    /// the card tells the user to check their own data's terms.
    pub provenance: Option<&'a Provenance>,
}

/// A student's training data and the terms its weights inherit.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Provenance {
    pub trained_on: String,
    pub licence: String,
}

/// The student as an ONNX graph.
pub fn to_onnx(student: &Student) -> Result<ModelProto, DistillError> {
    let shape = &student.shape;
    let side = shape.input_size as i64;
    let mut graph = GraphProto {
        name: "squint-student".into(),
        input: vec![onnx::float_value(INPUT, Some(&[None, Some(3), Some(side), Some(side)]))],
        output: vec![onnx::float_value(
            OUTPUT,
            Some(&[None, Some(shape.embedding_size as i64)]),
        )],
        ..Default::default()
    };
    for (name, var) in &student.params {
        let values = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
        graph.initializer.push(onnx::float_tensor(name, var.dims(), &values));
    }
    let mut x = INPUT.to_string();
    if shape.lowfreq {
        graph.initializer.push(onnx::float_tensor("haar_gain", &[], &[2.0]));
        let attrs = vec![onnx::ints("kernel_shape", &[2, 2]), onnx::ints("strides", &[2, 2])];
        graph
            .node
            .push(onnx::node("AveragePool", "haar_avg", &[&x], &["haar_avg"], attrs));
        graph.node.push(onnx::node(
            "Mul",
            "haar_ll",
            &["haar_avg", "haar_gain"],
            &["haar_ll"],
            vec![],
        ));
        x = "haar_ll".into();
    }
    for layer in student.layers() {
        let n = &layer.name;
        let (conv, bn, relu) = (format!("{n}.conv"), format!("{n}.bn"), format!("{n}.relu"));
        let k = layer.kernel as i64;
        let (p, s) = (layer.padding as i64, layer.stride as i64);
        let conv_attrs = vec![
            onnx::ints("kernel_shape", &[k, k]),
            onnx::ints("strides", &[s, s]),
            onnx::ints("pads", &[p, p, p, p]),
            onnx::int("group", layer.groups as i64),
        ];
        let weight = format!("{n}.weight");
        graph
            .node
            .push(onnx::node("Conv", &conv, &[&x, &weight], &[&conv], conv_attrs));
        let bn_inputs = [
            conv.clone(),
            format!("{n}.bn_scale"),
            format!("{n}.bn_bias"),
            format!("{n}.bn_mean"),
            format!("{n}.bn_var"),
        ];
        let bn_inputs: Vec<&str> = bn_inputs.iter().map(String::as_str).collect();
        let bn_attrs = vec![
            onnx::float("epsilon", BN_EPSILON as f32),
            onnx::float("momentum", (1.0 - BN_MOMENTUM) as f32),
        ];
        graph
            .node
            .push(onnx::node("BatchNormalization", &bn, &bn_inputs, &[&bn], bn_attrs));
        x = bn;
        if layer.relu {
            graph.node.push(onnx::node("Relu", &relu, &[&x], &[&relu], vec![]));
            x = relu;
        }
    }
    graph.node.push(onnx::node(
        "Flatten",
        "flatten",
        &[&x],
        &["features"],
        vec![onnx::int("axis", 1)],
    ));
    graph.node.push(onnx::node(
        "Gemm",
        "fc",
        &["features", "fc.weight", "fc.bias"],
        &[OUTPUT],
        vec![onnx::int("transB", 1)],
    ));
    Ok(ModelProto {
        ir_version: 8,
        producer_name: "squint".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        graph: Some(graph),
        ..Default::default()
    })
}

/// Writes `<dir>/<stem>.onnx` and `<dir>/<stem>.card.toml`; returns the card's path.
pub fn write(student: &Student, dir: &Path, stem: &str, info: &CardInfo) -> Result<PathBuf, DistillError> {
    std::fs::create_dir_all(dir).map_err(|e| DistillError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let model_file = format!("{stem}.onnx");
    onnx::write(&to_onnx(student)?, &dir.join(&model_file))?;
    let card_path = dir.join(format!("{stem}.card.toml"));
    std::fs::write(&card_path, card_text(student, &model_file, info)).map_err(|e| DistillError::Io {
        path: card_path.clone(),
        source: e,
    })?;
    Ok(card_path)
}

fn card_text(student: &Student, model_file: &str, info: &CardInfo) -> String {
    let s = &student.shape;
    format!(
        "# Student distilled by `squint distill` from the teacher `{teacher}`: it embeds {size}x{size}\n\
         # aligned crops of low-resolution faces into the teacher's embedding space, so galleries\n\
         # enrolled with the teacher match it. Width {width}, {params} parameters{lowfreq}.\n\
         {licence_comment}\
         {fields}\
         embedding_size = {dim}\n\
         embedding_space = \"{space}\"\n\
         {licence_line}",
        teacher = info.teacher_id,
        size = s.input_size,
        width = s.width,
        params = student.parameter_count(),
        lowfreq = if s.lowfreq { ", Haar LL input" } else { "" },
        fields = card_fields(info.id, model_file, s.input_size, OUTPUT),
        dim = s.embedding_size,
        space = info.embedding_space,
        licence_comment = match info.provenance {
            Some(p) => format!("# Trained on: {}.\n# Licence: {}\n", p.trained_on, p.licence),
            None => "# Licence: the weights derive from your training crops and the teacher; check both.\n".into(),
        },
        licence_line = match info.provenance {
            Some(p) => format!("licence = {:?}\n", p.licence),
            None => String::new(),
        },
    )
}

/// The card lines every network trained here shares: its id and file, and the input it
/// takes (a square RGB crop of `side`, pixels as (p − 127.5) / 127.5), one output.
pub fn card_fields(id: &str, model_file: &str, side: u32, output: &str) -> String {
    format!(
        "id = \"{id}\"\n\
         file = \"{model_file}\"\n\
         input = \"{INPUT}\"\n\
         input_size = [{side}, {side}]\n\
         layout = \"NCHW\"\n\
         color = \"RGB\"\n\
         scale = 1.0\n\
         mean = [{PIXEL_MEAN:.1}, {PIXEL_MEAN:.1}, {PIXEL_MEAN:.1}]\n\
         std = [{PIXEL_STD:.1}, {PIXEL_STD:.1}, {PIXEL_STD:.1}]\n\
         outputs = [\"{output}\"]\n"
    )
}

/// The card the student is trained with: the same normalisation the exported card declares.
pub fn training_card(student: &Student) -> crate::model::ModelCard {
    let size = student.shape.input_size;
    crate::model::ModelCard {
        id: "training".into(),
        file: PathBuf::new(),
        input: INPUT.into(),
        input_size: Some([size, size]),
        layout: "NCHW".into(),
        color: crate::model::ColorOrder::Rgb,
        scale: 1.0,
        mean: [PIXEL_MEAN; 3],
        std: [PIXEL_STD; 3],
        outputs: vec![OUTPUT.into()],
        embedding_size: Some(student.shape.embedding_size),
        embedding_space: None,
        licence: None,
        card_path: PathBuf::new(),
    }
}

/// What changes when a card is derived from another (an adapted or fine-tuned copy).
pub struct DerivedCard<'a> {
    pub id: &'a str,
    /// The new model file, beside the new card.
    pub model: &'a Path,
    /// Comment lines (each starting with `#`) put first.
    pub header: &'a str,
    /// Replaces the source card's licence when set.
    pub licence: Option<&'a str>,
    /// Replaces the source card's input size when set.
    pub input_size: Option<u32>,
}

/// `<dir>/<stem>.onnx` for a card written as `<dir>/<stem>.card.toml`: where a derived model
/// goes so that its card's `file` can name it alone.
pub fn model_path_beside(card: &Path) -> PathBuf {
    let stem = card
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.trim_end_matches(".toml").trim_end_matches(".card"))
        .filter(|n| !n.is_empty())
        .unwrap_or("model");
    card.parent().unwrap_or(Path::new(".")).join(format!("{stem}.onnx"))
}

/// Writes `out` as a copy of the card at `source` with a new id, model file and licence.
pub fn derived_card(source: &Path, out: &Path, derived: &DerivedCard) -> Result<(), DistillError> {
    let io_error = |path: &Path, e: std::io::Error| DistillError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let text = std::fs::read_to_string(source).map_err(|e| io_error(source, e))?;
    let mut table: toml::Table =
        toml::from_str(&text).map_err(|e| DistillError::Invalid(format!("{}: {e}", source.display())))?;
    let file = derived.model.file_name().and_then(|s| s.to_str()).unwrap_or_default();
    table.insert("id".into(), toml::Value::String(derived.id.into()));
    table.insert("file".into(), toml::Value::String(file.into()));
    if let Some(licence) = derived.licence {
        table.insert("licence".into(), toml::Value::String(licence.into()));
    }
    if let Some(size) = derived.input_size {
        let side = toml::Value::Integer(size.into());
        table.insert("input_size".into(), toml::Value::Array(vec![side.clone(), side]));
    }
    let body = toml::to_string(&table).map_err(|e| DistillError::Invalid(e.to_string()))?;
    std::fs::write(out, format!("{}{body}", derived.header)).map_err(|e| io_error(out, e))
}
