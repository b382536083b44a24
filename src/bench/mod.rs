//! `squint bench stages`: milliseconds per frame and per face for each stage of the frame
//! path (decode, detect, align, embed at several batch sizes) on a video file, as JSON.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

pub mod alerts;
pub mod detect;
pub mod failover;
pub mod gallery;
pub mod gallery_chart;
pub mod moving;
pub mod pipeline;
pub mod recognize;
mod scene;
pub mod soak;
pub mod soak_chart;
pub mod teacher;
pub mod unknowns;

use crate::align::align_face;
use crate::detect::Detector;
use crate::image::BgrImage;
use crate::recognize::Recognizer;
use crate::serve::VideoReader;

#[derive(Debug, Serialize)]
pub struct EmbedTiming {
    pub batch: usize,
    pub ms_per_face: f64,
    pub faces_per_s: f64,
}

#[derive(Debug, Serialize)]
pub struct StageTimings {
    pub video: String,
    pub width: u32,
    pub height: u32,
    pub frames: usize,
    pub faces: usize,
    /// Decode and convert to BGR, one GStreamer pipeline, as fast as it goes.
    pub decode_ms_per_frame: f64,
    pub detect_ms_per_frame: f64,
    pub align_ms_per_face: f64,
    pub embed: Vec<EmbedTiming>,
}

fn ms(started: Instant, count: usize) -> f64 {
    if count == 0 {
        0.0
    } else {
        started.elapsed().as_secs_f64() * 1000.0 / count as f64
    }
}

pub fn run_stages(
    video: &Path,
    max_frames: usize,
    detector: &mut Detector,
    recognizer: &mut Recognizer,
    batches: &[usize],
) -> anyhow::Result<StageTimings> {
    let reader = VideoReader::open(video, false)?;
    let mut frames: Vec<BgrImage> = Vec::with_capacity(max_frames);
    let started = Instant::now();
    while frames.len() < max_frames {
        match reader.next_frame()? {
            Some(frame) => frames.push(frame),
            None => break,
        }
    }
    let decode = ms(started, frames.len());
    anyhow::ensure!(!frames.is_empty(), "{} has no frames", video.display());

    let started = Instant::now();
    let detections = frames
        .iter()
        .map(|f| detector.detect(f))
        .collect::<Result<Vec<_>, _>>()?;
    let detect = ms(started, frames.len());

    let size = recognizer.input_size();
    let started = Instant::now();
    let mut crops = Vec::new();
    for (frame, faces) in frames.iter().zip(&detections) {
        for face in faces {
            crops.push(align_face(frame, &face.landmarks, size)?);
        }
    }
    let align = ms(started, crops.len());
    if crops.is_empty() {
        crops.push(BgrImage::new(size, size));
    }

    let mut embed = Vec::new();
    for &batch in batches {
        let inputs: Vec<&BgrImage> = crops.iter().cycle().take(batch).collect();
        recognizer.embed(&inputs)?; // warm-up: first runs allocate
        let rounds = (64 / batch).max(2);
        let started = Instant::now();
        for _ in 0..rounds {
            recognizer.embed(&inputs)?;
        }
        let per_face = ms(started, rounds * batch);
        embed.push(EmbedTiming {
            batch,
            ms_per_face: per_face,
            faces_per_s: 1000.0 / per_face,
        });
    }
    let (width, height) = (frames[0].width, frames[0].height);
    Ok(StageTimings {
        video: video.display().to_string(),
        width,
        height,
        frames: frames.len(),
        faces: detections.iter().map(Vec::len).sum(),
        decode_ms_per_frame: decode,
        detect_ms_per_frame: detect,
        align_ms_per_face: align,
        embed,
    })
}

/// CPU seconds (user + system) this process has used, from /proc/self/stat.
fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the stat line: 11 and 12 after the ')'.
    (ticks(11) + ticks(12)) / 100.0
}

/// Starts one camera from a config snippet, with a 2-frame queue.
fn spawn_camera(
    camera_toml: &str,
    templates: &Path,
) -> anyhow::Result<(
    crate::ingest::CameraSource,
    crossbeam_channel::Receiver<crate::types::Frame>,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
)> {
    let camera: crate::ingest::CameraConfig = toml::from_str(camera_toml)?;
    Ok(crate::ingest::CameraSource::spawn_alone(&camera, templates, 2)?)
}

#[derive(Debug, Serialize)]
pub struct IngestLoad {
    pub url: String,
    pub width: u32,
    pub height: u32,
    pub seconds: f64,
    pub frames: u64,
    pub fps: f64,
    /// CPU cores used by ingest alone (decode + convert + copy), i.e. CPU seconds per second.
    pub cores: f64,
    pub streams_per_core: f64,
}

/// Pulls frames from one camera for `seconds` and reports frame rate and CPU use.
pub fn ingest_load(url: &str, templates: &Path, seconds: f64) -> anyhow::Result<IngestLoad> {
    use std::sync::atomic::Ordering;

    let (mut source, rx, stop) = spawn_camera(&format!("id = \"bench\"\nurl = {url:?}\n"), templates)?;
    // Skip start-up (connection, first key frame) before measuring.
    let first = rx.recv_timeout(std::time::Duration::from_secs(20))?;
    let (cpu0, started) = (process_cpu_seconds(), Instant::now());
    let mut frames = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        if rx.recv_timeout(std::time::Duration::from_secs(5)).is_ok() {
            frames += 1;
        }
    }
    let (cpu, wall) = (process_cpu_seconds() - cpu0, started.elapsed().as_secs_f64());
    stop.store(true, Ordering::Relaxed);
    drop(rx);
    source.join();
    let cores = cpu / wall;
    Ok(IngestLoad {
        url: crate::redact::redact_credentials(url),
        width: first.image.width,
        height: first.image.height,
        seconds: wall,
        frames,
        fps: frames as f64 / wall,
        cores,
        streams_per_core: if cores > 0.0 { 1.0 / cores } else { 0.0 },
    })
}

#[derive(Debug, Serialize)]
pub struct Recovery {
    pub cycles: usize,
    pub backoff_max_ms: u64,
    pub stall_timeout_s: f64,
    /// From a restarted server accepting connections to the first new frame.
    pub reconnect_ms: Vec<f64>,
    /// From the server freezing (connection open, nothing sent) to the watchdog firing.
    pub watchdog_ms: Vec<f64>,
}

/// Restarts and freezes an in-process RTSP server `cycles` times and times the recovery.
pub fn ingest_recovery(video: &Path, templates: &Path, cycles: usize) -> anyhow::Result<Recovery> {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use crate::serve::RtspServer;

    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let (backoff_max_ms, stall_timeout_s) = (1000, 2.0);
    let (mut source, rx, stop) = spawn_camera(
        &format!(
            "id = \"bench\"\nurl = \"rtsp://127.0.0.1:{port}/bench\"\nbackoff_initial_ms = 250\nbackoff_max_ms = {backoff_max_ms}\nstall_timeout_s = {stall_timeout_s}\n"
        ),
        templates,
    )?;
    let wait_frame = |limit: Duration| -> anyhow::Result<f64> {
        let started = Instant::now();
        rx.try_iter().count();
        rx.recv_timeout(limit)?;
        Ok(started.elapsed().as_secs_f64() * 1000.0)
    };
    let wait_reconnects = |after: u64| -> anyhow::Result<f64> {
        let started = Instant::now();
        while source.health.snapshot().reconnects <= after {
            anyhow::ensure!(started.elapsed() < Duration::from_secs(30), "no reconnect within 30 s");
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(started.elapsed().as_secs_f64() * 1000.0)
    };
    let (mut reconnect_ms, mut watchdog_ms) = (Vec::new(), Vec::new());
    for cycle in 0..cycles {
        let server = RtspServer::start(video, port, "/bench")?;
        let took = wait_frame(Duration::from_secs(30))?;
        if cycle > 0 {
            reconnect_ms.push(took);
        }
        let before = source.health.snapshot().reconnects;
        server.set_paused(true);
        watchdog_ms.push(wait_reconnects(before)?);
        server.set_paused(false);
        wait_frame(Duration::from_secs(30))?;
        let before = source.health.snapshot().reconnects;
        drop(server);
        wait_reconnects(before)?;
    }
    stop.store(true, Ordering::Relaxed);
    drop(rx);
    source.join();
    Ok(Recovery {
        cycles,
        backoff_max_ms,
        stall_timeout_s,
        reconnect_ms,
        watchdog_ms,
    })
}
