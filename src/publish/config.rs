use std::collections::BTreeMap;

use serde::Deserialize;

use super::SpoolConfig;
use crate::check::{KeyError, check_range};
use crate::redact::{is_secret_key, register_secret, register_url_secrets};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// `host:port[,host:port…]`, or `embedded` for an in-process broker (demo only: its
    /// events live as long as `squint run`).
    pub brokers: String,
    /// Identity events (one per track and interval).
    #[serde(default = "default_topic")]
    pub topic: String,
    /// Alert events (candidate, confirmed, ended, retracted).
    #[serde(default = "default_alert_topic")]
    pub alert_topic: String,
    /// Create the topic at start-up when it does not exist.
    #[serde(default = "default_true")]
    pub create_topic: bool,
    #[serde(default = "default_partitions")]
    pub partitions: i32,
    /// Passed to librdkafka as they are (e.g. `security.protocol`, `sasl.mechanism`,
    /// `sasl.username`, `sasl.password`); secret values are never logged.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Events waiting for the publishing thread. When full, the pipeline waits: events are
    /// never dropped here.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// On-disk spool between the pipeline and Kafka.
    #[serde(default)]
    pub spool: SpoolConfig,
}

fn default_topic() -> String {
    "squint.identity".into()
}
fn default_alert_topic() -> String {
    "squint.alerts".into()
}
fn default_true() -> bool {
    true
}
fn default_partitions() -> i32 {
    3
}
fn default_queue() -> usize {
    1024
}

impl KafkaConfig {
    pub fn is_embedded(&self) -> bool {
        self.brokers == "embedded"
    }

    pub(crate) fn validate(&self) -> Result<(), KeyError> {
        if self.brokers.trim().is_empty() {
            return Err((
                "brokers".into(),
                "must not be empty; use host:port or \"embedded\"".into(),
            ));
        }
        for (key, topic) in [("topic", &self.topic), ("alert_topic", &self.alert_topic)] {
            if topic.trim().is_empty() {
                return Err((key.into(), "must not be empty".into()));
            }
        }
        if self.topic == self.alert_topic {
            return Err(("alert_topic".into(), "must differ from `topic`".into()));
        }
        self.spool.validate()?;
        check_range("partitions", self.partitions, 1, 10_000)?;
        check_range("queue", self.queue, 1, 10_000_000)
    }

    /// Properties as they may appear in logs.
    pub fn redacted_properties(&self) -> BTreeMap<String, String> {
        self.properties
            .iter()
            .map(|(k, v)| {
                let shown = if is_secret_key(k) { "***".to_string() } else { v.clone() };
                (k.clone(), shown)
            })
            .collect()
    }

    /// Registers every secret property value for redaction by value (see [`crate::redact`]).
    pub fn register_secrets(&self) {
        for (key, value) in &self.properties {
            if is_secret_key(key) {
                register_secret(value);
            }
        }
        register_url_secrets(&self.brokers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_for_logs() {
        let config: KafkaConfig = toml::from_str(
            "brokers = \"b:9092\"\n[properties]\n\"sasl.username\" = \"svc\"\n\"sasl.password\" = \"hunter2\"\n",
        )
        .unwrap();
        let shown = format!("{:?}", config.redacted_properties());
        assert!(shown.contains("svc") && !shown.contains("hunter2"), "{shown}");
    }
}
