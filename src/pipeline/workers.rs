//! The loops each pipeline thread runs.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select, Sender, TryRecvError, TrySendError};

use super::stats::{PipelineStats, add_elapsed};
use crate::align::align_face;
use crate::detect::Detector;
use crate::gallery::Matcher;
use crate::image::BgrImage;
use crate::observe::Snapshots;
use crate::publish::{IdentityEvent, ModelIds, Publisher};
use crate::recognize::{Batch, RecognizeConfig, Recognizer, next_batch};
use crate::types::{Detection, EmbeddedFace, FaceCrop, Frame, FrameMeta};

/// One camera's frames as the detect worker sees them.
pub struct CameraInput {
    pub frames: Receiver<Frame>,
    /// Live cameras drop crops when the recognizer is behind (video must not wait); files
    /// wait instead, so no face of a file is lost.
    pub wait_for_recognizer: bool,
    /// Search only this `[x, y, w, h]` region of each frame.
    pub roi: Option<[u32; 4]>,
}

impl CameraInput {
    /// The part of the frame to search, and its offset in the frame.
    fn region<'f>(&self, frame: &'f Frame) -> (Cow<'f, BgrImage>, (f32, f32)) {
        match self.roi {
            Some([x, y, w, h]) => (
                Cow::Owned(frame.image.crop(x as i32, y as i32, w, h)),
                (x as f32, y as f32),
            ),
            None => (Cow::Borrowed(&frame.image), (0.0, 0.0)),
        }
    }
}

/// Detects and aligns faces for every camera. Whenever frames are waiting it takes the
/// newest ready frame of each camera and runs them through the detector together, so
/// cameras of the same size share one batched model run.
pub struct DetectWorker {
    pub detector: Detector,
    pub crop_size: u32,
    pub cameras: Vec<CameraInput>,
    pub crops: Sender<FaceCrop>,
    pub stats: Arc<PipelineStats>,
    pub snapshots: Arc<Snapshots>,
}

impl DetectWorker {
    /// Ends when every camera's ingest thread is gone and its queue is empty.
    pub fn run(mut self) {
        while !self.cameras.is_empty() {
            let mut select = Select::new();
            for camera in &self.cameras {
                select.recv(&camera.frames);
            }
            if select.ready_timeout(Duration::from_millis(100)).is_err() {
                continue;
            }
            let mut ready = Vec::new();
            let mut closed = Vec::new();
            for (index, camera) in self.cameras.iter().enumerate() {
                match camera.frames.try_recv() {
                    Ok(frame) => ready.push((index, frame)),
                    Err(TryRecvError::Disconnected) => closed.push(index),
                    Err(TryRecvError::Empty) => {}
                }
            }
            if !self.process(&ready) {
                return;
            }
            for index in closed.into_iter().rev() {
                self.cameras.remove(index);
            }
        }
    }

    /// Returns false when the recognizer is gone.
    fn process(&mut self, ready: &[(usize, Frame)]) -> bool {
        if ready.is_empty() {
            return true;
        }
        for (_, frame) in ready {
            let age = frame.captured_at.elapsed().unwrap_or_default();
            self.stats.frame_wait_latency.record(age);
        }
        let started = Instant::now();
        let regions: Vec<_> = ready
            .iter()
            .map(|(index, frame)| self.cameras[*index].region(frame))
            .collect();
        let images: Vec<&BgrImage> = regions.iter().map(|(image, _)| image.as_ref()).collect();
        let found = match self.detector.detect_many(&images) {
            Ok(found) => found,
            Err(e) => {
                self.stats.frame_errors.fetch_add(ready.len() as u64, Ordering::Relaxed);
                tracing::warn!(frames = ready.len(), error = %e, "frames skipped");
                return true;
            }
        };
        add_elapsed(&self.stats.detect_ns, started);
        self.stats.detect_latency.record(started.elapsed());
        self.stats.frames.fetch_add(ready.len() as u64, Ordering::Relaxed);
        for (((index, frame), (_, (dx, dy))), faces) in ready.iter().zip(&regions).zip(found) {
            let faces: Vec<Detection> = faces.into_iter().map(|d| d.offset(*dx, *dy)).collect();
            self.snapshots
                .offer(&frame.camera_id, frame.seq, &frame.image, faces.iter().map(|d| d.bbox));
            if !self.send_faces(frame, faces.into_iter(), self.cameras[*index].wait_for_recognizer) {
                return false;
            }
        }
        true
    }

    /// Aligns each face and queues it for the recognizer; false when the recognizer is gone.
    fn send_faces(&self, frame: &Frame, faces: impl Iterator<Item = Detection>, wait: bool) -> bool {
        for detection in faces {
            let started = Instant::now();
            let image = match align_face(&frame.image, &detection.landmarks, self.crop_size) {
                Ok(image) => image,
                Err(e) => {
                    tracing::warn!(camera = %frame.camera_id, error = %e, "face not aligned");
                    continue;
                }
            };
            add_elapsed(&self.stats.align_ns, started);
            self.stats.faces.fetch_add(1, Ordering::Relaxed);
            let quality = crate::detect::assess(&frame.image, &detection);
            let crop = FaceCrop {
                frame: FrameMeta::from(frame),
                detection,
                quality,
                image,
                queued_at: Instant::now(),
            };
            if wait {
                if self.crops.send(crop).is_err() {
                    return false;
                }
                continue;
            }
            match self.crops.try_send(crop) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    self.stats.crops_dropped.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Disconnected(_)) => return false,
            }
        }
        true
    }
}

pub struct RecognizeWorker {
    pub recognizer: Recognizer,
    pub matcher: Matcher,
    pub threshold: f32,
    pub models: ModelIds,
    pub config: RecognizeConfig,
    pub crops: Receiver<FaceCrop>,
    pub events: Sender<IdentityEvent>,
    pub stats: Arc<PipelineStats>,
    pub snapshots: Arc<Snapshots>,
}

impl RecognizeWorker {
    pub fn run(mut self) {
        let max_wait = Duration::from_millis(self.config.max_wait_ms);
        loop {
            match next_batch(&self.crops, self.config.max_batch, max_wait, Duration::from_millis(100)) {
                Batch::Items(batch) => {
                    if !self.process(batch) {
                        return;
                    }
                }
                Batch::Idle => {}
                Batch::Closed => return,
            }
        }
    }

    fn process(&mut self, batch: Vec<FaceCrop>) -> bool {
        for crop in &batch {
            self.stats.crop_wait_latency.record(crop.queued_at.elapsed());
        }
        let started = Instant::now();
        let images: Vec<_> = batch.iter().map(|c| &c.image).collect();
        let embeddings = match self.recognizer.embed(&images) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, faces = batch.len(), "batch not embedded");
                return true;
            }
        };
        add_elapsed(&self.stats.embed_ns, started);
        self.stats.embed_latency.record(started.elapsed());
        self.stats.embedded.fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        for (crop, embedding) in batch.into_iter().zip(embeddings) {
            let matched_at = Instant::now();
            let best = self.matcher.best(&embedding);
            self.stats.match_latency.record(matched_at.elapsed());
            let face = EmbeddedFace {
                frame: crop.frame,
                detection: crop.detection,
                quality: crop.quality,
                embedding,
            };
            let event = IdentityEvent::new(&face, best, self.threshold, &self.models);
            self.snapshots
                .label(&event.camera_id, event.frame_seq, &event.bbox, &event.identity);
            if self.events.send(event).is_err() {
                return false;
            }
        }
        true
    }
}

pub struct PublishWorker {
    pub publisher: Publisher,
    pub events: Receiver<IdentityEvent>,
    pub stats: Arc<PipelineStats>,
}

impl PublishWorker {
    pub fn run(self) {
        while let Ok(event) = self.events.recv() {
            let started = Instant::now();
            let sent = self.publisher.send(&event);
            self.stats.publish_latency.record(started.elapsed());
            match sent {
                Ok(()) => {
                    self.stats.events.fetch_add(1, Ordering::Relaxed);
                    let captured = std::time::UNIX_EPOCH + Duration::from_millis(event.captured_at_ms);
                    let age = std::time::SystemTime::now()
                        .duration_since(captured)
                        .unwrap_or_default();
                    self.stats.event_latency.record(age);
                }
                Err(e) => {
                    tracing::error!(error = %e, event_id = %event.event_id, "event not queued for Kafka")
                }
            }
        }
        let outstanding = self.publisher.flush(Duration::from_secs(15));
        if outstanding > 0 {
            tracing::error!(outstanding, "events not acknowledged by Kafka at shutdown");
        }
    }
}
