//! Reading, building and writing ONNX graphs with candle-onnx's generated protobuf types.

use std::collections::HashMap;
use std::path::Path;

use candle_onnx::onnx::{
    AttributeProto, NodeProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto, tensor_proto,
    tensor_shape_proto, type_proto,
};
use prost::Message;

pub use candle_onnx::onnx::ModelProto;

use super::DistillError;

pub fn read(path: &Path) -> Result<ModelProto, DistillError> {
    let bytes = std::fs::read(path).map_err(|e| DistillError::Onnx {
        path: path.to_path_buf(),
        message: format!("cannot read it: {e}"),
    })?;
    ModelProto::decode(bytes.as_slice()).map_err(|e| DistillError::Onnx {
        path: path.to_path_buf(),
        message: format!("not an ONNX model: {e}"),
    })
}

/// Writes through a temporary file so a failed write never leaves half a model behind.
pub fn write(model: &ModelProto, path: &Path) -> Result<(), DistillError> {
    let io_error = |e: std::io::Error| DistillError::Onnx {
        path: path.to_path_buf(),
        message: format!("cannot write it: {e}"),
    };
    let tmp = path.with_extension("onnx.tmp");
    std::fs::write(&tmp, model.encode_to_vec()).map_err(io_error)?;
    std::fs::rename(&tmp, path).map_err(io_error)
}

pub fn float_tensor(name: &str, dims: &[usize], values: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: tensor_proto::DataType::Float as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

pub fn int64_tensor(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![values.len() as i64],
        data_type: tensor_proto::DataType::Int64 as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// The values of a float initializer, stored either as raw bytes or as `float_data`.
pub fn float_values(tensor: &TensorProto) -> Option<Vec<f32>> {
    if tensor.data_type != tensor_proto::DataType::Float as i32 {
        return None;
    }
    if !tensor.raw_data.is_empty() {
        let values = tensor.raw_data.chunks_exact(4);
        return Some(values.map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect());
    }
    Some(tensor.float_data.clone())
}

/// Every float initializer of the model's graph: name → (dims, values).
pub fn float_initializers(model: &ModelProto) -> HashMap<String, (Vec<i64>, Vec<f32>)> {
    model
        .graph
        .iter()
        .flat_map(|g| &g.initializer)
        .filter_map(|t| float_values(t).map(|v| (t.name.clone(), (t.dims.clone(), v))))
        .collect()
}

pub fn set_float_values(tensor: &mut TensorProto, values: &[f32]) {
    tensor.float_data.clear();
    tensor.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
}

pub fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str], attributes: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: attributes,
        ..Default::default()
    }
}

pub fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_proto::AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

pub fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_proto::AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

pub fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_proto::AttributeType::Float as i32,
        f: value,
        ..Default::default()
    }
}

/// A float tensor graph input or output; `None` dimensions are the dynamic batch.
pub fn float_value(name: &str, dims: Option<&[Option<i64>]>) -> ValueInfoProto {
    let shape = dims.map(|dims| TensorShapeProto {
        dim: dims
            .iter()
            .map(|d| tensor_shape_proto::Dimension {
                value: Some(match d {
                    Some(v) => tensor_shape_proto::dimension::Value::DimValue(*v),
                    None => tensor_shape_proto::dimension::Value::DimParam("batch".into()),
                }),
                ..Default::default()
            })
            .collect(),
    });
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: tensor_proto::DataType::Float as i32,
                shape,
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The version of the default ONNX operator set the model imports.
pub fn opset(model: &ModelProto) -> i64 {
    model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(0, |o| o.version)
}
