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
