//! The HTTP endpoint of a running pipeline: /metrics is valid Prometheus text whose counters
//! move while a camera streams; /health turns 503 while the camera's server is down.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use squint::config::Config;
use squint::pipeline::Pipeline;
use squint::serve::RtspServer;
use squint::testing;

mod common;
use common::{get, get_bytes};

/// Parses Prometheus text format strictly enough to catch malformed output; returns samples.
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    let mut typed: HashMap<String, String> = HashMap::new();
    let mut samples = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(
                kind != "counter" || name.ends_with("_total"),
                "counter names end in _total: {line}"
            );
            typed.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        let histogram_of = |suffix: &str| {
            name.strip_suffix(suffix)
                .filter(|base| typed.get(*base).is_some_and(|k| k == "histogram"))
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| histogram_of(suffix))
            .unwrap_or(name);
        assert!(typed.contains_key(family), "sample before its TYPE: {line}");
        let labels = &series[name.len()..];
        assert!(
            labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
            "{line}"
        );
        samples.insert(
            series.to_string(),
            value.parse::<f64>().unwrap_or_else(|_| panic!("bad value: {line}")),
        );
    }
    samples
}

fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

fn config(dir: &Path, camera_url: &str) -> Config {
    drop(squint::gallery::Gallery::create(&dir.join("gallery.db")).unwrap());
    let text = format!(
        r#"{base}[gallery]
path = "{dir}/gallery.db"
[gallery.index]
mode = "on"
[kafka]
brokers = "embedded"
[http]
address = "127.0.0.1:0"
[[cameras]]
id = "gate"
url = "{camera_url}"
backoff_initial_ms = 100
backoff_max_ms = 400
stall_timeout_s = 2.0
"#,
        base = testing::base_config(dir),
        dir = dir.display(),
    );
    Config::parse(&text, &dir.join("test.toml")).unwrap()
}

#[test]
fn metrics_move_and_health_follows_the_camera() {
    let dir = tempfile::tempdir().unwrap();
    let server = RtspServer::start(&testing::background_video(), 0, "/gate").unwrap();
    let port = server.port;
    let pipeline = Pipeline::start(&config(dir.path(), &server.url())).unwrap();
    let address = pipeline.http.as_ref().expect("endpoint configured").address;

    assert!(
        wait_for(Duration::from_secs(20), || get(address, "/health").0 == 200),
        "healthy once streaming"
    );
    let frames = |m: &HashMap<String, f64>| m["squint_camera_frames_total{camera=\"gate\"}"];
    let first = parse_metrics(&get(address, "/metrics").1);
    assert!(wait_for(Duration::from_secs(20), || {
        let now = parse_metrics(&get(address, "/metrics").1);
        frames(&now) > frames(&first) && now["squint_frames_detected_total"] > first["squint_frames_detected_total"]
    }));
    let now = parse_metrics(&get(address, "/metrics").1);
    assert!(now["squint_detect_run_seconds_count"] > 0.0);
    assert!(
        now["squint_frame_queue_depth{camera=\"gate\"}"] <= 2.0,
        "frame queue within its bound"
    );
    assert!(now["squint_crop_queue_depth"] <= 16.0, "crop queue within its bound");
    assert!(
        now["squint_faces_per_frame_count"] > 0.0,
        "faces per frame recorded for every frame"
    );
    for family in [
        "squint_spool_pending_events",
        "squint_spool_bytes",
        "squint_spool_alarm",
        "squint_publish_seconds_count",
        "squint_recognizer_batch_size_count",
        "squint_alerts_total",
        "squint_identity_events_total",
        "squint_kafka_delivered_total",
    ] {
        assert!(now.contains_key(family), "{family} exported");
    }
    assert_eq!(
        now["squint_detect_run_seconds_bucket{le=\"+Inf\"}"],
        now["squint_detect_run_seconds_count"]
    );
    // Region search (the default): the first frame is swept whole, later ones partly in
    // regions, and every counted frame is one of the two.
    let camera = |family: &str| now[&format!("{family}{{camera=\"gate\"}}")];
    let searched = camera("squint_detect_frames_total");
    assert!(camera("squint_detect_full_sweeps_total") >= 1.0);
    assert!(camera("squint_detect_full_sweeps_total") <= searched);
    assert!(
        camera("squint_detect_searched_frames_total") < searched,
        "some frames searched only in part: {} of {searched}",
        camera("squint_detect_searched_frames_total")
    );
    assert!(now.contains_key("squint_detect_regions_total{camera=\"gate\"}"));
    let (status, jpeg) = get_bytes(address, "/cameras/gate/snapshot.jpg");
    assert_eq!(status, 200);
    let decoded = opencv::imgcodecs::imdecode(
        &opencv::core::Vector::from_slice(&jpeg),
        opencv::imgcodecs::IMREAD_COLOR,
    )
    .unwrap();
    use opencv::prelude::MatTraitConst;
    assert_eq!(
        (decoded.cols(), decoded.rows()),
        (768, 576),
        "a JPEG of the frame's size"
    );
    let (status, body) = get(address, "/health");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    assert_eq!(health["cameras"][0]["camera_id"], "gate");

    drop(server);
    assert!(
        wait_for(Duration::from_secs(15), || get(address, "/health").0 == 503),
        "503 while the server is down"
    );
    let down = parse_metrics(&get(address, "/metrics").1);
    assert_eq!(down["squint_camera_up{camera=\"gate\"}"], 0.0);
    assert!(down["squint_camera_reconnects_total{camera=\"gate\"}"] >= 1.0);

    let _server = RtspServer::start(&testing::background_video(), port, "/gate").unwrap();
    assert!(
        wait_for(Duration::from_secs(20), || get(address, "/health").0 == 200),
        "healthy again"
    );
    assert_eq!(get(address, "/nowhere").0, 404);
    assert_eq!(get(address, "/cameras/nobody/snapshot.jpg").0, 404);

    // Hot reload: enrolment and removal by another process show up without a restart,
    // through the gallery's index (on at any size here).
    let gauge = |family: &str| parse_metrics(&get(address, "/metrics").1)[family];
    let identities = || gauge("squint_gallery_identities");
    assert_eq!(identities(), 0.0);
    assert_eq!(gauge("squint_gallery_index"), 0.0, "nothing to index yet");
    enroll_obama(&dir.path().join("gallery.db"));
    assert!(
        wait_for(Duration::from_secs(15), || identities() == 1.0),
        "enrolment picked up"
    );
    assert_eq!(gauge("squint_gallery_templates"), 1.0);
    assert_eq!(gauge("squint_gallery_index"), 1.0, "matched through the index");
    assert!(
        wait_for(Duration::from_secs(10), || dir
            .path()
            .join("gallery.db.usearch")
            .exists()),
        "index kept beside the gallery"
    );
    let mut gallery = squint::gallery::Gallery::open(&dir.path().join("gallery.db")).unwrap();
    assert!(gallery.remove("obama").unwrap());
    assert!(
        wait_for(Duration::from_secs(15), || identities() == 0.0),
        "removal picked up"
    );
    pipeline.shutdown();
}

fn enroll_obama(gallery: &Path) {
    use squint::detect::{DetectConfig, Detector};
    use squint::gallery::{Enroller, Gallery};
    let ort = testing::ort_library();
    let detector = Detector::load(&testing::detector_card(), ort.as_deref(), &DetectConfig::default()).unwrap();
    let recognizer = squint::recognize::Recognizer::load(&testing::recognizer_card(), ort.as_deref(), 1).unwrap();
    let mut enroller = Enroller { detector, recognizer };
    let mut gallery = Gallery::open(gallery).unwrap();
    enroller
        .enroll(&mut gallery, "obama", &testing::photo("obama2.jpg"))
        .unwrap();
}
