//! Production Kafka security against the real test broker: tansu behind a TLS listener
//! (stunnel, with a CA and certificate made at test time) that requires SASL/SCRAM-SHA-512
//! login. Events go out through Squint's publisher and come back through `squint tail`'s
//! reader, both over TLS.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use squint::publish::{IdentityEvent, KafkaConfig, Outgoing, PublishError, Publisher, TailOptions, tail};
use squint::testing;

const USER: &str = "squint-test";
const PASSWORD: &str = "Scr4m/pa ss#word";

/// A TLS + SCRAM broker of this test's own, stopped however the test ends.
struct TlsBroker {
    dir: tempfile::TempDir,
    address: String,
}

impl TlsBroker {
    fn start() -> TlsBroker {
        let dir = tempfile::tempdir().unwrap();
        let output = std::process::Command::new(testing::repo().join("scripts/broker.sh"))
            .args(["start-tls", dir.path().to_str().unwrap(), USER, PASSWORD])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "broker.sh start-tls: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let address = String::from_utf8_lossy(&output.stdout).trim().to_string();
        TlsBroker { dir, address }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// What a user writes in `[kafka.properties]` for this broker.
    fn properties(&self, ca: &Path, password: &str) -> BTreeMap<String, String> {
        [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", USER),
            ("sasl.password", password),
            ("ssl.ca.location", ca.to_str().unwrap()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

impl Drop for TlsBroker {
    fn drop(&mut self) {
        let _ = std::process::Command::new(testing::repo().join("scripts/broker.sh"))
            .args(["stop", self.dir.path().to_str().unwrap()])
            .output();
    }
}

fn kafka_config(broker: &TlsBroker, topic: &str, properties: BTreeMap<String, String>) -> KafkaConfig {
    let mut config: KafkaConfig = toml::from_str(&format!(
        "brokers = \"{}\"\ntopic = \"{topic}\"\nalert_topic = \"{topic}.alerts\"\npartitions = 1\n",
        broker.address
    ))
    .unwrap();
    config.properties = properties;
    config
}

fn start_publisher(config: &KafkaConfig) -> Result<Publisher, PublishError> {
    let spool = tempfile::tempdir().unwrap().keep();
    Publisher::start(config, &config.brokers, &spool)
}

fn read_back(
    broker: &TlsBroker,
    topic: &str,
    properties: BTreeMap<String, String>,
) -> Result<Vec<IdentityEvent>, PublishError> {
    let options = TailOptions {
        brokers: Some(broker.address.clone()),
        address_file: Default::default(),
        topic: topic.into(),
        properties,
        from_beginning: true,
        max_events: Some(20),
        idle: Duration::from_secs(5),
        timeout: Duration::from_secs(30),
    };
    let mut events = Vec::new();
    tail(&options, |e| events.push(e.unwrap()))?;
    Ok(events)
}

#[test]
fn events_are_produced_and_read_back_over_tls_with_scram() {
    let broker = TlsBroker::start();
    let topic = format!("squint.tls.{}", uuid::Uuid::new_v4());
    let properties = broker.properties(&broker.file("ca.pem"), PASSWORD);
    let publisher = start_publisher(&kafka_config(&broker, &topic, properties.clone())).unwrap();
    let delivered = publisher.stats.clone();
    let (tx, rx) = crossbeam_channel::bounded(32);
    let running = std::thread::spawn(move || publisher.run(rx));
    for seq in 0..20 {
        tx.send(Outgoing::Identity(Box::new(testing::identity_event("gate", seq))))
            .unwrap();
    }
    drop(tx);
    running.join().unwrap();
    assert_eq!(delivered.delivered.load(std::sync::atomic::Ordering::Relaxed), 20);

    let events = read_back(&broker, &topic, properties).unwrap();
    let seqs: BTreeSet<u64> = events.iter().map(|e| e.frame_seq).collect();
    assert_eq!(events.len(), 20, "every event comes back over TLS");
    assert_eq!(seqs.len(), 20, "each once");

    // The listener really is TLS with a login: a plaintext client gets nothing.
    let plain = read_back(&broker, &topic, BTreeMap::new());
    assert!(plain.is_err(), "plaintext read must fail: {plain:?}");
}

#[test]
fn a_certificate_from_another_ca_is_an_error_naming_ssl_ca_location() {
    let broker = TlsBroker::start();
    let wrong_ca = broker.file("other-ca.pem");
    let config = kafka_config(&broker, "squint.tls.wrong-ca", broker.properties(&wrong_ca, PASSWORD));
    let error = start_publisher(&config)
        .err()
        .expect("an untrusted broker certificate must stop start-up")
        .to_string();
    assert!(error.contains("kafka.properties.ssl.ca.location"), "{error}");
    assert!(error.contains("other-ca.pem"), "names the file in use: {error}");
    assert!(!error.contains(PASSWORD), "{error}");
}

#[test]
fn a_wrong_scram_password_names_the_login_keys_and_never_the_password() {
    let broker = TlsBroker::start();
    let wrong = "Wr0ngScramPassXYZ";
    let config = kafka_config(
        &broker,
        "squint.tls.wrong-password",
        broker.properties(&broker.file("ca.pem"), wrong),
    );
    let error = start_publisher(&config)
        .err()
        .expect("a refused login must stop start-up")
        .to_string();
    assert!(
        error.contains("kafka.properties.sasl.password") && error.contains("SCRAM-SHA-512"),
        "{error}"
    );
    assert!(!error.contains(wrong), "{error}");
}

#[test]
fn the_build_speaks_tls_scram_oauthbearer_gssapi_and_every_codec() {
    // tansu cannot test OAUTHBEARER or Kerberos; the build must at least carry them.
    let features = squint::publish::kafka_features();
    for wanted in [
        "ssl",
        "sasl_scram",
        "sasl_plain",
        "sasl_oauthbearer",
        "oidc",
        "sasl_gssapi",
        "gzip",
        "snappy",
        "lz4",
        "zstd",
    ] {
        assert!(
            features.iter().any(|f| f == wanted),
            "librdkafka built without {wanted}: {features:?}"
        );
    }
}
