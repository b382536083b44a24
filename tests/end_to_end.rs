//! A generated scene served over RTSP → the whole pipeline → the real test broker (tansu,
//! started by scripts/test.sh) → events read back over the Kafka protocol and scored
//! against the scene's ground truth.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use squint::config::Config;
use squint::detect::{DetectConfig, Detector};
use squint::gallery::{Enroller, Gallery};
use squint::pipeline::Pipeline;
use squint::publish::{IdentityEvent, TailOptions, UNKNOWN, tail};
use squint::recognize::Recognizer;
use squint::scenario::{GroundTruth, Person, ScenarioSpec, generate};
use squint::serve::RtspServer;
use squint::testing;

fn test_broker() -> String {
    std::env::var("SQUINT_TEST_KAFKA")
        .expect("SQUINT_TEST_KAFKA is not set: run the suite with scripts/test.sh, which starts the test broker")
}

fn person(name: &str, photo: &str) -> Person {
    Person {
        name: name.into(),
        photo: testing::photo(photo),
    }
}

fn make_scene(dir: &Path) -> GroundTruth {
    let spec = ScenarioSpec {
        background: testing::background_video(),
        people: vec![
            person("obama", "obama.jpg"),
            person("biden", "biden.jpg"),
            person("grace", "grace_hopper.jpg"),
            person("eileen", "astronaut.png"),
        ],
        out_dir: dir.to_path_buf(),
        frames: 120,
        min_face_px: 32.0,
        max_face_px: 48.0,
        appearances_per_person: 2,
        seed: 11,
        fps: None,
        size: None,
    };
    let config = DetectConfig {
        score_threshold: 0.7,
        ..DetectConfig::default()
    };
    let mut detector = Detector::load(&testing::detector_card(), testing::ort_library().as_deref(), &config).unwrap();
    generate(&spec, &mut detector).unwrap()
}

/// Enrolls from photos other than the scene's where there are any; eileen stays unknown.
fn enroll(gallery_path: &Path) {
    let ort = testing::ort_library();
    let detector = Detector::load(&testing::detector_card(), ort.as_deref(), &DetectConfig::default()).unwrap();
    let recognizer = Recognizer::load(&testing::recognizer_card(), ort.as_deref(), 2).unwrap();
    let mut enroller = Enroller { detector, recognizer };
    let mut gallery = Gallery::open(gallery_path).unwrap();
    for (name, photo) in [
        ("obama", "obama2.jpg"),
        ("obama", "obama3.jpg"),
        ("biden", "biden.jpg"),
        ("grace", "grace_hopper.jpg"),
    ] {
        enroller.enroll(&mut gallery, name, &testing::photo(photo)).unwrap();
    }
}

fn config(dir: &Path, camera_url: &str, topic: &str) -> Config {
    let text = format!(
        r#"{base}[detect]
min_face_px = 20
[gallery]
path = "{dir}/gallery.db"
[kafka]
brokers = "{broker}"
topic = "{topic}"
partitions = 1
[[cameras]]
id = "street"
url = "{camera_url}"
"#,
        base = testing::base_config(dir),
        dir = dir.display(),
        broker = test_broker(),
    );
    Config::parse(&text, &dir.join("test.toml")).unwrap()
}

fn read_events(topic: &str) -> Vec<IdentityEvent> {
    let options = TailOptions {
        brokers: Some(test_broker()),
        address_file: Default::default(),
        topic: topic.into(),
        from_beginning: true,
        max_events: None,
        idle: Duration::from_secs(5),
        timeout: Duration::from_secs(60),
    };
    let mut events = Vec::new();
    tail(&options, |e| {
        events.push(e.expect("every message is an identity event"))
    })
    .unwrap();
    events
}

/// Identities whose ground-truth face overlaps `event`'s box in some frame.
fn overlapping_identities(truth: &GroundTruth, event: &IdentityEvent) -> BTreeSet<String> {
    truth
        .appearances
        .iter()
        .filter(|a| (a.first_frame..=a.last_frame).any(|f| a.box_at(f).is_some_and(|b| b.iou(&event.bbox) >= 0.4)))
        .map(|a| a.identity.clone())
        .collect()
}

#[test]
fn scene_over_rtsp_reaches_kafka_with_the_right_names() {
    let dir = tempfile::tempdir().unwrap();
    let truth = make_scene(dir.path());
    enroll(&dir.path().join("gallery.db"));
    let server = RtspServer::start(&dir.path().join("scene.mp4"), 0, "/scene").unwrap();
    let url = format!("rtsp://viewer:s3cret-pw@127.0.0.1:{}/scene", server.port);
    let topic = format!("squint.e2e.{}", uuid::Uuid::new_v4());
    let config = config(dir.path(), &url, &topic);

    let pipeline = Pipeline::start(&config).unwrap();
    // One and a half loops of the scene.
    let seconds = truth.frames as f64 / truth.fps * 1.5;
    pipeline.wait(
        &AtomicBool::new(false),
        Some(Duration::from_secs_f64(seconds)),
        Duration::from_secs(5),
    );
    let (stats, health) = pipeline.shutdown();
    drop(server);

    assert!(stats.frames > 50, "frames processed: {stats:?}");
    assert_eq!(stats.delivery_failed, 0, "{stats:?}");
    for camera in &health {
        assert!(
            !format!("{camera:?}").contains("s3cret-pw"),
            "health leaks the password: {camera:?}"
        );
    }

    let events = read_events(&topic);
    assert_eq!(
        events.len() as u64,
        stats.delivered,
        "every delivered event is read back"
    );
    let enrolled = ["obama", "biden", "grace"];
    let mut wrong = Vec::new();
    for event in &events {
        assert_eq!(event.camera_id, "street");
        assert!(event.face_width_px > 0.0 && event.match_threshold > 0.0 && !event.track_id.is_empty());
        if event.identity != UNKNOWN && !overlapping_identities(&truth, event).contains(&event.identity) {
            wrong.push(format!(
                "{} at {:?} sim {:?}",
                event.identity, event.bbox, event.similarity
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "events naming a wrong person above the threshold: {wrong:#?}"
    );

    let appearances: Vec<_> = truth
        .appearances
        .iter()
        .filter(|a| enrolled.contains(&a.identity.as_str()) && a.min_width() >= 32.0)
        .collect();
    let recognized = appearances
        .iter()
        .filter(|a| {
            events.iter().any(|e| {
                e.identity == a.identity
                    && (a.first_frame..=a.last_frame).any(|f| a.box_at(f).is_some_and(|b| b.iou(&e.bbox) >= 0.4))
            })
        })
        .count();
    assert!(
        appearances.len() >= 5,
        "scene has {} enrolled appearances",
        appearances.len()
    );
    assert!(
        recognized * 100 >= appearances.len() * 80,
        "recognized {recognized} of {} appearances at >= 32 px",
        appearances.len()
    );
    let eileen_named = events.iter().filter(|e| e.identity == "eileen").count();
    assert_eq!(eileen_named, 0, "a person not in the gallery is never named");
}
