//! Real low-resolution faces without labels: the tracker's tracks on real footage stand in
//! for identities. Genuine pairs are two faces of one track far enough apart in time;
//! impostor pairs are faces of two tracks seen in the same frame (two people at once).
//! Tracker mistakes (a track jumping between people) make genuine pairs impostors, so these
//! numbers are a lower bound on the recognizer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use super::EvalError;
use super::metrics::{self, AtFar};
use crate::align::align_face;
use crate::detect::{Detector, assess_all};
use crate::gallery::dot;
use crate::image::BgrImage;
use crate::recognize::Recognizer;
use crate::serve::VideoReader;
use crate::track::{TrackConfig, Tracker};
use crate::types::FrameMeta;

#[derive(Debug, Clone)]
pub struct VideoConfig {
    pub video: PathBuf,
    /// Two faces of a track at least this many frames apart form a genuine pair.
    pub min_gap_frames: u64,
    /// Embed the faces of every n-th frame (all frames are tracked).
    pub every: u64,
    /// Genuine pairs kept per track at most (long tracks would dominate otherwise).
    pub max_pairs_per_track: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct VideoRow {
    pub video: String,
    pub recognizer: String,
    /// Face width band of a pair: the smaller face's width.
    pub band: String,
    pub tracks: usize,
    pub faces: usize,
    pub genuine_pairs: usize,
    pub impostor_pairs: usize,
    pub auc: Option<f64>,
    pub tar_far_1e2: AtFar,
}

/// Face width bands: [from, to) px.
pub const BANDS: [(&str, f32, f32); 5] = [
    ("<12", 0.0, 12.0),
    ("12-16", 12.0, 16.0),
    ("16-24", 16.0, 24.0),
    (">=24", 24.0, f32::INFINITY),
    ("all", 0.0, f32::INFINITY),
];

/// One embedded face of the footage.
struct Seen {
    track: u64,
    seq: u64,
    width: f32,
    /// One embedding per recognizer.
    embeddings: Vec<Vec<f32>>,
}

pub fn evaluate_video(
    config: &VideoConfig,
    detector: &mut Detector,
    recognizers: &mut [Recognizer],
    progress: bool,
) -> Result<Vec<VideoRow>, EvalError> {
    let seen = embed_footage(config, detector, recognizers, progress)?;
    let tracks = seen
        .iter()
        .map(|s| s.track)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let (genuine, impostors) = pairs(&seen, config);
    let name = config
        .video
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut rows = Vec::new();
    for (r, recognizer) in recognizers.iter().enumerate() {
        for &(band, from, to) in &BANDS {
            let in_band = |&(a, b): &Pair| {
                let w = seen[a].width.min(seen[b].width);
                w >= from && w < to
            };
            let score = |&(a, b): &Pair| dot(&seen[a].embeddings[r], &seen[b].embeddings[r]);
            let g: Vec<f32> = genuine.iter().filter(|p| in_band(p)).map(score).collect();
            let i: Vec<f32> = impostors.iter().filter(|p| in_band(p)).map(score).collect();
            let threshold = metrics::threshold_at_far(&i, 1e-2);
            rows.push(VideoRow {
                video: name.clone(),
                recognizer: recognizer.model_id().to_string(),
                band: band.to_string(),
                tracks,
                faces: seen.len(),
                genuine_pairs: g.len(),
                impostor_pairs: i.len(),
                auc: metrics::auc(&g, &i),
                tar_far_1e2: AtFar {
                    far: 1e-2,
                    threshold,
                    rate: threshold.filter(|_| !g.is_empty()).map(|t| metrics::accept_rate(&g, t)),
                },
            });
        }
    }
    Ok(rows)
}

fn embed_footage(
    config: &VideoConfig,
    detector: &mut Detector,
    recognizers: &mut [Recognizer],
    progress: bool,
) -> Result<Vec<Seen>, EvalError> {
    let reader = open(&config.video)?;
    let track_config = TrackConfig {
        budget: false,
        ..TrackConfig::default()
    };
    let camera: Arc<str> = Arc::from("eval");
    let mut tracker = Tracker::new(camera.clone(), &track_config);
    let bar = if progress {
        indicatif::ProgressBar::new_spinner().with_message("footage frames")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut seen = Vec::new();
    let mut seq = 0u64;
    while let Some(frame) = reader.next_frame()? {
        seq += 1;
        let faces = assess_all(&frame, detector.detect(&frame)?);
        let meta = FrameMeta {
            camera_id: camera.clone(),
            seq,
            pts_ns: None,
            captured_at: SystemTime::now(),
        };
        let (tracked, _) = tracker.update(&meta, faces);
        if seq.is_multiple_of(config.every.max(1)) && !tracked.is_empty() {
            let mut per_face: Vec<Vec<Vec<f32>>> = vec![Vec::new(); tracked.len()];
            for recognizer in recognizers.iter_mut() {
                let crops = aligned(&frame, &tracked, recognizer.input_size())?;
                let embeddings = recognizer.embed(&crops.iter().collect::<Vec<_>>())?;
                for (face, e) in per_face.iter_mut().zip(embeddings) {
                    face.push(e);
                }
            }
            for (face, embeddings) in tracked.iter().zip(per_face) {
                seen.push(Seen {
                    track: face.track.track_id,
                    seq,
                    width: face.detection.bbox.w,
                    embeddings,
                });
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if seen.is_empty() {
        return Err(EvalError::Data {
            path: config.video.clone(),
            message: "the detector found no face in the footage".into(),
        });
    }
    Ok(seen)
}

fn open(video: &Path) -> Result<VideoReader, EvalError> {
    if !video.is_file() {
        return Err(EvalError::Data {
            path: video.to_path_buf(),
            message: "video not found".into(),
        });
    }
    Ok(VideoReader::open(video, false)?)
}

fn aligned(frame: &BgrImage, faces: &[crate::track::TrackedFace], size: u32) -> Result<Vec<BgrImage>, EvalError> {
    Ok(faces
        .iter()
        .map(|f| align_face(frame, &f.detection.landmarks, size))
        .collect::<Result<_, _>>()?)
}

/// Two faces, as indices into the embedded faces.
type Pair = (usize, usize);

/// Genuine pairs (same track, far enough apart; spread evenly over the track when capped) and
/// impostor pairs (different tracks, same frame), as indices into `seen`.
fn pairs(seen: &[Seen], config: &VideoConfig) -> (Vec<Pair>, Vec<Pair>) {
    let mut by_track: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    let mut by_frame: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, s) in seen.iter().enumerate() {
        by_track.entry(s.track).or_default().push(i);
        by_frame.entry(s.seq).or_default().push(i);
    }
    let mut genuine = Vec::new();
    for faces in by_track.values() {
        let mut candidates = Vec::new();
        for (k, &a) in faces.iter().enumerate() {
            for &b in &faces[k + 1..] {
                if seen[b].seq.abs_diff(seen[a].seq) >= config.min_gap_frames {
                    candidates.push((a, b));
                }
            }
        }
        let step = candidates.len().div_ceil(config.max_pairs_per_track.max(1)).max(1);
        genuine.extend(candidates.into_iter().step_by(step));
    }
    let mut impostors = Vec::new();
    for faces in by_frame.values() {
        for (k, &a) in faces.iter().enumerate() {
            for &b in &faces[k + 1..] {
                if seen[a].track != seen[b].track {
                    impostors.push((a, b));
                }
            }
        }
    }
    (genuine, impostors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(track: u64, seq: u64) -> Seen {
        Seen {
            track,
            seq,
            width: 10.0,
            embeddings: Vec::new(),
        }
    }

    #[test]
    fn genuine_pairs_are_far_apart_in_one_track_and_impostors_share_a_frame() {
        // Track 1 at frames 1, 5, 20; track 2 at frames 5 and 20.
        let faces = [seen(1, 1), seen(1, 5), seen(1, 20), seen(2, 5), seen(2, 20)];
        let config = VideoConfig {
            video: PathBuf::new(),
            min_gap_frames: 10,
            every: 1,
            max_pairs_per_track: 50,
        };
        let (genuine, impostors) = pairs(&faces, &config);
        assert_eq!(
            genuine,
            vec![(0, 2), (1, 2), (3, 4)],
            "1→20, 5→20 of track 1; 5→20 of track 2"
        );
        assert_eq!(impostors, vec![(1, 3), (2, 4)], "frames 5 and 20 show both tracks");
        let capped = VideoConfig {
            max_pairs_per_track: 1,
            ..config
        };
        assert_eq!(pairs(&faces, &capped).0, vec![(0, 2), (3, 4)]);
    }
}
