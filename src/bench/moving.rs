//! `squint bench-detect`'s moving scenes: faces of known size walking over consecutive frames
//! of real street footage, searched whole and in regions (`detect.search`); what regions
//! save in time and what they cost in recall and in how late a face is first found.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use serde::Serialize;

use super::detect::matches;
use crate::detect::{DetectConfig, DetectMode, Detector, RegionSearch, Search, SearchMode, assess_all};
use crate::image::BgrImage;
use crate::model::ModelCard;
use crate::scenario::FacePatch;
use crate::track::{TrackConfig, Tracker};
use crate::types::{BBox, FrameMeta};

/// Widths of the walking faces, in frame pixels; the bar is on 10–16.
const FACE_SIZES: [f32; 12] = [10.0, 12.0, 14.0, 16.0, 10.0, 12.0, 14.0, 16.0, 24.0, 32.0, 10.0, 12.0];
/// Frames each face stays in the scene.
const LIFETIME: usize = 30;
/// Frames searched before the walkers come and before anything is measured, so the
/// background model has learnt the street and the tracker follows its pedestrians, as on a
/// camera that has been running for a while.
pub const WARM_UP: usize = 30;

/// One face's walk: it appears at `first` (stepping out from behind something, as far as
/// the detector can tell) and moves at a constant speed for [`LIFETIME`] frames.
#[derive(Debug, Clone, Copy)]
struct Walker {
    first: usize,
    start: BBox,
    /// Frame pixels per frame.
    speed: (f32, f32),
}

impl Walker {
    fn box_at(&self, frame: usize) -> Option<BBox> {
        let t = frame.checked_sub(self.first).filter(|t| *t < LIFETIME)? as f32;
        Some(BBox {
            x: self.start.x + self.speed.0 * t,
            y: self.start.y + self.speed.1 * t,
            ..self.start
        })
    }
}

/// Twelve walkers in their own lanes, entering every five frames, at 1–4 px per frame at
/// 768 px wide (as vtest's pedestrians walk), faster in proportion on wider frames.
fn walkers(width: u32, height: u32, after: usize) -> Vec<Walker> {
    let (w, h) = (width as f32, height as f32);
    let pace = w / 768.0;
    FACE_SIZES
        .iter()
        .enumerate()
        .map(|(i, &side)| {
            let rightwards = i % 2 == 0;
            let speed = (1.0 + (i % 4) as f32) * pace;
            Walker {
                first: after + (i * 5) % 30,
                start: BBox {
                    x: if rightwards { 0.1 * w } else { 0.9 * w - side },
                    y: h * (0.06 + 0.075 * i as f32),
                    w: side,
                    h: side * 1.2,
                },
                speed: (if rightwards { speed } else { -speed }, 0.25 * pace),
            }
        })
        .collect()
}

/// One search of one scene.
#[derive(Debug, Clone, Serialize)]
pub struct MovingRun {
    pub width: u32,
    pub height: u32,
    pub mode: String,
    pub search: String,
    pub full_every_frames: u64,
    pub region_pad: f32,
    pub frames: usize,
    /// Planning (motion, windows) and detection, per frame…
    pub ms_per_frame: f64,
    /// …per frame searched whole, and per frame searched in regions.
    pub ms_per_sweep: f64,
    pub ms_per_region_frame: f64,
    /// Of `ms_per_frame`: the motion model and the regions' layout.
    pub ms_planning: f64,
    pub searched_share: f64,
    pub full_sweeps: usize,
    pub regions_per_frame: f64,
    pub recall: Vec<SizeRecall>,
    /// Recall of the 10–16 px faces together.
    pub recall_10_16: f64,
    /// Against the full search of the same scene and mode; absent for the full search.
    pub first_found: Option<FirstFound>,
    pub time_vs_full: Option<f64>,
    pub recall_10_16_vs_full: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SizeRecall {
    pub face_px: u32,
    pub faces: usize,
    pub found: usize,
    pub recall: f64,
}

/// How many frames later than the full search each walker was first found.
#[derive(Debug, Clone, Serialize)]
pub struct FirstFound {
    pub median_frames_later: f64,
    pub max_frames_later: i64,
    /// Walkers the full search found and this search never did.
    pub never_found: usize,
}

/// The variant searched.
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    pub search: SearchMode,
    pub full_every_frames: u64,
    pub region_pad: f32,
}

impl Variant {
    pub const FULL: Variant = Variant {
        search: SearchMode::Full,
        full_every_frames: 1,
        region_pad: 0.0,
    };
}

/// A moving scene: consecutive background frames at one size with the walkers pasted in
/// after the first [`WARM_UP`].
pub struct Scene {
    frames: Vec<BgrImage>,
    walkers: Vec<Walker>,
}

impl Scene {
    pub fn new(background: &[BgrImage], size: (u32, u32), patches: &[FacePatch]) -> anyhow::Result<Scene> {
        anyhow::ensure!(
            background.len() > WARM_UP,
            "a moving scene needs more than {WARM_UP} frames of background"
        );
        let walkers = walkers(size.0, size.1, WARM_UP);
        let mut frames = Vec::with_capacity(background.len());
        for (index, frame) in background.iter().enumerate() {
            let mut frame = frame.resized(size.0, size.1)?;
            for (i, walker) in walkers.iter().enumerate() {
                if let Some(b) = walker.box_at(index) {
                    patches[i % patches.len()].paste(&mut frame, b)?;
                }
            }
            frames.push(frame);
        }
        Ok(Scene { frames, walkers })
    }

    /// Runs the variants in lockstep, each frame through every one of them before the next
    /// frame, so that the machine's noise falls on all alike. The first variant is the one
    /// the others' first detections are compared with.
    pub fn run(
        &self,
        card: &ModelCard,
        mode: (&str, DetectMode, f32),
        variants: &[Variant],
    ) -> anyhow::Result<Vec<MovingRun>> {
        let mut searchers = variants
            .iter()
            .map(|v| Searcher::new(card, mode, *v, self))
            .collect::<anyhow::Result<Vec<_>>>()?;
        for (index, frame) in self.frames.iter().enumerate() {
            for searcher in &mut searchers {
                searcher.step(index, frame, &self.walkers)?;
            }
        }
        let reference = searchers.first().map(|s| s.first_found.clone()).unwrap_or_default();
        Ok(searchers
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.finish(self, mode.0, (i > 0).then_some(reference.as_slice())))
            .collect())
    }

    fn recall_by_size(&self, hits: &[(usize, usize)]) -> Vec<SizeRecall> {
        let mut sizes: Vec<u32> = self.walkers.iter().map(|w| w.start.w as u32).collect();
        sizes.sort_unstable();
        sizes.dedup();
        sizes
            .into_iter()
            .map(|px| {
                let (faces, found) = self.tally(hits, |w| w as u32 == px);
                SizeRecall {
                    face_px: px,
                    faces,
                    found,
                    recall: found as f64 / faces.max(1) as f64,
                }
            })
            .collect()
    }

    fn recall_where(&self, hits: &[(usize, usize)], keep: impl Fn(f32) -> bool) -> f64 {
        let (faces, found) = self.tally(hits, keep);
        found as f64 / faces.max(1) as f64
    }

    /// (frames present, frames found) summed over the walkers whose face width `keep`s.
    fn tally(&self, hits: &[(usize, usize)], keep: impl Fn(f32) -> bool) -> (usize, usize) {
        self.walkers
            .iter()
            .zip(hits)
            .filter(|(w, _)| keep(w.start.w))
            .fold((0, 0), |(f, n), (_, h)| (f + h.0, n + h.1))
    }
}

/// One variant's detector, planner, tracker and tallies.
struct Searcher {
    variant: Variant,
    detector: Detector,
    planner: Option<RegionSearch>,
    camera: Arc<str>,
    tracker: Tracker,
    first_found: Vec<Option<usize>>,
    /// Per walker: frames present, frames found.
    hits: Vec<(usize, usize)>,
    share: f64,
    sweeps: usize,
    regions: usize,
    sweep_s: f64,
    region_s: f64,
    planning_s: f64,
}

impl Searcher {
    fn new(
        card: &ModelCard,
        (_, mode, upscale): (&str, DetectMode, f32),
        variant: Variant,
        scene: &Scene,
    ) -> anyhow::Result<Searcher> {
        let config = DetectConfig {
            mode,
            upscale,
            threads: 2,
            min_face_px: 4.0,
            search: variant.search,
            full_every_frames: variant.full_every_frames,
            region_pad: variant.region_pad,
            ..DetectConfig::default()
        };
        let mut detector = Detector::load(card, None, &config)?;
        detector.detect(&scene.frames[0])?; // warm-up
        let planner = match variant.search {
            SearchMode::Regions => Some(RegionSearch::new(&config)?),
            SearchMode::Full => None,
        };
        let camera: Arc<str> = Arc::from("bench");
        Ok(Searcher {
            variant,
            detector,
            planner,
            tracker: Tracker::new(camera.clone(), &TrackConfig::default()),
            camera,
            first_found: vec![None; scene.walkers.len()],
            hits: vec![(0, 0); scene.walkers.len()],
            share: 0.0,
            sweeps: 0,
            regions: 0,
            sweep_s: 0.0,
            region_s: 0.0,
            planning_s: 0.0,
        })
    }

    fn step(&mut self, index: usize, frame: &BgrImage, walkers: &[Walker]) -> anyhow::Result<()> {
        let started = Instant::now();
        let search = match self.planner.as_mut() {
            Some(planner) => planner.plan(frame, &self.tracker.windows(index as u64), false)?,
            None => Search::Full,
        };
        let planning = started.elapsed().as_secs_f64();
        let found = self.detector.detect_searched(&[(frame, &search)])?.remove(0);
        let seconds = started.elapsed().as_secs_f64();
        if index >= WARM_UP {
            self.planning_s += planning;
            self.share += search.share(frame.width, frame.height);
            match &search {
                Search::Full => {
                    self.sweeps += 1;
                    self.sweep_s += seconds;
                }
                Search::Regions(r) => {
                    self.regions += r.len();
                    self.region_s += seconds;
                }
            }
            for (i, walker) in walkers.iter().enumerate() {
                let Some(truth) = walker.box_at(index) else { continue };
                self.hits[i].0 += 1;
                if found.iter().any(|d| matches(d, &truth)) {
                    self.hits[i].1 += 1;
                    self.first_found[i].get_or_insert(index);
                }
            }
        }
        let meta = FrameMeta {
            camera_id: self.camera.clone(),
            seq: index as u64,
            pts_ns: None,
            captured_at: SystemTime::now(),
        };
        self.tracker.update(&meta, assess_all(frame, found));
        Ok(())
    }

    fn finish(self, scene: &Scene, mode: &str, reference: Option<&[Option<usize>]>) -> MovingRun {
        let frames = scene.frames.len() - WARM_UP;
        let variant = self.variant;
        MovingRun {
            width: scene.frames[0].width,
            height: scene.frames[0].height,
            mode: mode.into(),
            search: match variant.search {
                SearchMode::Full => "full".into(),
                SearchMode::Regions => "regions".into(),
            },
            full_every_frames: variant.full_every_frames,
            region_pad: variant.region_pad,
            frames,
            ms_per_frame: (self.sweep_s + self.region_s) * 1000.0 / frames as f64,
            ms_per_sweep: self.sweep_s * 1000.0 / self.sweeps.max(1) as f64,
            ms_per_region_frame: self.region_s * 1000.0 / (frames - self.sweeps).max(1) as f64,
            ms_planning: self.planning_s * 1000.0 / frames as f64,
            searched_share: self.share / frames as f64,
            full_sweeps: self.sweeps,
            regions_per_frame: self.regions as f64 / frames as f64,
            recall: scene.recall_by_size(&self.hits),
            recall_10_16: scene.recall_where(&self.hits, |w| (10.0..=16.0).contains(&w)),
            first_found: reference.map(|r| compare_first_found(r, &self.first_found)),
            time_vs_full: None,
            recall_10_16_vs_full: None,
        }
    }
}

fn compare_first_found(full: &[Option<usize>], this: &[Option<usize>]) -> FirstFound {
    let mut later: Vec<i64> = Vec::new();
    let mut never_found = 0;
    for (f, t) in full.iter().zip(this) {
        match (f, t) {
            (Some(f), Some(t)) => later.push(*t as i64 - *f as i64),
            (Some(_), None) => never_found += 1,
            _ => {}
        }
    }
    later.sort_unstable();
    let median = match later.len() {
        0 => 0.0,
        n if n % 2 == 1 => later[n / 2] as f64,
        n => (later[n / 2 - 1] + later[n / 2]) as f64 / 2.0,
    };
    FirstFound {
        median_frames_later: median,
        max_frames_later: later.last().copied().unwrap_or(0),
        never_found,
    }
}

/// Every mode × search of one scene size: full, regions with the defaults, and for
/// `curve` the trade-off of `full_every_frames` and `region_pad` too.
pub fn compare(
    card: &ModelCard,
    background: &[BgrImage],
    patches: &[FacePatch],
    size: (u32, u32),
    modes: &[(&str, DetectMode, f32)],
    curve: bool,
) -> anyhow::Result<Vec<MovingRun>> {
    let scene = Scene::new(background, size, patches)?;
    let defaults = DetectConfig::default();
    let regions = |full_every_frames, region_pad| Variant {
        search: SearchMode::Regions,
        full_every_frames,
        region_pad,
    };
    let mut variants = vec![Variant::FULL, regions(defaults.full_every_frames, defaults.region_pad)];
    if curve {
        for every in [4, 8, 16, 32] {
            variants.push(regions(every, defaults.region_pad));
        }
        for pad in [0.1, 0.5, 1.0] {
            variants.push(regions(defaults.full_every_frames, pad));
        }
    }
    let mut out = Vec::new();
    for &mode in modes {
        let mut runs = scene.run(card, mode, &variants)?;
        let (full_ms, full_recall) = (runs[0].ms_per_frame, runs[0].recall_10_16);
        for run in &mut runs[1..] {
            run.time_vs_full = Some(run.ms_per_frame / full_ms);
            run.recall_10_16_vs_full = Some(run.recall_10_16 / full_recall.max(1e-9));
        }
        for run in &runs {
            tracing::info!(
                mode = mode.0,
                width = size.0,
                search = run.search,
                full_every = run.full_every_frames,
                pad = run.region_pad,
                ms = run.ms_per_frame,
                "moving scene searched"
            );
        }
        out.append(&mut runs);
    }
    Ok(out)
}

/// The moving-scene part of the report, with the bar: at 1080p with ×2 upscale,
/// region search at most a third of the full search's time, 10–16 px recall at least 0.98
/// of its recall, faces first found at most 2 frames later (median).
#[derive(Debug, Serialize)]
pub struct MovingReport {
    pub runs: Vec<MovingRun>,
    pub bar: Option<Bar>,
}

#[derive(Debug, Serialize)]
pub struct Bar {
    pub time_vs_full: f64,
    pub recall_10_16_vs_full: f64,
    pub median_frames_later: f64,
    pub met: bool,
}

pub fn report(card: &ModelCard, background: &[BgrImage], patches: &[FacePatch]) -> anyhow::Result<MovingReport> {
    let modes = [super::detect::MODES[1], super::detect::MODES[2]];
    let mut runs = compare(card, background, patches, (768, 576), &modes, false)?;
    runs.extend(compare(card, background, patches, (1920, 1080), &modes[..1], false)?);
    runs.extend(compare(card, background, patches, (1920, 1080), &modes[1..], true)?);
    let defaults = DetectConfig::default();
    let bar = runs
        .iter()
        .find(|r| {
            r.width == 1920
                && r.mode == modes[1].0
                && r.search == "regions"
                && r.full_every_frames == defaults.full_every_frames
                && r.region_pad == defaults.region_pad
        })
        .and_then(|r| {
            let (time, recall, later) = (r.time_vs_full?, r.recall_10_16_vs_full?, r.first_found.as_ref()?);
            Some(Bar {
                time_vs_full: time,
                recall_10_16_vs_full: recall,
                median_frames_later: later.median_frames_later,
                met: time <= 1.0 / 3.0 && recall >= 0.98 && later.median_frames_later <= 2.0,
            })
        });
    Ok(MovingReport { runs, bar })
}
