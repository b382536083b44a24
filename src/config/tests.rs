use super::*;

const MINIMAL: &str = r#"
[models]
detector = "../models/yunet.card.toml"
recognizer = "../models/sface.card.toml"

[gallery]
path = "gallery.db"

[kafka]
brokers = "127.0.0.1:9092"

[[cameras]]
id = "door"
url = "rtsp://user:secret@127.0.0.1:8554/door"
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/squint/site.toml"))
}

#[test]
fn minimal_config_resolves_paths_against_its_folder() {
    let config = parse(MINIMAL).expect("valid");
    assert_eq!(config.gallery.path, Path::new("/etc/squint/gallery.db"));
    assert_eq!(
        config.models.detector,
        Path::new("/etc/squint/../models/yunet.card.toml")
    );
    assert_eq!(config.cameras[0].id, "door");
    assert_eq!(
        config.pipeline.templates_dir(),
        Path::new("pipelines"),
        "no /etc/pipelines: fall back to ./pipelines"
    );
}

#[test]
fn unknown_key_names_file_and_key() {
    let text = MINIMAL.replace("[gallery]", "[gallery]\nthreshhold = 0.3");
    let err = parse(&text).expect_err("unknown key").to_string();
    assert!(err.contains("/etc/squint/site.toml"), "{err}");
    assert!(err.contains("threshhold"), "{err}");
}

#[test]
fn wrong_type_names_file_and_key() {
    let text = format!("{MINIMAL}\n[alerts]\ncooldown_s = \"long\"\n");
    let err = parse(&text).expect_err("wrong type").to_string();
    assert!(
        err.contains("/etc/squint/site.toml") && err.contains("cooldown_s"),
        "{err}"
    );
}

#[test]
fn missing_camera_url_names_file_and_key() {
    let text = MINIMAL.replace("url = \"rtsp://user:secret@127.0.0.1:8554/door\"", "");
    let err = parse(&text).expect_err("missing url").to_string();
    assert!(err.contains("/etc/squint/site.toml") && err.contains("url"), "{err}");
}

#[test]
fn empty_camera_url_is_rejected_with_its_index() {
    let text = MINIMAL.replace("rtsp://user:secret@127.0.0.1:8554/door", "");
    let err = parse(&text).expect_err("empty url").to_string();
    assert!(err.contains("cameras[0].url"), "{err}");
}

#[test]
fn duplicate_camera_ids_are_rejected() {
    let text = format!("{MINIMAL}\n[[cameras]]\nid = \"door\"\nurl = \"rtsp://127.0.0.1/b\"\n");
    let err = parse(&text).expect_err("duplicate").to_string();
    assert!(err.contains("cameras[1].id"), "{err}");
}

#[test]
fn zero_detect_workers_names_key() {
    let err = parse(&format!("{MINIMAL}\n[detect]\nworkers = 0\n"))
        .expect_err("range")
        .to_string();
    assert!(err.contains("detect.workers"), "{err}");
    let config = parse(&format!("{MINIMAL}\n[detect]\nworkers = 4\n")).expect("valid");
    assert_eq!(config.detect.workers, 4);
}

#[test]
fn out_of_range_threshold_names_key() {
    let text = format!("{MINIMAL}\n[alerts]\n[[alerts.bands]]\ncandidate = 1.5\nconfirm = 1.5\n");
    let err = parse(&text).expect_err("range").to_string();
    assert!(err.contains("alerts.bands[0].candidate"), "{err}");
}

#[test]
fn spool_smaller_than_two_segments_names_key() {
    let text = format!("{MINIMAL}\n[kafka.spool]\nmax_bytes = 5000\nsegment_bytes = 4096\n");
    let err = parse(&text).expect_err("spool").to_string();
    assert!(err.contains("kafka.spool.max_bytes"), "{err}");
}

#[test]
fn errors_never_echo_camera_passwords() {
    let text = MINIMAL.replace("[[cameras]]", "[[cameras]]\nlatency_ms = -3");
    let err = parse(&text).expect_err("bad latency").to_string();
    assert!(!err.contains("secret"), "{err}");
}

#[test]
fn shipped_configs_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    for name in ["demo.toml", "example.toml"] {
        let config = Config::load(&root.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let templates = config.pipeline.templates_dir();
        assert!(
            templates.join("rtsp_h264.pipeline").is_file(),
            "{name}: templates at {}",
            templates.display()
        );
    }
}

#[test]
fn example_config_documents_the_default_thresholds() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
    let config = Config::load(&path).unwrap();
    assert_eq!(config.alerts.bands, crate::alert::AlertConfig::default().bands);
    assert_eq!(
        config.kafka.spool.max_bytes,
        crate::publish::SpoolConfig::default().max_bytes
    );
}

#[test]
fn a_cluster_worker_takes_its_cameras_from_the_topic_only() {
    let cluster = "\n[cluster]\ngroup = \"squint-site-a\"\n";
    let err = parse(&format!("{MINIMAL}{cluster}"))
        .expect_err("cameras and [cluster]")
        .to_string();
    assert!(
        err.contains("key `cameras`") && err.contains("squint cameras put"),
        "{err}"
    );
    let worker = MINIMAL[..MINIMAL.find("[[cameras]]").unwrap()].to_string() + cluster;
    let config = parse(&worker).expect("a worker needs no camera");
    assert_eq!(config.cluster.unwrap().cameras_topic, "squint.cameras");
    let bad = parse(&format!("{worker}partitions = 0\n"))
        .expect_err("partitions")
        .to_string();
    assert!(bad.contains("key `cluster.partitions`"), "{bad}");
}

#[test]
fn a_camera_file_for_the_topic_is_checked_like_a_config() {
    let dir = tempfile::tempdir().unwrap();
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let file = dir.path().join("cameras.toml");
    std::fs::write(&file, "[[cameras]]\nid = \"gate\"\nurl = \"rtsp://u:pw-in-file@127.0.0.1/gate\"\n[[cameras]]\nid = \"yard\"\nurl = \"clip.mp4\"\n").unwrap();
    let cameras = crate::cluster::read_camera_file(&file, &templates).unwrap();
    assert_eq!(cameras[1].url, dir.path().join("clip.mp4").to_string_lossy());
    std::fs::write(
        &file,
        "[[cameras]]\nid = \"gate\"\nurl = \"rtsp://127.0.0.1/gate\"\nrecognizer = \"x.card.toml\"\n",
    )
    .unwrap();
    let err = crate::cluster::read_camera_file(&file, &templates)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cameras[0].recognizer"), "{err}");
    std::fs::write(
        &file,
        "[[cameras]]\nid = \"gate\"\nurl = \"rtsp://u:pw-in-file@127.0.0.1/gate\"\ntransport = 5\n",
    )
    .unwrap();
    let err = crate::cluster::read_camera_file(&file, &templates)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cameras file") && !err.contains("pw-in-file"), "{err}");
}

const ROUTES: &str = r#"
[[models.routes]]
max_px = 24
recognizer = "lr.card.toml"

[[models.routes]]
min_px = 24
max_px = 32
recognizer = "mid.card.toml"
"#;

#[test]
fn width_routes_resolve_against_the_config_and_pick_one_model_per_width() {
    let config = parse(&format!("{MINIMAL}{ROUTES}")).expect("valid routes");
    let routes = &config.models.routes;
    assert_eq!(routes[0].recognizer, Path::new("/etc/squint/lr.card.toml"));
    assert!(routes[0].takes(12.0) && !routes[0].takes(24.0) && routes[1].takes(24.0));
    assert!(
        !routes.iter().any(|r| r.takes(40.0)),
        "wider faces keep models.recognizer"
    );
}

#[test]
fn overlapping_or_empty_width_routes_are_refused_by_key() {
    let overlapping = format!("{MINIMAL}{}", ROUTES.replace("min_px = 24", "min_px = 20"));
    let err = parse(&overlapping).expect_err("overlap").to_string();
    assert!(
        err.contains("models.routes[1]") && err.contains("overlaps route [0]"),
        "{err}"
    );
    let empty = format!("{MINIMAL}{}", ROUTES.replace("max_px = 32", "max_px = 24"));
    let err = parse(&empty).expect_err("empty band").to_string();
    assert!(err.contains("models.routes[1].max_px"), "{err}");
    let camera = format!("{MINIMAL}[[cameras.routes]]\nmax_px = 0.5\nrecognizer = \"lr.card.toml\"\n");
    let err = parse(&camera).expect_err("camera route out of range").to_string();
    assert!(err.contains("cameras[0].routes[0].max_px"), "{err}");
}

#[test]
fn a_topic_camera_may_not_carry_routes() {
    let cameras: Vec<crate::ingest::CameraConfig> = toml::from_str::<toml::Table>(
        "[[cameras]]\nid = \"door\"\nurl = \"rtsp://127.0.0.1:8554/door\"\n[[cameras.routes]]\nmax_px = 24\nrecognizer = \"/m/lr.card.toml\"\n",
    )
    .ok()
    .and_then(|t| t.get("cameras").cloned())
    .and_then(|v| v.try_into().ok())
    .expect("camera table");
    let err = validate_cameras(&cameras, Path::new("pipelines"), true).expect_err("clustered");
    assert_eq!(err.0, "cameras[0].routes", "{err:?}");
}

#[test]
fn a_missing_refiner_card_or_width_out_of_range_is_refused_by_key() {
    let text = format!("{MINIMAL}\n[align]\nrefiner = \"no-such.card.toml\"\n");
    let err = parse(&text).expect_err("missing card").to_string();
    assert!(
        err.contains("align.refiner") && err.contains("/etc/squint/no-such.card.toml"),
        "{err}"
    );
    let text = format!("{MINIMAL}\n[align]\nrefine_below_px = 0.0\n");
    let err = parse(&text).expect_err("zero width").to_string();
    assert!(err.contains("align.refine_below_px"), "{err}");
    let config = parse(MINIMAL).expect("valid");
    assert!(config.align.refiner.is_none(), "the refiner is off by default");
}
