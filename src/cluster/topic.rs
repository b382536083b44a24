//! The cameras topic: a compacted Kafka topic holding the site's cameras, key = camera id,
//! value = its `[[cameras]]` table as JSON, tombstone = removed.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde::Deserialize;

use super::{ClusterConfig, ClusterError};
use crate::ingest::CameraConfig;
use crate::publish::{ConnectionWatch, KafkaConfig, TopicSpec, WatchedContext, client_config, create_topic};
use crate::redact::redact_credentials;

const TIMEOUT: Duration = Duration::from_secs(15);

/// A camera as the topic holds it, with where it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraRecord {
    pub camera: CameraConfig,
    pub partition: i32,
}

/// What a record of the topic says about one camera.
#[derive(Debug, Clone, PartialEq)]
pub enum CameraChange {
    Put(Box<CameraConfig>),
    Removed(String),
}

/// Decodes one record; the key must be the id inside the value, so a hand-written record
/// cannot run a camera under another camera's key.
pub fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<CameraChange, String> {
    let key = key
        .and_then(|k| std::str::from_utf8(k).ok())
        .ok_or("the record has no UTF-8 key (the camera id)")?;
    let Some(value) = value else {
        return Ok(CameraChange::Removed(key.to_string()));
    };
    let camera: CameraConfig =
        serde_json::from_slice(value).map_err(|e| format!("camera `{key}`: not a camera table: {e}"))?;
    if camera.id != key {
        return Err(format!("camera `{key}`: the record's value is camera `{}`", camera.id));
    }
    crate::redact::register_url_secrets(&camera.url);
    camera
        .validate()
        .map_err(|(field, message)| format!("camera `{key}`: key `{field}`: {message}"))?;
    Ok(CameraChange::Put(Box::new(camera)))
}

/// The cameras of a `[[cameras]]` file for `squint cameras put`, validated as a config
/// file's are (relative file paths resolved against the file's folder).
pub fn read_camera_file(path: &Path, templates: &Path) -> Result<Vec<CameraConfig>, ClusterError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct CameraFile {
        #[serde(default)]
        cameras: Vec<CameraConfig>,
    }
    let bad = |message: String| ClusterError::CameraFile {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    for line in text.lines() {
        if let Some((_, value)) = line.split_once('=') {
            crate::redact::register_url_secrets(value.trim().trim_matches('"'));
        }
    }
    let mut file: CameraFile = toml::from_str(&text).map_err(|e| bad(redact_credentials(e.to_string().trim_end())))?;
    if file.cameras.is_empty() {
        return Err(bad("no [[cameras]] table in it".into()));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    for camera in &mut file.cameras {
        camera.resolve_paths(base);
    }
    crate::config::validate_cameras(&file.cameras, templates, true)
        .map_err(|(key, message)| bad(format!("key `{key}`: {message}")))?;
    Ok(file.cameras)
}

/// Keeps the first delivery failure of a write, which `flush` alone would not report.
struct WriteContext {
    watch: ConnectionWatch,
    failure: std::sync::Mutex<Option<String>>,
}

impl rdkafka::ClientContext for WriteContext {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.watch.on_client_error(&error, reason);
    }
}

impl rdkafka::producer::ProducerContext for WriteContext {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &rdkafka::producer::DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result
            && let Ok(mut failure) = self.failure.lock()
        {
            failure.get_or_insert_with(|| error.to_string());
        }
    }
}

/// Writes, removes and reads the site's cameras.
pub struct CamerasTopic {
    kafka: KafkaConfig,
    topic: String,
    partitions: i32,
    watch: ConnectionWatch,
}

impl CamerasTopic {
    pub fn new(kafka: &KafkaConfig, cluster: &ClusterConfig) -> CamerasTopic {
        CamerasTopic {
            kafka: kafka.clone(),
            topic: cluster.cameras_topic.clone(),
            partitions: cluster.partitions,
            watch: ConnectionWatch::new(&kafka.properties),
        }
    }

    fn kafka_error(&self, message: impl std::fmt::Display) -> ClusterError {
        ClusterError::Kafka {
            brokers: redact_credentials(&self.kafka.brokers),
            message: self.watch.explain_failure(&format!("topic {}: {message}", self.topic)),
        }
    }

    /// Creates the topic (compacted, `cluster.partitions`) unless it exists; an existing
    /// topic needs no admin rights.
    pub fn ensure(&self) -> Result<(), ClusterError> {
        if !self.partitions()?.is_empty() {
            return Ok(());
        }
        let spec = TopicSpec {
            name: &self.topic,
            partitions: self.partitions,
            compacted: true,
        };
        create_topic(&self.kafka.properties, &self.kafka.brokers, &spec, &self.watch)?;
        Ok(())
    }

    /// Publishes each camera, or a tombstone for each id, and waits until Kafka has them all.
    fn write(&self, records: &[(String, Option<Vec<u8>>)]) -> Result<(), ClusterError> {
        let mut client = client_config(&self.kafka.properties, &self.kafka.brokers);
        client.set("enable.idempotence", "true").set("acks", "all");
        let context = WriteContext {
            watch: self.watch.clone(),
            failure: std::sync::Mutex::new(None),
        };
        let producer: BaseProducer<WriteContext> =
            client.create_with_context(context).map_err(|e| self.kafka_error(e))?;
        for (key, value) in records {
            let mut record = BaseRecord::<String, Vec<u8>>::to(&self.topic).key(key);
            if let Some(value) = value {
                record = record.payload(value);
            }
            producer.send(record).map_err(|(e, _)| self.kafka_error(e))?;
        }
        producer.flush(TIMEOUT).map_err(|e| self.kafka_error(e))?;
        match producer.context().failure.lock().ok().and_then(|mut f| f.take()) {
            Some(failure) => Err(self.kafka_error(failure)),
            None => Ok(()),
        }
    }

    pub fn put(&self, cameras: &[CameraConfig]) -> Result<(), ClusterError> {
        self.ensure()?;
        let records = cameras
            .iter()
            .map(|camera| Ok((camera.id.clone(), Some(serde_json::to_vec(camera)?))))
            .collect::<Result<Vec<_>, serde_json::Error>>()
            .map_err(|e| self.kafka_error(e))?;
        self.write(&records)
    }

    /// Tombstones `ids`; an id the topic does not hold is refused (a typo must not pass as done).
    pub fn remove(&self, ids: &[String]) -> Result<(), ClusterError> {
        let present = self.read_all()?;
        if let Some(missing) = ids.iter().find(|id| !present.contains_key(*id)) {
            return Err(ClusterError::NoSuchCamera {
                camera: missing.clone(),
                topic: self.topic.clone(),
            });
        }
        let records: Vec<_> = ids.iter().map(|id| (id.clone(), None)).collect();
        self.write(&records)
    }

    /// Every camera the topic holds now: the newest record per key, read from the start of
    /// each partition to its end.
    /// The topic's partitions; none when it does not exist.
    fn partitions(&self) -> Result<Vec<i32>, ClusterError> {
        let consumer: BaseConsumer<WatchedContext> = client_config(&self.kafka.properties, &self.kafka.brokers)
            .create_with_context(WatchedContext(self.watch.clone()))
            .map_err(|e| self.kafka_error(e))?;
        let metadata = consumer
            .fetch_metadata(Some(&self.topic), TIMEOUT)
            .map_err(|e| self.kafka_error(e))?;
        Ok(metadata
            .topics()
            .iter()
            .filter(|t| t.name() == self.topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect())
    }

    pub fn read_all(&self) -> Result<BTreeMap<String, CameraRecord>, ClusterError> {
        let partitions = self.partitions()?;
        if partitions.is_empty() {
            return Err(ClusterError::NoTopic {
                topic: self.topic.clone(),
            });
        }
        let mut client = client_config(&self.kafka.properties, &self.kafka.brokers);
        client
            .set("group.id", "squint-cameras-reader")
            .set("enable.auto.commit", "false")
            // Compaction may have removed a partition's last records: its end is where the
            // broker says it is, not at the high watermark.
            .set("enable.partition.eof", "true");
        let consumer: BaseConsumer<WatchedContext> = client
            .create_with_context(WatchedContext(self.watch.clone()))
            .map_err(|e| self.kafka_error(e))?;
        let mut ends = BTreeMap::new();
        let mut assignment = TopicPartitionList::new();
        for &partition in &partitions {
            let (low, high) = consumer
                .fetch_watermarks(&self.topic, partition, TIMEOUT)
                .map_err(|e| self.kafka_error(e))?;
            if high > low {
                ends.insert(partition, high);
                assignment
                    .add_partition_offset(&self.topic, partition, Offset::Beginning)
                    .map_err(|e| self.kafka_error(e))?;
            }
        }
        let mut cameras = BTreeMap::new();
        if ends.is_empty() {
            return Ok(cameras);
        }
        consumer.assign(&assignment).map_err(|e| self.kafka_error(e))?;
        let deadline = Instant::now() + TIMEOUT;
        while !ends.is_empty() {
            if Instant::now() > deadline {
                return Err(self.kafka_error("timed out reading it to the end"));
            }
            let Some(message) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let message = match message {
                Ok(message) => message,
                Err(rdkafka::error::KafkaError::PartitionEOF(partition)) => {
                    ends.remove(&partition);
                    continue;
                }
                Err(e) => return Err(self.kafka_error(e)),
            };
            let partition = message.partition();
            match decode(message.key(), message.payload()) {
                Ok(CameraChange::Put(camera)) => {
                    let camera = *camera;
                    cameras.insert(camera.id.clone(), CameraRecord { camera, partition });
                }
                Ok(CameraChange::Removed(id)) => {
                    cameras.remove(&id);
                }
                Err(e) => tracing::warn!(partition, offset = message.offset(), "skipped a bad record: {e}"),
            }
            if ends.get(&partition).is_some_and(|&end| message.offset() + 1 >= end) {
                ends.remove(&partition);
            }
        }
        Ok(cameras)
    }
}
