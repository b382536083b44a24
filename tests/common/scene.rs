//! Generated scenes, galleries and Kafka read-back for the tests that run the whole pipeline.

use std::path::Path;
use std::time::Duration;

use squint::detect::{DetectConfig, Detector};
use squint::gallery::{Enroller, Gallery};
use squint::publish::{TailOptions, tail_raw};
use squint::recognize::Recognizer;
use squint::scenario::{GroundTruth, Person, ScenarioSpec, generate};
use squint::testing;

pub fn person(name: &str, photo: &str) -> Person {
    Person {
        name: name.into(),
        photo: testing::photo(photo),
    }
}

/// `scene.mp4` and `truth.json` in `dir`: the people pasted over the street footage.
pub fn generate_scene(
    dir: &Path,
    people: Vec<Person>,
    frames: usize,
    (min_face_px, max_face_px): (f32, f32),
    appearances_per_person: usize,
    seed: u64,
) -> GroundTruth {
    let spec = ScenarioSpec {
        background: testing::background_video(),
        people,
        out_dir: dir.to_path_buf(),
        frames,
        min_face_px,
        max_face_px,
        appearances_per_person,
        seed,
        fps: Some(25.0),
        size: None,
    };
    let config = DetectConfig {
        score_threshold: 0.7,
        ..DetectConfig::default()
    };
    let mut detector = Detector::load(&testing::detector_card(), testing::ort_library().as_deref(), &config).unwrap();
    generate(&spec, &mut detector).unwrap()
}

/// A gallery of (name, photo) templates.
pub fn enroll_photos(gallery_path: &Path, photos: &[(&str, &str)]) {
    let ort = testing::ort_library();
    let detector = Detector::load(&testing::detector_card(), ort.as_deref(), &DetectConfig::default()).unwrap();
    let recognizer = Recognizer::load(&testing::recognizer_card(), ort.as_deref(), 2).unwrap();
    let mut enroller = Enroller { detector, recognizer };
    let mut gallery = Gallery::create(gallery_path).unwrap();
    for (name, photo) in photos {
        enroller.enroll(&mut gallery, name, &testing::photo(photo)).unwrap();
    }
}

/// Every message of `topic`, each checked against the repo's JSON Schema `schema`, with
/// its Kafka key checked to be its camera.
pub fn read_json(broker: &str, topic: &str, schema: &str) -> Vec<serde_json::Value> {
    let path = testing::repo().join("schemas").join(schema);
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let options = TailOptions {
        brokers: Some(broker.to_string()),
        address_file: Default::default(),
        topic: topic.into(),
        properties: Default::default(),
        from_beginning: true,
        max_events: None,
        idle: Duration::from_secs(5),
        timeout: Duration::from_secs(60),
    };
    let mut messages = Vec::new();
    tail_raw(&options, |message| {
        let (key, payload) = message.expect("every message has a payload");
        let value: serde_json::Value = serde_json::from_slice(payload).expect("JSON");
        let errors: Vec<String> = validator.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{value} breaks its schema: {errors:?}");
        assert_eq!(value["camera_id"], key, "keyed by camera");
        messages.push(value);
    })
    .unwrap();
    messages
}
