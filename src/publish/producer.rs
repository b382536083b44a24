use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};

use super::connect::{ConnectionWatch, WatchedContext, client_config, explain_creation};
use super::spool::{Spool, SpoolError, SpoolRecord, SpoolStats};
use super::{KafkaConfig, Outgoing, PublishError, TopicKind};
use crate::redact::redact_credentials;

/// Counts of what the broker acknowledged.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// Handed to librdkafka (replays after an outage count again).
    pub sent: AtomicU64,
    pub delivered: AtomicU64,
    /// Refused for good (e.g. message too large): counted, logged with its spool sequence
    /// number, and skipped so later events are not held up.
    pub failed: AtomicU64,
    /// Delivery attempts that failed transiently and were sent again.
    pub retried: AtomicU64,
    /// From an event entering the spool to Kafka acknowledging it.
    pub ack_latency: crate::stats::Latency,
}

/// How a delivery attempt ended.
#[derive(Debug)]
enum Report {
    Delivered,
    /// Worth sending again: the broker was unavailable, shutting down, or overloaded.
    Transient(String),
    /// The broker will never take this record (too large, not authorised, invalid).
    Refused(String),
}

/// Delivery reports go back to the publishing thread, which owns the spool.
pub struct DeliveryReports(crossbeam_channel::Sender<(u64, Report)>, ConnectionWatch);

impl ClientContext for DeliveryReports {
    fn error(&self, error: KafkaError, reason: &str) {
        self.1.on_client_error(&error, reason);
    }
}

impl ProducerContext for DeliveryReports {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: usize) {
        let report = match result {
            Ok(_) => Report::Delivered,
            Err((err, _)) if is_permanent(err) => Report::Refused(err.to_string()),
            Err((err, _)) => Report::Transient(err.to_string()),
        };
        let _ = self.0.send((seq as u64, report));
    }
}

/// Errors no retry can fix. Anything else (e.g. the unknown server error a broker returns
/// while it shuts down) is retried: giving up on it would lose the event.
fn is_permanent(error: &KafkaError) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        error.rdkafka_error_code(),
        Some(
            MessageSizeTooLarge
                | InvalidMessageSize
                | InvalidMessage
                | InvalidRecord
                | TopicAuthorizationFailed
                | ClusterAuthorizationFailed
                | InvalidTopic
                | InvalidRequiredAcks
        )
    )
}

/// Publishes events through the spool: every event is appended (fsync'd) before it is
/// handed to librdkafka and stays there until the broker acknowledges it, so a broker
/// outage or a restart of Squint loses nothing and keeps each camera's order.
pub struct Publisher {
    producer: ThreadedProducer<DeliveryReports>,
    reports: crossbeam_channel::Receiver<(u64, Report)>,
    identity_topic: String,
    alert_topic: String,
    brokers: String,
    spool: Spool,
    max_in_flight: usize,
    /// A record read from the spool that librdkafka had no room for yet.
    unsent: Option<SpoolRecord>,
    /// Records whose delivery failed transiently, to send again (oldest first) once
    /// `retry_at` has passed.
    retry: std::collections::BTreeSet<u64>,
    retry_at: Instant,
    /// When each pending record entered the spool (bounded: during a long outage only the
    /// oldest are timed).
    appended_at: std::collections::BTreeMap<u64, Instant>,
    pub stats: Arc<DeliveryStats>,
    /// Stamped into every event (`[cluster]`).
    worker_id: Option<String>,
}

/// How long `run` keeps delivering after its input closes; the rest stays spooled.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);
const CURSOR_EVERY: Duration = Duration::from_millis(200);
/// Most records timed from spool to acknowledgement at once.
const TIMED_MAX: usize = 100_000;
/// Pause before sending transiently failed records again.
const RETRY_AFTER: Duration = Duration::from_millis(500);

impl Publisher {
    /// Connects to `brokers` (the configured list, or the embedded broker's address),
    /// creates the topics when configured to, and opens the spool in `spool_dir`.
    pub fn start(config: &KafkaConfig, brokers: &str, spool_dir: &Path) -> Result<Publisher, PublishError> {
        // Config::parse registered them already; a KafkaConfig built another way (a library
        // caller, a test) must be as safe.
        config.register_secrets();
        let brokers = brokers.to_string();
        let kafka_error = |e: KafkaError| PublishError::Kafka {
            brokers: redact_credentials(&brokers),
            message: explain_creation(&e.to_string(), &config.properties),
        };
        let watch = ConnectionWatch::new(&config.properties);
        let mut client = client_config(&config.properties, &brokers);
        // Idempotent, acks=all, and no delivery timeout: while the broker is away librdkafka
        // keeps retrying the in-flight window instead of failing it.
        client
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "0")
            .set("linger.ms", "5");
        let (report_tx, reports) = crossbeam_channel::unbounded();
        let producer: ThreadedProducer<DeliveryReports> = client
            .create_with_context(DeliveryReports(report_tx, watch.clone()))
            .map_err(kafka_error)?;
        if config.create_topic && !config.is_embedded() {
            for topic in [&config.topic, &config.alert_topic] {
                let spec = TopicSpec {
                    name: topic,
                    partitions: config.partitions,
                    compacted: false,
                };
                create_topic(&config.properties, &brokers, &spec, &watch)?;
            }
        }
        let spool = Spool::open(spool_dir, &config.spool)?;
        tracing::info!(
            brokers = %redact_credentials(&brokers),
            identity_topic = %config.topic,
            alert_topic = %config.alert_topic,
            spool = %spool_dir.display(),
            properties = ?config.redacted_properties(),
            features = %super::kafka_features().join(","),
            "publishing events"
        );
        Ok(Publisher {
            producer,
            reports,
            identity_topic: config.topic.clone(),
            alert_topic: config.alert_topic.clone(),
            brokers,
            spool,
            max_in_flight: config.spool.max_in_flight,
            unsent: None,
            retry: Default::default(),
            retry_at: Instant::now(),
            appended_at: Default::default(),
            stats: Arc::new(DeliveryStats::default()),
            worker_id: None,
        })
    }

    /// Every event from now on names `worker_id` as the worker that produced it.
    pub fn set_worker_id(&mut self, worker_id: String) {
        self.worker_id = Some(worker_id);
    }

    pub fn spool_stats(&self) -> Arc<SpoolStats> {
        self.spool.stats.clone()
    }

    /// Spools and sends events until `events` closes, then keeps delivering for a grace
    /// period; whatever is still unacknowledged stays in the spool for the next start.
    pub fn run(mut self, events: Receiver<Outgoing>) {
        let mut held: Option<Outgoing> = None;
        let mut closed = false;
        let mut cursor_saved = Instant::now();
        let mut closed_at = None;
        loop {
            closed |= self.take(&events, &mut held);
            self.send_spooled();
            self.handle_reports(Duration::ZERO);
            if cursor_saved.elapsed() >= CURSOR_EVERY {
                self.save_cursor();
                cursor_saved = Instant::now();
            }
            if closed && held.is_none() {
                let since = *closed_at.get_or_insert_with(Instant::now);
                if self.spool.pending() == 0 || since.elapsed() >= SHUTDOWN_GRACE {
                    break;
                }
                self.handle_reports(Duration::from_millis(20));
            }
        }
        self.save_cursor();
        let pending = self.spool.pending();
        if pending > 0 {
            tracing::warn!(events = pending, spool = %self.spool.dir().display(), "events not yet acknowledged by Kafka stay in the spool and are sent at the next start");
        }
    }

    /// Appends what has arrived (waiting briefly when idle) and makes it durable; returns
    /// true once `events` is closed and empty. A full spool in "block" mode keeps the
    /// event in `held` and takes nothing more until there is room.
    fn take(&mut self, events: &Receiver<Outgoing>, held: &mut Option<Outgoing>) -> bool {
        let in_flight = self.spool.in_flight();
        let sendable = self.unsent.is_some() || self.spool.pending() as usize > in_flight;
        let busy = held.is_some() || (sendable && in_flight < self.max_in_flight);
        let wait = if busy {
            Duration::ZERO
        } else {
            Duration::from_millis(20)
        };
        let mut closed = false;
        let mut next = match held.take() {
            Some(event) => Some(event),
            None => match events.recv_timeout(wait) {
                Ok(event) => Some(event),
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    closed = true;
                    None
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
            },
        };
        let mut taken = 0;
        while let Some(mut event) = next {
            if let Some(worker_id) = &self.worker_id {
                event.set_worker_id(worker_id);
            }
            match self.append(&event) {
                Ok(()) => {}
                Err(SpoolError::Full { .. }) => {
                    *held = Some(event);
                    std::thread::sleep(Duration::from_millis(50));
                    break;
                }
                Err(e) => {
                    // The disk failed: still try to send it straight away rather than lose it.
                    tracing::error!(error = %e, "event could not be spooled");
                    *held = Some(event);
                    std::thread::sleep(Duration::from_millis(200));
                    break;
                }
            }
            taken += 1;
            next = if taken < 1000 { events.try_recv().ok() } else { None };
        }
        if let Err(e) = self.spool.sync() {
            tracing::error!(error = %e, "event spool not synced");
        }
        closed && held.is_none() && events.is_empty()
    }

    fn append(&mut self, event: &Outgoing) -> Result<(), SpoolError> {
        let payload = match event.to_json() {
            Ok(payload) => payload,
            Err(e) => {
                tracing::error!(error = %e, "event could not be encoded; skipped");
                return Ok(());
            }
        };
        let seq = self.spool.append(event.kind(), event.camera_id(), &payload)?;
        if self.appended_at.len() < TIMED_MAX {
            self.appended_at.insert(seq, Instant::now());
        }
        Ok(())
    }

    /// Hands spooled records to librdkafka, oldest first, up to the in-flight window;
    /// transiently failed ones go first.
    fn send_spooled(&mut self) {
        if !self.resend_failed() {
            return;
        }
        while self.spool.in_flight() < self.max_in_flight {
            let record = match self.unsent.take() {
                Some(record) => record,
                None => match self.spool.next_unsent() {
                    Ok(Some(record)) => record,
                    Ok(None) => return,
                    Err(e) => {
                        tracing::error!(error = %e, "event spool unreadable");
                        return;
                    }
                },
            };
            if !self.produce(&record) {
                self.unsent = Some(record);
                return;
            }
        }
    }

    /// Hands one record to librdkafka; false when its queue is full.
    fn produce(&mut self, record: &SpoolRecord) -> bool {
        let topic = match record.kind {
            TopicKind::Identity => &self.identity_topic,
            TopicKind::Alert => &self.alert_topic,
        };
        let base = BaseRecord::with_opaque_to(topic, record.seq as usize)
            .key(record.key.as_str())
            .payload(&record.payload);
        match self.producer.send(base) {
            Ok(()) => {
                self.stats.sent.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => false,
            Err((e, _)) => {
                let message = redact_credentials(&e.to_string());
                self.set_aside(record.seq, &message);
                true
            }
        }
    }

    fn handle_reports(&mut self, wait: Duration) {
        if let Ok(first) = self.reports.recv_timeout(wait) {
            self.handle_report(first);
        }
        while let Ok(report) = self.reports.try_recv() {
            self.handle_report(report);
        }
    }

    fn handle_report(&mut self, (seq, report): (u64, Report)) {
        match report {
            Report::Delivered => {
                self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                if let Some(appended) = self.appended_at.remove(&seq) {
                    self.stats.ack_latency.record(appended.elapsed());
                }
                if let Err(e) = self.spool.ack(seq) {
                    tracing::error!(error = %e, "event spool not advanced");
                }
            }
            Report::Transient(message) => {
                if self.retry.is_empty() {
                    tracing::warn!(error = %message, "Kafka did not take events; sending them again from the spool");
                }
                self.stats.retried.fetch_add(1, Ordering::Relaxed);
                self.retry.insert(seq);
                self.retry_at = Instant::now() + RETRY_AFTER;
            }
            Report::Refused(message) => self.set_aside(seq, &message),
        }
    }

    /// Sends transiently failed records again, oldest first; false while waiting to.
    fn resend_failed(&mut self) -> bool {
        if self.retry.is_empty() {
            return true;
        }
        if Instant::now() < self.retry_at {
            return false;
        }
        while let Some(seq) = self.retry.pop_first() {
            match self.spool.read(seq) {
                Ok(Some(record)) => {
                    if !self.produce(&record) {
                        self.retry.insert(seq);
                        return false;
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, seq, "spooled event unreadable"),
            }
        }
        true
    }

    /// A record Kafka refused for good: counted and logged, and moved past so it does not
    /// block every later event.
    fn set_aside(&mut self, seq: u64, message: &str) {
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        self.appended_at.remove(&seq);
        tracing::error!(brokers = %redact_credentials(&self.brokers), seq, error = %message, "event refused by Kafka for good");
        if let Err(e) = self.spool.ack(seq) {
            tracing::error!(error = %e, "event spool not advanced");
        }
    }

    fn save_cursor(&mut self) {
        if let Err(e) = self.spool.save_cursor() {
            tracing::error!(error = %e, "event spool cursor not saved");
        }
    }
}

/// librdkafka's in-process Kafka-protocol cluster, for demos. It lives on the thread that
/// started it (it is not Send) and must outlive every client that talks to it.
pub struct EmbeddedBroker {
    _cluster: MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    pub brokers: String,
    address_file: std::path::PathBuf,
}

impl EmbeddedBroker {
    /// Starts the cluster with the configured topic and writes its address to
    /// `address_file` for `squint tail`.
    pub fn start(config: &KafkaConfig, address_file: &Path) -> Result<EmbeddedBroker, PublishError> {
        let embedded_error = |e: KafkaError| PublishError::Kafka {
            brokers: "embedded".into(),
            message: e.to_string(),
        };
        let cluster = MockCluster::new(1).map_err(embedded_error)?;
        for topic in [&config.topic, &config.alert_topic] {
            cluster
                .create_topic(topic, config.partitions, 1)
                .map_err(embedded_error)?;
        }
        let brokers = cluster.bootstrap_servers();
        let address_error = |e: std::io::Error| PublishError::AddressFile {
            path: address_file.to_path_buf(),
            message: e.to_string(),
        };
        if let Some(dir) = address_file.parent() {
            std::fs::create_dir_all(dir).map_err(address_error)?;
        }
        std::fs::write(address_file, &brokers).map_err(address_error)?;
        tracing::info!(%brokers, file = %address_file.display(), "embedded Kafka-protocol broker started (demo only; events vanish when squint exits)");
        Ok(EmbeddedBroker {
            _cluster: cluster,
            brokers,
            address_file: address_file.to_path_buf(),
        })
    }
}

impl Drop for EmbeddedBroker {
    /// Removes the address file so `squint tail` never reads a dead broker's address.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.address_file);
    }
}

/// Creates the topic unless it exists.
/// A topic to create when it is missing.
pub struct TopicSpec<'a> {
    pub name: &'a str,
    pub partitions: i32,
    /// `cleanup.policy=compact`: only the newest record per key is kept.
    pub compacted: bool,
}

/// Creates `spec` unless it exists.
pub fn create_topic(
    properties: &BTreeMap<String, String>,
    brokers: &str,
    spec: &TopicSpec,
    watch: &ConnectionWatch,
) -> Result<(), PublishError> {
    let kafka_error = |message: String| PublishError::Kafka {
        brokers: redact_credentials(brokers),
        message: watch.explain_failure(&message),
    };
    let admin: AdminClient<WatchedContext> = client_config(properties, brokers)
        .create_with_context(WatchedContext(watch.clone()))
        .map_err(|e| kafka_error(e.to_string()))?;
    let mut topic = NewTopic::new(spec.name, spec.partitions, TopicReplication::Fixed(1));
    if spec.compacted {
        topic = topic.set("cleanup.policy", "compact");
    }
    let options = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(10)))
        .request_timeout(Some(Duration::from_secs(15)));
    let name = spec.name;
    let results = futures_executor::block_on(admin.create_topics([&topic], &options))
        .map_err(|e| kafka_error(format!("creating topic {name}: {e}")))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(kafka_error(format!("creating topic {name}: {code}"))),
        }
    }
    Ok(())
}
