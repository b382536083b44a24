//! The distillation kit from the command line, as an operator uses it: harvest faces from a
//! video and photos, distil a student, adapt it to a camera, and run the pipeline with that
//! camera pointed at the adapted model (embedded broker, real models).

use std::path::Path;

use squint::testing;

mod common;
use common::squint;

fn ok(args: &[&str]) -> String {
    let (success, stdout, stderr) = squint(args);
    assert!(success, "squint {args:?} failed:\n{stderr}");
    stdout
}

/// `<dir>/crops`: the demo photos' faces harvested with `augment` jittered copies each.
fn demo_crops(dir: &Path, augment: u32) -> std::path::PathBuf {
    let crops = dir.join("crops");
    let augment = augment.to_string();
    ok(&[
        "harvest",
        "--photos",
        "assets/photos",
        "--augment",
        &augment,
        "--out",
        path(&crops),
    ]);
    crops
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn run_config(dir: &Path, url: &str, camera_extra: &str) -> String {
    let repo = testing::repo();
    format!(
        "[models]\ndetector = \"{repo}/models/yunet.card.toml\"\nrecognizer = \"{repo}/models/sface.card.toml\"\n\
         [pipeline]\nstate_dir = \"{dir}/state\"\ntemplates = \"{repo}/pipelines\"\n[gallery]\npath = \"{dir}/gallery.db\"\n\
         [kafka]\nbrokers = \"embedded\"\n[[cameras]]\nid = \"door\"\nurl = \"{url}\"\n{camera_extra}\n",
        repo = repo.display(),
        dir = dir.display()
    )
}

#[test]
fn harvest_distill_adapt_then_run_a_camera_on_its_adapted_student() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&[
        "scenario",
        "--background",
        "assets/vtest.avi",
        "--person",
        "obama=assets/photos/obama.jpg",
        "--person",
        "biden=assets/photos/biden.jpg",
        "--min-px",
        "56",
        "--max-px",
        "72",
        "--frames",
        "80",
        "--appearances",
        "1",
        "--out",
        path(&d.join("scene")),
    ]);

    let crops = d.join("crops");
    let harvested: serde_json::Value = serde_json::from_str(&ok(&[
        "harvest",
        "--video",
        path(&d.join("scene/scene.mp4")),
        "--photos",
        "assets/photos",
        "--augment",
        "6",
        "--out",
        path(&crops),
    ]))
    .unwrap();
    let tracks = harvested["tracks"].as_u64().unwrap();
    assert!(harvested["frames"].as_u64().unwrap() >= 80, "{harvested}");
    assert!(tracks >= 2, "{harvested}");
    let from_video: Vec<String> = std::fs::read_dir(&crops)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("scene-t"))
        .collect();
    assert!(
        !from_video.is_empty() && from_video.len() as u64 <= 3 * tracks,
        "{from_video:?}"
    );

    // The same scene from a live RTSP camera of a config, for a bounded time.
    let server = squint::serve::RtspServer::start(&d.join("scene/scene.mp4"), 0, "/door").unwrap();
    let live = d.join("live.toml");
    std::fs::write(&live, run_config(d, &server.url(), "")).unwrap();
    let from_camera: serde_json::Value = serde_json::from_str(&ok(&[
        "harvest",
        "--config",
        path(&live),
        "--seconds",
        "8",
        "--out",
        path(&d.join("live-crops")),
    ]))
    .unwrap();
    drop(server);
    assert!(from_camera["frames"].as_u64().unwrap() > 0, "{from_camera}");
    assert!(from_camera["crops_written"].as_u64().unwrap() > 0, "{from_camera}");

    let student = d.join("student");
    let (success, stdout, stderr) = squint(&[
        "distill",
        "--data",
        path(&crops),
        "--out",
        path(&student),
        "--input-size",
        "24",
        "--width",
        "8",
        "--epochs",
        "2",
        "--batch",
        "16",
        "--probe-sizes",
        "12,24",
        // A handful of faces: hold out crops, not whole faces.
        "--split",
        "crop",
    ]);
    assert!(success, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["validation"].as_array().unwrap().len(), 2);
    assert!(stderr.contains("probe px"), "{stderr}");
    let speed = report["speed"].as_array().unwrap();
    assert_eq!(speed.len(), 2, "{report}");
    assert!(
        speed
            .iter()
            .all(|row| row["student_ms_per_face"].as_f64().unwrap() > 0.0)
    );

    let adapted = d.join("cameras/door.card.toml");
    std::fs::create_dir_all(adapted.parent().unwrap()).unwrap();
    let adapt: serde_json::Value = serde_json::from_str(&ok(&[
        "adapt",
        "--model",
        path(&student.join("student.card.toml")),
        "--crops",
        path(&crops),
        "--out",
        path(&adapted),
    ]))
    .unwrap();
    assert_eq!(adapt["layers"], 6);

    ok(&[
        "enroll",
        "--gallery",
        path(&d.join("gallery.db")),
        "--name",
        "obama",
        "assets/photos/obama.jpg",
    ]);
    let config = d.join("run.toml");
    std::fs::write(
        &config,
        run_config(
            d,
            path(&d.join("scene/scene.mp4")),
            &format!("recognizer = \"{}\"", adapted.display()),
        ),
    )
    .unwrap();
    let stats = d.join("stats.json");
    let (success, _, stderr) = squint(&[
        "run",
        "--config",
        path(&config),
        "--duration",
        "60",
        "--stats-json",
        path(&stats),
    ]);
    assert!(success, "{stderr}");
    assert!(
        stderr.contains("student-24px-w8+door"),
        "the adapted student is loaded for the camera:\n{stderr}"
    );
    let stats: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    assert!(stats["stats"]["embedded"].as_u64().unwrap() > 0, "{stats}");
    assert!(stats["stats"]["events"].as_u64().unwrap() > 0, "{stats}");
}

/// A short run of the teacher-initialised recipe at 56 px, as `scripts/train-student.sh` runs
/// it at length: SFace's own network fine-tuned on degraded faces, exported in SFace's space
/// with a 56 px input, and timed through ONNX Runtime against SFace.
#[test]
fn the_teacher_fine_tuned_at_56_px_exports_a_model_of_the_teachers_space() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let crops = demo_crops(d, 3);
    let out = d.join("lr");
    let (success, stdout, stderr) = squint(&[
        "distill",
        "--init",
        "teacher",
        "--input-size",
        "56",
        "--data",
        path(&crops),
        "--out",
        path(&out),
        "--epochs",
        "2",
        "--batch",
        "8",
        "--learning-rate",
        "1e-4",
        "--sharp-share",
        "0.1",
        "--keep-best",
        "--probe-sizes",
        "12",
        "--split",
        "crop",
    ]);
    assert!(success, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["shape"]["initialised_from"], "sface-2021dec", "{report}");
    assert_eq!(report["shape"]["input_size"], 56, "{report}");
    assert!(report["parameters"].as_u64().unwrap() > 3_000_000, "{report}");
    let best = report["best_epoch"].as_u64().expect("the best epoch is kept");
    assert!((1..=2).contains(&best), "{report}");
    let card: toml::Table = toml::from_str(&std::fs::read_to_string(out.join("student.card.toml")).unwrap()).unwrap();
    assert_eq!(card["embedding_space"].as_str(), Some("sface-2021dec"));
    assert_eq!(card["input_size"].as_array().map(|a| a.len()), Some(2));
    assert_eq!(card["input_size"][0].as_integer(), Some(56));
    let speed = report["speed"].as_array().unwrap();
    assert!(
        speed
            .iter()
            .all(|row| row["student_ms_per_face"].as_f64().unwrap() > 0.0),
        "{report}"
    );
}

/// Float initializers of the model a card points at, by name.
fn weights(card: &Path) -> std::collections::HashMap<String, Vec<f32>> {
    let card = squint::model::ModelCard::load(card).unwrap();
    let model = squint::distill::onnx::read(&card.model_path()).unwrap();
    model
        .graph
        .unwrap()
        .initializer
        .iter()
        .filter_map(|t| squint::distill::onnx::float_values(t).map(|v| (t.name.clone(), v)))
        .collect()
}

/// Surgical fine-tuning changes the first convolutions and nothing after them; blending the
/// result with SFace lands each weight between the two.
#[test]
fn surgical_fine_tuning_moves_only_the_first_convolutions_and_blends_with_sface() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let crops = demo_crops(d, 2);
    let out = d.join("k2");
    let stdout = ok(&[
        "distill",
        "--init",
        "teacher",
        "--train-convs",
        "2",
        "--data",
        path(&crops),
        "--out",
        path(&out),
        "--epochs",
        "1",
        "--batch",
        "8",
        "--learning-rate",
        "1e-3",
        "--probe-sizes",
        "12",
        "--split",
        "crop",
    ]);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["shape"]["train_convs"], 2, "{report}");
    assert!(report["parameters"].as_u64().unwrap() < 10_000, "{report}");
    let sface = testing::repo().join("models/sface.card.toml");
    let tuned = out.join("student.card.toml");
    let (before, after) = (weights(&sface), weights(&tuned));
    let changed: Vec<&String> = before.keys().filter(|name| before[*name] != after[*name]).collect();
    assert!(!changed.is_empty(), "training moved nothing");
    assert!(
        changed.len() <= 8,
        "only two convolutions with their BN and PReLU: {changed:?}"
    );
    assert_eq!(
        before["pre_fc1_weight"], after["pre_fc1_weight"],
        "the head stays SFace's"
    );

    let half = d.join("half.card.toml");
    ok(&[
        "blend",
        "--base",
        path(&sface),
        "--tuned",
        path(&tuned),
        "--alpha",
        "0.5",
        "--out",
        path(&half),
    ]);
    let mixed = weights(&half);
    for name in &changed {
        for ((b, t), m) in before[*name].iter().zip(&after[*name]).zip(&mixed[*name]) {
            assert!(
                (0.5 * (b + t) - m).abs() <= 1e-5 * (1.0 + b.abs()),
                "{name}: {b} {t} → {m}"
            );
        }
    }
}

#[test]
fn a_camera_recognizer_from_another_embedding_space_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let repo = testing::repo();
    let card = std::fs::read_to_string(repo.join("models/sface.card.toml"))
        .unwrap()
        .replace(
            "embedding_space = \"sface-2021dec\"",
            "embedding_space = \"arcface-r100\"",
        )
        .replace(
            "file = \"sface.onnx\"",
            &format!("file = \"{}/models/sface.onnx\"", repo.display()),
        );
    std::fs::write(d.join("other.card.toml"), card).unwrap();
    drop(squint::gallery::Gallery::create(&d.join("gallery.db")).unwrap());
    let config = d.join("run.toml");
    std::fs::write(
        &config,
        run_config(
            d,
            "unused.mp4",
            &format!("recognizer = \"{}/other.card.toml\"", d.display()),
        ),
    )
    .unwrap();
    let (success, _, stderr) = squint(&["run", "--config", path(&config), "--duration", "5"]);
    assert!(!success);
    assert!(
        stderr.contains("camera `door`") && stderr.contains("arcface-r100") && stderr.contains("sface-2021dec"),
        "{stderr}"
    );
}
