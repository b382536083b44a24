//! Data that flows between the stages, in the order a frame meets them.

use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

pub use crate::image::BgrImage;

/// How much to trust one detected face (measured by the detect stage's `assess`): its size,
/// sharpness, pose and whether the frame cut it off.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceQuality {
    pub width_px: f32,
    pub detection_score: f32,
    /// Variance of the 4-neighbour Laplacian of the face's grey levels; blur lowers it.
    pub sharpness: f32,
    /// Head turn estimated from the nose's offset from the eyes' midpoint, degrees; positive
    /// when the nose is towards the image's right.
    pub yaw_deg: f32,
    /// In-plane tilt of the eye line, degrees; positive when the eye on the image's right is
    /// lower (a clockwise tilt on screen).
    pub roll_deg: f32,
    /// The box touches or crosses the frame's edge: the face may be cut off.
    pub touches_border: bool,
}

impl FaceQuality {
    /// How much one embedding of this face counts as evidence, in (0, 1]: larger, sharper,
    /// more frontal, uncut and confidently detected faces count more. Width saturates at
    /// 40 px, where recognition stops being resolution-limited.
    pub fn weight(&self) -> f32 {
        let size = (self.width_px / 40.0).clamp(0.1, 1.0);
        let sharp = (self.sharpness / 200.0).clamp(0.2, 1.0);
        let pose = self.yaw_deg.to_radians().cos().clamp(0.2, 1.0);
        let border = if self.touches_border { 0.5 } else { 1.0 };
        (size * sharp * pose * border * self.detection_score).clamp(1e-3, 1.0)
    }
}

/// What is known about a track so far; travels with each of its faces and with its end.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackInfo {
    pub camera_id: Arc<str>,
    /// Unique within the camera for the life of the process.
    pub track_id: u64,
    pub frames_seen: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub first_seen: SystemTime,
    pub last_seen: SystemTime,
    pub width_min_px: f32,
    pub width_max_px: f32,
}

/// A decoded video frame.
#[derive(Debug, Clone)]
pub struct Frame {
    pub camera_id: Arc<str>,
    /// Monotonic per camera, continuous across reconnects.
    pub seq: u64,
    /// Presentation timestamp from the source; restarts near zero after a reconnect.
    pub pts_ns: Option<u64>,
    pub captured_at: SystemTime,
    /// The first frame of a connection (or of a file's pass): what came before may be
    /// another scene entirely.
    pub stream_start: bool,
    pub image: BgrImage,
}

/// Axis-aligned box in frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl BBox {
    pub fn area(&self) -> f32 {
        self.w.max(0.0) * self.h.max(0.0)
    }

    /// The box in coordinates `factor` times larger (e.g. a resized copy's back to the original's).
    pub fn scaled(&self, factor: f32) -> BBox {
        BBox {
            x: self.x * factor,
            y: self.y * factor,
            w: self.w * factor,
            h: self.h * factor,
        }
    }

    pub fn iou(&self, other: &BBox) -> f32 {
        let x1 = self.x.max(other.x);
        let y1 = self.y.max(other.y);
        let x2 = (self.x + self.w).min(other.x + other.w);
        let y2 = (self.y + self.h).min(other.y + other.h);
        let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// The box from its top-left to its bottom-right corner.
    pub fn from_corners((x0, y0): (f32, f32), (x1, y1): (f32, f32)) -> BBox {
        BBox {
            x: x0,
            y: y0,
            w: x1 - x0,
            h: y1 - y0,
        }
    }

    /// The whole of a `width`×`height` frame.
    pub fn covering(width: u32, height: u32) -> BBox {
        BBox {
            x: 0.0,
            y: 0.0,
            w: width as f32,
            h: height as f32,
        }
    }

    /// Whether the two boxes share some area.
    pub fn intersects(&self, other: &BBox) -> bool {
        self.x < other.x + other.w
            && other.x < self.x + self.w
            && self.y < other.y + other.h
            && other.y < self.y + self.h
    }

    /// The smallest box holding both.
    pub fn union(&self, other: &BBox) -> BBox {
        BBox::from_corners(
            (self.x.min(other.x), self.y.min(other.y)),
            (
                (self.x + self.w).max(other.x + other.w),
                (self.y + self.h).max(other.y + other.h),
            ),
        )
    }

    /// Whether `other` lies inside this box (to within float rounding).
    pub fn encloses(&self, other: &BBox) -> bool {
        const EPS: f32 = 1e-3;
        other.x >= self.x - EPS
            && other.y >= self.y - EPS
            && other.x + other.w <= self.x + self.w + EPS
            && other.y + other.h <= self.y + self.h + EPS
    }

    /// The part inside `bounds` (zero-sized when outside it).
    pub fn clipped_to(&self, bounds: &BBox) -> BBox {
        let (x0, y0) = (self.x.max(bounds.x), self.y.max(bounds.y));
        let (x1, y1) = (
            (self.x + self.w).min(bounds.x + bounds.w),
            (self.y + self.h).min(bounds.y + bounds.h),
        );
        BBox::from_corners((x0, y0), (x1.max(x0), y1.max(y0)))
    }

    /// Grown by `dx` on the left and right and `dy` on top and bottom.
    pub fn grown(&self, dx: f32, dy: f32) -> BBox {
        BBox {
            x: self.x - dx,
            y: self.y - dy,
            w: self.w + 2.0 * dx,
            h: self.h + 2.0 * dy,
        }
    }

    pub fn contains(&self, (px, py): (f32, f32)) -> bool {
        px >= self.x && px <= self.x + self.w && py >= self.y && py <= self.y + self.h
    }

    /// Whether a detected box is this (true) face: its centre lies inside and its width is
    /// within a factor of two. IoU is too harsh a test for 8-px boxes.
    pub fn found_by(&self, detected: &BBox) -> bool {
        let centre = (detected.x + detected.w / 2.0, detected.y + detected.h / 2.0);
        self.contains(centre) && detected.w > self.w / 2.0 && detected.w < self.w * 2.0
    }
}

/// Five facial landmarks in YuNet's order: right eye, left eye, nose tip, right and left
/// mouth corners (right/left from the subject's point of view).
pub type Landmarks = [(f32, f32); 5];

/// One face found by the detector.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub bbox: BBox,
    pub landmarks: Landmarks,
    pub score: f32,
}

impl Detection {
    /// Scales the detection by `factor`, e.g. from a resized copy back to the original.
    pub fn scaled(mut self, factor: f32) -> Detection {
        self.bbox = self.bbox.scaled(factor);
        for point in &mut self.landmarks {
            *point = (point.0 * factor, point.1 * factor);
        }
        self
    }

    /// Moves the detection by (dx, dy), e.g. from region-of-interest to frame coordinates.
    pub fn offset(mut self, dx: f32, dy: f32) -> Detection {
        self.bbox.x += dx;
        self.bbox.y += dy;
        for point in &mut self.landmarks {
            *point = (point.0 + dx, point.1 + dy);
        }
        self
    }
}

/// Identifies the frame a face came from, without carrying the pixels along.
#[derive(Debug, Clone)]
pub struct FrameMeta {
    pub camera_id: Arc<str>,
    pub seq: u64,
    pub pts_ns: Option<u64>,
    pub captured_at: SystemTime,
}

impl From<&Frame> for FrameMeta {
    fn from(frame: &Frame) -> Self {
        FrameMeta {
            camera_id: frame.camera_id.clone(),
            seq: frame.seq,
            pts_ns: frame.pts_ns,
            captured_at: frame.captured_at,
        }
    }
}

/// An aligned face crop on its way to the recognizer.
#[derive(Debug, Clone)]
pub struct FaceCrop {
    pub frame: FrameMeta,
    pub detection: Detection,
    pub quality: FaceQuality,
    pub track: TrackInfo,
    /// Square crop at the recognizer's input size.
    pub image: BgrImage,
    /// When it entered the recognizer's queue.
    pub queued_at: std::time::Instant,
}

/// A face with its embedding, ready for matching.
#[derive(Debug, Clone)]
pub struct EmbeddedFace {
    pub frame: FrameMeta,
    pub detection: Detection,
    pub quality: FaceQuality,
    pub track: TrackInfo,
    /// The aligned crop that was embedded (kept for alert thumbnails).
    pub crop: BgrImage,
    /// L2-normalised.
    pub embedding: Vec<f32>,
    /// Id of the model that embedded it (routes and per-camera models make it vary).
    pub recognizer: Arc<str>,
}

/// What flows from tracking to alerting, in each camera's frame order: faces of tracks,
/// and the end of a track once it is lost.
#[derive(Debug, Clone)]
pub enum TrackMessage<F> {
    Face(F),
    Ended(TrackInfo),
}
