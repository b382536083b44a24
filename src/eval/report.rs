//! What `squint eval` reports: one row per set × recognizer × gallery × size × alignment,
//! as JSON and as a markdown table.

use std::fmt::Write;

use serde::Serialize;

use super::config::{Alignment, EvalConfig, GalleryKind};
use super::metrics::{AtFar, Interval, Spread};
use super::probes::CameraDegradation;
use super::video::VideoRow;
use crate::recognize::Recognizer;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub set: String,
    pub recognizer: String,
    pub gallery: GalleryKind,
    pub alignment: Alignment,
    /// Probe face width in frame pixels.
    pub px: u32,
    /// Frames per probe track, fused by the pipeline's evidence rule (1: single frames).
    pub frames: usize,
    pub mated_probes: usize,
    pub strangers: usize,
    /// Mated probes the detector found (oracle rows repeat it; they do not need the detector).
    pub detection_rate: f64,
    /// Closed set: the probe's own identity ranks first among all gallery identities.
    pub rank1: f64,
    pub tar_far_1e2: AtFar,
    pub tar_far_1e3: AtFar,
    /// Open set: strangers set the threshold.
    pub dir_far_1e2: AtFar,
    /// Probe embedding · the enrolment model's embedding of the same sharp photo, over the
    /// probes that were embedded.
    pub mean_cosine_to_sharp: Option<f64>,
    /// Mean distance (frame px) of the detected landmarks from the oracle ones over the found
    /// mated probes; the same for every recognizer at one size.
    pub landmark_error_px: Option<f64>,
    /// Its 90 % bootstrap interval over the found faces.
    pub landmark_error_ci90: Option<Interval>,
    /// The recognizer whose numbers the `*_delta_ci90` intervals subtract (the first given);
    /// absent on that recognizer's own rows.
    pub versus: Option<String>,
    /// 90 % bootstrap intervals over people (detected and oracle rows alike).
    #[serde(flatten)]
    pub spread: Spread,
}

#[derive(Debug, Clone, Serialize)]
pub struct SetSummary {
    pub name: String,
    pub identities: usize,
    /// Set identities enrolled plus distractors.
    pub gallery_identities: usize,
    pub distractors_in_gallery: usize,
    /// Galleries the set was measured against: 1 with the first photo enrolled, one per
    /// photo of the person with the most with `--enrol each`.
    pub enrolment_rounds: usize,
    /// Mated probe scores over all rounds (what rank-1 and TAR are fractions of).
    pub mated_probes: usize,
    /// Distinct photos that probe (each embedded once, measured in several rounds).
    pub probe_photos: usize,
    pub strangers: usize,
    pub identities_without_face: usize,
    pub photos_without_face: Vec<std::path::PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub recognizers: Vec<String>,
    pub enroll_with: String,
    pub detect_mode: String,
    /// The landmark refiner's id and the widths it ran below; `None`: the detector's landmarks.
    pub refiner: Option<String>,
    pub sizes: Vec<u32>,
    pub multi_res_widths: Vec<u32>,
    pub degradation: CameraDegradation,
    pub grey: bool,
    pub seed: u64,
    pub sets: Vec<SetSummary>,
    pub rows: Vec<Row>,
    pub video: Vec<VideoRow>,
    pub seconds: f64,
}

impl EvalReport {
    pub fn new(config: &EvalConfig, recognizers: &[Recognizer]) -> EvalReport {
        EvalReport {
            recognizers: recognizers.iter().map(|r| r.model_id().to_string()).collect(),
            enroll_with: config.enroll_with.display().to_string(),
            detect_mode: format!("{:?} x{}", config.detect.mode, config.detect.upscale).to_lowercase(),
            refiner: None,
            sizes: config.sizes.clone(),
            multi_res_widths: config.multi_res_widths.clone(),
            degradation: config.degradation,
            grey: config.grey,
            seed: config.seed,
            sets: Vec::new(),
            rows: Vec::new(),
            video: Vec::new(),
            seconds: 0.0,
        }
    }

    /// One table per set: a line per size × recognizer × gallery, detected | oracle side by side.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        for set in &self.sets {
            let _ = writeln!(
                out,
                "\n### {} — {} identities ({} in the gallery with distractors), {} probes of {} photos in {} enrolment round(s), {} strangers\n",
                set.name,
                set.identities,
                set.gallery_identities,
                set.mated_probes,
                set.probe_photos,
                set.enrolment_rounds,
                set.strangers
            );
            out.push_str("[90 % bootstrap interval over people]\n\n");
            if let Some(refiner) = &self.refiner {
                let _ = writeln!(out, "Detected landmarks refined by {refiner}.\n");
            }
            out.push_str("| px | recognizer | gallery | detected | rank-1 det [90 %] / oracle | TAR@1e-3 det [90 %] / oracle | TAR@1e-2 det / oracle | DIR@1e-2 det / oracle | cos to sharp det / oracle | thr@1e-3 det |\n");
            out.push_str("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
            let rows: Vec<&Row> = self.rows.iter().filter(|r| r.set == set.name).collect();
            for det in rows.iter().filter(|r| r.alignment == Alignment::Detected) {
                let Some(oracle) = rows.iter().find(|r| {
                    r.alignment == Alignment::Oracle
                        && r.px == det.px
                        && r.frames == det.frames
                        && r.recognizer == det.recognizer
                        && r.gallery == det.gallery
                }) else {
                    continue;
                };
                let pair = |a: Option<f64>, b: Option<f64>| format!("{} / {}", pct(a), pct(b));
                let spanned = |a: Option<f64>, ci: Option<Interval>, b: Option<f64>| {
                    format!("{} {} / {}", pct(a), span(ci), pct(b))
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} |",
                    det.px,
                    recognizer_name(det),
                    gallery_name(det.gallery),
                    pct(Some(det.detection_rate)),
                    spanned(Some(det.rank1), det.spread.rank1_ci90, Some(oracle.rank1)),
                    spanned(
                        det.tar_far_1e3.rate,
                        det.spread.tar_far_1e3_ci90,
                        oracle.tar_far_1e3.rate
                    ),
                    pair(det.tar_far_1e2.rate, oracle.tar_far_1e2.rate),
                    pair(det.dir_far_1e2.rate, oracle.dir_far_1e2.rate),
                    num(det.mean_cosine_to_sharp),
                    num(oracle.mean_cosine_to_sharp),
                    num(det.tar_far_1e3.threshold.map(f64::from)),
                );
            }
            out.push_str(&landmark_line(&rows));
            out.push_str(&differences(&rows));
        }
        if !self.video.is_empty() {
            out.push_str("\n### Real footage (tracks as labels)\n\n| video | recognizer | face px | genuine pairs | impostor pairs | AUC | TAR@1e-2 | thr@1e-2 |\n|---|---|---|---:|---:|---:|---:|---:|\n");
            for v in &self.video {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    v.video,
                    v.recognizer,
                    v.band,
                    v.genuine_pairs,
                    v.impostor_pairs,
                    num(v.auc),
                    pct(v.tar_far_1e2.rate),
                    num(v.tar_far_1e2.threshold.map(f64::from)),
                );
            }
        }
        out
    }
}

/// The recognizer, and the track length when it is longer than one frame.
fn recognizer_name(row: &Row) -> String {
    match row.frames {
        1 => row.recognizer.clone(),
        n => format!("{} ({n} frames)", row.recognizer),
    }
}

pub fn gallery_name(kind: GalleryKind) -> &'static str {
    match kind {
        GalleryKind::Single => "single",
        GalleryKind::MultiRes => "multi-res",
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{:.1}%", v * 100.0))
}

/// `[48.1–65.0]` in percent; empty without an interval.
fn span(v: Option<Interval>) -> String {
    v.map_or(String::new(), |[lo, hi]| {
        format!("[{:.1}–{:.1}]", lo * 100.0, hi * 100.0)
    })
}

/// Each recognizer's paired difference from the first one, in points, with its interval.
fn differences(rows: &[&Row]) -> String {
    let paired: Vec<&&Row> = rows.iter().filter(|r| r.versus.is_some()).collect();
    let Some(versus) = paired.first().and_then(|r| r.versus.as_deref()) else {
        return String::new();
    };
    let mut out = format!(
        "\nDifference from {versus}, in points (paired bootstrap over people, 90 %):\n\n\
         | px | recognizer | gallery | alignment | Δ rank-1 [90 %] | Δ TAR@1e-3 [90 %] |\n|---:|---|---|---|---:|---:|\n"
    );
    for row in paired {
        let base = rows.iter().find(|b| {
            b.versus.is_none()
                && b.px == row.px
                && b.frames == row.frames
                && b.gallery == row.gallery
                && b.alignment == row.alignment
        });
        let delta = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a - b);
        let points = |d: Option<f64>| d.map_or("n/a".into(), |d| format!("{:+.1}", d * 100.0));
        let (rank1, tar) = match base {
            Some(b) => (
                delta(Some(row.rank1), Some(b.rank1)),
                delta(row.tar_far_1e3.rate, b.tar_far_1e3.rate),
            ),
            None => (None, None),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} {} | {} {} |",
            row.px,
            recognizer_name(row),
            gallery_name(row.gallery),
            alignment_name(row.alignment),
            points(rank1),
            signed_span(row.spread.rank1_delta_ci90),
            points(tar),
            signed_span(row.spread.tar_far_1e3_delta_ci90),
        );
    }
    out
}

/// `[-3.8, +7.5]` in points; empty without an interval.
fn signed_span(v: Option<Interval>) -> String {
    v.map_or(String::new(), |[lo, hi]| {
        format!("[{:+.1}, {:+.1}]", lo * 100.0, hi * 100.0)
    })
}

fn alignment_name(alignment: Alignment) -> &'static str {
    match alignment {
        Alignment::Detected => "detected",
        Alignment::Oracle => "oracle",
    }
}

fn num(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3}"))
}

/// "Detected vs oracle landmarks: 12 px 0.9 px (7.5 % of the width), …" for one set's rows.
fn landmark_line(rows: &[&Row]) -> String {
    let mut sizes: Vec<(u32, f64, Option<Interval>)> = Vec::new();
    for row in rows.iter().filter(|r| r.alignment == Alignment::Detected) {
        if let Some(error) = row.landmark_error_px
            && !sizes.iter().any(|(px, _, _)| *px == row.px)
        {
            sizes.push((row.px, error, row.landmark_error_ci90));
        }
    }
    if sizes.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = sizes
        .iter()
        .map(|(px, e, ci)| {
            let ci = ci.map_or(String::new(), |[lo, hi]| format!(" [{lo:.2}–{hi:.2}]"));
            format!("{px} px: {e:.2} px{ci} ({:.1} % of the width)", 100.0 * e / *px as f64)
        })
        .collect();
    format!(
        "\nDetected vs oracle landmarks (mean of the 5 points) [90 %]: {}\n",
        parts.join(", ")
    )
}
