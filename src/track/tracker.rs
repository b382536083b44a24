use std::sync::Arc;

use super::{Budget, TrackConfig};
pub use crate::types::TrackInfo;
use crate::types::{BBox, Detection, FaceQuality, FrameMeta};

/// A detection with the track it joined and whether the budget wants it embedded.
#[derive(Debug, Clone)]
pub struct TrackedFace {
    pub detection: Detection,
    pub quality: FaceQuality,
    pub track: TrackInfo,
    pub embed: bool,
}

struct Track {
    info: TrackInfo,
    bbox: BBox,
    /// Change of (x, y, w, h) per frame.
    velocity: [f32; 4],
    budget: super::budget::BudgetState,
}

impl Track {
    fn predicted(&self, seq: u64) -> BBox {
        let gap = seq.saturating_sub(self.info.last_seq) as f32;
        let [vx, vy, vw, vh] = self.velocity;
        BBox {
            x: self.bbox.x + vx * gap,
            y: self.bbox.y + vy * gap,
            w: (self.bbox.w + vw * gap).max(1.0),
            h: (self.bbox.h + vh * gap).max(1.0),
        }
    }

    fn observe(&mut self, frame: &FrameMeta, bbox: BBox) {
        let gap = frame.seq.saturating_sub(self.info.last_seq).max(1) as f32;
        let observed = [
            (bbox.x - self.bbox.x) / gap,
            (bbox.y - self.bbox.y) / gap,
            (bbox.w - self.bbox.w) / gap,
            (bbox.h - self.bbox.h) / gap,
        ];
        // The first step sets the velocity; later ones smooth it against detector jitter.
        let alpha = if self.info.frames_seen == 1 { 1.0 } else { 0.5 };
        for (v, o) in self.velocity.iter_mut().zip(observed) {
            *v = alpha * o + (1.0 - alpha) * *v;
        }
        self.bbox = bbox;
        let info = &mut self.info;
        info.frames_seen += 1;
        info.last_seq = frame.seq;
        info.last_seen = frame.captured_at;
        info.width_min_px = info.width_min_px.min(bbox.w);
        info.width_max_px = info.width_max_px.max(bbox.w);
    }
}

/// How long a missed track keeps its search window (see [`Tracker::windows`]).
pub const WINDOW_FRAMES: u64 = 3;

/// IoU association against constant-velocity predictions, one tracker per camera.
pub struct Tracker {
    camera_id: Arc<str>,
    config: TrackConfig,
    budget: Budget,
    tracks: Vec<Track>,
    next_id: u64,
}

impl Tracker {
    pub fn new(camera_id: Arc<str>, config: &TrackConfig) -> Tracker {
        Tracker {
            camera_id,
            budget: Budget::from(config),
            config: config.clone(),
            tracks: Vec::new(),
            next_id: 1,
        }
    }

    pub fn active(&self) -> usize {
        self.tracks.len()
    }

    /// Where each track seen in the last [`WINDOW_FRAMES`] frames should have its face in
    /// frame `seq`: its constant-velocity prediction grown by half its size plus what its
    /// speed could add or take away over the frames since it was last seen, so a face that
    /// turns, speeds up or was missed stays inside. Tracks missed for longer (gone, or a
    /// false detection) get none: a moving face is in the motion regions anyway, a still one
    /// in the next full sweep.
    pub fn windows(&self, seq: u64) -> Vec<BBox> {
        self.tracks
            .iter()
            .filter(|track| seq.saturating_sub(track.info.last_seq) <= WINDOW_FRAMES)
            .map(|track| {
                let predicted = track.predicted(seq);
                let gap = seq.saturating_sub(track.info.last_seq).max(1) as f32;
                let [vx, vy, vw, vh] = track.velocity;
                let side = predicted.w.max(predicted.h);
                predicted.grown(
                    0.5 * side + (vx.abs() + vw.abs()) * gap,
                    0.5 * side + (vy.abs() + vh.abs()) * gap,
                )
            })
            .collect()
    }

    /// Assigns each detection of `frame` to a track (new or continued) and returns the
    /// tracks that ended because they were missed for too long.
    pub fn update(
        &mut self,
        frame: &FrameMeta,
        faces: Vec<(Detection, FaceQuality)>,
    ) -> (Vec<TrackedFace>, Vec<TrackInfo>) {
        let assignment = self.associate(frame.seq, &faces);
        let mut tracked = Vec::with_capacity(faces.len());
        for ((detection, quality), track) in faces.into_iter().zip(assignment) {
            let index = match track {
                Some(index) => {
                    self.tracks[index].observe(frame, detection.bbox);
                    index
                }
                None => self.start_track(frame, detection.bbox),
            };
            let track = &mut self.tracks[index];
            let embed = self.budget.decide(&mut track.budget, frame.seq, &quality);
            tracked.push(TrackedFace {
                detection,
                quality,
                track: track.info.clone(),
                embed,
            });
        }
        let max_missed = self.config.max_missed_frames;
        let (ended, kept): (Vec<Track>, Vec<Track>) = std::mem::take(&mut self.tracks)
            .into_iter()
            .partition(|t| frame.seq.saturating_sub(t.info.last_seq) > max_missed);
        self.tracks = kept;
        (tracked, ended.into_iter().map(|t| t.info).collect())
    }

    /// Ends every track, e.g. when the camera's stream ends.
    pub fn end_all(&mut self) -> Vec<TrackInfo> {
        self.tracks.drain(..).map(|t| t.info).collect()
    }

    fn start_track(&mut self, frame: &FrameMeta, bbox: BBox) -> usize {
        let info = TrackInfo {
            camera_id: self.camera_id.clone(),
            track_id: self.next_id,
            frames_seen: 1,
            first_seq: frame.seq,
            last_seq: frame.seq,
            first_seen: frame.captured_at,
            last_seen: frame.captured_at,
            width_min_px: bbox.w,
            width_max_px: bbox.w,
        };
        self.next_id += 1;
        self.tracks.push(Track {
            info,
            bbox,
            velocity: [0.0; 4],
            budget: Default::default(),
        });
        self.tracks.len() - 1
    }

    /// Greedy assignment, best pairs first: overlapping pairs by IoU, then close pairs by
    /// centre distance. Returns the track index chosen for each detection.
    fn associate(&self, seq: u64, faces: &[(Detection, FaceQuality)]) -> Vec<Option<usize>> {
        let mut pairs = Vec::new();
        for (t, track) in self.tracks.iter().enumerate() {
            let predicted = track.predicted(seq);
            for (d, (detection, _)) in faces.iter().enumerate() {
                if let Some(score) = self.affinity(&predicted, &detection.bbox) {
                    pairs.push((score, t, d));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut track_taken = vec![false; self.tracks.len()];
        let mut chosen = vec![None; faces.len()];
        for (_, t, d) in pairs {
            if !track_taken[t] && chosen[d].is_none() {
                track_taken[t] = true;
                chosen[d] = Some(t);
            }
        }
        chosen
    }

    /// Higher is better; IoU matches (0..1] always rank above distance matches (< 0).
    fn affinity(&self, predicted: &BBox, observed: &BBox) -> Option<f32> {
        let iou = predicted.iou(observed);
        if iou >= self.config.min_iou && iou > 0.0 {
            return Some(iou);
        }
        let centre = |b: &BBox| (b.x + b.w / 2.0, b.y + b.h / 2.0);
        let (a, b) = (centre(predicted), centre(observed));
        let jump = ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt() / predicted.w.max(1.0);
        let similar_size = (observed.w / predicted.w.max(1.0)).clamp(0.5, 2.0) == observed.w / predicted.w.max(1.0);
        (jump <= self.config.max_jump && similar_size).then_some(-jump)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn frame(seq: u64) -> FrameMeta {
        FrameMeta {
            camera_id: Arc::from("cam"),
            seq,
            pts_ns: None,
            captured_at: SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(seq * 40),
        }
    }

    fn face(x: f32, y: f32, w: f32) -> (Detection, FaceQuality) {
        let detection = Detection {
            bbox: BBox { x, y, w, h: w * 1.2 },
            landmarks: [(x, y); 5],
            score: 0.9,
        };
        let quality = FaceQuality {
            width_px: w,
            detection_score: 0.9,
            sharpness: 100.0,
            yaw_deg: 0.0,
            roll_deg: 0.0,
            touches_border: false,
        };
        (detection, quality)
    }

    fn ids(tracked: &[TrackedFace]) -> Vec<u64> {
        tracked.iter().map(|t| t.track.track_id).collect()
    }

    #[test]
    fn a_moving_face_keeps_its_track_across_short_misses() {
        let mut tracker = Tracker::new(Arc::from("cam"), &TrackConfig::default());
        let mut seen = Vec::new();
        for seq in 0..30u64 {
            // Missed in frames 10..14 (fewer than max_missed_frames).
            let faces = if (10..14).contains(&seq) {
                vec![]
            } else {
                vec![face(100.0 + 6.0 * seq as f32, 50.0, 18.0)]
            };
            let (tracked, ended) = tracker.update(&frame(seq), faces);
            assert!(ended.is_empty(), "ended at {seq}");
            seen.extend(ids(&tracked));
        }
        assert!(seen.iter().all(|&id| id == 1), "{seen:?}");
        let (_, ended) = tracker.update(&frame(29 + 11), vec![]);
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].frames_seen, 26);
        assert_eq!((ended[0].first_seq, ended[0].last_seq), (0, 29));
    }

    #[test]
    fn two_faces_crossing_paths_keep_their_own_tracks() {
        let mut tracker = Tracker::new(Arc::from("cam"), &TrackConfig::default());
        let mut left_to_right = Vec::new();
        let mut right_to_left = Vec::new();
        for seq in 0..40u64 {
            let t = seq as f32;
            // Same lane, opposite directions: the boxes overlap for several frames.
            let a = face(100.0 + 8.0 * t, 200.0, 20.0);
            let b = face(420.0 - 8.0 * t, 203.0, 20.0);
            let (tracked, _) = tracker.update(&frame(seq), vec![b, a]);
            for t in tracked {
                if t.detection.bbox.y == 200.0 {
                    left_to_right.push(t.track.track_id);
                } else {
                    right_to_left.push(t.track.track_id);
                }
            }
        }
        left_to_right.dedup();
        right_to_left.dedup();
        assert_eq!(left_to_right.len(), 1, "{left_to_right:?}");
        assert_eq!(right_to_left.len(), 1, "{right_to_left:?}");
        assert_ne!(left_to_right, right_to_left);
    }

    #[test]
    fn track_windows_follow_a_constant_velocity_face() {
        let mut tracker = Tracker::new(Arc::from("cam"), &TrackConfig::default());
        let at = |seq: u64| face(40.0 + 9.0 * seq as f32, 100.0 - 3.0 * seq as f32, 14.0);
        for seq in 0..20u64 {
            if seq >= 2 {
                let windows = tracker.windows(seq);
                assert_eq!(windows.len(), 1);
                let truth = at(seq).0.bbox;
                assert!(windows[0].encloses(&truth), "frame {seq}: {windows:?} holds {truth:?}");
                // Small: a window is a few faces wide, not a strip of the frame.
                assert!(windows[0].w < 5.0 * truth.w, "{windows:?}");
            }
            tracker.update(&frame(seq), vec![at(seq)]);
        }
        // Missed for three frames, the face is still inside the (wider) window…
        let window = tracker.windows(22)[0];
        let truth = at(22).0.bbox;
        assert!(window.encloses(&truth), "{window:?} holds {truth:?}");
        // …and after longer the track has none (it is probably gone).
        assert!(tracker.windows(23).is_empty());
    }

    #[test]
    fn a_face_far_away_starts_a_new_track() {
        let mut tracker = Tracker::new(Arc::from("cam"), &TrackConfig::default());
        tracker.update(&frame(0), vec![face(10.0, 10.0, 16.0)]);
        let (tracked, _) = tracker.update(&frame(1), vec![face(300.0, 300.0, 16.0)]);
        assert_eq!(ids(&tracked), vec![2]);
        assert_eq!(tracker.active(), 2);
        assert_eq!(tracker.end_all().len(), 2);
    }
}
