use std::path::Path;

use ndarray::ArrayView4;
use ort::value::TensorRef;

use super::{DetectConfig, DetectError, DetectMode, Search, region_scale};
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
        Ok(self.detect_many(&[frame])?.pop().unwrap_or_default())
    }

    /// Finds faces in several frames (e.g. one per camera). Every view of every frame that
    /// has the same size goes through the model in one batch.
    pub fn detect_many(&mut self, frames: &[&BgrImage]) -> Result<Vec<Vec<Detection>>, DetectError> {
        let full: Vec<(&BgrImage, &Search)> = frames.iter().map(|f| (*f, &Search::Full)).collect();
        self.detect_searched(&full)
    }

    /// As [`Detector::detect_many`], each frame searched where its [`Search`] says: whole, as
    /// the detect mode says, or in regions at the mode's scale.
    pub fn detect_searched(&mut self, frames: &[(&BgrImage, &Search)]) -> Result<Vec<Vec<Detection>>, DetectError> {
        let mut views = Vec::new();
        for (index, (frame, search)) in frames.iter().enumerate() {
            frame.validate()?;
            for view in self.views(frame, search) {
                views.push((index, view, view.render(frame)?));
            }
        }
        let mut candidates = vec![Vec::new(); frames.len()];
        let mut sizes: Vec<(u32, u32)> = views.iter().map(|(_, _, image)| (image.width, image.height)).collect();
        sizes.sort_unstable();
        sizes.dedup();
        for size in sizes {
            let group: Vec<_> = views
                .iter()
                .filter(|(_, _, image)| (image.width, image.height) == size)
                .collect();
            let images: Vec<&BgrImage> = group.iter().map(|(_, _, image)| image).collect();
            for ((index, view, _), found) in group.iter().zip(self.detect_batch(&images)?) {
                let frame = frames[*index].0;
                candidates[*index].extend(
                    found
                        .into_iter()
                        .map(|d| view.frame_coords(d))
                        .filter(|d| !view.cuts(&d.bbox, frame)),
                );
            }
        }
        let (min, max) = (self.config.min_face_px, self.config.max_face_px);
        Ok(candidates
            .into_iter()
            .map(|found| {
                let kept = found
                    .into_iter()
                    .filter(|d| d.bbox.w >= min && (max <= 0.0 || d.bbox.w <= max))
                    .collect();
                let mut faces = nms(kept, self.config.nms_threshold);
                faces.truncate(self.config.max_faces);
                faces
            })
            .collect())
    }

    fn views(&self, frame: &BgrImage, search: &Search) -> Vec<View> {
        let config = &self.config;
        match (search, config.mode) {
            (Search::Full, DetectMode::Native) => vec![View::whole(frame, 1.0)],
            (Search::Full, DetectMode::Upscale) => vec![View::whole(frame, config.upscale)],
            (Search::Full, DetectMode::Tiles) => {
                View::tiles(frame, config.tile_grid, config.tile_overlap, config.upscale)
            }
            (Search::Regions(regions), _) => regions
                .iter()
                .filter_map(|r| View::region(frame, r, region_scale(config)))
                .collect(),
        }
    }

    /// Runs YuNet once on same-sized images; boxes are in each image's pixels, before NMS.
    pub fn detect_batch(&mut self, images: &[&BgrImage]) -> Result<Vec<Vec<Detection>>, DetectError> {
        let Some(first) = images.first() else {
            return Ok(Vec::new());
        };
        let (width, height) = (first.width, first.height);
        for image in images {
            image.validate()?;
            if (image.width, image.height) != (width, height) {
                return Err(DetectError::MixedSizes);
            }
        }
        let (pad_w, pad_h) = (width.div_ceil(32) * 32, height.div_ceil(32) * 32);
        let plane = (pad_w * pad_h) as usize;
        self.input.clear();
        self.input.resize(images.len() * 3 * plane, 0.0);
        for (n, image) in images.iter().enumerate() {
            fill_input(&mut self.input[n * 3 * plane..(n + 1) * 3 * plane], image, pad_w, pad_h);
        }
        self.run(images.len(), pad_w, pad_h)
    }

    fn run(&mut self, batch: usize, pad_w: u32, pad_h: u32) -> Result<Vec<Vec<Detection>>, DetectError> {
        let ModelSession { card, session } = &mut self.model;
        let run_error = |e: &dyn std::fmt::Display| ModelError::Run {
            path: card.model_path(),
            message: e.to_string(),
        };
        let shape = (batch, 3, pad_h as usize, pad_w as usize);
        let view = ArrayView4::from_shape(shape, &self.input).map_err(|e| run_error(&e))?;
        let tensor = TensorRef::from_array_view(view).map_err(|e| run_error(&e))?;
        let outputs = session
            .run(ort::inputs![card.input.as_str() => tensor])
            .map_err(|e| run_error(&e))?;
        let mut found = vec![Vec::new(); batch];
        for stride in STRIDES {
            let (cols, rows) = (pad_w / stride, pad_h / stride);
            let anchors = (cols * rows) as usize;
            let head = |name: &str, per_anchor: usize| -> Result<&[f32], DetectError> {
                let key = output_name(name, stride);
                let (_, data) = outputs[key.as_str()]
                    .try_extract_tensor::<f32>()
                    .map_err(|e| run_error(&e))?;
                let expected = batch * anchors * per_anchor;
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
            let (cls, obj, bbox, kps) = (head("cls", 1)?, head("obj", 1)?, head("bbox", 4)?, head("kps", 10)?);
            // A batch comes back as one row: image k's anchors are the k-th block of each head.
            for (k, image_found) in found.iter_mut().enumerate() {
                let range = |per: usize| k * anchors * per..(k + 1) * anchors * per;
                let heads = StrideOutputs {
                    cls: &cls[range(1)],
                    obj: &obj[range(1)],
                    bbox: &bbox[range(4)],
                    kps: &kps[range(10)],
                };
                decode_stride(&heads, stride, cols, self.config.score_threshold, image_found);
            }
        }
        Ok(found)
    }
}

/// A part of the frame the detector looks at, at some scale.
#[derive(Debug, Clone, Copy, PartialEq)]
struct View {
    x: u32,
    y: u32,
    width: u32,
    height: u32,
    scale: f32,
}

impl View {
    fn whole(frame: &BgrImage, scale: f32) -> View {
        View {
            x: 0,
            y: 0,
            width: frame.width,
            height: frame.height,
            scale,
        }
    }

    /// A grid×grid cover of the frame with tiles overlapping by `overlap` of a tile, so a face
    /// cut by one tile's border lies whole inside its neighbour.
    fn tiles(frame: &BgrImage, grid: u32, overlap: f32, scale: f32) -> Vec<View> {
        let grid = grid.max(1);
        let span = |total: u32| {
            let tile = (total as f32 / (grid as f32 - overlap * (grid as f32 - 1.0)))
                .ceil()
                .min(total as f32) as u32;
            let step = if grid > 1 {
                (total - tile) as f32 / (grid - 1) as f32
            } else {
                0.0
            };
            (tile, step)
        };
        let ((tw, sx), (th, sy)) = (span(frame.width), span(frame.height));
        let mut views = Vec::new();
        for row in 0..grid {
            for col in 0..grid {
                let (x, y) = ((col as f32 * sx).round() as u32, (row as f32 * sy).round() as u32);
                views.push(View {
                    x,
                    y,
                    width: tw.min(frame.width - x),
                    height: th.min(frame.height - y),
                    scale,
                });
            }
        }
        views
    }

    /// `region` (frame pixels) rounded out to whole pixels and clipped; None when empty. Its
    /// far edges grow to fill the model's input, which is padded to 32 pixels anyway, with
    /// picture rather than zeros.
    fn region(frame: &BgrImage, region: &BBox, scale: f32) -> Option<View> {
        let x = region.x.floor().max(0.0) as u32;
        let y = region.y.floor().max(0.0) as u32;
        let filled = |start: u32, end: f32, limit: u32| {
            let side = (end.ceil() - start as f32).max(1.0);
            let padded = (side * scale / 32.0).ceil() * 32.0;
            (start + (padded / scale).floor() as u32).min(limit)
        };
        let right = filled(x, region.x + region.w, frame.width);
        let bottom = filled(y, region.y + region.h, frame.height);
        (right > x && bottom > y).then_some(View {
            x,
            y,
            width: right - x,
            height: bottom - y,
            scale,
        })
    }

    /// Whether a box (frame pixels) is cut by one of the view's edges inside the frame by
    /// more than a quarter of its width: only part of that face was seen here, and its whole
    /// is either in a neighbouring view or not worth a guessed box.
    fn cuts(&self, b: &BBox, frame: &BgrImage) -> bool {
        let slack = b.w * 0.25;
        let (left, top) = (self.x as f32, self.y as f32);
        let (right, bottom) = ((self.x + self.width) as f32, (self.y + self.height) as f32);
        (self.x > 0 && b.x < left - slack)
            || (self.y > 0 && b.y < top - slack)
            || (self.x + self.width < frame.width && b.x + b.w > right + slack)
            || (self.y + self.height < frame.height && b.y + b.h > bottom + slack)
    }

    fn render(&self, frame: &BgrImage) -> Result<BgrImage, DetectError> {
        let part = if (self.x, self.y, self.width, self.height) == (0, 0, frame.width, frame.height) {
            frame.clone()
        } else {
            frame.crop(self.x as i32, self.y as i32, self.width, self.height)
        };
        if (self.scale - 1.0).abs() <= f32::EPSILON {
            return Ok(part);
        }
        let w = ((self.width as f32 * self.scale).round() as u32).max(1);
        let h = ((self.height as f32 * self.scale).round() as u32).max(1);
        Ok(part.resized(w, h)?)
    }

    /// From the view's (scaled) pixels to the frame's.
    fn frame_coords(self, d: Detection) -> Detection {
        let inv = 1.0 / self.scale;
        let bbox = BBox {
            x: d.bbox.x * inv,
            y: d.bbox.y * inv,
            w: d.bbox.w * inv,
            h: d.bbox.h * inv,
        };
        let landmarks = d.landmarks.map(|(x, y)| (x * inv, y * inv));
        Detection { bbox, landmarks, ..d }.offset(self.x as f32, self.y as f32)
    }
}

/// YuNet takes BGR 0–255 in NCHW; `input` is one image's zeroed slot, padding stays zero.
fn fill_input(input: &mut [f32], image: &BgrImage, pad_w: u32, pad_h: u32) {
    let plane = (pad_w * pad_h) as usize;
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
