use std::path::Path;

use ndarray::ArrayView4;
use ort::value::TensorRef;

use super::{DetectConfig, DetectError};
use crate::image::BgrImage;
use crate::model::{ModelCard, ModelError, ModelSession, TensorSpec};
use crate::types::{BBox, Detection};

const STRIDES: [u32; 3] = [8, 16, 32];

/// Output name of a YuNet head, e.g. `cls_8`.
fn output_name(head: &str, stride: u32) -> String {
    format!("{head}_{stride}")
}

pub struct Detector {
    model: ModelSession,
    config: DetectConfig,
    /// Reused NCHW input buffer.
    input: Vec<f32>,
}

impl Detector {
    pub fn load(card: &ModelCard, ort_library: Option<&Path>, config: &DetectConfig) -> Result<Detector, DetectError> {
        let input = TensorSpec {
            name: card.input.clone(),
            dims: vec![None, Some(3), None, None],
        };
        // Each output is one row of (images × anchors) values per anchor.
        let outputs: Vec<TensorSpec> = [("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10)]
            .iter()
            .flat_map(|&(head, per_anchor)| STRIDES.map(|s| (output_name(head, s), per_anchor)))
            .map(|(name, per_anchor)| TensorSpec {
                name,
                dims: vec![Some(1), None, Some(per_anchor)],
            })
            .collect();
        let model = ModelSession::load(card, ort_library, config.threads, &input, &outputs)?;
        Ok(Detector {
            model,
            config: config.clone(),
            input: Vec::new(),
        })
    }

    pub fn model_id(&self) -> &str {
        &self.model.card.id
    }

    /// Finds faces in a frame; boxes and landmarks are in the frame's pixels.
    pub fn detect(&mut self, frame: &BgrImage) -> Result<Vec<Detection>, DetectError> {
        frame.validate()?;
        let scale = self.config.upscale;
        let scaled;
        let image = if (scale - 1.0).abs() > f32::EPSILON {
            let w = ((frame.width as f32 * scale).round() as u32).max(1);
            let h = ((frame.height as f32 * scale).round() as u32).max(1);
            scaled = frame.resized(w, h)?;
            &scaled
        } else {
            frame
        };
        let (pad_w, pad_h) = (image.width.div_ceil(32) * 32, image.height.div_ceil(32) * 32);
        fill_input(&mut self.input, image, pad_w, pad_h);
        let mut candidates = self.run(pad_w, pad_h)?;
        let inv = 1.0 / scale;
        for det in &mut candidates {
            det.bbox = BBox {
                x: det.bbox.x * inv,
                y: det.bbox.y * inv,
                w: det.bbox.w * inv,
                h: det.bbox.h * inv,
            };
            for point in &mut det.landmarks {
                *point = (point.0 * inv, point.1 * inv);
            }
        }
        candidates.retain(|d| d.bbox.w >= self.config.min_face_px);
        let mut faces = nms(candidates, self.config.nms_threshold);
        faces.truncate(self.config.max_faces);
        Ok(faces)
    }

    fn run(&mut self, pad_w: u32, pad_h: u32) -> Result<Vec<Detection>, DetectError> {
        let ModelSession { card, session } = &mut self.model;
        let run_error = |e: &dyn std::fmt::Display| ModelError::Run {
            path: card.model_path(),
            message: e.to_string(),
        };
        let shape = (1, 3, pad_h as usize, pad_w as usize);
        let view = ArrayView4::from_shape(shape, &self.input).map_err(|e| run_error(&e))?;
        let tensor = TensorRef::from_array_view(view).map_err(|e| run_error(&e))?;
        let outputs = session
            .run(ort::inputs![card.input.as_str() => tensor])
            .map_err(|e| run_error(&e))?;
        let mut found = Vec::new();
        for stride in STRIDES {
            let (cols, rows) = (pad_w / stride, pad_h / stride);
            let anchors = (cols * rows) as usize;
            let head = |name: &str, per_anchor: usize| -> Result<&[f32], DetectError> {
                let key = output_name(name, stride);
                let (_, data) = outputs[key.as_str()]
                    .try_extract_tensor::<f32>()
                    .map_err(|e| run_error(&e))?;
                let expected = anchors * per_anchor;
                if data.len() != expected {
                    return Err(DetectError::Output {
                        name: key,
                        len: data.len(),
                        expected,
                        width: pad_w,
                        height: pad_h,
                    });
                }
                Ok(data)
            };
            let heads = StrideOutputs {
                cls: head("cls", 1)?,
                obj: head("obj", 1)?,
                bbox: head("bbox", 4)?,
                kps: head("kps", 10)?,
            };
            decode_stride(&heads, stride, cols, self.config.score_threshold, &mut found);
        }
        Ok(found)
    }
}

/// YuNet takes BGR 0–255 in NCHW; padding stays zero.
fn fill_input(input: &mut Vec<f32>, image: &BgrImage, pad_w: u32, pad_h: u32) {
    let plane = (pad_w * pad_h) as usize;
    input.clear();
    input.resize(plane * 3, 0.0);
    let (w, pw) = (image.width as usize, pad_w as usize);
    for (y, row) in image.data.chunks_exact(w * 3).enumerate() {
        for (x, px) in row.chunks_exact(3).enumerate() {
            let at = y * pw + x;
            input[at] = px[0] as f32;
            input[plane + at] = px[1] as f32;
            input[2 * plane + at] = px[2] as f32;
        }
    }
}

/// One stride's raw outputs for one image.
pub struct StrideOutputs<'a> {
    pub cls: &'a [f32],
    pub obj: &'a [f32],
    pub bbox: &'a [f32],
    pub kps: &'a [f32],
}

/// Decodes one stride's anchors the way OpenCV's FaceDetectorYN does: score =
/// sqrt(clamp(cls)·clamp(obj)); centre = (cell + offset)·stride; size = exp(log-size)·stride.
pub fn decode_stride(out: &StrideOutputs<'_>, stride: u32, cols: u32, threshold: f32, found: &mut Vec<Detection>) {
    let s = stride as f32;
    for (idx, (&cls, &obj)) in out.cls.iter().zip(out.obj).enumerate() {
        let score = (cls.clamp(0.0, 1.0) * obj.clamp(0.0, 1.0)).sqrt();
        if score < threshold {
            continue;
        }
        let (c, r) = ((idx as u32 % cols) as f32, (idx as u32 / cols) as f32);
        let b = &out.bbox[idx * 4..idx * 4 + 4];
        let (cx, cy) = ((c + b[0]) * s, (r + b[1]) * s);
        let (w, h) = (b[2].exp() * s, b[3].exp() * s);
        let k = &out.kps[idx * 10..idx * 10 + 10];
        let landmarks = std::array::from_fn(|n| ((k[2 * n] + c) * s, (k[2 * n + 1] + r) * s));
        found.push(Detection {
            bbox: BBox {
                x: cx - w / 2.0,
                y: cy - h / 2.0,
                w,
                h,
            },
            landmarks,
            score,
        });
    }
}

/// Greedy non-maximum suppression; returns survivors sorted by descending score.
pub fn nms(mut candidates: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::new();
    for cand in candidates {
        if kept.iter().all(|k| k.bbox.iou(&cand.bbox) <= iou_threshold) {
            kept.push(cand);
        }
    }
    kept
}
