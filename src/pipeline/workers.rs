//! The loops each pipeline thread runs.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::stats::{PipelineStats, add_elapsed};
use crate::align::align_face;
use crate::detect::{DetectError, Detector};
use crate::gallery::Matcher;
use crate::image::BgrImage;
use crate::publish::{IdentityEvent, ModelIds, Publisher};
use crate::recognize::{Batch, RecognizeConfig, Recognizer, next_batch};
use crate::types::{Detection, EmbeddedFace, FaceCrop, Frame, FrameMeta};

pub struct DetectWorker {
    pub detector: Detector,
    pub crop_size: u32,
    pub frames: Receiver<Frame>,
    pub crops: Sender<FaceCrop>,
    /// Live cameras drop crops when the recognizer is behind (video must not wait); files
    /// wait instead, so no face of a file is lost.
    pub wait_for_recognizer: bool,
    /// Search only this `[x, y, w, h]` region of each frame.
    pub roi: Option<[u32; 4]>,
    pub stats: Arc<PipelineStats>,
}

impl DetectWorker {
    pub fn run(mut self) {
        // Ends when the camera's ingest thread is gone and its queue is empty.
        while let Ok(frame) = self.frames.recv() {
            if !self.process(&frame) {
                return;
            }
        }
    }

    fn detect(&mut self, image: &BgrImage) -> Result<Vec<Detection>, DetectError> {
        let Some([x, y, w, h]) = self.roi else {
            return self.detector.detect(image);
        };
        let region = image.crop(x as i32, y as i32, w, h);
        let faces = self.detector.detect(&region)?;
        Ok(faces.into_iter().map(|d| d.offset(x as f32, y as f32)).collect())
    }

    /// Returns false when the recognizer is gone.
    fn process(&mut self, frame: &Frame) -> bool {
        let started = Instant::now();
        let faces = match self.detect(&frame.image) {
            Ok(faces) => faces,
            Err(e) => {
                self.stats.frame_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(camera = %frame.camera_id, seq = frame.seq, error = %e, "frame skipped");
                return true;
            }
        };
        add_elapsed(&self.stats.detect_ns, started);
        self.stats.frames.fetch_add(1, Ordering::Relaxed);
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
            };
            if self.wait_for_recognizer {
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
        self.stats.embedded.fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        for (crop, embedding) in batch.into_iter().zip(embeddings) {
            let best = self.matcher.best(&embedding);
            let face = EmbeddedFace {
                frame: crop.frame,
                detection: crop.detection,
                quality: crop.quality,
                embedding,
            };
            let event = IdentityEvent::new(&face, best, self.threshold, &self.models);
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
            match self.publisher.send(&event) {
                Ok(()) => {
                    self.stats.events.fetch_add(1, Ordering::Relaxed);
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
