use std::path::PathBuf;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::ScenarioSpec;
use crate::types::BBox;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Person {
    pub name: String,
    pub photo: PathBuf,
}

/// One pass of one person through the scene: a face moving in a straight line while its
/// width changes linearly.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Appearance {
    /// Index into `GroundTruth::people`.
    pub person: usize,
    pub identity: String,
    pub first_frame: usize,
    pub last_frame: usize,
    /// Face box (not the pasted patch) at the first and last frame.
    pub start: BBox,
    pub end: BBox,
}

impl Appearance {
    /// The face's box in frame `index`, if the person is in the scene then.
    pub fn box_at(&self, index: usize) -> Option<BBox> {
        if index < self.first_frame || index > self.last_frame {
            return None;
        }
        let span = (self.last_frame - self.first_frame).max(1) as f32;
        let t = (index - self.first_frame) as f32 / span;
        let lerp = |a: f32, b: f32| a + (b - a) * t;
        Some(BBox {
            x: lerp(self.start.x, self.end.x),
            y: lerp(self.start.y, self.end.y),
            w: lerp(self.start.w, self.end.w),
            h: lerp(self.start.h, self.end.h),
        })
    }

    /// Smallest face width during the appearance.
    pub fn min_width(&self) -> f32 {
        self.start.w.min(self.end.w)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroundTruth {
    pub video: String,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub frames: usize,
    pub seed: u64,
    pub people: Vec<Person>,
    pub appearances: Vec<Appearance>,
}

/// Face height over width of the pasted faces (YuNet boxes are a little taller than wide).
const ASPECT: f32 = 1.2;

/// Lays out every appearance: each person keeps to a horizontal lane so paths rarely cross,
/// walks left→right or right→left, and appearances are spread over the clip.
pub fn plan_appearances(spec: &ScenarioSpec, width: u32, height: u32, fps: f64) -> GroundTruth {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let lanes = spec.people.len() as f32;
    let mut appearances = Vec::new();
    let slots = spec.appearances_per_person.max(1);
    for (person, p) in spec.people.iter().enumerate() {
        for slot in 0..slots {
            let slot_len = spec.frames / slots;
            let duration = ((slot_len as f32) * rng.random_range(0.6..0.9)) as usize;
            let first_frame = slot * slot_len + rng.random_range(0..=(slot_len - duration).max(1) - 1);
            let last_frame = (first_frame + duration.max(2)).min(spec.frames - 1);
            let widths = [
                rng.random_range(spec.min_face_px..=spec.max_face_px),
                rng.random_range(spec.min_face_px..=spec.max_face_px),
            ];
            let lane_top = height as f32 * (0.1 + 0.8 * person as f32 / lanes);
            let lane_h = height as f32 * 0.8 / lanes;
            let y = |w: f32, rng: &mut StdRng| lane_top + rng.random_range(0.0..(lane_h - w * ASPECT).max(1.0));
            let margin = spec.max_face_px * 2.0;
            let (x0, x1) = (margin, width as f32 - margin - spec.max_face_px);
            let (from, to) = if rng.random_bool(0.5) { (x0, x1) } else { (x1, x0) };
            let start = BBox {
                x: from,
                y: y(widths[0], &mut rng),
                w: widths[0],
                h: widths[0] * ASPECT,
            };
            let end = BBox {
                x: to,
                y: y(widths[1], &mut rng),
                w: widths[1],
                h: widths[1] * ASPECT,
            };
            appearances.push(Appearance {
                person,
                identity: p.name.clone(),
                first_frame,
                last_frame,
                start,
                end,
            });
        }
    }
    GroundTruth {
        video: "scene.mp4".into(),
        width,
        height,
        fps,
        frames: spec.frames,
        seed: spec.seed,
        people: spec.people.clone(),
        appearances,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> ScenarioSpec {
        ScenarioSpec {
            background: "bg.avi".into(),
            people: ["a", "b", "c"]
                .iter()
                .map(|n| Person {
                    name: n.to_string(),
                    photo: format!("{n}.jpg").into(),
                })
                .collect(),
            out_dir: "out".into(),
            frames: 200,
            min_face_px: 24.0,
            max_face_px: 40.0,
            appearances_per_person: 2,
            seed,
            fps: None,
            size: None,
        }
    }

    #[test]
    fn same_seed_same_plan_and_sizes_in_range() {
        let a = plan_appearances(&spec(7), 768, 576, 10.0);
        let b = plan_appearances(&spec(7), 768, 576, 10.0);
        assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
        assert_eq!(a.appearances.len(), 6);
        for app in &a.appearances {
            assert!(app.last_frame < 200 && app.first_frame < app.last_frame);
            for f in app.first_frame..=app.last_frame {
                let b = app.box_at(f).unwrap();
                assert!(b.w >= 24.0 - 1e-3 && b.w <= 40.0 + 1e-3, "{b:?}");
                assert!(
                    b.x >= 0.0 && b.y >= 0.0 && b.x + b.w <= 768.0 && b.y + b.h <= 576.0,
                    "{b:?}"
                );
            }
            assert!(app.box_at(app.last_frame + 1).is_none());
        }
        let c = plan_appearances(&spec(8), 768, 576, 10.0);
        assert_ne!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&c).unwrap());
    }
}
