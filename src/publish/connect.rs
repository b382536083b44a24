//! What librdkafka says about the connection itself — TLS handshakes and SASL logins —
//! kept and turned into errors that name the configuration key to fix. librdkafka reports
//! these only through its error callback; the request that failed just times out.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::redact::redact_credentials;

/// The last TLS or authentication failure any client sharing it saw.
#[derive(Debug, Clone)]
pub struct ConnectionWatch {
    last: Arc<Mutex<Option<String>>>,
    properties: Arc<BTreeMap<String, String>>,
}

impl ConnectionWatch {
    pub fn new(properties: &BTreeMap<String, String>) -> ConnectionWatch {
        ConnectionWatch {
            last: Arc::default(),
            properties: Arc::new(properties.clone()),
        }
    }

    /// librdkafka's error callback: a TLS or login failure is kept and logged with its fix;
    /// anything else (a broker going away) is logged as it is, since the client retries it.
    pub fn on_client_error(&self, error: &KafkaError, reason: &str) {
        // The end of a partition is news only to a reader that asked for it (and it did).
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::PartitionEOF) {
            return;
        }
        if !is_connection_failure(error) {
            tracing::warn!(error = %redact_credentials(&error.to_string()), reason = %redact_credentials(reason), "kafka client");
            return;
        }
        let tls = error.rdkafka_error_code() == Some(RDKafkaErrorCode::SSL);
        let explained = explain(reason, tls, &self.properties);
        tracing::error!(error = %explained, "kafka connection refused");
        if let Ok(mut last) = self.last.lock() {
            *last = Some(explained);
        }
    }

    /// `message`, with the TLS or SASL failure behind it when there was one: a timed-out
    /// request says nothing of the handshake that made it time out.
    pub fn explain_failure(&self, message: &str) -> String {
        let last = self.last.lock().ok().and_then(|last| last.clone());
        match last {
            Some(cause) => format!("{message}: {cause}"),
            None => redact_credentials(message),
        }
    }
}

/// A client context that reports connection failures to a [`ConnectionWatch`].
#[derive(Clone)]
pub struct WatchedContext(pub ConnectionWatch);

impl ClientContext for WatchedContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0.on_client_error(&error, reason);
    }
}

impl rdkafka::consumer::ConsumerContext for WatchedContext {}

/// A librdkafka client configuration: the user's `[kafka.properties]`, then the bootstrap list.
pub fn client_config(properties: &BTreeMap<String, String>, brokers: &str) -> rdkafka::ClientConfig {
    let mut client = rdkafka::ClientConfig::new();
    for (key, value) in properties {
        client.set(key, value);
    }
    client.set("bootstrap.servers", brokers);
    client
}

/// librdkafka's reason a client could not be created, redacted, with the passphrase key to
/// check when a key or keystore would not open (librdkafka names only the file).
pub fn explain_creation(message: &str, properties: &BTreeMap<String, String>) -> String {
    let message = redact_credentials(message);
    let has = |key: &str| properties.contains_key(key);
    if message.contains("ssl.key.location failed") && has("ssl.key.password") {
        format!("{message}; is kafka.properties.ssl.key.password the passphrase of that key?")
    } else if message.contains("ssl.keystore.location") && has("ssl.keystore.password") {
        format!("{message}; is kafka.properties.ssl.keystore.password the keystore's password?")
    } else {
        message
    }
}

/// librdkafka's `builtin.features` (e.g. `ssl`, `sasl_scram`, `zstd`): what this build can
/// speak.
pub fn kafka_features() -> Vec<String> {
    rdkafka::ClientConfig::new()
        .create_native_config()
        .and_then(|native| native.get("builtin.features"))
        .map(|features| features.split(',').map(|f| f.trim().to_string()).collect())
        .unwrap_or_default()
}

fn is_connection_failure(error: &KafkaError) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        error.rdkafka_error_code(),
        Some(SSL | Authentication | SaslAuthenticationFailed | UnsupportedSASLMechanism | IllegalSASLState)
    )
}

/// librdkafka's reason, redacted, followed by which keys to check: TLS ones when the
/// handshake failed (`tls`), login ones otherwise.
pub fn explain(reason: &str, tls: bool, properties: &BTreeMap<String, String>) -> String {
    let reason = redact_credentials(reason);
    let lower = reason.to_ascii_lowercase();
    let shown = |key: &str| match properties.get(key) {
        Some(value) => format!("kafka.properties.{key} (now `{}`)", redact_credentials(value)),
        None => format!("kafka.properties.{key} (not set)"),
    };
    let hint = if !tls && lower.contains("oauthbearer") {
        format!(
            "no OAUTHBEARER token: check {}, kafka.properties.sasl.oauthbearer.client.id and \
             kafka.properties.sasl.oauthbearer.client.secret",
            shown("sasl.oauthbearer.token.endpoint.url")
        )
    } else if !tls {
        format!(
            "the broker refused the login: check {}, kafka.properties.sasl.username and \
             kafka.properties.sasl.password",
            shown("sasl.mechanism")
        )
    } else if lower.contains("certificate verify failed") || lower.contains("could not be verified") {
        format!(
            "the broker's certificate is not signed by a CA Squint trusts: set {} to the CA that \
             signed it (PEM), or check that the broker presents the certificate you expect",
            shown("ssl.ca.location")
        )
    } else if lower.contains("hostname") || lower.contains("ip address mismatch") {
        "the broker's certificate does not name the host in kafka.brokers: connect by a name the \
         certificate lists, or (testing only) set kafka.properties.ssl.endpoint.identification.algorithm = \"none\""
            .to_string()
    } else {
        format!(
            "TLS failed: check kafka.properties.security.protocol (SSL or SASL_SSL only when the \
             listener speaks TLS), {} and, for client certificates, kafka.properties.ssl.certificate.location / \
             ssl.key.location",
            shown("ssl.ca.location")
        )
    };
    format!("{reason}; {hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn properties(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn an_unverified_certificate_names_the_ca_key_and_file() {
        let reason = "ssl://127.0.0.1:9093/bootstrap: SSL handshake failed: error:0A000086:SSL routines::\
                      certificate verify failed: broker certificate could not be verified";
        let explained = explain(reason, true, &properties(&[("ssl.ca.location", "/etc/kafka/ca.pem")]));
        assert!(
            explained.contains("kafka.properties.ssl.ca.location (now `/etc/kafka/ca.pem`)"),
            "{explained}"
        );
    }

    #[test]
    fn a_refused_login_names_the_sasl_keys_without_the_password() {
        crate::redact::register_secret("NotShownPass");
        let explained = explain(
            "sasl_ssl://h:9093/bootstrap: SASL authentication error: Authentication failed (NotShownPass)",
            false,
            &properties(&[("sasl.mechanism", "SCRAM-SHA-512"), ("sasl.password", "NotShownPass")]),
        );
        assert!(
            explained.contains("kafka.properties.sasl.mechanism (now `SCRAM-SHA-512`)"),
            "{explained}"
        );
        assert!(
            explained.contains("sasl.password") && !explained.contains("NotShownPass"),
            "{explained}"
        );
    }
}
