use super::{CameraChange, ClusterConfig, decode};

fn camera_json(id: &str, url: &str) -> Vec<u8> {
    format!(r#"{{"id":"{id}","url":"{url}"}}"#).into_bytes()
}

#[test]
fn a_record_is_a_camera_a_tombstone_removes_it() {
    let change = decode(Some(b"gate"), Some(&camera_json("gate", "rtsp://127.0.0.1:8554/gate"))).unwrap();
    let CameraChange::Put(camera) = change else {
        panic!("not a put: {change:?}")
    };
    assert_eq!((camera.id.as_str(), camera.transport.as_str()), ("gate", "tcp"));
    assert_eq!(
        decode(Some(b"gate"), None).unwrap(),
        CameraChange::Removed("gate".into())
    );
}

#[test]
fn bad_records_are_refused_with_the_reason() {
    let wrong_key = decode(Some(b"door"), Some(&camera_json("gate", "rtsp://127.0.0.1/gate"))).unwrap_err();
    assert!(wrong_key.contains("camera `gate`"), "{wrong_key}");
    let bad = decode(Some(b"gate"), Some(b"{\"id\":\"gate\"}")).unwrap_err();
    assert!(bad.contains("url"), "{bad}");
    let invalid = decode(
        Some(b"gate"),
        Some(br#"{"id":"gate","url":"rtsp://h/x","transport":"sctp"}"#),
    )
    .unwrap_err();
    assert!(invalid.contains("key `transport`"), "{invalid}");
    assert!(decode(None, None).is_err());
}

#[test]
fn a_bad_record_never_echoes_a_password() {
    let value = br#"{"id":"gate","url":"rtsp://admin:hunter2secret@10.0.0.9/s","transport":"x"}"#;
    let error = decode(Some(b"gate"), Some(value)).unwrap_err();
    assert!(
        !crate::redact::redact_credentials(&error).contains("hunter2secret"),
        "{error}"
    );
}

fn cluster(text: &str) -> ClusterConfig {
    toml::from_str(text).unwrap()
}

#[test]
fn cluster_keys_are_checked() {
    let ok = cluster("group = \"squint-site-a\"\ninstance_id = \"worker-1\"");
    assert!(ok.validate().is_ok());
    assert_eq!(ok.worker_id(), "worker-1");
    let (key, message) = cluster("group = \"site a\"").validate().unwrap_err();
    assert_eq!(key, "group");
    assert!(message.contains("not a valid name"), "{message}");
    let (key, _) = cluster("group = \"g\"\npartitions = 0").validate().unwrap_err();
    assert_eq!(key, "partitions");
    let (key, _) = cluster("group = \"g\"\nsession_timeout_s = 0.1")
        .validate()
        .unwrap_err();
    assert_eq!(key, "session_timeout_s");
    assert!(!cluster("group = \"g\"").worker_id().is_empty());
}
