//! The shipped models through ONNX Runtime: shapes, errors, and the recognition quality the
//! rest of the pipeline relies on.

use std::path::{Path, PathBuf};
use std::process::Command;

use squint::align::{ARCFACE_112, align_face, apply, similarity_transform};
use squint::detect::{DetectConfig, Detector};
use squint::gallery::{Enroller, largest_face};
use squint::image::BgrImage;
use squint::model::ModelCard;
use squint::recognize::Recognizer;
use squint::testing;

fn ort() -> Option<PathBuf> {
    testing::ort_library()
}

fn enroller() -> Enroller {
    let detector = Detector::load(&testing::detector_card(), ort().as_deref(), &DetectConfig::default()).unwrap();
    let recognizer = Recognizer::load(&testing::recognizer_card(), ort().as_deref(), 2).unwrap();
    Enroller { detector, recognizer }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A copy of a shipped card pointing at another file or declaring other shapes.
fn altered_card(dir: &Path, base: &ModelCard, file: PathBuf, input_size: Option<[u32; 2]>) -> ModelCard {
    let mut card = base.clone();
    card.file = file;
    card.input_size = input_size.or(base.input_size);
    card.card_path = dir.join("altered.card.toml");
    card
}

#[test]
fn recognizer_matches_its_card() {
    let recognizer = Recognizer::load(&testing::recognizer_card(), ort().as_deref(), 1).unwrap();
    assert_eq!(recognizer.input_size(), 112);
    assert_eq!(recognizer.embedding_space(), "sface-2021dec");
    let mut recognizer = recognizer;
    let crops = [
        BgrImage::new(112, 112),
        BgrImage::new(112, 112),
        BgrImage::new(112, 112),
    ];
    let embeddings = recognizer.embed(&crops.iter().collect::<Vec<_>>()).unwrap();
    assert_eq!(embeddings.len(), 3, "the graph-fixed model takes a batch");
    for e in &embeddings {
        assert_eq!(e.len(), 128);
        assert!((cosine(e, e) - 1.0).abs() < 1e-4, "embeddings are L2-normalised");
    }
}

#[test]
fn wrong_input_shape_names_file_and_expected_shape() {
    let dir = tempfile::tempdir().unwrap();
    let base = testing::recognizer_card();
    let card = altered_card(dir.path(), &base, base.model_path(), Some([64, 64]));
    let err = Recognizer::load(&card, ort().as_deref(), 1)
        .err()
        .expect("shape mismatch")
        .to_string();
    assert!(err.contains("sface.onnx") && err.contains("[?,3,64,64]"), "{err}");
}

#[test]
fn detector_refuses_a_recognizer_model() {
    let dir = tempfile::tempdir().unwrap();
    let base = testing::detector_card();
    let card = altered_card(dir.path(), &base, testing::recognizer_card().model_path(), None);
    let err = Detector::load(&card, ort().as_deref(), &DetectConfig::default())
        .err()
        .expect("wrong model")
        .to_string();
    assert!(
        err.contains("sface.onnx") && err.contains("no input named `input`"),
        "{err}"
    );
}

#[test]
fn missing_and_corrupt_model_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let base = testing::recognizer_card();
    let missing = altered_card(dir.path(), &base, dir.path().join("gone.onnx"), None);
    let err = Recognizer::load(&missing, ort().as_deref(), 1)
        .err()
        .expect("missing")
        .to_string();
    assert!(
        err.contains("gone.onnx") && err.contains("is missing") && err.contains("[?,3,112,112]"),
        "{err}"
    );

    let corrupt_path = dir.path().join("corrupt.onnx");
    std::fs::write(&corrupt_path, b"this is not a protobuf").unwrap();
    let corrupt = altered_card(dir.path(), &base, corrupt_path, None);
    let err = Recognizer::load(&corrupt, ort().as_deref(), 1)
        .err()
        .expect("corrupt")
        .to_string();
    assert!(
        err.contains("corrupt.onnx") && err.contains("could not be loaded"),
        "{err}"
    );
}

#[test]
fn missing_onnxruntime_library_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_squint"))
        .args([
            "enroll",
            "--gallery",
            "/tmp/squint-never-written.db",
            "--name",
            "x",
            "nothing.jpg",
        ])
        .current_dir(testing::repo())
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.99")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("/nonexistent/libonnxruntime.so.1.99") && stderr.contains("ONNX Runtime library not found"),
        "{stderr}"
    );
}

#[test]
fn alignment_puts_detected_eyes_on_the_reference_points() {
    let mut enroller = enroller();
    let image = BgrImage::load(&testing::photo("obama.jpg")).unwrap();
    let faces = enroller.detector.detect(&image).unwrap();
    let face = largest_face(&faces).unwrap();
    let crop = align_face(&image, &face.landmarks, 112).unwrap();
    assert_eq!((crop.width, crop.height), (112, 112));
    let m = similarity_transform(&face.landmarks, &ARCFACE_112);
    for (i, (&eye, &(rx, ry))) in face.landmarks.iter().zip(&ARCFACE_112).take(2).enumerate() {
        let (x, y) = apply(&m, eye);
        assert!(
            ((x - rx).powi(2) + (y - ry).powi(2)).sqrt() <= 2.0,
            "eye {i} at ({x},{y}) vs ({rx},{ry})"
        );
    }
}

#[test]
fn same_person_scores_clearly_above_different_people() {
    let mut enroller = enroller();
    let mut embed = |name: &str| enroller.embed_photo(&testing::photo(name)).unwrap();
    let (obama, obama2, biden) = (embed("obama.jpg"), embed("obama2.jpg"), embed("biden.jpg"));
    let same = cosine(&obama, &obama2);
    let different = cosine(&obama, &biden);
    assert!(same > 0.5, "obama vs obama2 = {same}");
    assert!(same - different > 0.3, "obama/obama2 {same} vs obama/biden {different}");
}

#[test]
fn enrolling_a_photo_without_a_face_names_it_and_keeps_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let blank = dir.path().join("blank.png");
    BgrImage::new(200, 200).save(&blank).unwrap();
    let gallery = dir.path().join("g.db");
    let out = Command::new(env!("CARGO_BIN_EXE_squint"))
        .args(["enroll", "--gallery"])
        .arg(&gallery)
        .args(["--name", "obama"])
        .arg(&blank)
        .arg(testing::photo("obama2.jpg"))
        .current_dir(testing::repo())
        .envs(ort().map(|p| ("ORT_DYLIB_PATH", p)))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a failed photo makes the command fail");
    assert!(
        stderr.contains("blank.png") && stderr.contains("no face found"),
        "{stderr}"
    );
    let listed = squint::gallery::Gallery::open_read_only(&gallery)
        .unwrap()
        .list()
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].name.as_str(), listed[0].templates), ("obama", 1));
}

#[test]
fn detector_given_another_model_lists_every_tensor_it_expects() {
    let dir = tempfile::tempdir().unwrap();
    let base = testing::detector_card();
    // SFace with its input named on the card: wrong input shape and none of YuNet's outputs.
    let mut card = altered_card(dir.path(), &base, testing::recognizer_card().model_path(), None);
    card.input = "data".into();
    let err = Detector::load(&card, ort().as_deref(), &DetectConfig::default())
        .err()
        .expect("wrong model")
        .to_string();
    assert!(
        err.contains("sface.onnx") && err.contains("does not match its card"),
        "{err}"
    );
    assert!(
        err.contains("`cls_8` [1,?,1]") && err.contains("`kps_32` [1,?,10]"),
        "{err}"
    );
}

#[test]
fn a_requested_gpu_never_falls_back_to_the_cpu_silently() {
    // This machine's ONNX Runtime (the CPU wheel) has no CUDA provider: asking for it must
    // stop with an error that says so, not quietly run on the CPU.
    let placement = squint::model::Placement {
        provider: squint::model::Provider::Cuda,
        device_id: 0,
    };
    let error = Recognizer::load_on(&testing::recognizer_card(), ort().as_deref(), 1, placement)
        .err()
        .expect("CUDA is refused on a CPU-only runtime")
        .to_string();
    assert!(
        error.contains("CUDA") && error.contains("could not start") && error.contains("sface"),
        "{error}"
    );
    assert!(error.contains("provider = \"cpu\""), "says how to fix it: {error}");
}
