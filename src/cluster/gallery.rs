//! One gallery for the site (`[cluster] gallery_topic`): enrolments, removals, negatives and
//! watchlist changes are published to a compacted topic (key = identity, value = its
//! templates with their embedding space); every worker materialises it into its own SQLite
//! gallery, whose hot reload then picks the change up.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::consumer::BaseConsumer;
use serde::{Deserialize, Serialize};

use super::topic::{CompactedTopic, RawRecord};
use super::{ClusterConfig, ClusterError};
use crate::gallery::{ExportedIdentity, Gallery};
use crate::publish::{KafkaConfig, WatchedContext};

/// Version of the gallery topic's record; bumped on any incompatible change.
pub const GALLERY_RECORD_VERSION: u32 = 1;

/// One identity as the gallery topic holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GalleryRecord {
    pub schema_version: u32,
    /// The recognizer space its embeddings belong to (the model card's `embedding_space`).
    pub embedding_space: String,
    pub identity: ExportedIdentity,
}

fn topic(kafka: &KafkaConfig, cluster: &ClusterConfig) -> Option<CompactedTopic> {
    let name = cluster.gallery_topic.as_deref()?;
    // One partition: a gallery is small, and one partition keeps every change in order.
    Some(CompactedTopic::new(kafka, name, 1))
}

/// Publishes the current state of `names` in `gallery` (a tombstone for one that is gone).
/// Without a gallery topic, nothing is published and `Ok(false)` is returned.
pub fn publish_identities(
    kafka: &KafkaConfig,
    cluster: &ClusterConfig,
    gallery: &Gallery,
    names: &[String],
) -> Result<bool, ClusterError> {
    let Some(topic) = topic(kafka, cluster) else {
        return Ok(false);
    };
    let space = gallery.embedding_space()?.unwrap_or_default();
    let mut records = Vec::new();
    for name in names {
        let value = match gallery.export_identity(name)? {
            Some(identity) => {
                let record = GalleryRecord {
                    schema_version: GALLERY_RECORD_VERSION,
                    embedding_space: space.clone(),
                    identity,
                };
                Some(serde_json::to_vec(&record).map_err(|e| topic.kafka_error(e))?)
            }
            None => None,
        };
        records.push((name.clone(), value));
    }
    topic.write(&records)?;
    Ok(true)
}

enum Change {
    Put(Box<GalleryRecord>),
    Removed(String),
}

fn decode(record: &RawRecord) -> Result<Change, String> {
    let key = record
        .key
        .as_deref()
        .and_then(|k| std::str::from_utf8(k).ok())
        .ok_or("the record has no UTF-8 key (the identity)")?;
    let Some(payload) = &record.payload else {
        return Ok(Change::Removed(key.to_string()));
    };
    let parsed: GalleryRecord =
        serde_json::from_slice(payload).map_err(|e| format!("identity `{key}`: not a gallery record: {e}"))?;
    if parsed.schema_version != GALLERY_RECORD_VERSION {
        return Err(format!(
            "identity `{key}`: record version {} (this Squint reads {GALLERY_RECORD_VERSION}); upgrade it",
            parsed.schema_version
        ));
    }
    if parsed.identity.name != key {
        return Err(format!("identity `{key}`: the record holds `{}`", parsed.identity.name));
    }
    Ok(Change::Put(Box::new(parsed)))
}

/// Keeps this worker's gallery file equal to the site's gallery topic.
pub struct GallerySync {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct Applier {
    gallery: Gallery,
    space: String,
    topic: String,
}

impl Applier {
    fn apply(&mut self, change: Change) -> Result<(), ClusterError> {
        let gallery = &mut self.gallery;
        match change {
            Change::Put(record) => {
                if record.embedding_space != self.space {
                    return Err(ClusterError::GallerySpace {
                        topic: self.topic.clone(),
                        topic_space: record.embedding_space,
                        space: self.space.clone(),
                    });
                }
                if gallery.replace_identity(&record.identity, &self.space)? {
                    tracing::info!(identity = %record.identity.name, "gallery updated from the gallery topic");
                }
            }
            Change::Removed(name) => {
                if gallery.remove(&name)? {
                    tracing::info!(identity = %name, "identity removed through the gallery topic");
                }
            }
        }
        Ok(())
    }
}

impl GallerySync {
    /// Reads the gallery topic to its end into the gallery at `path` (created if missing),
    /// refusing records of another embedding space than `space`, then follows it.
    /// `None` without a gallery topic.
    pub fn start(
        kafka: &KafkaConfig,
        cluster: &ClusterConfig,
        path: &Path,
        space: &str,
    ) -> Result<Option<GallerySync>, ClusterError> {
        let Some(topic) = topic(kafka, cluster) else {
            return Ok(None);
        };
        topic.ensure()?;
        let gallery = match path.exists() {
            true => Gallery::open(path)?,
            false => Gallery::create(path)?,
        };
        let mut applier = Applier {
            gallery,
            space: space.to_string(),
            topic: topic.name().to_string(),
        };
        let (records, ends) = topic.read_to_end()?;
        for record in &records {
            match decode(record) {
                Ok(change) => applier.apply(change)?,
                Err(e) => tracing::error!(offset = record.offset, "gallery topic: skipped a record: {e}"),
            }
        }
        tracing::info!(topic = %topic.name(), records = records.len(), gallery = %path.display(), "gallery materialised from the gallery topic");
        let consumer = topic.follow_from(&ends)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("gallery-topic".into())
                .spawn(move || follow(&consumer, &mut applier, &stop))
                .map_err(|e| topic.kafka_error(format!("starting its thread: {e}")))?
        };
        Ok(Some(GallerySync {
            stop,
            thread: Some(thread),
        }))
    }
}

fn follow(consumer: &BaseConsumer<WatchedContext>, applier: &mut Applier, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let message = match consumer.poll(Duration::from_millis(100)) {
            None | Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => continue,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "gallery topic");
                continue;
            }
            Some(Ok(message)) => message,
        };
        let record = RawRecord::from_message(&message);
        // A bad record is skipped, not fatal: the pipeline keeps matching with what it has.
        let result = decode(&record)
            .map_err(|e| e.to_string())
            .and_then(|c| applier.apply(c).map_err(|e| e.to_string()));
        if let Err(e) = result {
            tracing::error!(offset = record.offset, "gallery topic: record not applied: {e}");
        }
    }
}

impl Drop for GallerySync {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
