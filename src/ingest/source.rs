use std::hash::Hasher;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use gst::prelude::*;

use super::{CameraConfig, CameraHealth, CameraState, IngestError, render_template};
use crate::gst_util::element_by_name;
use crate::redact::redact_credentials;
use crate::types::{BgrImage, Frame};

const PULL_TIMEOUT: Duration = Duration::from_millis(100);

/// The sending half of a camera's frame queue. Live cameras keep only the latest frames:
/// when the queue is full the oldest frame is taken out (and counted) to make room. Files
/// wait for room instead, so no frame of a file is lost.
#[derive(Clone)]
pub struct FrameSender {
    tx: Sender<Frame>,
    /// Used only to evict the oldest frame when the queue is full.
    evict: Receiver<Frame>,
}

impl FrameSender {
    pub fn new(tx: Sender<Frame>, evict: Receiver<Frame>) -> FrameSender {
        FrameSender { tx, evict }
    }

    /// Returns false when the consumer is gone.
    fn send_latest(&self, mut frame: Frame, health: &CameraHealth) -> bool {
        loop {
            match self.tx.try_send(frame) {
                Ok(()) => return true,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(back)) => {
                    frame = back;
                    if let Ok(evicted) = self.evict.try_recv() {
                        health.frames_dropped.fetch_add(1, Ordering::Relaxed);
                        // The newer frame inherits the news that the stream restarted.
                        frame.stream_start |= evicted.stream_start;
                    }
                }
            }
        }
    }

    fn send_waiting(&self, mut frame: Frame, stop: &AtomicBool) -> bool {
        while !stop.load(Ordering::Relaxed) {
            match self.tx.send_timeout(frame, PULL_TIMEOUT) {
                Ok(()) => return true,
                Err(crossbeam_channel::SendTimeoutError::Timeout(back)) => frame = back,
                Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => return false,
            }
        }
        false
    }
}

/// Why one run of a camera's pipeline ended.
enum RunEnd {
    EndOfStream,
    Stalled(String),
    Failed(String),
    Stopped,
}

/// One camera's ingest thread.
pub struct CameraSource {
    pub health: Arc<CameraHealth>,
    thread: Option<JoinHandle<()>>,
}

struct Runner {
    camera: CameraConfig,
    launch: String,
    camera_id: Arc<str>,
    frames: FrameSender,
    health: Arc<CameraHealth>,
    stop: Arc<AtomicBool>,
    next_seq: u64,
    /// When the last frame was delivered, for `max_fps`.
    last_delivered: Option<Instant>,
    repeats: RepeatDetector,
    /// Set when a connection starts; taken by its first frame.
    stream_start: bool,
}

impl CameraSource {
    /// Renders the camera's template and starts its thread. A template error is returned
    /// at once; everything after that (unreachable camera, bad file) is reported through
    /// health and retried for live sources.
    pub fn spawn(
        camera: &CameraConfig,
        templates: &Path,
        frames: FrameSender,
        stop: Arc<AtomicBool>,
    ) -> Result<CameraSource, IngestError> {
        gst::init().map_err(|e| IngestError::Pipeline {
            camera: camera.id.clone(),
            message: e.to_string(),
        })?;
        let launch = render_template(templates, camera)?;
        let health = Arc::new(CameraHealth::new(&camera.id));
        let mut runner = Runner {
            camera: camera.clone(),
            launch,
            camera_id: Arc::from(camera.id.as_str()),
            frames,
            health: health.clone(),
            stop,
            next_seq: 0,
            last_delivered: None,
            repeats: RepeatDetector::default(),
            stream_start: true,
        };
        let thread = std::thread::Builder::new()
            .name(format!("ingest-{}", camera.id))
            .spawn(move || runner.run())
            .map_err(|e| IngestError::Pipeline {
                camera: camera.id.clone(),
                message: e.to_string(),
            })?;
        Ok(CameraSource {
            health,
            thread: Some(thread),
        })
    }

    /// Starts `camera` outside the pipeline (benchmarks, harvesting) on its own queue of
    /// `capacity` frames; returns the source, the queue and the flag that stops it.
    pub fn spawn_alone(
        camera: &CameraConfig,
        templates: &Path,
        capacity: usize,
    ) -> Result<(CameraSource, Receiver<Frame>, Arc<AtomicBool>), IngestError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        let source = CameraSource::spawn(camera, templates, FrameSender::new(tx, rx.clone()), stop.clone())?;
        Ok((source, rx, stop))
    }

    pub fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl Runner {
    fn run(&mut self) {
        let mut failures: u32 = 0;
        loop {
            let started = self.next_seq;
            let end = self.run_pipeline_once();
            let got_frames = self.next_seq > started;
            if got_frames {
                failures = 0;
            }
            let reason = match end {
                RunEnd::Stopped => break,
                RunEnd::EndOfStream if !self.camera.is_live() => {
                    if self.camera.loop_file && got_frames {
                        continue;
                    }
                    let state = if got_frames {
                        CameraState::Finished
                    } else {
                        CameraState::Failed
                    };
                    let error = (!got_frames).then(|| "file ended before its first frame".to_string());
                    self.health.set(state, error);
                    return;
                }
                RunEnd::EndOfStream => "stream ended (server closed the connection)".to_string(),
                RunEnd::Stalled(msg) => {
                    self.health.set(CameraState::Stalled, Some(msg.clone()));
                    msg
                }
                RunEnd::Failed(msg) => msg,
            };
            let reason = format!("{}: {reason}", redact_credentials(&self.camera.url));
            if !self.camera.is_live() {
                // A missing or undecodable file will not fix itself: report and stop.
                self.health.set(CameraState::Failed, Some(reason));
                return;
            }
            failures = failures.saturating_add(1);
            self.health.reconnects.fetch_add(1, Ordering::Relaxed);
            self.health.set(CameraState::Reconnecting, Some(reason));
            if !self.sleep(self.backoff(failures)) {
                break;
            }
        }
        self.health.set(CameraState::Stopped, None);
    }

    /// Exponential back-off with ±20 % jitter, capped.
    fn backoff(&self, failures: u32) -> Duration {
        let base = self
            .camera
            .backoff_initial_ms
            .saturating_mul(1u64 << failures.saturating_sub(1).min(16));
        let capped = base.min(self.camera.backoff_max_ms) as f64;
        let jitter = 0.8 + 0.4 * rand::random::<f64>();
        Duration::from_millis((capped * jitter) as u64)
    }

    /// Sleeps unless asked to stop; returns false when stopping.
    fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        while Instant::now() < deadline {
            if self.stop.load(Ordering::Relaxed) {
                return false;
            }
            std::thread::sleep(PULL_TIMEOUT.min(deadline.saturating_duration_since(Instant::now())));
        }
        !self.stop.load(Ordering::Relaxed)
    }

    fn run_pipeline_once(&mut self) -> RunEnd {
        self.stream_start = true;
        let pipeline = match gst::parse::launch(&self.launch) {
            Ok(element) => element,
            Err(e) => return RunEnd::Failed(redact_credentials(&format!("invalid pipeline: {e}"))),
        };
        let end = self.stream(&pipeline);
        let _ = pipeline.set_state(gst::State::Null);
        end
    }

    fn stream(&mut self, pipeline: &gst::Element) -> RunEnd {
        let Some(sink) = element_by_name::<gst_app::AppSink>(pipeline, "sink") else {
            return RunEnd::Failed("pipeline template has no appsink named `sink`".into());
        };
        let Some(bus) = pipeline.bus() else {
            return RunEnd::Failed("pipeline has no bus".into());
        };
        if let Err(e) = pipeline.set_state(gst::State::Playing) {
            return RunEnd::Failed(bus_error(&bus).unwrap_or_else(|| format!("cannot start pipeline: {e}")));
        }
        let watchdog = Duration::from_secs_f64(self.camera.stall_timeout_s);
        let mut last_sample = Instant::now();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return RunEnd::Stopped;
            }
            if let Some(message) = bus_error(&bus) {
                return RunEnd::Failed(message);
            }
            match sink.try_pull_sample(gst::ClockTime::from_mseconds(PULL_TIMEOUT.as_millis() as u64)) {
                Some(sample) => {
                    last_sample = Instant::now();
                    match self.deliver(&sample) {
                        Ok(true) => {}
                        Ok(false) => return RunEnd::Stopped,
                        Err(end) => return end,
                    }
                }
                // After EOS try_pull_sample returns at once; without this check we would spin.
                None if sink.is_eos() => return RunEnd::EndOfStream,
                None if last_sample.elapsed() > watchdog => {
                    return RunEnd::Stalled(format!("no frame for {:.1} s", watchdog.as_secs_f64()));
                }
                None => {}
            }
        }
    }

    /// Copies a sample into a packed frame and queues it. Ok(false): the consumer is gone.
    fn deliver(&mut self, sample: &gst::Sample) -> Result<bool, RunEnd> {
        if self.over_fps_cap() {
            return Ok(true);
        }
        let frame = self.make_frame(sample).map_err(RunEnd::Failed)?;
        let limit = self.camera.stall_repeat_frames;
        if limit > 0 && self.camera.is_live() && self.repeats.observe(&frame.image) >= limit {
            self.repeats = RepeatDetector::default();
            return Err(RunEnd::Stalled(format!(
                "the same frame repeated {limit} times (frozen camera)"
            )));
        }
        if self.health.state() != CameraState::Streaming {
            self.health.set(CameraState::Streaming, None);
        }
        self.health.frames_in.fetch_add(1, Ordering::Relaxed);
        self.last_delivered = Some(Instant::now());
        Ok(if self.camera.is_live() {
            self.frames.send_latest(frame, &self.health)
        } else {
            self.frames.send_waiting(frame, &self.stop)
        })
    }

    /// True when this sample comes sooner than `max_fps` allows and should be skipped.
    fn over_fps_cap(&self) -> bool {
        let min_interval = if self.camera.max_fps > 0.0 {
            1.0 / self.camera.max_fps
        } else {
            0.0
        };
        // 5 % slack so a 25 fps source capped at 25 is not thinned by timing jitter.
        self.last_delivered
            .is_some_and(|t| t.elapsed().as_secs_f64() < min_interval * 0.95)
    }

    fn make_frame(&mut self, sample: &gst::Sample) -> Result<Frame, String> {
        let image = sample_to_image(sample)?;
        let seq = self.next_seq;
        self.next_seq += 1;
        Ok(Frame {
            camera_id: self.camera_id.clone(),
            seq,
            pts_ns: sample.buffer().and_then(|b| b.pts()).map(|t| t.nseconds()),
            captured_at: SystemTime::now(),
            stream_start: std::mem::take(&mut self.stream_start),
            image,
        })
    }
}

/// Copies a packed-BGR sample out of GStreamer's buffer.
pub(crate) fn sample_to_image(sample: &gst::Sample) -> Result<BgrImage, String> {
    let caps = sample.caps().ok_or("sample without caps")?;
    let info = gst_video::VideoInfo::from_caps(caps).map_err(|e| format!("unexpected caps {caps}: {e}"))?;
    if info.format() != gst_video::VideoFormat::Bgr {
        return Err(format!("pipeline must deliver BGR, got {:?}", info.format()));
    }
    let buffer = sample.buffer().ok_or("sample without buffer")?;
    let map = buffer.map_readable().map_err(|e| format!("cannot map buffer: {e}"))?;
    let data = pack_rows(map.as_slice(), info.width(), info.height(), info.stride()[0] as usize)?;
    Ok(BgrImage {
        width: info.width(),
        height: info.height(),
        data,
    })
}

/// Counts consecutive frames with the same content hash (over every 8th byte). Exact, not
/// approximate: a live camera sends key frames every few seconds whose decode never matches
/// the frame before bit for bit, so only a camera replaying one frame produces long runs,
/// while a static but real scene does not.
#[derive(Default)]
struct RepeatDetector {
    previous: Option<u64>,
    repeats: u32,
}

impl RepeatDetector {
    /// Returns how many frames in a row were repeats of the one before.
    fn observe(&mut self, image: &BgrImage) -> u32 {
        let mut hasher = std::hash::DefaultHasher::new();
        image.data.iter().step_by(8).for_each(|b| hasher.write_u8(*b));
        let hash = hasher.finish();
        self.repeats = if self.previous == Some(hash) {
            self.repeats + 1
        } else {
            0
        };
        self.previous = Some(hash);
        self.repeats
    }
}

/// Removes GStreamer's row padding so every frame is `width * 3` bytes per row.
fn pack_rows(data: &[u8], width: u32, height: u32, stride: usize) -> Result<Vec<u8>, String> {
    let row = width as usize * 3;
    let needed = stride * (height as usize).saturating_sub(1) + row;
    if width == 0 || height == 0 || data.len() < needed || stride < row {
        return Err(format!(
            "corrupt frame: {width}x{height} stride {stride} in {} bytes",
            data.len()
        ));
    }
    let mut out = Vec::with_capacity(row * height as usize);
    for y in 0..height as usize {
        out.extend_from_slice(&data[y * stride..y * stride + row]);
    }
    Ok(out)
}

/// The first ERROR on the bus, redacted; warnings are logged and skipped.
fn bus_error(bus: &gst::Bus) -> Option<String> {
    while let Some(message) = bus.pop_filtered(&[gst::MessageType::Error, gst::MessageType::Warning]) {
        match message.view() {
            gst::MessageView::Error(err) => {
                let debug = err.debug().map(|d| format!(" ({d})")).unwrap_or_default();
                return Some(redact_credentials(&format!("{}{debug}", err.error())));
            }
            gst::MessageView::Warning(w) => {
                tracing::debug!(warning = %redact_credentials(&w.error().to_string()), "gstreamer warning");
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_rows_strips_padding() {
        let data = [1, 2, 3, 4, 5, 6, 0, 0, 7, 8, 9, 10, 11, 12, 0, 0];
        assert_eq!(
            pack_rows(&data, 2, 2, 8).unwrap(),
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
        );
    }

    #[test]
    fn repeat_detector_counts_identical_frames_and_resets_on_any_change() {
        let mut detector = RepeatDetector::default();
        let still = BgrImage {
            width: 64,
            height: 64,
            data: (0..64 * 64 * 3).map(|i| (i % 251) as u8).collect(),
        };
        assert_eq!(detector.observe(&still), 0);
        assert_eq!(detector.observe(&still), 1);
        assert_eq!(detector.observe(&still), 2);
        let mut changed = still.clone();
        changed.data[8 * 100] ^= 1;
        assert_eq!(detector.observe(&changed), 0, "one sampled byte differs: not a repeat");
    }

    #[test]
    fn pack_rows_rejects_short_buffers() {
        assert!(pack_rows(&[0; 10], 2, 2, 8).unwrap_err().contains("corrupt frame"));
        assert!(pack_rows(&[], 0, 0, 0).is_err());
    }
}
