//! Fault injection with librdkafka's mock cluster: the broker goes down and answers with
//! retriable errors while events keep coming; every event still arrives exactly once and in
//! order. (The real-broker outage test is in tests/alerts.rs.)

use std::time::Duration;

use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use squint::publish::{IdentityEvent, KafkaConfig, Outgoing, Publisher, TailOptions, tail};
use squint::testing;

fn send(events: &crossbeam_channel::Sender<Outgoing>, camera: &str, seqs: std::ops::Range<u64>) {
    for seq in seqs {
        let event = testing::identity_event(camera, seq);
        events.send(Outgoing::Identity(Box::new(event))).unwrap();
    }
}

#[test]
fn producer_recovers_from_broker_down_and_request_errors_without_loss() {
    let cluster = MockCluster::new(1).unwrap();
    let config: KafkaConfig = toml::from_str(
        "brokers = \"mock\"\ntopic = \"faults.identity\"\nalert_topic = \"faults.alerts\"\ncreate_topic = false\npartitions = 2\n",
    )
    .unwrap();
    for topic in ["faults.identity", "faults.alerts"] {
        cluster.create_topic(topic, 2, 1).unwrap();
    }
    let brokers = cluster.bootstrap_servers();
    let spool = tempfile::tempdir().unwrap();
    let publisher = Publisher::start(&config, &brokers, spool.path()).unwrap();
    let (delivery, spooled) = (publisher.stats.clone(), publisher.spool_stats());
    let (tx, rx) = crossbeam_channel::bounded(16);
    let running = std::thread::spawn(move || publisher.run(rx));

    send(&tx, "a", 0..40);
    std::thread::sleep(Duration::from_millis(500));
    cluster.broker_down(1).unwrap();
    send(&tx, "a", 40..80);
    send(&tx, "b", 0..40);
    std::thread::sleep(Duration::from_secs(2));
    let waiting = spooled.pending.load(std::sync::atomic::Ordering::Relaxed);
    assert!(waiting > 0, "events wait in the spool while the broker is down");
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS; 4],
    );
    cluster.broker_up(1).unwrap();
    send(&tx, "b", 40..60);
    drop(tx);
    running.join().unwrap();

    let relaxed = std::sync::atomic::Ordering::Relaxed;
    assert_eq!(delivery.failed.load(relaxed), 0);
    assert_eq!(spooled.pending.load(relaxed), 0, "everything acknowledged");
    let options = TailOptions {
        brokers: Some(brokers),
        address_file: Default::default(),
        topic: "faults.identity".into(),
        properties: Default::default(),
        from_beginning: true,
        max_events: Some(200),
        idle: Duration::from_secs(3),
        timeout: Duration::from_secs(30),
    };
    let mut events: Vec<IdentityEvent> = Vec::new();
    tail(&options, |e| events.push(e.unwrap())).unwrap();
    assert_eq!(events.len(), 140, "exactly once: none lost, none doubled");
    for camera in ["a", "b"] {
        let seqs: Vec<u64> = events
            .iter()
            .filter(|e| e.camera_id == camera)
            .map(|e| e.frame_seq)
            .collect();
        let expected: Vec<u64> = (0..if camera == "a" { 80 } else { 60 }).collect();
        assert_eq!(seqs, expected, "camera {camera} in order");
    }
}
