use std::path::PathBuf;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::connect::{ConnectionWatch, WatchedContext, client_config};
use super::{IdentityEvent, PublishError};
use crate::redact::redact_credentials;

pub struct TailOptions {
    /// Bootstrap servers, or `None` to read the embedded broker's address file.
    pub brokers: Option<String>,
    pub address_file: PathBuf,
    pub topic: String,
    /// librdkafka properties (TLS, SASL), as in `[kafka.properties]`.
    pub properties: std::collections::BTreeMap<String, String>,
    pub from_beginning: bool,
    /// Stop after this many events.
    pub max_events: Option<usize>,
    /// Stop when nothing arrived for this long (after the first event).
    pub idle: Duration,
    /// Stop after this long in any case.
    pub timeout: Duration,
}

/// Reads identity events and hands each to `on_event`; returns how many were read.
pub fn tail(
    options: &TailOptions,
    mut on_event: impl FnMut(Result<IdentityEvent, String>),
) -> Result<usize, PublishError> {
    tail_raw(options, |message| {
        on_event(message.and_then(|(_, payload)| {
            serde_json::from_slice::<IdentityEvent>(payload).map_err(|e| format!("not an identity event: {e}"))
        }))
    })
}

/// Reads messages and hands each key and payload to `on_message`, in partition order;
/// returns how many were read. Partitions are assigned directly (no consumer group) so
/// reading starts at once.
pub fn tail_raw(
    options: &TailOptions,
    mut on_message: impl FnMut(Result<(&str, &[u8]), String>),
) -> Result<usize, PublishError> {
    let started = Instant::now();
    let brokers = resolve_brokers(options, started)?;
    let watch = ConnectionWatch::new(&options.properties);
    let kafka_error = |e: rdkafka::error::KafkaError| PublishError::Kafka {
        brokers: redact_credentials(&brokers),
        message: watch.explain_failure(&e.to_string()),
    };
    let consumer: BaseConsumer<WatchedContext> = client_config(&options.properties, &brokers)
        .set("group.id", "squint-tail")
        .set("enable.auto.commit", "false")
        .create_with_context(WatchedContext(watch.clone()))
        .map_err(kafka_error)?;
    let metadata = consumer
        .fetch_metadata(Some(&options.topic), Duration::from_secs(10))
        .map_err(kafka_error)?;
    let mut assignment = TopicPartitionList::new();
    let start = if options.from_beginning {
        Offset::Beginning
    } else {
        Offset::End
    };
    for topic in metadata.topics() {
        for partition in topic.partitions() {
            assignment
                .add_partition_offset(topic.name(), partition.id(), start)
                .map_err(kafka_error)?;
        }
    }
    if assignment.count() == 0 {
        return Err(PublishError::Kafka {
            brokers,
            message: format!("topic {} has no partitions (does it exist?)", options.topic),
        });
    }
    consumer.assign(&assignment).map_err(kafka_error)?;
    let mut count = 0;
    let mut last = Instant::now();
    let mut consecutive_errors = 0;
    while started.elapsed() < options.timeout && options.max_events.is_none_or(|max| count < max) {
        if count > 0 && last.elapsed() > options.idle {
            break;
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                consecutive_errors = 0;
                count += 1;
                last = Instant::now();
                let key = message.key().and_then(|k| std::str::from_utf8(k).ok()).unwrap_or("");
                on_message(
                    message
                        .payload()
                        .map(|p| (key, p))
                        .ok_or_else(|| "empty message".to_string()),
                );
            }
            Some(Err(e)) => {
                consecutive_errors += 1;
                // An embedded broker goes away with its `squint run`: stop rather than retry.
                if options.brokers.is_none() && count > 0 && consecutive_errors >= 2 {
                    tracing::info!("embedded broker closed");
                    break;
                }
                tracing::warn!(error = %redact_credentials(&e.to_string()), "consumer error");
            }
            None => {}
        }
    }
    Ok(count)
}

/// The embedded broker writes its address once it is up; wait for it within the timeout.
fn resolve_brokers(options: &TailOptions, started: Instant) -> Result<String, PublishError> {
    if let Some(brokers) = &options.brokers {
        return Ok(brokers.clone());
    }
    loop {
        match std::fs::read_to_string(&options.address_file) {
            Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_string()),
            Ok(_) | Err(_) if started.elapsed() < options.timeout => std::thread::sleep(Duration::from_millis(200)),
            Ok(_) => {
                return Err(PublishError::AddressFile {
                    path: options.address_file.clone(),
                    message: "empty".into(),
                });
            }
            Err(e) => {
                return Err(PublishError::AddressFile {
                    path: options.address_file.clone(),
                    message: e.to_string(),
                });
            }
        }
    }
}
