//! Publishing: identity and alert events as versioned JSON on two Kafka topics, keyed by
//! camera id so each camera's events stay in order, through an on-disk spool that keeps
//! them across broker outages and restarts. `kafka.brokers = "embedded"` starts librdkafka's
//! in-process Kafka-protocol cluster for demos; any other value is a real bootstrap list.

mod config;
mod connect;
mod producer;
mod spool;
mod tail;

pub use config::KafkaConfig;
pub use connect::{ConnectionWatch, WatchedContext, client_config, explain_creation, kafka_features};
// The events are the alert stage's output; publishing ships them.
pub(crate) use crate::alert::unix_ms;
pub use crate::alert::{
    EVENT_SCHEMA_VERSION, IdentityEvent, ModelIds, Outgoing, TopicKind, TrackOpinion, UNKNOWN, timestamp,
};
pub use producer::{DeliveryStats, EmbeddedBroker, Publisher, TopicSpec, create_topic};
pub use spool::{Spool, SpoolConfig, SpoolError, SpoolRecord, SpoolStats, WhenFull};
pub use tail::{TailOptions, tail, tail_raw};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("kafka ({brokers}): {message}")]
    Kafka { brokers: String, message: String },
    #[error(
        "embedded broker address file {path}: {message}; is `squint run` with kafka.brokers = \"embedded\" running?"
    )]
    AddressFile { path: std::path::PathBuf, message: String },
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("event could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}
