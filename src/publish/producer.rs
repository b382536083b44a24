use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Message};

use super::{IdentityEvent, KafkaConfig, PublishError};
use crate::redact::redact_credentials;

/// Counts of what the broker acknowledged.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    pub sent: AtomicU64,
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
}

pub struct DeliveryCounter(Arc<DeliveryStats>);

impl ClientContext for DeliveryCounter {}

impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.0.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((err, message)) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
                let key = message.key().map(String::from_utf8_lossy).unwrap_or_default();
                tracing::error!(error = %err, camera = %key, "event delivery failed");
            }
        }
    }
}

/// Publishes identity events; owns the embedded broker when one is configured.
pub struct Publisher {
    producer: ThreadedProducer<DeliveryCounter>,
    topic: String,
    brokers: String,
    pub stats: Arc<DeliveryStats>,
}

impl Publisher {
    /// Connects to `brokers` (the configured list, or the embedded broker's address) and
    /// creates the topic when configured to.
    pub fn start(config: &KafkaConfig, brokers: &str) -> Result<Publisher, PublishError> {
        let brokers = brokers.to_string();
        let kafka_error = |e: KafkaError| PublishError::Kafka {
            brokers: brokers.clone(),
            message: redact_credentials(&e.to_string()),
        };
        let mut client = client_config(config, &brokers);
        // Idempotent, acks=all, and no delivery timeout: while the broker is away librdkafka
        // keeps events queued and retries instead of dropping them.
        client
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", "0")
            .set("linger.ms", "5");
        let stats = Arc::new(DeliveryStats::default());
        let producer: ThreadedProducer<DeliveryCounter> = client
            .create_with_context(DeliveryCounter(stats.clone()))
            .map_err(kafka_error)?;
        if config.create_topic && !config.is_embedded() {
            create_topic(config, &brokers)?;
        }
        tracing::info!(brokers = %redact_credentials(&brokers), topic = %config.topic, properties = ?config.redacted_properties(), "publishing events");
        Ok(Publisher {
            producer,
            topic: config.topic.clone(),
            brokers,
            stats,
        })
    }

    /// Queues one event, keyed by its camera. When librdkafka's local queue is full this
    /// waits for room rather than dropping the event.
    pub fn send(&self, event: &IdentityEvent) -> Result<(), PublishError> {
        let payload = serde_json::to_vec(event)?;
        let mut record = BaseRecord::to(&self.topic)
            .key(event.camera_id.as_str())
            .payload(&payload);
        let mut warned = false;
        loop {
            match self.producer.send(record) {
                Ok(()) => {
                    self.stats.sent.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    if !warned {
                        tracing::warn!("kafka producer queue full (broker slow or away); waiting for room");
                        warned = true;
                    }
                    record = back;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err((e, _)) => {
                    return Err(PublishError::Kafka {
                        brokers: self.brokers.clone(),
                        message: redact_credentials(&e.to_string()),
                    });
                }
            }
        }
    }

    /// Waits up to `timeout` for every queued event to be acknowledged; returns how many
    /// are still outstanding.
    pub fn flush(&self, timeout: Duration) -> u64 {
        let _ = self.producer.flush(timeout);
        self.producer.in_flight_count().max(0) as u64
    }
}

fn client_config(config: &KafkaConfig, brokers: &str) -> ClientConfig {
    let mut client = ClientConfig::new();
    for (key, value) in &config.properties {
        client.set(key, value);
    }
    client.set("bootstrap.servers", brokers);
    client
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
        cluster
            .create_topic(&config.topic, config.partitions, 1)
            .map_err(embedded_error)?;
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
fn create_topic(config: &KafkaConfig, brokers: &str) -> Result<(), PublishError> {
    let kafka_error = |message: String| PublishError::Kafka {
        brokers: brokers.to_string(),
        message: redact_credentials(&message),
    };
    let admin: AdminClient<DefaultClientContext> = client_config(config, brokers)
        .create()
        .map_err(|e| kafka_error(e.to_string()))?;
    let topic = NewTopic::new(&config.topic, config.partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(10)))
        .request_timeout(Some(Duration::from_secs(15)));
    let results = futures_executor::block_on(admin.create_topics([&topic], &options))
        .map_err(|e| kafka_error(format!("creating topic {}: {e}", config.topic)))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(kafka_error(format!("creating topic {name}: {code}"))),
        }
    }
    Ok(())
}
