//! Wires the stages with bounded channels and owns their threads and shutdown:
//!
//! ```text
//! ingest (thread per camera) ─frames, latest-wins─▶ detect+track+align (detect.workers
//!   threads, cameras shared out among them, frames of a thread's cameras batched; the budget
//!   picks which faces to embed) ─crops and track ends,
//!   one queue per recognizer worker, crops dropped when full─▶ recognize (recognize.workers
//!   threads, dynamic batches, one per model when cameras use their own; a track always
//!   takes the same worker) ─embedded faces and track ends─▶ alert (match, evidence, alerts;
//!   one thread)
//!   ─identity and alert events─▶ publish (spool, then Kafka; one thread)
//! ```

mod fleet;
mod lock;
mod matching;
mod workers;

pub use crate::stats::{PipelineStats, StatsSnapshot};
pub use lock::{LockError, StateLock};
pub use matching::{Ended, Matching};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::alert::{AlertEngine, ThumbnailError, ThumbnailStore};
use crate::cluster::{ClusterError, GallerySync, Membership};
use crate::config::Config;
use crate::detect::{DetectError, Detector, RegionSearch, SearchMode, SearchStats};
use crate::gallery::{Gallery, GalleryError, GalleryWatch, Matcher, WatchSpec};
use crate::ingest::{CameraSource, FrameSender, HealthSnapshot, IngestError};
use crate::model::{ModelCard, ModelError, Placement};
use crate::observe::{CameraRegistry, HttpEndpoint, Observed, ObservedCamera, QueueDepths, Review, Snapshots};
use crate::publish::{EmbeddedBroker, ModelIds, PublishError, Publisher, SpoolStats};
use crate::recognize::{CropSizes, RecognizeError, Recognizer, RecognizerSet, Route, WidthRoute};
use crate::track::Tracker;
use crate::unknowns::{Strangers, UnknownsError};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Detect(#[from] DetectError),
    #[error(transparent)]
    Recognize(#[from] RecognizeError),
    #[error(transparent)]
    Gallery(#[from] GalleryError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Http(#[from] crate::observe::HttpError),
    #[error(transparent)]
    Thumbnails(#[from] ThumbnailError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Unknowns(#[from] UnknownsError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A model card named by a config key (a route's recognizer, the refiner) that cannot
    /// serve there.
    #[error("{key} = {card}: {message}")]
    RefusedCard {
        key: String,
        card: PathBuf,
        message: String,
    },
    #[error("camera `{camera}`: recognizer {card}: {message}")]
    CameraRecognizer {
        camera: String,
        card: PathBuf,
        message: String,
    },
    #[error("starting thread {name}: {source}")]
    Thread { name: String, source: std::io::Error },
}

/// A running pipeline. Stop it with [`Pipeline::shutdown`].
pub struct Pipeline {
    stop: Arc<AtomicBool>,
    cameras: Vec<CameraSource>,
    /// Every running camera, the config file's and the cluster's.
    registry: Arc<CameraRegistry>,
    /// With `[cluster]`: the group membership and the cameras it runs.
    membership: Option<Membership>,
    /// With `[cluster] gallery_topic`: keeps the gallery file equal to the site's.
    _gallery_sync: Option<GallerySync>,
    fleet: Option<Arc<fleet::Fleet>>,
    workers: Vec<JoinHandle<()>>,
    publisher: Option<JoinHandle<()>>,
    pub stats: Arc<PipelineStats>,
    delivery: Arc<crate::publish::DeliveryStats>,
    spool: Arc<SpoolStats>,
    /// /metrics and /health, when configured.
    pub http: Option<HttpEndpoint>,
    /// Declared last so it is dropped after the publisher thread has flushed.
    _embedded: Option<EmbeddedBroker>,
    /// Released only after everything above has stopped writing the state folder.
    _lock: StateLock,
}

impl Pipeline {
    /// Loads models and gallery, connects to Kafka, and starts every camera. Anything that
    /// cannot work at all (bad model, gallery from another embedding space, unreachable
    /// template) fails here; a camera that is down is retried in the background instead.
    pub fn start(config: &Config) -> Result<Pipeline, PipelineError> {
        // Cheap checks first: a second instance or a mistyped gallery path must not wait
        // for models to load.
        let spool_dir = config.spool_dir();
        let state_dirs: Vec<&Path> = match spool_dir.starts_with(&config.pipeline.state_dir) {
            true => vec![&config.pipeline.state_dir],
            false => vec![&config.pipeline.state_dir, &spool_dir],
        };
        let state_lock = StateLock::take(&state_dirs)?;
        let gallery_sync = start_gallery_sync(config)?;
        Gallery::require_existing(&config.gallery.path)?;
        let ort_lib = config.models.onnxruntime.as_deref();
        let detector_card = ModelCard::load(&config.models.detector)?;
        let (recognizers, gallery, matcher, models) = load_recognition(config, &detector_card)?;
        let (embedded, mut publisher) = start_kafka(config)?;
        if let Some(cluster) = &config.cluster {
            publisher.set_worker_id(cluster.worker_id());
        }
        let delivery = publisher.stats.clone();
        let spool = publisher.spool_stats();

        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(PipelineStats::default());
        let (_, floor) = config.alerts.bands_for_gallery(matcher.templates());
        stats.record_gallery(
            matcher.identities(),
            matcher.templates(),
            matcher.index().is_some(),
            floor,
        );
        let snapshots = Arc::new(Snapshots::default());
        let (crop_txs, crop_rxs): (Vec<_>, Vec<_>) = (0..config.recognize.workers)
            .map(|_| crossbeam_channel::bounded(config.pipeline.crop_queue))
            .unzip();
        let (face_tx, face_rx) = crossbeam_channel::bounded(config.recognize.max_batch * 4);
        let (event_tx, event_rx) = crossbeam_channel::bounded(config.kafka.queue);
        let StartedCameras {
            sources: cameras,
            inputs,
            observed,
        } = start_cameras(config, &stop, &recognizers)?;
        let registry = Arc::new(CameraRegistry::default());
        for camera in observed {
            registry.add(camera);
        }
        let queues = QueueDepths {
            crops: crop_rxs.clone(),
            faces: face_rx.clone(),
            events: event_rx.clone(),
        };

        // A cluster worker's cameras come and go: every configured detect thread runs.
        let shards = match config.cluster {
            None => shard_cameras(inputs, config.detect.workers),
            Some(_) => (0..config.detect.workers).map(|_| Vec::new()).collect(),
        };
        let mut arrivals = Vec::new();
        let detect = shards
            .into_iter()
            .map(|cameras| {
                let incoming = config.cluster.as_ref().map(|_| {
                    let (tx, rx) = crossbeam_channel::unbounded();
                    arrivals.push(tx);
                    rx
                });
                Ok(workers::DetectWorker {
                    detector: Detector::load(&detector_card, ort_lib, &config.detect)?,
                    refiner: load_refiner(&config.align, ort_lib)?,
                    cameras,
                    crops: crop_txs.clone(),
                    stats: stats.clone(),
                    snapshots: snapshots.clone(),
                    arrivals: incoming,
                })
            })
            .collect::<Result<Vec<_>, PipelineError>>()?;
        let site_crop_sizes = recognizers.site_crop_sizes();
        drop(crop_txs);
        let engine = AlertEngine::new(&config.alerts, matcher, models);
        let mut sets = vec![recognizers];
        while sets.len() < config.recognize.workers {
            sets.push(load_recognizers(config)?);
        }
        let recognize: Vec<_> = sets
            .into_iter()
            .zip(crop_rxs)
            .map(|(recognizers, crops)| workers::RecognizeWorker {
                recognizers,
                config: config.recognize.clone(),
                crops,
                faces: face_tx.clone(),
                stats: stats.clone(),
            })
            .collect();
        drop(face_tx);
        let review = Arc::new(Review::new(config.gallery.path.clone(), config.http.token.clone()));
        let strangers = match config.unknowns.enabled {
            true => Some(Strangers::open(&config.unknowns, &config.alerts, &config.gallery.path)?),
            false => None,
        };
        if let Some(strangers) = &strangers {
            stats
                .unknown_clusters
                .store(strangers.clusters().all().len() as u64, Ordering::Relaxed);
        }
        let alert = workers::AlertWorker {
            matching: Matching::new(engine, strangers),
            thumbnails: ThumbnailStore::open(&config.alerts.thumbnails)?,
            gallery,
            review: review.clone(),
            faces: face_rx,
            events: event_tx,
            stats: stats.clone(),
            snapshots: snapshots.clone(),
        };
        let mut workers = Vec::new();
        for (i, worker) in detect.into_iter().enumerate() {
            workers.push(spawn(format!("detect-{i}"), move || worker.run())?);
        }
        for (i, worker) in recognize.into_iter().enumerate() {
            workers.push(spawn(format!("recognize-{i}"), move || worker.run())?);
        }
        workers.push(spawn("alert".into(), move || alert.run())?);
        let publisher = Some(spawn("publish".into(), move || publisher.run(event_rx))?);
        let (membership, fleet) = match &config.cluster {
            Some(cluster) => {
                let fleet = Arc::new(fleet::Fleet::new(
                    config,
                    site_crop_sizes,
                    arrivals,
                    registry.clone(),
                    queues.clone(),
                    spool.clone(),
                    Duration::from_secs_f64(cluster.stop_timeout_s),
                ));
                let membership = Membership::start(cluster, &config.kafka, fleet.clone())?;
                (Some(membership), Some(fleet))
            }
            None => (None, None),
        };
        let http = match &config.http.address {
            Some(address) => {
                let delivery = delivery.clone();
                let observed = Observed {
                    cameras: registry.clone(),
                    stats: stats.clone(),
                    delivery,
                    spool: spool.clone(),
                    snapshots,
                    queues,
                    review,
                    cluster: membership.as_ref().map(|m| m.state.clone()),
                };
                Some(HttpEndpoint::start(address, observed)?)
            }
            None => None,
        };
        Ok(Pipeline {
            stop,
            cameras,
            registry,
            membership,
            _gallery_sync: gallery_sync,
            fleet,
            workers,
            publisher,
            stats,
            delivery,
            spool,
            http,
            _embedded: embedded,
            _lock: state_lock,
        })
    }

    pub fn health(&self) -> Vec<HealthSnapshot> {
        self.registry.all().iter().map(|c| c.health.snapshot()).collect()
    }

    /// This worker's view of its consumer group (`[cluster]`).
    pub fn cluster(&self) -> Option<crate::cluster::GroupView> {
        self.membership.as_ref().map(|m| m.state.view())
    }

    /// True once every camera's source has ended (files at EOS) and the stages drained; a
    /// cluster worker never finishes by itself (cameras may be given to it at any time).
    pub fn is_finished(&self) -> bool {
        self.fleet.is_none()
            && self.cameras.iter().all(CameraSource::is_finished)
            && self.workers.iter().all(JoinHandle::is_finished)
    }

    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Runs until `stop` is set, `duration` has passed, or every source has ended; logs
    /// progress every `report_every`.
    pub fn wait(&self, stop: &AtomicBool, duration: Option<Duration>, report_every: Duration) {
        let started = Instant::now();
        let mut last_report = Instant::now();
        while !stop.load(Ordering::Relaxed) && !self.is_finished() && duration.is_none_or(|d| started.elapsed() < d) {
            std::thread::sleep(Duration::from_millis(100));
            if last_report.elapsed() >= report_every {
                last_report = Instant::now();
                let s = self.stats.snapshot(started.elapsed());
                tracing::info!(
                    frames = s.frames,
                    faces = s.faces,
                    events = s.events,
                    events_per_s = format!("{:.1}", s.events_per_s),
                    "progress"
                );
            }
        }
    }

    /// Stops the cameras, drains the stages in order and flushes Kafka; returns the final
    /// counters and each camera's last health.
    pub fn shutdown(mut self) -> (StatsSnapshot, Vec<HealthSnapshot>) {
        // A cluster worker's cameras leave the registry as they stop: report them as they were.
        let cluster_health = self.membership.as_ref().map(|_| self.health());
        // A cluster worker first gives its cameras back, each stopped cleanly, then leaves.
        if let Some(membership) = self.membership.take() {
            membership.shutdown();
        }
        if let Some(fleet) = self.fleet.take() {
            fleet.stop_all();
        }
        self.stop.store(true, Ordering::Relaxed);
        for camera in &mut self.cameras {
            camera.join();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        if let Some(publisher) = self.publisher.take() {
            let _ = publisher.join();
        }
        let mut snapshot = self.stats.snapshot(self.stats.elapsed());
        snapshot.delivered = self.delivery.delivered.load(Ordering::Relaxed);
        snapshot.delivery_failed = self.delivery.failed.load(Ordering::Relaxed);
        snapshot.spool_pending = self.spool.pending.load(Ordering::Relaxed);
        if self._embedded.is_some() {
            // Consumers of the embedded broker (e.g. `squint tail`) need a moment to read
            // the last events before the broker disappears with this process.
            std::thread::sleep(EMBEDDED_LINGER);
        }
        (snapshot, cluster_health.unwrap_or_else(|| self.health()))
    }
}

/// The landmark refiner `[align]` names, with the width below which it runs; a card that
/// cannot be loaded is refused naming the key.
fn load_refiner(
    align: &crate::align::AlignConfig,
    ort_library: Option<&Path>,
) -> Result<Option<(crate::align::Refiner, f32)>, PipelineError> {
    let Some(card) = &align.refiner else {
        return Ok(None);
    };
    let refused = |message: String| PipelineError::RefusedCard {
        key: "align.refiner".into(),
        card: card.clone(),
        message,
    };
    let loaded = ModelCard::load(card).and_then(|c| crate::align::Refiner::load(&c, ort_library));
    let refiner = loaded.map_err(|e| refused(e.to_string()))?;
    tracing::info!(
        refiner = refiner.model_id(),
        below_px = align.refine_below_px,
        "landmarks of small faces refined"
    );
    Ok(Some((refiner, align.refine_below_px)))
}

/// The recognizers, the gallery's matcher for their embedding space, and the model ids events carry.
type Recognition = (RecognizerSet, GalleryWatch, Matcher, ModelIds);

/// One recognizer session per model (the default, each camera's own and each routed one)
/// for one worker.
fn load_recognizers(config: &Config) -> Result<RecognizerSet, PipelineError> {
    let mut set = RecognizerSet::new(load_recognizer(config, &config.models.recognizer)?);
    let mut loaded: HashMap<PathBuf, usize> = HashMap::from([(config.models.recognizer.clone(), 0)]);
    let mut model_of = |set: &mut RecognizerSet, card: &Path| -> Result<usize, PipelineError> {
        if let Some(&model) = loaded.get(card) {
            return Ok(model);
        }
        let model = set.add(load_recognizer(config, card)?);
        loaded.insert(card.to_path_buf(), model);
        Ok(model)
    };
    for camera in &config.cameras {
        if let Some(card) = camera.recognizer.as_deref() {
            let model = model_of(&mut set, card)?;
            set.assign(&camera.id, model);
        }
    }
    let mut routes = |set: &mut RecognizerSet, list: &[Route]| -> Result<Vec<WidthRoute>, PipelineError> {
        list.iter()
            .map(|route| {
                Ok(WidthRoute {
                    min_px: route.min_px,
                    max_px: route.max_px,
                    model: model_of(set, &route.recognizer)?,
                })
            })
            .collect()
    };
    let site = routes(&mut set, &config.models.routes)?;
    set.set_routes(None, site);
    for camera in &config.cameras {
        if let Some(list) = &camera.routes {
            let own = routes(&mut set, list)?;
            set.set_routes(Some(&camera.id), own);
        }
    }
    if !config.models.routes.is_empty() {
        let bands: Vec<String> = config
            .models
            .routes
            .iter()
            .map(|r| format!("{}-{} px: {}", r.min_px, r.max_px, r.recognizer.display()))
            .collect();
        tracing::info!(routes = %bands.join(", "), "faces routed to recognizers by width");
    }
    Ok(set)
}

/// Every camera's own recognizer and every routed one must embed into the default's space,
/// or their faces could not be matched against the gallery. A routed one may take crops of
/// another size: the detect stage aligns each face at its route's size.
fn check_camera_recognizers(config: &Config, space: &str, dim: usize) -> Result<(), PipelineError> {
    let same_space = |card: &ModelCard| -> Result<Option<String>, PipelineError> {
        let (other_dim, other_space) = card.require_embedding()?;
        Ok(((other_dim, other_space.as_str()) != (dim, space)).then(|| format!(
            "it embeds into `{other_space}` ({other_dim}-d) but models.recognizer and the gallery use `{space}` ({dim}-d); use a model distilled from or adapted to the same teacher"
        )))
    };
    for camera in &config.cameras {
        let Some(path) = camera.recognizer.as_deref() else {
            continue;
        };
        if let Some(message) = same_space(&ModelCard::load(path)?)? {
            return Err(PipelineError::CameraRecognizer {
                camera: camera.id.clone(),
                card: path.to_path_buf(),
                message,
            });
        }
    }
    let camera_routes = config
        .cameras
        .iter()
        .enumerate()
        .filter_map(|(i, c)| c.routes.as_ref().map(|routes| (format!("cameras[{i}].routes"), routes)));
    let lists = std::iter::once((String::from("models.routes"), &config.models.routes)).chain(camera_routes);
    for (key, routes) in lists {
        for (i, route) in routes.iter().enumerate() {
            if let Some(message) = same_space(&ModelCard::load(&route.recognizer)?)? {
                return Err(PipelineError::RefusedCard {
                    key: format!("{key}[{i}].recognizer"),
                    card: route.recognizer.clone(),
                    message,
                });
            }
        }
    }
    Ok(())
}

/// One recognizer session on the configured execution provider.
fn load_recognizer(config: &Config, card: &Path) -> Result<Recognizer, PipelineError> {
    let card = ModelCard::load(card)?;
    let placement = Placement {
        provider: config.recognize.provider,
        device_id: config.recognize.device_id,
    };
    let recognizer = Recognizer::load_on(
        &card,
        config.models.onnxruntime.as_deref(),
        config.recognize.threads,
        placement,
    )?;
    tracing::info!(
        model = recognizer.model_id(),
        provider = placement.provider.name(),
        device = placement.device_id,
        "recognizer loaded; running on {}",
        placement.provider.name()
    );
    Ok(recognizer)
}

/// The recognizer, the gallery (watched for changes) with its matcher for the recognizer's
/// embedding space, and the model ids events carry.
fn load_recognition(config: &Config, detector: &ModelCard) -> Result<Recognition, PipelineError> {
    let recognizer_card = ModelCard::load(&config.models.recognizer)?;
    let (dim, space) = recognizer_card.require_embedding()?;
    check_camera_recognizers(config, &space, dim)?;
    let recognizers = load_recognizers(config)?;
    let (watch, matcher) = GalleryWatch::open(WatchSpec {
        path: config.gallery.path.clone(),
        space: space.clone(),
        size: dim,
        every: Duration::from_secs_f64(config.gallery.reload_s),
        index: config.gallery.index.clone(),
    })?;
    tracing::info!(
        identities = matcher.identities(),
        templates = matcher.templates(),
        index = matcher.index().is_some(),
        gallery = %config.gallery.path.display(),
        "gallery loaded"
    );

    if matcher.identities() == 0 {
        tracing::warn!(
            "the gallery is empty: every face will be reported as unknown; enroll people with `squint enroll`"
        );
    }
    let models = ModelIds {
        detector: detector.id.clone(),
        recognizer: recognizer_card.id.clone(),
        embedding_space: space,
    };
    Ok((recognizers, watch, matcher, models))
}

/// With `[cluster] gallery_topic`: the gallery file brought up to the site's gallery (and
/// refused when the site's embeddings are of another space than this worker's recognizer).
fn start_gallery_sync(config: &Config) -> Result<Option<GallerySync>, PipelineError> {
    let Some(cluster) = config.cluster.as_ref().filter(|c| c.gallery_topic.is_some()) else {
        return Ok(None);
    };
    let (_, space) = ModelCard::load(&config.models.recognizer)?.require_embedding()?;
    Ok(GallerySync::start(
        &config.kafka,
        cluster,
        &config.gallery.path,
        &space,
    )?)
}

/// The producer, and the embedded broker it talks to when configured.
fn start_kafka(config: &Config) -> Result<(Option<EmbeddedBroker>, Publisher), PipelineError> {
    let embedded = if config.kafka.is_embedded() {
        Some(EmbeddedBroker::start(&config.kafka, &embedded_address_file(config))?)
    } else {
        None
    };
    let brokers = embedded
        .as_ref()
        .map_or(config.kafka.brokers.as_str(), |e| e.brokers.as_str());
    let publisher = Publisher::start(&config.kafka, brokers, &config.spool_dir())?;
    Ok((embedded, publisher))
}

/// What starting the cameras gives the rest of the pipeline.
/// Shares cameras out among `workers` detect threads in config order (round robin), never
/// making more threads than cameras.
fn shard_cameras<T>(cameras: Vec<T>, workers: usize) -> Vec<Vec<T>> {
    let count = workers.clamp(1, cameras.len().max(1));
    let mut shards: Vec<Vec<T>> = (0..count).map(|_| Vec::new()).collect();
    for (i, camera) in cameras.into_iter().enumerate() {
        shards[i % count].push(camera);
    }
    shards
}

struct StartedCameras {
    sources: Vec<CameraSource>,
    inputs: Vec<workers::CameraInput>,
    observed: Vec<ObservedCamera>,
}

/// Starts every camera with its own bounded frame queue.
fn start_cameras(
    config: &Config,
    stop: &Arc<AtomicBool>,
    recognizers: &RecognizerSet,
) -> Result<StartedCameras, PipelineError> {
    let (mut cameras, mut inputs, mut observed) = (Vec::new(), Vec::new(), Vec::new());
    for camera in &config.cameras {
        let started = start_camera(config, camera, stop.clone(), recognizers.crop_sizes_of(&camera.id))?;
        cameras.push(started.source);
        inputs.push(started.input);
        observed.push(started.observed);
    }
    Ok(StartedCameras {
        sources: cameras,
        inputs,
        observed,
    })
}

/// One camera started: its ingest thread, what the detect thread needs of it, and what the
/// HTTP endpoint reports.
struct StartedCamera {
    source: CameraSource,
    input: workers::CameraInput,
    observed: ObservedCamera,
}

/// Starts `camera`'s ingest thread (stopped by `stop`) with its own bounded frame queue;
/// its crops are aligned at `crop_sizes`.
fn start_camera(
    config: &Config,
    camera: &crate::ingest::CameraConfig,
    stop: Arc<AtomicBool>,
    crop_sizes: CropSizes,
) -> Result<StartedCamera, PipelineError> {
    let (frame_tx, frame_rx) = crossbeam_channel::bounded(config.pipeline.frame_queue);
    let frames = FrameSender::new(frame_tx, frame_rx.clone());
    let source = CameraSource::spawn(camera, config.pipeline.templates_dir(), frames, stop)?;
    let search = match config.detect.search {
        SearchMode::Full => None,
        SearchMode::Regions => Some(RegionSearch::new(&config.detect)?),
    };
    let search_stats = Arc::new(SearchStats::default());
    let observed = ObservedCamera {
        id: camera.id.clone(),
        health: source.health.clone(),
        frames: frame_rx.clone(),
        search: search_stats.clone(),
    };
    let input = workers::CameraInput {
        frames: frame_rx,
        wait_for_recognizer: !camera.is_live(),
        roi: camera.roi,
        crop_sizes,
        tracker: Tracker::new(Arc::from(camera.id.as_str()), &config.track),
        search,
        search_stats,
        released: None,
    };
    Ok(StartedCamera {
        source,
        input,
        observed,
    })
}

const EMBEDDED_LINGER: Duration = Duration::from_secs(3);

pub fn embedded_address_file(config: &Config) -> PathBuf {
    config.pipeline.state_dir.join("embedded-kafka.addr")
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, PipelineError> {
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(f)
        .map_err(|source| PipelineError::Thread { name, source })
}

#[cfg(test)]
mod tests {
    use super::{check_camera_recognizers, shard_cameras};
    use crate::config::Config;
    use crate::testing::repo;

    /// A config whose one width route points at a copy of SFace's card changed by `edit`.
    fn routed_config(dir: &std::path::Path, edit: impl Fn(String) -> String) -> Config {
        let sface = repo().join("models/sface.card.toml");
        let card = std::fs::read_to_string(&sface).unwrap().replace(
            "file = \"sface.onnx\"",
            &format!("file = \"{}\"", repo().join("models/sface.onnx").display()),
        );
        std::fs::write(dir.join("lr.card.toml"), edit(card)).unwrap();
        let text = format!(
            "[models]\ndetector = \"{repo}/models/yunet.card.toml\"\nrecognizer = \"{sface}\"\n\
             [[models.routes]]\nmax_px = 24\nrecognizer = \"lr.card.toml\"\n\
             [pipeline]\ntemplates = \"{repo}/pipelines\"\n[gallery]\npath = \"g.db\"\n[kafka]\nbrokers = \"embedded\"\n\
             [[cameras]]\nid = \"door\"\nurl = \"rtsp://127.0.0.1:8554/door\"\n",
            repo = repo().display(),
            sface = sface.display(),
        );
        Config::parse(&text, &dir.join("site.toml")).unwrap()
    }

    #[test]
    fn a_route_to_another_space_is_refused_by_key_at_start_up_and_one_of_another_crop_size_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let same = routed_config(dir.path(), |card| card.replace("id = \"sface-2021dec\"", "id = \"lr\""));
        check_camera_recognizers(&same, "sface-2021dec", 128).expect("same space and crops");

        let other = routed_config(dir.path(), |card| {
            card.replace("embedding_space = \"sface-2021dec\"", "embedding_space = \"other\"")
        });
        let err = check_camera_recognizers(&other, "sface-2021dec", 128)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("models.routes[0].recognizer") && err.contains("`other`"),
            "{err}"
        );

        let smaller = routed_config(dir.path(), |card| {
            card.replace("input_size = [112, 112]", "input_size = [56, 56]")
        });
        check_camera_recognizers(&smaller, "sface-2021dec", 128).expect("faces of the band are aligned at 56 px");
    }

    #[test]
    fn cameras_are_dealt_round_robin_and_never_to_idle_threads() {
        assert_eq!(shard_cameras(vec![1, 2, 3, 4, 5], 2), vec![vec![1, 3, 5], vec![2, 4]]);
        assert_eq!(shard_cameras(vec![1, 2], 4), vec![vec![1], vec![2]]);
        assert_eq!(shard_cameras(Vec::<u8>::new(), 3), vec![Vec::<u8>::new()]);
    }
}
