//! What the running pipeline counts and times: every stage writes these atomics and
//! histograms, and the observe stage (HTTP, /metrics, the end-of-run summary) reads them. A
//! leaf, so the stages and the observers depend on it and not on each other.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

mod latency;

pub use latency::{BUCKETS, Latency, Percentiles, SizeHistogram};

/// Counters and stage timings, shared by the pipeline's threads.
#[derive(Debug)]
pub struct PipelineStats {
    started: Instant,
    pub frames: AtomicU64,
    pub detect_ns: AtomicU64,
    pub faces: AtomicU64,
    /// Faces the recognition budget did not send to the recognizer.
    pub faces_skipped: AtomicU64,
    pub align_ns: AtomicU64,
    /// Faces whose landmarks the refiner (`[align] refiner`) re-found, and its time.
    pub faces_refined: AtomicU64,
    pub refine_ns: AtomicU64,
    pub crops_dropped: AtomicU64,
    pub embedded: AtomicU64,
    /// Faces embedded per recognizer id (several with `models.routes` or per-camera models).
    embedded_by_recognizer: Mutex<BTreeMap<String, u64>>,
    pub embed_ns: AtomicU64,
    pub batches: AtomicU64,
    /// Identity events.
    pub events: AtomicU64,
    pub alerts: AtomicU64,
    /// Alerts not raised because the identity was confirmed on that camera moments ago.
    pub alerts_suppressed: AtomicU64,
    /// Bytes in the alert thumbnail folder.
    pub thumbnail_bytes: AtomicU64,
    /// Identities the matcher holds (changes on hot reload).
    pub gallery_identities: AtomicU64,
    /// Templates the matcher holds, and 1 while probes go through the HNSW index.
    pub gallery_templates: AtomicU64,
    pub gallery_indexed: AtomicU64,
    /// `[alerts.open_set]`'s floor under every band's thresholds, as f64 bits (0 when off).
    pub threshold_floor: AtomicU64,
    /// Ended unknown tracks filed under a new stranger cluster, an existing one, an ignored
    /// one, or not clustered (too small, short or poor).
    pub unknowns_opened: AtomicU64,
    pub unknowns_joined: AtomicU64,
    pub unknowns_ignored: AtomicU64,
    pub unknowns_skipped: AtomicU64,
    /// Stranger clusters held.
    pub unknown_clusters: AtomicU64,
    pub frame_errors: AtomicU64,
    /// From the frame leaving the decoder to its identity event leaving the alert stage.
    pub event_latency: Latency,
    /// One detector run over the frames ready at once.
    pub detect_latency: Latency,
    /// One recognizer batch.
    pub embed_latency: Latency,
    /// A frame's age when detection starts on it (decode → detect, incl. its queue).
    pub frame_wait_latency: Latency,
    /// A face crop's wait in the recognizer queue.
    pub crop_wait_latency: Latency,
    /// Matching one embedding against the gallery and updating its track's evidence.
    pub match_latency: Latency,
    /// Aligning one face.
    pub align_latency: Latency,
    /// One refiner run over a frame's small faces.
    pub refine_latency: Latency,
    pub batch_sizes: SizeHistogram,
    pub faces_per_frame: SizeHistogram,
}

impl Default for PipelineStats {
    fn default() -> Self {
        PipelineStats {
            started: Instant::now(),
            frames: AtomicU64::new(0),
            detect_ns: AtomicU64::new(0),
            faces: AtomicU64::new(0),
            faces_skipped: AtomicU64::new(0),
            align_ns: AtomicU64::new(0),
            faces_refined: AtomicU64::new(0),
            refine_ns: AtomicU64::new(0),
            crops_dropped: AtomicU64::new(0),
            embedded: AtomicU64::new(0),
            embedded_by_recognizer: Mutex::default(),
            embed_ns: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            events: AtomicU64::new(0),
            alerts: AtomicU64::new(0),
            alerts_suppressed: AtomicU64::new(0),
            thumbnail_bytes: AtomicU64::new(0),
            gallery_identities: AtomicU64::new(0),
            gallery_templates: AtomicU64::new(0),
            gallery_indexed: AtomicU64::new(0),
            threshold_floor: AtomicU64::new(0),
            unknowns_opened: AtomicU64::new(0),
            unknowns_joined: AtomicU64::new(0),
            unknowns_ignored: AtomicU64::new(0),
            unknowns_skipped: AtomicU64::new(0),
            unknown_clusters: AtomicU64::new(0),
            frame_errors: AtomicU64::new(0),
            event_latency: Latency::default(),
            detect_latency: Latency::default(),
            embed_latency: Latency::default(),
            frame_wait_latency: Latency::default(),
            crop_wait_latency: Latency::default(),
            match_latency: Latency::default(),
            align_latency: Latency::default(),
            refine_latency: Latency::default(),
            batch_sizes: SizeHistogram::default(),
            faces_per_frame: SizeHistogram::default(),
        }
    }
}

/// A point-in-time summary, as logged at shutdown and written by `squint run --stats`.
#[derive(Debug, Clone, Serialize)]
pub struct StatsSnapshot {
    pub seconds: f64,
    pub frames: u64,
    pub faces: u64,
    pub faces_skipped: u64,
    pub crops_dropped: u64,
    pub embedded: u64,
    /// Faces embedded per recognizer id.
    pub embedded_by_recognizer: BTreeMap<String, u64>,
    pub batches: u64,
    pub events: u64,
    pub alerts: u64,
    pub alerts_suppressed: u64,
    pub frame_errors: u64,
    pub detect_ms_per_frame: f64,
    pub align_ms_per_face: f64,
    pub faces_refined: u64,
    /// The landmark refiner's time per face it refined.
    pub refine_ms_per_face: f64,
    pub embed_ms_per_face: f64,
    pub mean_batch: f64,
    pub events_per_s: f64,
    pub delivered: u64,
    pub delivery_failed: u64,
    /// Events still in the spool (not acknowledged by Kafka) at shutdown.
    pub spool_pending: u64,
    pub event_latency: Percentiles,
}

pub(crate) fn add_elapsed(counter: &AtomicU64, since: Instant) {
    counter.fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
}

fn per(total_ns: u64, count: u64) -> f64 {
    if count == 0 {
        0.0
    } else {
        total_ns as f64 / count as f64 / 1e6
    }
}

impl PipelineStats {
    /// The gallery the matcher now holds (at start-up and after each reload).
    pub fn record_gallery(&self, identities: usize, templates: usize, indexed: bool, floor: Option<f32>) {
        self.gallery_identities.store(identities as u64, Ordering::Relaxed);
        self.gallery_templates.store(templates as u64, Ordering::Relaxed);
        self.gallery_indexed.store(u64::from(indexed), Ordering::Relaxed);
        let floor = floor.map_or(0.0, f64::from);
        self.threshold_floor.store(floor.to_bits(), Ordering::Relaxed);
    }

    /// Counts `faces` embedded by `recognizer`, in the total and in its own count.
    pub fn count_embedded(&self, recognizer: &str, faces: u64) {
        self.embedded.fetch_add(faces, Ordering::Relaxed);
        let mut counts = self.embedded_by_recognizer.lock().unwrap_or_else(|e| e.into_inner());
        *counts.entry(recognizer.to_string()).or_default() += faces;
    }

    pub fn embedded_by_recognizer(&self) -> Vec<(String, u64)> {
        let counts = self.embedded_by_recognizer.lock().unwrap_or_else(|e| e.into_inner());
        counts.iter().map(|(id, n)| (id.clone(), *n)).collect()
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn snapshot(&self, elapsed: Duration) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (frames, faces, embedded, batches, events) = (
            get(&self.frames),
            get(&self.faces),
            get(&self.embedded),
            get(&self.batches),
            get(&self.events),
        );
        let seconds = elapsed.as_secs_f64();
        StatsSnapshot {
            seconds,
            frames,
            faces,
            faces_skipped: get(&self.faces_skipped),
            crops_dropped: get(&self.crops_dropped),
            embedded,
            embedded_by_recognizer: self.embedded_by_recognizer().into_iter().collect(),
            batches,
            events,
            alerts: get(&self.alerts),
            alerts_suppressed: get(&self.alerts_suppressed),
            frame_errors: get(&self.frame_errors),
            detect_ms_per_frame: per(get(&self.detect_ns), frames),
            align_ms_per_face: per(get(&self.align_ns), faces),
            faces_refined: get(&self.faces_refined),
            refine_ms_per_face: per(get(&self.refine_ns), get(&self.faces_refined)),
            embed_ms_per_face: per(get(&self.embed_ns), embedded),
            mean_batch: if batches == 0 {
                0.0
            } else {
                embedded as f64 / batches as f64
            },
            events_per_s: if seconds > 0.0 { events as f64 / seconds } else { 0.0 },
            delivered: 0,
            delivery_failed: 0,
            spool_pending: 0,
            event_latency: self.event_latency.percentiles(),
        }
    }
}
