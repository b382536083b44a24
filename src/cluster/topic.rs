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
    // Before parsing: a parse error quotes the offending line, which may hold a password.
    crate::redact::register_assigned_secrets(&text);
    let mut file: CameraFile = toml::from_str(&text).map_err(|e| bad(redact_credentials(e.to_string().trim_end())))?;
    if file.cameras.is_empty() {
        return Err(bad("no [[cameras]] table in it".into()));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    for camera in &mut file.cameras {
        camera.resolve_paths(base);
    }
    crate::ingest::validate_cameras(&file.cameras, templates, true)
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

/// A record as read from a compacted topic: `None` payload = tombstone.
pub struct RawRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
}

impl RawRecord {
    pub fn from_message(message: &rdkafka::message::BorrowedMessage<'_>) -> RawRecord {
        RawRecord {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
        }
    }
}

/// A compacted topic written and read whole: the cameras topic, the gallery topic.
pub struct CompactedTopic {
    kafka: KafkaConfig,
    topic: String,
    partitions: i32,
    watch: ConnectionWatch,
}

impl CompactedTopic {
    pub fn new(kafka: &KafkaConfig, topic: &str, partitions: i32) -> CompactedTopic {
        CompactedTopic {
            kafka: kafka.clone(),
            topic: topic.to_string(),
            partitions,
            watch: ConnectionWatch::new(&kafka.properties),
        }
    }

    pub fn name(&self) -> &str {
        &self.topic
    }

    pub(super) fn kafka_error(&self, message: impl std::fmt::Display) -> ClusterError {
        ClusterError::Kafka {
            brokers: redact_credentials(&self.kafka.brokers),
            message: self.watch.explain_failure(&format!("topic {}: {message}", self.topic)),
        }
    }

    /// Creates the topic (compacted) unless it exists; an existing topic needs no admin rights.
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

    /// Publishes each (key, value or tombstone) and waits until Kafka has them all.
    pub fn write(&self, records: &[(String, Option<Vec<u8>>)]) -> Result<(), ClusterError> {
        self.ensure()?;
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

    /// The topic's partitions; none when it does not exist.
    fn partitions(&self) -> Result<Vec<i32>, ClusterError> {
        let consumer = self.reader()?;
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

    /// A consumer outside any group (it never commits): every reader sees every record.
    pub(super) fn reader(&self) -> Result<BaseConsumer<WatchedContext>, ClusterError> {
        let mut client = client_config(&self.kafka.properties, &self.kafka.brokers);
        client
            .set("group.id", "squint-compacted-reader")
            .set("enable.auto.commit", "false")
            // Compaction may have removed a partition's last records: its end is where the
            // broker says it is, not at the high watermark.
            .set("enable.partition.eof", "true");
        client
            .create_with_context(WatchedContext(self.watch.clone()))
            .map_err(|e| self.kafka_error(e))
    }

    /// Every record from the start of each partition to its end now, and where each
    /// partition ended (to follow it from there).
    pub fn read_to_end(&self) -> Result<(Vec<RawRecord>, BTreeMap<i32, i64>), ClusterError> {
        let partitions = self.partitions()?;
        if partitions.is_empty() {
            return Err(ClusterError::NoTopic {
                topic: self.topic.clone(),
            });
        }
        let consumer = self.reader()?;
        let mut ends = BTreeMap::new();
        let mut pending = BTreeMap::new();
        let mut assignment = TopicPartitionList::new();
        for &partition in &partitions {
            let (low, high) = consumer
                .fetch_watermarks(&self.topic, partition, TIMEOUT)
                .map_err(|e| self.kafka_error(e))?;
            ends.insert(partition, high);
            if high > low {
                pending.insert(partition, high);
                assignment
                    .add_partition_offset(&self.topic, partition, Offset::Beginning)
                    .map_err(|e| self.kafka_error(e))?;
            }
        }
        let mut records = Vec::new();
        if pending.is_empty() {
            return Ok((records, ends));
        }
        consumer.assign(&assignment).map_err(|e| self.kafka_error(e))?;
        let deadline = Instant::now() + TIMEOUT;
        while !pending.is_empty() {
            if Instant::now() > deadline {
                return Err(self.kafka_error("timed out reading it to the end"));
            }
            let Some(message) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let message = match message {
                Ok(message) => message,
                Err(rdkafka::error::KafkaError::PartitionEOF(partition)) => {
                    pending.remove(&partition);
                    continue;
                }
                Err(e) => return Err(self.kafka_error(e)),
            };
            let partition = message.partition();
            if pending.get(&partition).is_some_and(|&end| message.offset() + 1 >= end) {
                pending.remove(&partition);
            }
            records.push(RawRecord::from_message(&message));
        }
        Ok((records, ends))
    }

    /// A reader positioned at `ends` (from [`CompactedTopic::read_to_end`]), for what comes next.
    pub fn follow_from(&self, ends: &BTreeMap<i32, i64>) -> Result<BaseConsumer<WatchedContext>, ClusterError> {
        let consumer = self.reader()?;
        let mut assignment = TopicPartitionList::new();
        for (&partition, &end) in ends {
            assignment
                .add_partition_offset(&self.topic, partition, Offset::Offset(end))
                .map_err(|e| self.kafka_error(e))?;
        }
        consumer.assign(&assignment).map_err(|e| self.kafka_error(e))?;
        Ok(consumer)
    }
}

/// Writes, removes and reads the site's cameras.
pub struct CamerasTopic(CompactedTopic);

impl CamerasTopic {
    pub fn new(kafka: &KafkaConfig, cluster: &ClusterConfig) -> CamerasTopic {
        CamerasTopic(CompactedTopic::new(kafka, &cluster.cameras_topic, cluster.partitions))
    }

    pub fn ensure(&self) -> Result<(), ClusterError> {
        self.0.ensure()
    }

    pub fn put(&self, cameras: &[CameraConfig]) -> Result<(), ClusterError> {
        let records = cameras
            .iter()
            .map(|camera| Ok((camera.id.clone(), Some(serde_json::to_vec(camera)?))))
            .collect::<Result<Vec<_>, serde_json::Error>>()
            .map_err(|e| self.0.kafka_error(e))?;
        self.0.write(&records)
    }

    /// Tombstones `ids`; an id the topic does not hold is refused (a typo must not pass as done).
    pub fn remove(&self, ids: &[String]) -> Result<(), ClusterError> {
        let present = self.read_all()?;
        if let Some(missing) = ids.iter().find(|id| !present.contains_key(*id)) {
            return Err(ClusterError::NoSuchCamera {
                camera: missing.clone(),
                topic: self.0.name().to_string(),
            });
        }
        let records: Vec<_> = ids.iter().map(|id| (id.clone(), None)).collect();
        self.0.write(&records)
    }

    /// Every camera the topic holds now: the newest record per key.
    pub fn read_all(&self) -> Result<BTreeMap<String, CameraRecord>, ClusterError> {
        let (records, _) = self.0.read_to_end()?;
        let mut cameras = BTreeMap::new();
        for record in records {
            match decode(record.key.as_deref(), record.payload.as_deref()) {
                Ok(CameraChange::Put(camera)) => {
                    let camera = *camera;
                    let partition = record.partition;
                    cameras.insert(camera.id.clone(), CameraRecord { camera, partition });
                }
                Ok(CameraChange::Removed(id)) => {
                    cameras.remove(&id);
                }
                Err(e) => tracing::warn!(
                    partition = record.partition,
                    offset = record.offset,
                    "skipped a bad record: {e}"
                ),
            }
        }
        Ok(cameras)
    }
}
