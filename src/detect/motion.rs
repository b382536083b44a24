//! Where a camera's picture changed: OpenCV's MOG2 background model on a small grey copy of
//! each frame, cleaned up (opening, then dilation) and cut into connected components whose
//! padded, merged boxes are the regions a detector needs to search. When too much of the
//! frame changed at once (a camera shake, lights switched on) it says so instead of
//! returning a flood of regions, and the caller searches the whole frame.

use opencv::core::{self as cv, Mat, Size};
use opencv::prelude::*;
use opencv::{imgproc, video};

use crate::image::{BgrImage, ImageError};
use crate::types::BBox;

#[derive(Debug, Clone)]
pub struct MotionConfig {
    /// Width of the grey copy the background model runs on: cost stays flat whatever the
    /// camera's resolution.
    pub analysis_width: u32,
    /// Frames the background model remembers.
    pub history: i32,
    /// MOG2's squared Mahalanobis distance for a pixel to count as changed.
    pub var_threshold: f64,
    /// Each region grows by this fraction of its side on every edge (a face entering the
    /// region's border is still found whole)…
    pub pad_fraction: f32,
    /// …by at least this many frame pixels (the dilation has grown it by 2 analysis pixels
    /// already)…
    pub min_pad_px: f32,
    /// …and at most this many: a walking person's blob already holds the head, so a large
    /// blob needs no more than a face's width around it.
    pub max_pad_px: f32,
    /// Changed blobs smaller than this many analysis pixels are noise.
    pub min_blob_px: i32,
    /// Above this share of changed pixels the whole frame is searched instead.
    pub max_changed_share: f64,
}

impl Default for MotionConfig {
    fn default() -> Self {
        MotionConfig {
            analysis_width: 320,
            history: 200,
            var_threshold: 16.0,
            pad_fraction: 0.25,
            min_pad_px: 4.0,
            max_pad_px: 16.0,
            min_blob_px: 4,
            max_changed_share: 0.35,
        }
    }
}

/// What changed in a frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Motion {
    /// Boxes in frame pixels, padded, merged where that saves pixels, clipped to the frame.
    Regions(Vec<BBox>),
    /// So much changed that regions would cover most of the frame: search all of it.
    Everywhere { changed_share: f64 },
}

pub struct MotionDetector {
    config: MotionConfig,
    model: cv::Ptr<video::BackgroundSubtractorMOG2>,
}

impl MotionDetector {
    pub fn new(config: MotionConfig) -> Result<MotionDetector, ImageError> {
        // Shadows off: a person's shadow is motion worth searching too, and MOG2's shadow
        // label (127) would otherwise need its own threshold.
        let model = video::create_background_subtractor_mog2(config.history, config.var_threshold, false)?;
        Ok(MotionDetector { config, model })
    }

    /// Feeds one frame to the background model and returns where it changed.
    pub fn update(&mut self, frame: &BgrImage) -> Result<Motion, ImageError> {
        let scale = (self.config.analysis_width as f32 / frame.width.max(1) as f32).min(1.0);
        let small = Size::new(
            ((frame.width as f32 * scale).round() as i32).max(1),
            ((frame.height as f32 * scale).round() as i32).max(1),
        );
        let grey = frame.with_mat(|mat| {
            let mut resized = Mat::default();
            imgproc::resize(mat, &mut resized, small, 0.0, 0.0, imgproc::INTER_AREA)?;
            let mut grey = Mat::default();
            imgproc::cvt_color_def(&resized, &mut grey, imgproc::COLOR_BGR2GRAY)?;
            Ok(grey)
        })?;
        let mut mask = Mat::default();
        video::BackgroundSubtractorMOG2Trait::apply(&mut self.model, &grey, &mut mask, -1.0)?;
        let mask = clean(&mask)?;
        let changed_share = cv::count_non_zero(&mask)? as f64 / (small.width * small.height) as f64;
        if changed_share > self.config.max_changed_share {
            return Ok(Motion::Everywhere { changed_share });
        }
        let blobs = blobs(&mask, self.config.min_blob_px)?;
        let frame_box = BBox::covering(frame.width, frame.height);
        let padded = blobs
            .into_iter()
            .map(|b| pad(b.scaled(1.0 / scale), &self.config, &frame_box))
            .collect();
        Ok(Motion::Regions(merge(padded)))
    }
}

/// Opening removes single-pixel noise; dilation joins the parts of one moving person.
fn clean(mask: &Mat) -> Result<Mat, ImageError> {
    let kernel = |side| imgproc::get_structuring_element_def(imgproc::MORPH_ELLIPSE, Size::new(side, side));
    let mut opened = Mat::default();
    imgproc::morphology_ex_def(mask, &mut opened, imgproc::MORPH_OPEN, &kernel(3)?)?;
    let mut dilated = Mat::default();
    imgproc::dilate_def(&opened, &mut dilated, &kernel(5)?)?;
    Ok(dilated)
}

/// Bounding boxes of the mask's connected components, in mask pixels.
fn blobs(mask: &Mat, min_area: i32) -> Result<Vec<BBox>, ImageError> {
    let (mut labels, mut stats, mut centroids) = (Mat::default(), Mat::default(), Mat::default());
    let count = imgproc::connected_components_with_stats_def(mask, &mut labels, &mut stats, &mut centroids)?;
    let mut boxes = Vec::new();
    // Label 0 is the background.
    for label in 1..count {
        let stat = |column| stats.at_2d::<i32>(label, column).copied();
        if stat(imgproc::CC_STAT_AREA)? < min_area {
            continue;
        }
        boxes.push(BBox {
            x: stat(imgproc::CC_STAT_LEFT)? as f32,
            y: stat(imgproc::CC_STAT_TOP)? as f32,
            w: stat(imgproc::CC_STAT_WIDTH)? as f32,
            h: stat(imgproc::CC_STAT_HEIGHT)? as f32,
        });
    }
    Ok(boxes)
}

fn pad(b: BBox, config: &MotionConfig, frame: &BBox) -> BBox {
    let pad =
        |side: f32| (side * config.pad_fraction).clamp(config.min_pad_px, config.max_pad_px.max(config.min_pad_px));
    b.grown(pad(b.w), pad(b.h)).clipped_to(frame)
}

/// Unions overlapping boxes where the union has no more pixels than the two apart (a
/// union may then reach a third box); boxes overlapping only at a corner stay apart, since
/// their union would search the empty rest of its rectangle too.
pub(super) fn merge(mut boxes: Vec<BBox>) -> Vec<BBox> {
    let mut merged = true;
    while merged {
        merged = false;
        'outer: for i in 0..boxes.len() {
            for j in i + 1..boxes.len() {
                let joined = boxes[i].union(&boxes[j]);
                if boxes[i].intersects(&boxes[j]) && joined.area() <= boxes[i].area() + boxes[j].area() {
                    boxes.swap_remove(j);
                    boxes[i] = joined;
                    merged = true;
                    break 'outer;
                }
            }
        }
    }
    boxes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    /// A still street frame with a textured 24 px patch (a face crop) pasted at `at`.
    fn frame_with_patch(background: &BgrImage, patch: &BgrImage, at: (u32, u32)) -> BgrImage {
        let mut frame = background.clone();
        for y in 0..patch.height {
            for x in 0..patch.width {
                let (fx, fy) = (at.0 + x, at.1 + y);
                let dst = ((fy * frame.width + fx) * 3) as usize;
                let src = ((y * patch.width + x) * 3) as usize;
                frame.data[dst..dst + 3].copy_from_slice(&patch.data[src..src + 3]);
            }
        }
        frame
    }

    fn scene() -> (BgrImage, BgrImage) {
        let reader = crate::serve::VideoReader::open(&testing::background_video(), false).unwrap();
        let background = reader.next_frame().unwrap().expect("a frame");
        let face = BgrImage::load(&testing::photo("grace_hopper.jpg"))
            .unwrap()
            .resized(24, 24)
            .unwrap();
        (background, face)
    }

    #[test]
    fn a_moving_face_is_covered_and_the_still_background_is_not() {
        let (background, face) = scene();
        let mut motion = MotionDetector::new(MotionConfig::default()).unwrap();
        // The first frames teach the model what the background is.
        let mut settled = Motion::Everywhere { changed_share: 1.0 };
        for _ in 0..30 {
            settled = motion.update(&background).unwrap();
        }
        assert_eq!(settled, Motion::Regions(Vec::new()), "a still frame has no motion");
        let mut last = Motion::Regions(Vec::new());
        let mut at = (100, 200);
        for _ in 0..10 {
            at.0 += 6;
            last = motion.update(&frame_with_patch(&background, &face, at)).unwrap();
        }
        let Motion::Regions(regions) = last else {
            panic!("one face is not a flood: {last:?}")
        };
        let truth = BBox {
            x: at.0 as f32,
            y: at.1 as f32,
            w: 24.0,
            h: 24.0,
        };
        let covering: Vec<_> = regions.iter().filter(|r| r.encloses(&truth)).collect();
        assert_eq!(covering.len(), 1, "one region holds the whole face: {regions:?}");
        let searched: f32 = regions.iter().map(BBox::area).sum();
        let frame_area = (background.width * background.height) as f32;
        assert!(
            searched < 0.05 * frame_area,
            "only around the face: {searched} of {frame_area} px²"
        );
    }

    #[test]
    fn a_lighting_jump_asks_for_the_whole_frame() {
        let (background, _) = scene();
        let mut motion = MotionDetector::new(MotionConfig::default()).unwrap();
        for _ in 0..30 {
            motion.update(&background).unwrap();
        }
        let mut lit = background.clone();
        lit.data.iter_mut().for_each(|v| *v = v.saturating_add(80));
        let result = motion.update(&lit).unwrap();
        assert!(
            matches!(result, Motion::Everywhere { changed_share } if changed_share > 0.35),
            "{result:?}"
        );
    }

    #[test]
    fn overlapping_regions_merge_transitively_and_separate_ones_stay_apart() {
        let b = |x: f32, y: f32, w: f32, h: f32| BBox { x, y, w, h };
        let merged = merge(vec![
            b(0.0, 0.0, 10.0, 10.0),
            b(50.0, 50.0, 5.0, 5.0),
            b(5.0, 0.0, 10.0, 10.0),
            b(14.0, 0.0, 6.0, 10.0),
            // Overlaps the 20×10 union only at a corner: cheaper searched apart.
            b(18.0, 8.0, 10.0, 10.0),
        ]);
        assert_eq!(merged.len(), 3, "{merged:?}");
        assert!(merged.contains(&b(0.0, 0.0, 20.0, 10.0)), "{merged:?}");
        assert!(merged.contains(&b(18.0, 8.0, 10.0, 10.0)), "{merged:?}");
    }
}
