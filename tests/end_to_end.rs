//! Generated scenes → the whole pipeline → the real test broker (tansu, started by
//! scripts/test.sh, or by a test itself when it needs to kill it) → events read back over
//! the Kafka protocol, validated against their JSON Schemas and scored against the scenes'
//! ground truth.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use squint::alert::{AlertEvent, AlertStage};
use squint::config::Config;
use squint::pipeline::Pipeline;
use squint::publish::{IdentityEvent, UNKNOWN};
use squint::scenario::GroundTruth;
use squint::serve::RtspServer;
use squint::testing;

mod common;
use common::scene::{enroll_photos, generate_scene, person, read_json};

/// These tests are each sized for the whole machine (live cameras, time-based runs); they
/// take turns rather than starve each other.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn test_broker() -> String {
    std::env::var("SQUINT_TEST_KAFKA")
        .expect("SQUINT_TEST_KAFKA is not set: run the suite with scripts/test.sh, which starts the test broker")
}

fn make_scene(dir: &Path) -> GroundTruth {
    let people = vec![
        person("obama", "obama.jpg"),
        person("biden", "biden.jpg"),
        person("grace", "grace_hopper.jpg"),
        person("eileen", "astronaut.png"),
    ];
    generate_scene(dir, people, 120, (32.0, 48.0), 2, 11)
}

/// Enrolls from photos other than the scene's where there are any; eileen stays unknown.
fn enroll(gallery_path: &Path) {
    enroll_photos(
        gallery_path,
        &[
            ("obama", "obama2.jpg"),
            ("obama", "obama3.jpg"),
            ("biden", "biden.jpg"),
            ("grace", "grace_hopper.jpg"),
        ],
    );
}

fn config(dir: &Path, camera_url: &str, topic: &str) -> Config {
    config_with(
        dir,
        &test_broker(),
        topic,
        "min_face_px = 20",
        &camera(camera_url, "street", ""),
    )
}

fn camera(url: &str, id: &str, extra: &str) -> String {
    format!("[[cameras]]\nid = \"{id}\"\nurl = \"{url}\"\n{extra}\n")
}

fn config_with(dir: &Path, broker: &str, topic: &str, detect: &str, cameras: &str) -> Config {
    let text = format!(
        r#"{base}[detect]
{detect}
[gallery]
path = "{dir}/gallery.db"
[kafka]
brokers = "{broker}"
topic = "{topic}"
alert_topic = "{topic}.alerts"
partitions = 2
[kafka.properties]
"batch.num.messages" = "1"
{cameras}"#,
        base = testing::base_config(dir),
        dir = dir.display(),
    );
    Config::parse(&text, &dir.join("test.toml")).unwrap()
}

fn read_events(topic: &str) -> Vec<IdentityEvent> {
    read_events_from(&test_broker(), topic)
}

fn read_alerts(broker: &str, topic: &str) -> Vec<AlertEvent> {
    read_json(broker, topic, "alert-event.v2.json")
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect()
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
    let _turn = take_turn();
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
    let alerts = read_alerts(&test_broker(), &format!("{topic}.alerts"));
    assert_eq!(
        (events.len() + alerts.len()) as u64,
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

/// Plays `scene` from its file (every frame, no drops) through the pipeline to `broker`.
fn run_file(config: &Config) -> squint::pipeline::StatsSnapshot {
    let pipeline = Pipeline::start(config).unwrap();
    pipeline.wait(
        &AtomicBool::new(false),
        Some(Duration::from_secs(120)),
        Duration::from_secs(5),
    );
    let (stats, _) = pipeline.shutdown();
    stats
}

#[test]
fn enrolled_person_at_16_to_24_px_raises_candidate_confirmed_ended_and_a_stranger_nothing() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let people = vec![person("obama", "obama.jpg"), person("eileen", "astronaut.png")];
    let truth = generate_scene(dir.path(), people, 150, (16.0, 24.0), 1, 5);
    enroll(&dir.path().join("gallery.db"));
    let topic = format!("squint.alerts-test.{}", uuid::Uuid::new_v4());
    let scene = dir.path().join("scene.mp4");
    let config = config_with(
        dir.path(),
        &test_broker(),
        &topic,
        "min_face_px = 12",
        &camera(&scene.display().to_string(), "street", ""),
    );
    let mut config = config;
    config.alerts.thumbnails.dir = Some(dir.path().join("thumbnails"));
    // Two recognizer workers: a track's faces and its end still arrive in order.
    config.recognize.workers = 2;
    // A landmark refiner on every face (an untrained one aligns as the detector does, so
    // the alerts below hold only if its points are mapped back into the frame correctly).
    config.align.refiner = Some(squint::refiner::write_untrained(&dir.path().join("refiner"), 32).unwrap());
    config.align.refine_below_px = 40.0;
    let stats = run_file(&config);
    assert_eq!(stats.spool_pending, 0, "{stats:?}");
    assert!(
        stats.faces_refined > 0 && stats.faces_refined >= stats.embedded && stats.refine_ms_per_face > 0.0,
        "{stats:?}"
    );

    let alerts = read_alerts(&test_broker(), &format!("{topic}.alerts"));
    let events = read_events(&topic);
    assert_eq!((alerts.len() as u64, events.len() as u64), (stats.alerts, stats.events));
    let obama = truth.appearances.iter().find(|a| a.identity == "obama").unwrap();
    let on_obama = |bbox: &squint::types::BBox| {
        (obama.first_frame..=obama.last_frame).any(|f| obama.box_at(f).is_some_and(|b| b.iou(bbox) >= 0.3))
    };
    let stages: Vec<(AlertStage, &str)> = alerts.iter().map(|a| (a.stage, a.identity.as_str())).collect();
    assert_eq!(
        stages,
        [
            (AlertStage::Candidate, "obama"),
            (AlertStage::Confirmed, "obama"),
            (AlertStage::Ended, "obama")
        ],
        "{alerts:#?}"
    );
    assert!(alerts.iter().all(|a| a.track_id == alerts[0].track_id), "one track");
    assert!(
        alerts.iter().all(|a| on_obama(&a.bbox)),
        "no alert on the stranger's path"
    );
    let confirmed = &alerts[1];
    assert!(confirmed.evidence.frames_supporting >= confirmed.thresholds.confirm_min_frames as u64);
    assert!(confirmed.evidence.face_width_max_px < 30.0, "{:?}", confirmed.evidence);
    assert!(confirmed.thresholds.band == "16-24" || confirmed.thresholds.band == "<16");
    let keys: BTreeSet<&str> = alerts.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys.len(), 3, "idempotent keys are unique per step");
    for alert in &alerts[..2] {
        let pictures = alert
            .thumbnails
            .as_ref()
            .expect("candidate and confirmed carry pictures");
        let face = squint::image::BgrImage::load(Path::new(&pictures.face)).unwrap();
        assert_eq!((face.width, face.height), (112, 112));
        let frame = squint::image::BgrImage::load(Path::new(pictures.frame.as_deref().unwrap())).unwrap();
        assert_eq!((frame.width, frame.height), (truth.width, truth.height));
    }
    assert!(alerts[2].thumbnails.is_none(), "ended carries none");
    // Identity events come per track and interval, not per frame.
    assert!(
        events.len() * 3 < stats.faces as usize,
        "{} events for {} faces",
        events.len(),
        stats.faces
    );
    assert!(events.iter().all(|e| e.identity != "eileen"));
}

/// `[[models.routes]]` sends faces under 26 px to their own recognizer, one of another input
/// size: the detect stage aligns those faces at 56 px (a recognizer refuses crops of any other
/// size, so an event of the routed model proves it), every identity event names the model
/// that embedded its face, and the stats count each model's faces.
#[test]
fn faces_are_routed_to_recognizers_by_width_at_their_own_crop_size_and_each_event_names_its_model() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let people = vec![person("obama", "obama.jpg"), person("biden", "biden.jpg")];
    generate_scene(dir.path(), people, 120, (16.0, 40.0), 2, 7);
    enroll(&dir.path().join("gallery.db"));
    // SFace's own network at 56 px (its head resampled, untrained) stands in for a small
    // low-resolution model of SFace's space (those are trained on data CI does not fetch).
    let repo = testing::repo();
    let sface = squint::model::ModelCard::load(&repo.join("models/sface.card.toml")).unwrap();
    let small = dir.path().join("sface56.onnx");
    squint::distill::chain::FaceChain::load_at(&sface, 56)
        .unwrap()
        .write_onnx(&small)
        .unwrap();
    let card = dir.path().join("routed.card.toml");
    let text = std::fs::read_to_string(repo.join("models/sface.card.toml"))
        .unwrap()
        .replace("id = \"sface-2021dec\"", "id = \"sface-routed\"")
        .replace("input_size = [112, 112]", "input_size = [56, 56]")
        .replace("file = \"sface.onnx\"", &format!("file = \"{}\"", small.display()));
    std::fs::write(&card, text).unwrap();
    let topic = format!("squint.routes-test.{}", uuid::Uuid::new_v4());
    let scene = dir.path().join("scene.mp4");
    let cameras = format!(
        "{}[[models.routes]]\nmax_px = 26\nrecognizer = \"{}\"\n",
        camera(&scene.display().to_string(), "street", ""),
        card.display()
    );
    let config = config_with(dir.path(), &test_broker(), &topic, "min_face_px = 12", &cameras);
    let stats = run_file(&config);
    let events = read_events(&topic);
    assert_eq!(events.len() as u64, stats.events);
    for event in &events {
        let want = if event.quality.width_px < 26.0 {
            "sface-routed"
        } else {
            "sface-2021dec"
        };
        assert_eq!(event.models.recognizer, want, "face {} px", event.quality.width_px);
    }
    let named: BTreeSet<&str> = events.iter().map(|e| e.models.recognizer.as_str()).collect();
    assert_eq!(named.len(), 2, "faces on both sides of 26 px: {named:?}");
    let counted = &stats.embedded_by_recognizer;
    assert!(counted.get("sface-routed").is_some_and(|&n| n > 0), "{counted:?}");
    assert!(counted.get("sface-2021dec").is_some_and(|&n| n > 0), "{counted:?}");
    assert_eq!(counted.values().sum::<u64>(), stats.embedded);
}

/// Starts (or restarts) this test's own tansu on `port`, keeping its data in `dir`.
fn broker_script(action: &str, dir: &Path, port: Option<u16>) -> String {
    let mut command = std::process::Command::new(testing::repo().join("scripts/broker.sh"));
    command.arg(action).arg(dir);
    if let Some(port) = port {
        command.arg(port.to_string());
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "broker.sh {action}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Stops the test's own broker however the test ends.
struct OwnBroker(std::path::PathBuf);

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = std::process::Command::new(testing::repo().join("scripts/broker.sh"))
            .arg("stop")
            .arg(&self.0)
            .output();
    }
}

#[test]
fn broker_outage_of_30_s_loses_nothing_and_keeps_each_cameras_order() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let people = vec![person("obama", "obama.jpg"), person("biden", "biden.jpg")];
    generate_scene(dir.path(), people, 100, (24.0, 40.0), 2, 9);
    enroll(&dir.path().join("gallery.db"));
    let broker_dir = dir.path().join("broker");
    let broker = broker_script("start", &broker_dir, None);
    let _stop_at_exit = OwnBroker(broker_dir.clone());
    let port: u16 = broker.rsplit(':').next().unwrap().parse().unwrap();
    let topic = format!("squint.outage.{}", uuid::Uuid::new_v4());
    let scene = dir.path().join("scene.mp4").display().to_string();
    let live = "loop_file = true\nrealtime = true";
    let cameras = camera(&scene, "east", live) + &camera(&scene, "west", live);
    let mut config = config_with(dir.path(), &broker, &topic, "min_face_px = 20", &cameras);
    config.alerts.identity_interval_ms = 200;
    config.alerts.cooldown_s = 0.0;

    let pipeline = Pipeline::start(&config).unwrap();
    let outage: u64 = std::env::var("SQUINT_TEST_OUTAGE_SECS").map_or(30, |s| s.parse().unwrap());
    let never = AtomicBool::new(false);
    let produced = || pipeline.stats.events.load(std::sync::atomic::Ordering::Relaxed);
    pipeline.wait(&never, Some(Duration::from_secs(4)), Duration::from_secs(60));
    broker_script("kill", &broker_dir, None);
    let before_outage = produced();
    pipeline.wait(&never, Some(Duration::from_secs(outage)), Duration::from_secs(60));
    let spooled_in_outage = produced() - before_outage;
    broker_script("start", &broker_dir, Some(port));
    pipeline.wait(&never, Some(Duration::from_secs(6)), Duration::from_secs(60));
    let (stats, _) = pipeline.shutdown();
    assert_eq!(stats.spool_pending, 0, "every event acknowledged: {stats:?}");
    assert_eq!(stats.delivery_failed, 0);

    let events = read_events_from(&broker, &topic);
    let alerts = read_alerts(&broker, &format!("{topic}.alerts"));
    broker_script("stop", &broker_dir, None);
    assert!(spooled_in_outage > 10, "events were produced during the outage");
    assert_eq!(events.len() as u64, stats.events, "every identity event arrives");
    assert_eq!(alerts.len() as u64, stats.alerts, "every alert arrives");
    let ids: BTreeSet<_> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), events.len(), "exactly once");
    let keys: BTreeSet<_> = alerts.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys.len(), alerts.len(), "no alert twice");
    eprintln!(
        "outage of {outage} s: {} identity events and {} alerts produced ({spooled_in_outage} identity \
         events during the outage); all read back exactly once, in order per camera",
        stats.events, stats.alerts
    );
    for camera in ["east", "west"] {
        let seqs: Vec<u64> = events
            .iter()
            .filter(|e| e.camera_id == camera)
            .map(|e| e.frame_seq)
            .collect();
        assert!(!seqs.is_empty(), "{camera} published");
        assert!(seqs.windows(2).all(|w| w[0] <= w[1]), "{camera} in order: {seqs:?}");
    }
}

fn read_events_from(broker: &str, topic: &str) -> Vec<IdentityEvent> {
    read_json(broker, topic, "identity-event.v3.json")
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect()
}
