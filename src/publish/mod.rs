//! Publishing: identity events as versioned JSON on a Kafka topic, keyed by camera id so each
//! camera's events stay in order. `kafka.brokers = "embedded"` starts librdkafka's
//! in-process Kafka-protocol cluster for demos; any other value is a real bootstrap list.

mod config;
mod event;
mod producer;
mod tail;

pub use config::KafkaConfig;
pub use event::{EVENT_SCHEMA_VERSION, IdentityEvent, ModelIds, UNKNOWN};
pub use producer::{DeliveryStats, EmbeddedBroker, Publisher};
pub use tail::{TailOptions, tail};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("kafka ({brokers}): {message}")]
    Kafka { brokers: String, message: String },
    #[error(
        "embedded broker address file {path}: {message}; is `squint run` with kafka.brokers = \"embedded\" running?"
    )]
    AddressFile { path: std::path::PathBuf, message: String },
    #[error("event could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}
