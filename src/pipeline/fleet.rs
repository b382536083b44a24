//! The cameras a cluster worker runs, started and stopped while the pipeline runs as the
//! consumer group hands cameras-topic partitions to it and takes them away.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::workers::CameraInput;
use crate::cluster::CameraControl;
use crate::config::Config;
use crate::ingest::validate_cameras;
use crate::ingest::{CameraConfig, CameraSource};
use crate::observe::{CameraRegistry, QueueDepths};
use crate::publish::SpoolStats;
use crate::recognize::CropSizes;

struct Running {
    config: CameraConfig,
    source: CameraSource,
    stop: Arc<AtomicBool>,
    /// Disconnects once the detect worker has let the camera go and queued its track ends.
    released: Receiver<()>,
    detect_worker: usize,
}

/// Starts and stops single cameras on the running pipeline's detect threads.
pub struct Fleet {
    config: Config,
    crop_sizes: CropSizes,
    arrivals: Vec<Sender<CameraInput>>,
    running: Mutex<HashMap<String, Running>>,
    registry: Arc<CameraRegistry>,
    /// What must drain before a stopped camera's last events count as out.
    queues: QueueDepths,
    spool: Arc<SpoolStats>,
    /// `cluster.stop_timeout_s`.
    stop_timeout: Duration,
}

impl Fleet {
    pub(super) fn new(
        config: &Config,
        crop_sizes: CropSizes,
        arrivals: Vec<Sender<CameraInput>>,
        registry: Arc<CameraRegistry>,
        queues: QueueDepths,
        spool: Arc<SpoolStats>,
        stop_timeout: Duration,
    ) -> Fleet {
        Fleet {
            config: config.clone(),
            crop_sizes,
            arrivals,
            running: Mutex::new(HashMap::new()),
            registry,
            queues,
            spool,
            stop_timeout,
        }
    }

    /// The detect thread with the fewest cameras.
    fn least_busy(&self, running: &HashMap<String, Running>) -> usize {
        (0..self.arrivals.len())
            .min_by_key(|w| running.values().filter(|r| r.detect_worker == *w).count())
            .unwrap_or(0)
    }

    fn launch(&self, camera: &CameraConfig, running: &mut HashMap<String, Running>) -> Result<(), String> {
        validate_cameras(std::slice::from_ref(camera), self.config.pipeline.templates_dir(), true)
            .map_err(|(key, message)| format!("key `{key}`: {message}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let super::StartedCamera {
            source,
            mut input,
            observed,
        } = super::start_camera(&self.config, camera, stop.clone(), self.crop_sizes.clone())
            .map_err(|e| e.to_string())?;
        let (released_tx, released) = crossbeam_channel::bounded(0);
        input.released = Some(released_tx);
        let detect_worker = self.least_busy(running);
        self.arrivals[detect_worker]
            .send(input)
            .map_err(|_| "the pipeline is shutting down".to_string())?;
        self.registry.add(observed);
        running.insert(
            camera.id.clone(),
            Running {
                config: camera.clone(),
                source,
                stop,
                released,
                detect_worker,
            },
        );
        Ok(())
    }

    /// Stops the source, waits for the detect thread to end its tracks, then (bounded by
    /// `cluster.stop_timeout_s`) for the stages and the spool to empty.
    fn halt(&self, id: &str, mut camera: Running) {
        let deadline = Instant::now() + self.stop_timeout;
        self.stop_source(id, &mut camera);
        let _ = camera.released.recv_deadline(deadline);
        let drained = self.wait_drained(deadline);
        tracing::info!(camera = %id, drained, "camera stopped");
        if !drained {
            tracing::warn!(camera = %id, "its last events were still on their way to Kafka when cluster.stop_timeout_s ran out; they stay spooled and are sent");
        }
    }

    /// True once no crop, face or event waits and the spool holds nothing unacknowledged,
    /// twice in a row (a stage may hold one message between queues).
    fn wait_drained(&self, deadline: Instant) -> bool {
        let mut quiet = 0;
        while Instant::now() < deadline {
            let q = &self.queues;
            let idle = q.crops.iter().all(|c| c.is_empty())
                && q.faces.is_empty()
                && q.events.is_empty()
                && self.spool.pending.load(Ordering::Relaxed) == 0;
            quiet = if idle { quiet + 1 } else { 0 };
            if quiet >= 3 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Stops every camera (pipeline shutdown).
    pub(super) fn stop_all(&self) {
        let all: Vec<(String, Running)> = match self.running.lock() {
            Ok(mut running) => running.drain().collect(),
            Err(_) => return,
        };
        for (id, mut camera) in all {
            self.stop_source(&id, &mut camera);
        }
    }

    /// Stops the camera's ingest thread and takes it off the endpoint's list.
    fn stop_source(&self, id: &str, camera: &mut Running) {
        camera.stop.store(true, Ordering::Relaxed);
        camera.source.join();
        self.registry.remove(id);
    }
}

impl CameraControl for Fleet {
    fn start(&self, camera: &CameraConfig) -> Result<(), String> {
        let mut running = self.running.lock().map_err(|_| "camera table poisoned".to_string())?;
        if let Some(current) = running.get(&camera.id) {
            if current.config == *camera {
                return Ok(());
            }
            tracing::info!(camera = %camera.id, "camera configuration changed; restarting it");
            if let Some(old) = running.remove(&camera.id) {
                self.halt(&camera.id, old);
            }
        }
        crate::redact::register_url_secrets(&camera.url);
        let result = self
            .launch(camera, &mut running)
            .map_err(|e| crate::redact::redact_credentials(&e));
        match &result {
            Ok(()) => {
                tracing::info!(camera = %camera.id, url = %crate::redact::redact_credentials(&camera.url), "camera started")
            }
            Err(e) => tracing::error!(camera = %camera.id, "camera not started: {e}"),
        }
        result
    }

    fn stop(&self, camera_id: &str) {
        let camera = match self.running.lock() {
            Ok(mut running) => running.remove(camera_id),
            Err(_) => None,
        };
        if let Some(camera) = camera {
            self.halt(camera_id, camera);
        }
    }
}
