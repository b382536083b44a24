//! Region search: rather than the whole upscaled frame, the detector looks where the picture
//! changed and where each tracked face is about to be, and sweeps the whole frame every
//! `full_every_frames` frames (and after a reconnect) so that a face that never moves is
//! found too. Most of a surveillance frame is still, so this is where a camera's CPU is won.

use std::sync::atomic::{AtomicU64, Ordering};

use super::motion::merge;
use super::{DetectConfig, DetectError, DetectMode, Motion, MotionConfig, MotionDetector};
use crate::image::BgrImage;
use crate::types::BBox;

/// Where the detector looks in one frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Search {
    Full,
    /// Boxes in frame pixels; they overlap only where merging them would search more.
    Regions(Vec<BBox>),
}

impl Search {
    /// Share of a `width`×`height` frame searched.
    pub fn share(&self, width: u32, height: u32) -> f64 {
        match self {
            Search::Full => 1.0,
            Search::Regions(regions) => covered_share(regions, width, height),
        }
    }
}

/// Share of a `width`×`height` frame that `regions` cover (overlaps counted twice: they are
/// searched twice).
fn covered_share(regions: &[BBox], width: u32, height: u32) -> f64 {
    let area: f32 = regions.iter().map(BBox::area).sum();
    (area as f64 / (width.max(1) as f64 * height.max(1) as f64)).min(1.0)
}

/// One camera's region planner; it keeps the camera's background model.
pub struct RegionSearch {
    motion: MotionDetector,
    full_every: u64,
    budget: f64,
    max_regions: usize,
    /// Region edges snap to multiples of this many frame pixels, so that a region's upscaled
    /// copy lines up with YuNet's 32-pixel anchor grid exactly as the whole frame's does and
    /// a face is found at the same place either way.
    grid: f32,
    /// Frame pixels of picture kept around every region: YuNet's deeper layers see far
    /// beyond a face, and with less context than this its landmarks drift from those of a
    /// whole-frame search by more than a pixel.
    context: f32,
    frames_since_full: Option<u64>,
}

impl RegionSearch {
    pub fn new(config: &DetectConfig) -> Result<RegionSearch, DetectError> {
        let motion = MotionDetector::new(MotionConfig {
            pad_fraction: config.region_pad,
            ..MotionConfig::default()
        })
        .map_err(DetectError::Motion)?;
        Ok(RegionSearch {
            motion,
            full_every: config.full_every_frames.max(1),
            budget: f64::from(config.region_budget),
            max_regions: config.max_regions,
            grid: grid_step(region_scale(config)),
            context: CONTEXT_PX / region_scale(config),
            frames_since_full: None,
        })
    }

    /// Decides where to search `frame`. `windows` are where live tracks' faces are expected
    /// (frame pixels); `stream_start` marks the first frame after a (re)connect, when the
    /// scene may have changed entirely.
    pub fn plan(&mut self, frame: &BgrImage, windows: &[BBox], stream_start: bool) -> Result<Search, DetectError> {
        // The background model sees every frame, swept or not, so that it stays current.
        let motion = self.motion.update(frame).map_err(DetectError::Motion)?;
        let due = stream_start || self.frames_since_full.is_none_or(|n| n + 1 >= self.full_every);
        let search = match motion {
            _ if due => Search::Full,
            Motion::Everywhere { .. } => Search::Full,
            Motion::Regions(moving) => {
                let regions = self.regions(frame, moving, windows);
                let share = covered_share(&regions, frame.width, frame.height);
                if share > self.budget || regions.len() > self.max_regions {
                    Search::Full
                } else {
                    Search::Regions(regions)
                }
            }
        };
        self.frames_since_full = match search {
            Search::Full => Some(0),
            Search::Regions(_) => self.frames_since_full.map(|n| n + 1),
        };
        Ok(search)
    }

    /// Motion regions and track windows, snapped to the grid, clipped and merged.
    fn regions(&self, frame: &BgrImage, moving: Vec<BBox>, windows: &[BBox]) -> Vec<BBox> {
        let bounds = BBox::covering(frame.width, frame.height);
        let snapped = moving
            .into_iter()
            .chain(windows.iter().copied())
            .map(|b| snap(&b.grown(self.context, self.context), self.grid).clipped_to(&bounds))
            .filter(|b| b.area() > 0.0)
            .collect();
        merge(snapped)
    }
}

/// Context around each region, in the detector's (scaled) pixels: one of its coarsest
/// anchor cells. With it boxes match a full search within half a pixel; more context (up
/// to 96 px was tried) did not bring the landmarks closer, which vary by up to 2 px on some
/// faces whatever the surroundings (see the detect tests).
const CONTEXT_PX: f32 = 32.0;

/// The scale regions are searched at: the detect mode's, tiles or not.
pub fn region_scale(config: &DetectConfig) -> f32 {
    match config.mode {
        DetectMode::Native => 1.0,
        DetectMode::Upscale | DetectMode::Tiles => config.upscale,
    }
}

/// The smallest whole number of frame pixels that is a multiple of 32 pixels at `scale`
/// (32 at 1×, 16 at 2×, 64 at 1.5×); a scale with none below 256 gets the nearest.
fn grid_step(scale: f32) -> f32 {
    (1..=8u32)
        .map(|k| 32.0 * k as f32 / scale)
        .find(|step| (step - step.round()).abs() < 1e-3 && *step >= 1.0)
        .unwrap_or_else(|| (32.0 / scale).round().max(1.0))
        .round()
}

/// Moves the box's top-left corner out to the grid and its far edges out to whole pixels
/// (the detector fills its input up to the next 32 pixels with picture, see `View::region`).
fn snap(b: &BBox, grid: f32) -> BBox {
    let (x0, y0) = ((b.x / grid).floor() * grid, (b.y / grid).floor() * grid);
    BBox::from_corners((x0, y0), ((b.x + b.w).ceil(), (b.y + b.h).ceil()))
}

/// What region search did on one camera, for /metrics.
#[derive(Debug, Default)]
pub struct SearchStats {
    pub frames: AtomicU64,
    pub full_sweeps: AtomicU64,
    pub regions: AtomicU64,
    /// Sum over frames of the share searched, in millionths.
    searched_millionths: AtomicU64,
}

impl SearchStats {
    pub fn record(&self, search: &Search, width: u32, height: u32) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        match search {
            Search::Full => self.full_sweeps.fetch_add(1, Ordering::Relaxed),
            Search::Regions(regions) => self.regions.fetch_add(regions.len() as u64, Ordering::Relaxed),
        };
        let millionths = (search.share(width, height) * 1e6).round() as u64;
        self.searched_millionths.fetch_add(millionths, Ordering::Relaxed);
    }

    /// Frames' worth of pixels searched so far (a frame searched whole counts 1).
    pub fn frames_searched(&self) -> f64 {
        self.searched_millionths.load(Ordering::Relaxed) as f64 / 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_lines_up_with_the_anchors_at_each_scale() {
        assert_eq!(grid_step(1.0), 32.0);
        assert_eq!(grid_step(2.0), 16.0);
        assert_eq!(grid_step(1.5), 64.0);
        assert_eq!(grid_step(4.0), 8.0);
        let b = snap(
            &BBox {
                x: 17.0,
                y: 40.0,
                w: 20.0,
                h: 5.0,
            },
            16.0,
        );
        assert_eq!(
            b,
            BBox {
                x: 16.0,
                y: 32.0,
                w: 21.0,
                h: 13.0
            }
        );
    }

    fn still_frame(width: u32, height: u32) -> BgrImage {
        let mut frame = BgrImage::new(width, height);
        let w = width as usize;
        for (i, v) in frame.data.iter_mut().enumerate() {
            *v = ((i / 3 % w) / 5 + (i / 3 / w) / 3) as u8;
        }
        frame
    }

    fn planner(full_every: u64, budget: f32, max_regions: usize) -> RegionSearch {
        RegionSearch::new(&DetectConfig {
            search: super::super::SearchMode::Regions,
            full_every_frames: full_every,
            region_budget: budget,
            max_regions,
            ..DetectConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn full_sweeps_come_on_schedule_at_start_and_after_a_reconnect() {
        let frame = still_frame(640, 360);
        let mut search = planner(5, 0.5, 32);
        let plans: Vec<bool> = (0..12)
            .map(|i| search.plan(&frame, &[], i == 8).unwrap() == Search::Full)
            .collect();
        let full: Vec<usize> = plans.iter().enumerate().filter(|(_, f)| **f).map(|(i, _)| i).collect();
        assert_eq!(full, vec![0, 5, 8], "{plans:?}");
    }

    #[test]
    fn a_lighting_jump_is_swept_whole() {
        let frame = still_frame(640, 360);
        let mut search = planner(1000, 0.5, 32);
        for _ in 0..10 {
            search.plan(&frame, &[], false).unwrap();
        }
        assert_eq!(search.plan(&frame, &[], false).unwrap(), Search::Regions(Vec::new()));
        let mut lit = frame.clone();
        lit.data.iter_mut().for_each(|v| *v = v.saturating_add(90));
        assert_eq!(search.plan(&lit, &[], false).unwrap(), Search::Full);
    }

    #[test]
    fn track_windows_are_searched_and_too_many_regions_fall_back_to_a_full_sweep() {
        let frame = still_frame(1920, 1080);
        // No budget on area: only the count of regions can force a sweep.
        let mut search = planner(1000, 1.0, 10);
        search.plan(&frame, &[], false).unwrap();
        let window = BBox {
            x: 101.0,
            y: 50.0,
            w: 30.0,
            h: 36.0,
        };
        let Search::Regions(regions) = search.plan(&frame, &[window], false).unwrap() else {
            panic!("a still frame with one track is not a sweep")
        };
        assert_eq!(regions.len(), 1);
        assert!(regions[0].encloses(&window), "{regions:?} holds the window");
        // Far enough apart that their regions (with context) stay separate.
        let many: Vec<BBox> = (0..18)
            .map(|i| BBox {
                x: 40.0 + (i % 6) as f32 * 320.0,
                y: 40.0 + (i / 6) as f32 * 360.0,
                w: 20.0,
                h: 20.0,
            })
            .collect();
        let ten = search.plan(&frame, &many[..10], false).unwrap();
        assert!(matches!(&ten, Search::Regions(r) if r.len() == 10), "{ten:?}");
        assert_eq!(
            search.plan(&frame, &many[..11], false).unwrap(),
            Search::Full,
            "over 10 regions"
        );
        let mut search = planner(1000, 0.5, 32);
        search.plan(&frame, &[], false).unwrap();
        let wide = [BBox {
            x: 0.0,
            y: 0.0,
            w: 1500.0,
            h: 900.0,
        }];
        assert_eq!(search.plan(&frame, &wide, false).unwrap(), Search::Full, "over budget");
    }
}
