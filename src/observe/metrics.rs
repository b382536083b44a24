use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Observed, ObservedCamera, is_down};
use crate::detect::SearchStats;
use crate::ingest::HealthSnapshot;
use crate::stats::Latency;

/// Escapes a label value for the Prometheus text format.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

struct Writer(String);

impl Writer {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn value(&mut self, name: &str, labels: &str, value: f64) {
        let _ = writeln!(self.0, "{name}{labels} {value}");
    }

    fn counter(&mut self, name: &str, help: &str, counter: &AtomicU64) {
        self.family(name, "counter", help);
        self.value(name, "", counter.load(Ordering::Relaxed) as f64);
    }

    fn seconds(&mut self, name: &str, help: &str, nanos: &AtomicU64) {
        self.family(name, "counter", help);
        self.value(name, "", nanos.load(Ordering::Relaxed) as f64 / 1e9);
    }

    fn histogram(&mut self, name: &str, help: &str, latency: &Latency) {
        self.buckets(name, help, latency.histogram());
    }

    /// A histogram from cumulative buckets, count and sum.
    fn buckets(&mut self, name: &str, help: &str, (buckets, count, sum): (Vec<(f64, u64)>, u64, f64)) {
        self.family(name, "histogram", help);
        for (le, n) in buckets {
            self.value(&format!("{name}_bucket"), &format!("{{le=\"{le}\"}}"), n as f64);
        }
        self.value(&format!("{name}_bucket"), "{le=\"+Inf\"}", count as f64);
        self.value(&format!("{name}_sum"), "", sum);
        self.value(&format!("{name}_count"), "", count as f64);
    }

    /// One family with a value per camera.
    fn by_camera<'a>(&mut self, name: &str, kind: &str, help: &str, values: impl Iterator<Item = (&'a str, f64)>) {
        self.family(name, kind, help);
        for (camera, value) in values {
            self.value(name, &format!("{{camera=\"{}\"}}", label(camera)), value);
        }
    }

    fn per_camera(
        &mut self,
        name: &str,
        kind: &str,
        help: &str,
        cameras: &[HealthSnapshot],
        f: impl Fn(&HealthSnapshot) -> f64,
    ) {
        self.by_camera(name, kind, help, cameras.iter().map(|c| (c.camera_id.as_str(), f(c))));
    }
}

/// What region search (`detect.search = "regions"`) did, per camera; in `full` search every
/// frame is one full sweep.
fn search_metrics(w: &mut Writer, cameras: &[ObservedCamera]) {
    let searches: Vec<(&str, &SearchStats)> = cameras.iter().map(|c| (c.id.as_str(), &*c.search)).collect();
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
    w.by_camera(
        "squint_detect_frames_total",
        "counter",
        "Frames the detector searched, whole or in regions.",
        searches.iter().map(|(camera, s)| (*camera, get(&s.frames))),
    );
    w.by_camera(
        "squint_detect_full_sweeps_total",
        "counter",
        "Frames searched whole (scheduled sweep, reconnect, too much motion, or full search).",
        searches.iter().map(|(camera, s)| (*camera, get(&s.full_sweeps))),
    );
    w.by_camera(
        "squint_detect_regions_total",
        "counter",
        "Regions searched in frames not searched whole.",
        searches.iter().map(|(camera, s)| (*camera, get(&s.regions))),
    );
    w.by_camera(
        "squint_detect_searched_frames_total",
        "counter",
        "Frames' worth of pixels searched; its rate over squint_detect_frames_total's is the share of the frame searched.",
        searches.iter().map(|(camera, s)| (*camera, s.frames_searched())),
    );
}

/// The /metrics page.
pub fn render_metrics(observed: &Observed, cameras: &[HealthSnapshot]) -> String {
    let mut w = Writer(String::new());
    w.per_camera(
        "squint_camera_frames_total",
        "counter",
        "Frames received from the camera.",
        cameras,
        |c| c.frames_in as f64,
    );
    w.per_camera(
        "squint_camera_frames_dropped_total",
        "counter",
        "Frames dropped because detection was behind.",
        cameras,
        |c| c.frames_dropped as f64,
    );
    w.per_camera(
        "squint_camera_reconnects_total",
        "counter",
        "Pipeline restarts after errors, ends or stalls.",
        cameras,
        |c| c.reconnects as f64,
    );
    w.per_camera(
        "squint_camera_fps",
        "gauge",
        "Frames per second received, recent window.",
        cameras,
        |c| c.fps_in,
    );
    w.per_camera(
        "squint_camera_up",
        "gauge",
        "1 unless the camera is failed, reconnecting or stalled.",
        cameras,
        |c| {
            if is_down(c.state) { 0.0 } else { 1.0 }
        },
    );
    let q = &observed.queues;
    let running = observed.cameras.all();
    w.by_camera(
        "squint_frame_queue_depth",
        "gauge",
        "Frames waiting for detection, per camera.",
        running.iter().map(|c| (c.id.as_str(), c.frames.len() as f64)),
    );
    search_metrics(&mut w, &running);
    if let Some(cluster) = &observed.cluster {
        cluster_metrics(&mut w, &cluster.view());
    }
    w.family(
        "squint_crop_queue_depth",
        "gauge",
        "Face crops waiting for the recognizer.",
    );
    let crops: usize = q.crops.iter().map(|c| c.len()).sum();
    w.value("squint_crop_queue_depth", "", crops as f64);
    w.family(
        "squint_embedded_queue_depth",
        "gauge",
        "Embedded faces waiting for matching and alerting.",
    );
    w.value("squint_embedded_queue_depth", "", q.faces.len() as f64);
    w.family(
        "squint_event_queue_depth",
        "gauge",
        "Events waiting for the spool and Kafka producer.",
    );
    w.value("squint_event_queue_depth", "", q.events.len() as f64);
    let s = &observed.stats;
    w.counter(
        "squint_frames_detected_total",
        "Frames run through face detection.",
        &s.frames,
    );
    w.counter("squint_faces_total", "Faces detected.", &s.faces);
    w.counter(
        "squint_faces_skipped_by_budget_total",
        "Faces of tracked people the recognition budget did not embed.",
        &s.faces_skipped,
    );
    w.counter(
        "squint_faces_refined_total",
        "Small faces whose landmarks the refiner re-found ([align] refiner).",
        &s.faces_refined,
    );
    w.counter(
        "squint_crops_dropped_total",
        "Face crops dropped because the recognizer was behind.",
        &s.crops_dropped,
    );
    w.counter(
        "squint_faces_embedded_total",
        "Faces embedded by the recognizer.",
        &s.embedded,
    );
    w.family(
        "squint_faces_embedded_by_recognizer_total",
        "counter",
        "Faces embedded, per recognizer (models.routes send face widths to their own).",
    );
    for (recognizer, faces) in s.embedded_by_recognizer() {
        w.value(
            "squint_faces_embedded_by_recognizer_total",
            &format!("{{recognizer=\"{}\"}}", label(&recognizer)),
            faces as f64,
        );
    }
    w.counter("squint_recognizer_batches_total", "Recognizer model runs.", &s.batches);
    w.counter(
        "squint_frame_errors_total",
        "Frames skipped because detection failed on them.",
        &s.frame_errors,
    );
    w.seconds("squint_detect_seconds_total", "Time spent detecting.", &s.detect_ns);
    w.seconds("squint_align_seconds_total", "Time spent aligning faces.", &s.align_ns);
    w.seconds(
        "squint_refine_seconds_total",
        "Time the landmark refiner spent on small faces ([align] refiner).",
        &s.refine_ns,
    );
    w.seconds("squint_embed_seconds_total", "Time spent embedding faces.", &s.embed_ns);
    w.counter(
        "squint_identity_events_total",
        "Identity events raised (one per track and interval).",
        &s.events,
    );
    w.counter("squint_alerts_total", "Alert events raised (all stages).", &s.alerts);
    w.counter(
        "squint_alerts_suppressed_total",
        "Alerts not raised because of the per-camera identity cooldown.",
        &s.alerts_suppressed,
    );
    let d = &observed.delivery;
    w.counter(
        "squint_kafka_sent_total",
        "Events handed to librdkafka (replays included).",
        &d.sent,
    );
    w.counter(
        "squint_kafka_delivered_total",
        "Events acknowledged by Kafka.",
        &d.delivered,
    );
    w.counter(
        "squint_kafka_delivery_failed_total",
        "Events Kafka refused for good.",
        &d.failed,
    );
    w.counter(
        "squint_kafka_delivery_retried_total",
        "Deliveries that failed transiently and were sent again from the spool.",
        &d.retried,
    );
    let spool = &observed.spool;
    w.family("squint_spool_bytes", "gauge", "Bytes in the on-disk event spool.");
    w.value("squint_spool_bytes", "", spool.bytes.load(Ordering::Relaxed) as f64);
    w.family(
        "squint_spool_pending_events",
        "gauge",
        "Spooled events Kafka has not acknowledged yet.",
    );
    w.value(
        "squint_spool_pending_events",
        "",
        spool.pending.load(Ordering::Relaxed) as f64,
    );
    w.counter(
        "squint_spool_dropped_events_total",
        "Events dropped because the spool was full (when_full = drop_oldest).",
        &spool.dropped,
    );
    w.family(
        "squint_alert_thumbnail_bytes",
        "gauge",
        "Bytes in the alert thumbnail folder.",
    );
    w.value(
        "squint_alert_thumbnail_bytes",
        "",
        s.thumbnail_bytes.load(Ordering::Relaxed) as f64,
    );
    w.family("squint_spool_alarm", "gauge", "1 while the spool is nearly full.");
    w.value(
        "squint_spool_alarm",
        "",
        f64::from(u8::from(spool.alarm.load(Ordering::Relaxed))),
    );
    w.histogram(
        "squint_event_latency_seconds",
        "From frame decode to its identity event leaving the alert stage.",
        &s.event_latency,
    );
    w.histogram(
        "squint_detect_run_seconds",
        "One detector run over the frames ready at once.",
        &s.detect_latency,
    );
    w.histogram("squint_embed_batch_seconds", "One recognizer batch.", &s.embed_latency);
    w.histogram(
        "squint_frame_wait_seconds",
        "A frame's age when detection starts on it.",
        &s.frame_wait_latency,
    );
    w.histogram(
        "squint_crop_wait_seconds",
        "A face crop's wait in the recognizer queue.",
        &s.crop_wait_latency,
    );
    w.histogram(
        "squint_match_seconds",
        "Matching one embedding against the gallery and updating its track.",
        &s.match_latency,
    );
    w.histogram("squint_align_seconds", "Aligning one face.", &s.align_latency);
    w.histogram(
        "squint_refine_seconds",
        "One landmark refiner run over a frame's small faces.",
        &s.refine_latency,
    );
    w.histogram(
        "squint_publish_seconds",
        "From an event entering the spool to Kafka acknowledging it.",
        &observed.delivery.ack_latency,
    );
    w.buckets(
        "squint_recognizer_batch_size",
        "Faces per recognizer batch.",
        s.batch_sizes.histogram(),
    );
    w.buckets(
        "squint_faces_per_frame",
        "Faces detected per frame.",
        s.faces_per_frame.histogram(),
    );
    w.family("squint_gallery_identities", "gauge", "Identities in the gallery.");
    w.value(
        "squint_gallery_identities",
        "",
        s.gallery_identities.load(Ordering::Relaxed) as f64,
    );
    w.family("squint_gallery_templates", "gauge", "Templates in the gallery.");
    w.value(
        "squint_gallery_templates",
        "",
        s.gallery_templates.load(Ordering::Relaxed) as f64,
    );
    w.family(
        "squint_gallery_index",
        "gauge",
        "1 while probes are matched through the gallery's HNSW index, 0 while every template is compared.",
    );
    w.value(
        "squint_gallery_index",
        "",
        s.gallery_indexed.load(Ordering::Relaxed) as f64,
    );
    w.family(
        "squint_unknown_tracks_total",
        "counter",
        "Ended unknown tracks by what became of them ([unknowns]).",
    );
    for (outcome, counter) in [
        ("opened", &s.unknowns_opened),
        ("joined", &s.unknowns_joined),
        ("ignored", &s.unknowns_ignored),
        ("skipped", &s.unknowns_skipped),
    ] {
        let labels = format!("{{outcome=\"{outcome}\"}}");
        w.value(
            "squint_unknown_tracks_total",
            &labels,
            counter.load(Ordering::Relaxed) as f64,
        );
    }
    w.family(
        "squint_unknown_clusters",
        "gauge",
        "Stranger clusters held ([unknowns]).",
    );
    w.value(
        "squint_unknown_clusters",
        "",
        s.unknown_clusters.load(Ordering::Relaxed) as f64,
    );
    w.0
}

/// This worker's share of the site (`[cluster]`).
fn cluster_metrics(w: &mut Writer, view: &crate::cluster::GroupView) {
    w.family(
        "squint_cluster_member",
        "gauge",
        "1 for this worker's group state (joining, stable, rebalancing, stopped).",
    );
    let labels = format!(
        "{{group=\"{}\",worker_id=\"{}\",state=\"{}\"}}",
        view.group, view.worker_id, view.state
    );
    w.value("squint_cluster_member", &labels, 1.0);
    w.family(
        "squint_cluster_partitions",
        "gauge",
        "Cameras-topic partitions this worker holds.",
    );
    w.value("squint_cluster_partitions", "", view.partitions.len() as f64);
    w.family("squint_cluster_cameras", "gauge", "Cameras the group gave this worker.");
    w.value("squint_cluster_cameras", "", view.cameras.len() as f64);
    w.family(
        "squint_cluster_rebalances_total",
        "counter",
        "Assignments and revocations this worker took part in.",
    );
    w.value("squint_cluster_rebalances_total", "", view.rebalances as f64);
    w.family(
        "squint_cluster_bad_records_total",
        "counter",
        "Cameras-topic records skipped as unusable.",
    );
    w.value("squint_cluster_bad_records_total", "", view.bad_records as f64);
}
