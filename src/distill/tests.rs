//! Against the real teacher (SFace through ONNX Runtime) and faces from the public-domain
//! photos; sizes are kept small so the whole file runs in well under a minute.

use std::path::Path;

use super::adapt::{self, AdaptRequest};
use super::degrade::adjust_exposure;
use super::export::{self, CardInfo};
use super::train::{normalise, to_tensor};
use super::*;
use crate::detect::{DetectConfig, Detector};
use crate::image::BgrImage;
use crate::model::ModelCard;
use crate::recognize::Recognizer;
use crate::testing::{detector_card, ort_library, recognizer_card, repo};

const SFACE_SPACE: &str = "sface-2021dec";

/// Aligned 112 px crops of every face in assets/photos, `augment` jittered copies each.
fn harvest_photos(out: &Path, augment: usize) -> HarvestReport {
    let mut detector = Detector::load(&detector_card(), ort_library().as_deref(), &DetectConfig::default()).unwrap();
    let config = HarvestConfig {
        out: out.to_path_buf(),
        sources: Vec::new(),
        templates: repo().join("pipelines"),
        photos: vec![repo().join("assets/photos")],
        seconds: 0.0,
        crop_size: 112,
        min_face_px: 40.0,
        min_quality: 0.3,
        per_track: 3,
        min_gap_frames: 10,
        augment,
        seed: 3,
    };
    harvest(&config, &mut detector).unwrap()
}

fn train_config(data: &Path, out: &Path, epochs: usize) -> TrainConfig {
    TrainConfig {
        data: data.to_path_buf(),
        val_data: None,
        synthetic: Vec::new(),
        synthetic_share: 0.0,
        max_sources: None,
        out: out.to_path_buf(),
        teacher: repo().join("models/sface.card.toml"),
        ort_library: ort_library(),
        threads: 2,
        init: super::net::Init::Scratch,
        input_size: 24,
        width: 8,
        lowfreq: false,
        epochs,
        batch: 16,
        learning_rate: 5e-3,
        weight_decay: 5e-4,
        instance_weight: 1.0,
        relation_weight: 1.0,
        contrastive_weight: 0.0,
        temperature: 0.1,
        queue: 0,
        seed: 11,
        val_fraction: 0.25,
        // Six faces are too few to generalise to a face never seen: hold out other copies.
        split_by_source: false,
        probe_sizes: vec![12, 16, 24],
        degradation: Degradation::default(),
        resume: false,
        stop_after: None,
        sharp_share: 0.0,
        keep_best: false,
        train_convs: None,
        target_variants: 1,
        ema: 0.0,
        id: None,
        provenance: None,
        progress: false,
        measure_speed: false,
    }
}

fn crops_of(folder: &Path, size: u32) -> Vec<BgrImage> {
    dataset::image_files(folder)
        .unwrap()
        .iter()
        .map(|p| BgrImage::load(p).unwrap().resized(size, size).unwrap())
        .collect()
}

#[test]
fn held_out_crops_come_from_sources_never_trained_on() {
    assert_eq!(dataset::source_of("door-t00012-f0000345"), "door-t00012");
    assert_eq!(dataset::source_of("obama-0-a007"), "obama-0");
    assert_eq!(dataset::source_of("obama-0"), "obama-0");
    assert_eq!(dataset::source_of("front-door"), "front-door");
    let paths: Vec<std::path::PathBuf> = (0..40)
        .flat_map(|face| (0..5).map(move |copy| format!("p{face}-0-a{copy:03}.png").into()))
        .collect();
    let (train, val) = dataset::split(&paths, 0.25, true);
    assert!(!val.is_empty() && val.len() < 100, "{} held out", val.len());
    let source = |i: &usize| dataset::source_of(paths[*i].file_stem().unwrap().to_str().unwrap()).to_string();
    let trained: std::collections::HashSet<String> = train.iter().map(source).collect();
    assert!(val.iter().all(|i| !trained.contains(&source(i))));
}

#[test]
fn harvest_writes_aligned_crops_and_jittered_copies() {
    let dir = tempfile::tempdir().unwrap();
    let report = harvest_photos(dir.path(), 2);
    assert_eq!(report.photos, 6);
    assert_eq!(report.photos_without_face, 0);
    let files = dataset::image_files(dir.path()).unwrap();
    assert_eq!(files.len(), report.crops_written);
    assert_eq!(files.len(), 6 * 3, "one face per photo, two jittered copies each");
    let crops = dataset::load_crops(dir.path(), 112).unwrap();
    assert_ne!(
        crops.images[0].data, crops.images[1].data,
        "a jittered copy differs from the face"
    );
}

#[test]
fn training_lowers_both_losses_and_beats_the_untrained_student() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("crops");
    harvest_photos(&data, 12);
    let report = distill(&train_config(&data, &dir.path().join("student"), 6)).unwrap();
    let (first, last) = (&report.epochs[0], report.epochs.last().unwrap());
    assert!(
        last.instance_loss < first.instance_loss,
        "training instance loss {} -> {}",
        first.instance_loss,
        last.instance_loss
    );
    assert!(
        last.val_instance_loss < report.untrained.instance_loss,
        "held-out instance loss {} -> {}",
        report.untrained.instance_loss,
        last.val_instance_loss
    );
    assert!(
        last.val_relation_loss < report.untrained.relation_loss,
        "held-out relation loss {} -> {}",
        report.untrained.relation_loss,
        last.val_relation_loss
    );
    assert_student_beats_untrained(&report, 0.1);
    for row in &report.validation {
        assert!(row.teacher_upsampled > 0.0 && row.teacher_upsampled <= 1.0);
    }
    assert!(report.card.is_file());
    assert!(dir.path().join("student/report.json").is_file());
}

#[test]
fn the_same_seed_gives_the_same_student_and_resume_continues_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("crops");
    harvest_photos(&data, 5);
    let straight = distill(&train_config(&data, &dir.path().join("a"), 2)).unwrap();
    let again = distill(&train_config(&data, &dir.path().join("b"), 2)).unwrap();
    assert_eq!(straight.epochs[1].val_cosine, again.epochs[1].val_cosine);
    assert_eq!(straight.epochs[1].instance_loss, again.epochs[1].instance_loss);

    let split = dir.path().join("c");
    let interrupted = TrainConfig {
        stop_after: Some(1),
        ..train_config(&data, &split, 2)
    };
    let stopped = error_of(distill(&interrupted));
    assert!(
        stopped.contains("after epoch 1 of 2") && stopped.contains("--resume"),
        "{stopped}"
    );
    let resumed = distill(&TrainConfig {
        resume: true,
        ..train_config(&data, &split, 2)
    })
    .unwrap();
    assert_eq!(resumed.epochs.len(), 2);
    let (a, b) = (straight.epochs[1].val_cosine, resumed.epochs[1].val_cosine);
    assert!((a - b).abs() < 1e-5, "straight {a} vs resumed {b}");

    let other_shape = TrainConfig {
        resume: true,
        width: 4,
        ..train_config(&data, &split, 3)
    };
    let error = distill(&other_shape).err().unwrap().to_string();
    assert!(error.contains("checkpoint") && error.contains("width"), "{error}");
}

#[test]
fn optimiser_state_does_not_keep_the_steps_graphs_alive() {
    let student = Student::new(
        StudentShape {
            input_size: 24,
            width: 4,
            embedding_size: 16,
            lowfreq: false,
        },
        2,
    )
    .unwrap();
    let input = candle_core::Tensor::ones((4, 3, 24, 24), candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
    let input = (input.cumsum(3).unwrap() / 24.0).unwrap();
    let target = normalise(&student.forward(&input, false).unwrap().detach().flip(&[1]).unwrap()).unwrap();
    let mut optimizer = train::AdamW::default();
    for _ in 0..2 {
        let output = normalise(&student.forward(&input, true).unwrap()).unwrap();
        let (instance, relation) = train::losses(&output, &target).unwrap();
        let grads = (instance + relation).unwrap().backward().unwrap();
        optimizer.step(&student.trainable(), &grads, 1e-3, 0.0).unwrap();
    }
    assert!(
        optimizer.holds_no_graph(),
        "AdamW moments must be detached from the step's graph"
    );
    assert!(student.params.values().all(|v| v.as_tensor().is_variable()));
}

/// Max |ort − candle| over the raw (unnormalised) embeddings of `crops`.
fn export_difference(student: &Student, dir: &Path, crops: &[BgrImage]) -> f32 {
    let info = CardInfo {
        id: "parity",
        embedding_space: SFACE_SPACE,
        teacher_id: "sface-2021dec",
        provenance: None,
    };
    let card_path = export::write(student, dir, "student", &info).unwrap();
    let card = ModelCard::load(&card_path).unwrap();
    let model = onnx::read(&card.model_path()).unwrap();
    let outputs = vec![export::OUTPUT.to_string()];
    let ort = adapt::run(&model, &card, crops, &outputs, ort_library().as_deref(), 1).unwrap();
    let input = to_tensor(&card, &crops.iter().collect::<Vec<_>>(), &mut Vec::new()).unwrap();
    let candle = student
        .forward(&input, false)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(ort[export::OUTPUT].len(), candle.len());
    ort[export::OUTPUT]
        .iter()
        .zip(&candle)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

/// A student whose BN statistics are no longer the identity: a few training-mode passes.
fn student_with_statistics(shape: StudentShape, crops: &[BgrImage]) -> Student {
    let student = Student::new(shape, 5).unwrap();
    let card = export::training_card(&student);
    let input = to_tensor(&card, &crops.iter().collect::<Vec<_>>(), &mut Vec::new()).unwrap();
    for _ in 0..3 {
        student.forward(&input, true).unwrap();
    }
    student
}

#[test]
fn exported_onnx_matches_candle_and_runs_through_the_recognizer() {
    let dir = tempfile::tempdir().unwrap();
    harvest_photos(&dir.path().join("crops"), 0);
    for lowfreq in [false, true] {
        let shape = StudentShape {
            input_size: 32,
            width: 8,
            embedding_size: 128,
            lowfreq,
        };
        let crops = crops_of(&dir.path().join("crops"), 32);
        let student = student_with_statistics(shape, &crops);
        let out = dir.path().join(format!("export-{lowfreq}"));
        let difference = export_difference(&student, &out, &crops);
        assert!(
            difference <= 1e-4,
            "lowfreq={lowfreq}: max |ort − candle| = {difference}"
        );

        let card = ModelCard::load(&out.join("student.card.toml")).unwrap();
        assert_eq!(card.embedding_space.as_deref(), Some(SFACE_SPACE));
        let mut recognizer = Recognizer::load(&card, ort_library().as_deref(), 1).unwrap();
        let embeddings = recognizer.embed(&crops.iter().collect::<Vec<_>>()).unwrap();
        let input = to_tensor(&card, &crops.iter().collect::<Vec<_>>(), &mut Vec::new()).unwrap();
        let expected = normalise(&student.forward(&input, false).unwrap())
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for (got, want) in embeddings.iter().zip(&expected) {
            let cosine: f32 = got.iter().zip(want).map(|(a, b)| a * b).sum();
            assert!(cosine > 0.9999, "recognizer vs candle cosine {cosine}");
        }
    }
}

#[test]
fn gallery_accepts_a_student_in_its_space_and_refuses_another_space() {
    let dir = tempfile::tempdir().unwrap();
    let gallery_path = dir.path().join("gallery.db");
    let mut gallery = crate::gallery::Gallery::create(&gallery_path).unwrap();
    gallery
        .add_template("someone", "test", SFACE_SPACE, &[0.1; 128])
        .unwrap();
    drop(gallery);
    let student = Student::new(
        StudentShape {
            input_size: 24,
            width: 4,
            embedding_size: 128,
            lowfreq: false,
        },
        1,
    )
    .unwrap();
    for (space, accepted) in [(SFACE_SPACE, true), ("someone-else-2024", false)] {
        let info = CardInfo {
            id: "student",
            embedding_space: space,
            teacher_id: "teacher",
            provenance: None,
        };
        let card =
            ModelCard::load(&export::write(&student, &dir.path().join(space), "student", &info).unwrap()).unwrap();
        let (dim, card_space) = card.require_embedding().unwrap();
        let opened = crate::gallery::Gallery::open_read_only(&gallery_path)
            .unwrap()
            .matcher(&card_space, dim);
        assert_eq!(opened.is_ok(), accepted, "space {space}: {:?}", opened.err());
    }
}

/// A small student exported as `<dir>/<stem>.card.toml` in SFace's space.
fn exported_student(dir: &Path, stem: &str, width: usize, seed: u64) -> std::path::PathBuf {
    let shape = StudentShape {
        input_size: 24,
        width,
        embedding_size: 128,
        lowfreq: false,
    };
    let info = CardInfo {
        id: stem,
        embedding_space: SFACE_SPACE,
        teacher_id: "sface-2021dec",
        provenance: None,
    };
    export::write(&Student::new(shape, seed).unwrap(), dir, stem, &info).unwrap()
}

fn initializer_values(card: &Path) -> std::collections::BTreeMap<String, Vec<f32>> {
    let model = onnx::read(&ModelCard::load(card).unwrap().model_path()).unwrap();
    model
        .graph
        .unwrap()
        .initializer
        .iter()
        .filter_map(|t| onnx::float_values(t).map(|v| (t.name.clone(), v)))
        .collect()
}

#[test]
fn blend_interpolates_every_weight_and_the_result_runs() {
    let dir = tempfile::tempdir().unwrap();
    let base = exported_student(dir.path(), "base", 4, 1);
    let tuned = exported_student(dir.path(), "tuned", 4, 2);
    let out = dir.path().join("blended.card.toml");
    let request = BlendRequest {
        base: &base,
        tuned: &tuned,
        alpha: 0.25,
        out_card: &out,
        id: None,
    };
    let report = blend(&request).unwrap();
    assert_eq!(report.id, "tuned-a0.25");
    assert!(report.tuned_relative_distance > 0.0);
    let (a, b, mixed) = (
        initializer_values(&base),
        initializer_values(&tuned),
        initializer_values(&out),
    );
    assert_eq!(report.tensors, mixed.len());
    let mut differing = 0;
    for (name, m) in &mixed {
        for ((x, y), z) in a[name].iter().zip(&b[name]).zip(m) {
            assert!((0.75 * x + 0.25 * y - z).abs() <= 1e-6, "{name}: {x} {y} → {z}");
            differing += usize::from(x != y);
        }
    }
    assert!(
        differing > 0,
        "two seeds must give different weights for the test to mean anything"
    );

    let card = ModelCard::load(&out).unwrap();
    assert_eq!(card.id, "tuned-a0.25");
    assert_eq!(card.embedding_space.as_deref(), Some(SFACE_SPACE));
    let mut recognizer = Recognizer::load(&card, ort_library().as_deref(), 1).unwrap();
    let crop = textured_crop().resized_to(Some((24, 24))).unwrap();
    assert_eq!(recognizer.embed(&[&crop]).unwrap()[0].len(), 128);

    // The ends of the line are the two models themselves.
    for (alpha, expected) in [(0.0, &a), (1.0, &b)] {
        let end = dir.path().join(format!("end-{alpha}.card.toml"));
        blend(&BlendRequest {
            alpha,
            out_card: &end,
            ..request
        })
        .unwrap();
        assert_eq!(&initializer_values(&end), expected, "alpha {alpha}");
    }
}

#[test]
fn blend_refuses_models_that_are_not_one_network() {
    let dir = tempfile::tempdir().unwrap();
    let base = exported_student(dir.path(), "base", 4, 1);
    let wider = exported_student(dir.path(), "wider", 8, 1);
    let out = dir.path().join("blended.card.toml");
    let request = BlendRequest {
        base: &base,
        tuned: &wider,
        alpha: 0.5,
        out_card: &out,
        id: None,
    };
    let error = error_of(blend(&request));
    assert!(
        error.contains("base.onnx") && error.contains("initializer `") && error.contains("has shape"),
        "{error}"
    );
    assert!(!out.exists(), "no card for a refused blend");

    let sface = repo().join("models/sface.card.toml");
    let error = error_of(blend(&BlendRequest {
        tuned: &sface,
        ..request
    }));
    assert!(error.contains("input_size") && error.contains("differ"), "{error}");
    let error = error_of(blend(&BlendRequest {
        base: &sface,
        ..request
    }));
    assert!(
        error.contains("differ in input/outputs"),
        "a smaller model that is not SFace's own network: {error}"
    );

    let error = error_of(blend(&BlendRequest {
        tuned: &base,
        alpha: 1.5,
        ..request
    }));
    assert!(error.contains("--alpha 1.5"), "{error}");
}

/// Per-channel mean and (population) variance of an NCHW activation.
fn channel_statistics(values: &[f32], channels: usize, batch: usize) -> (Vec<f64>, Vec<f64>) {
    let plane = values.len() / channels / batch;
    let mut means = vec![0.0; channels];
    let mut vars = vec![0.0; channels];
    for c in 0..channels {
        let samples: Vec<f64> = (0..batch)
            .flat_map(|n| &values[(n * channels + c) * plane..(n * channels + c + 1) * plane])
            .map(|&v| v as f64)
            .collect();
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        means[c] = mean;
        vars[c] = samples.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / samples.len() as f64;
    }
    (means, vars)
}

#[test]
fn adapt_re_estimates_bn_statistics_on_the_cameras_crops() {
    let dir = tempfile::tempdir().unwrap();
    harvest_photos(&dir.path().join("crops"), 3);
    let crops = crops_of(&dir.path().join("crops"), 32);
    let shape = StudentShape {
        input_size: 32,
        width: 8,
        embedding_size: 128,
        lowfreq: false,
    };
    let student = student_with_statistics(shape, &crops);
    let info = CardInfo {
        id: "student",
        embedding_space: SFACE_SPACE,
        teacher_id: "sface-2021dec",
        provenance: None,
    };
    let card_path = export::write(&student, &dir.path().join("model"), "student", &info).unwrap();
    // The camera: darker and flatter than the training faces.
    let camera = dir.path().join("camera");
    std::fs::create_dir_all(&camera).unwrap();
    for (i, crop) in crops.iter().enumerate() {
        let mut shifted = crop.clone();
        adjust_exposure(&mut shifted, 0.6, -40.0);
        shifted.save(&camera.join(format!("{i:03}.png"))).unwrap();
    }
    let out_card = dir.path().join("adapted/cam1.card.toml");
    std::fs::create_dir_all(out_card.parent().unwrap()).unwrap();
    let ort = ort_library();
    let request = AdaptRequest {
        card: &card_path,
        crops: &camera,
        out_card: &out_card,
        ort_library: ort.as_deref(),
        threads: 1,
        max_crops: 256,
    };
    let report = adapt_model(&request).unwrap();
    assert_eq!(report.layers, 6);
    assert_eq!(report.crops, crops.len());

    // One layer checked numerically: stored statistics = statistics of its input activations.
    let adapted_card = ModelCard::load(&out_card).unwrap();
    let adapted = onnx::read(&adapted_card.model_path()).unwrap();
    let layer_input = adapt::bn_inputs(&adapted, &report.model).unwrap()[2].clone();
    let probe = adapt::with_outputs(&adapted, &[&layer_input]);
    let camera_crops = crops_of(&camera, 32);
    let outputs = vec![layer_input.clone()];
    let activations = adapt::run(
        &probe,
        &adapted_card,
        &camera_crops,
        &outputs,
        ort_library().as_deref(),
        1,
    )
    .unwrap();
    let stored_mean = adapt::initializer_values(&adapted, "stage1b.bn_mean", &report.model).unwrap();
    let stored_var = adapt::initializer_values(&adapted, "stage1b.bn_var", &report.model).unwrap();
    let (mean, var) = channel_statistics(&activations[&layer_input], stored_mean.len(), camera_crops.len());
    for c in 0..stored_mean.len() {
        assert!(
            (mean[c] - stored_mean[c] as f64).abs() < 1e-3 * (1.0 + mean[c].abs()),
            "channel {c} mean"
        );
        assert!(
            (var[c] - stored_var[c] as f64).abs() < 1e-3 * (1.0 + var[c]),
            "channel {c} var"
        );
    }

    // Same interface, different outputs.
    let original = onnx::read(&ModelCard::load(&card_path).unwrap().model_path()).unwrap();
    let names = |m: &onnx::ModelProto| {
        let g = m.graph.as_ref().unwrap();
        let list = |v: &[candle_onnx::onnx::ValueInfoProto]| v.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
        (list(&g.input), list(&g.output))
    };
    assert_eq!(names(&original), names(&adapted));
    let mut before = Recognizer::load(&ModelCard::load(&card_path).unwrap(), ort_library().as_deref(), 1).unwrap();
    let mut after = Recognizer::load(&adapted_card, ort_library().as_deref(), 1).unwrap();
    let probe_crops: Vec<&BgrImage> = camera_crops.iter().take(4).collect();
    let (a, b) = (before.embed(&probe_crops).unwrap(), after.embed(&probe_crops).unwrap());
    let largest = a
        .iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(
        largest > 1e-3,
        "adapted outputs should differ, largest difference {largest}"
    );
}

#[test]
fn adapt_handles_sface_with_its_29_bn_layers() {
    let dir = tempfile::tempdir().unwrap();
    harvest_photos(&dir.path().join("crops"), 1);
    let out_card = dir.path().join("sface-cam.card.toml");
    let teacher = repo().join("models/sface.card.toml");
    let ort = ort_library();
    let request = AdaptRequest {
        card: &teacher,
        crops: &dir.path().join("crops"),
        out_card: &out_card,
        ort_library: ort.as_deref(),
        threads: 2,
        max_crops: 16,
    };
    let report = adapt_model(&request).unwrap();
    assert_eq!(report.layers, 29);
    assert!(report.largest_mean_shift > 0.0);
    let card = ModelCard::load(&out_card).unwrap();
    assert_eq!(card.embedding_space, recognizer_card().embedding_space);
    assert_ne!(card.id, recognizer_card().id);
    Recognizer::load(&card, ort_library().as_deref(), 1).unwrap();
}

fn error_of<T>(result: Result<T, DistillError>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_inputs_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let error = error_of(distill(&train_config(&empty, &dir.path().join("o1"), 1)));
    assert!(
        error.contains("empty") && error.contains("no face crops") && error.contains("squint harvest"),
        "{error}"
    );

    let notes = dir.path().join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    std::fs::write(notes.join("readme.txt"), "not a face").unwrap();
    let error = error_of(distill(&train_config(&notes, &dir.path().join("o2"), 1)));
    assert!(error.contains("no face crops in it (1 other files)"), "{error}");

    let crops = dir.path().join("crops");
    harvest_photos(&crops, 0);
    let too_large = TrainConfig {
        input_size: 128,
        ..train_config(&crops, &dir.path().join("o3"), 1)
    };
    let error = error_of(distill(&too_large));
    assert!(
        error.contains("student input size 128 must be smaller than the teacher's 112"),
        "{error}"
    );

    let small = dir.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    crops_of(&crops, 64)[0].save(&small.join("face.png")).unwrap();
    let error = error_of(distill(&train_config(&small, &dir.path().join("o4"), 1)));
    assert!(
        error.contains("face.png") && error.contains("64x64") && error.contains("112x112"),
        "{error}"
    );

    let yunet = repo().join("models/yunet.card.toml");
    let out_card = dir.path().join("yunet-adapted.card.toml");
    let ort = ort_library();
    let request = AdaptRequest {
        card: &yunet,
        crops: &crops,
        out_card: &out_card,
        ort_library: ort.as_deref(),
        threads: 1,
        max_crops: 8,
    };
    let error = error_of(adapt_model(&request));
    assert!(
        error.contains("yunet.onnx") && error.contains("no BatchNormalization"),
        "{error}"
    );
    assert!(!out_card.exists());
}

/// SFace run by candle (weights as variables) embeds exactly as ONNX Runtime does, and its
/// weights receive gradients: the starting point for fine-tuning the teacher itself.
#[test]
fn sface_in_candle_matches_onnx_runtime_and_is_trainable() {
    let dir = tempfile::tempdir().unwrap();
    harvest_photos(&dir.path().join("crops"), 0);
    let card = recognizer_card();
    let crops = crops_of(&dir.path().join("crops"), 112);
    let crops: Vec<&BgrImage> = crops.iter().take(2).collect();
    let mut ort = Recognizer::load(&card, ort_library().as_deref(), 2).unwrap();
    let expected = ort.embed(&crops).unwrap();

    let net = super::teacher::OnnxNet::load(&card).unwrap();
    assert!(
        net.parameters() > 900_000,
        "SFace's weights are variables: {}",
        net.parameters()
    );
    let input = to_tensor(&card, &crops, &mut Vec::new()).unwrap();
    let out = net.forward(&input).unwrap();
    let rows: Vec<Vec<f32>> = out.to_vec2().unwrap();
    for (row, want) in rows.iter().zip(&expected) {
        let mut got = row.clone();
        crate::recognize::l2_normalize(&mut got);
        let cosine = crate::gallery::dot(&got, want);
        assert!(cosine >= 0.9999, "candle vs ONNX Runtime cosine {cosine}");
    }
    let grads = out.sqr().unwrap().sum_all().unwrap().backward().unwrap();
    let reached = net.vars().iter().filter(|v| grads.get(v.as_tensor()).is_some()).count();
    assert_eq!(reached, net.vars().len(), "every weight gets a gradient");
}

/// The trainer's own channels-last SFace embeds as ONNX Runtime does; every weight gets a
/// gradient; and after a change of its weights, the exported graph embeds as the chain does.
#[test]
fn sface_as_a_trainable_chain_matches_onnx_runtime_and_exports_what_it_trained() {
    let dir = tempfile::tempdir().unwrap();
    harvest_photos(&dir.path().join("crops"), 0);
    let card = recognizer_card();
    let crops = crops_of(&dir.path().join("crops"), 112);
    let crops: Vec<&BgrImage> = crops.iter().take(3).collect();
    let mut ort = Recognizer::load(&card, ort_library().as_deref(), 2).unwrap();
    let chain = super::chain::FaceChain::load(&card).unwrap();
    assert!(chain.parameter_count() > 9_000_000, "{}", chain.parameter_count());
    let input = to_tensor(&card, &crops, &mut Vec::new()).unwrap();
    let assert_same = |out: &candle_core::Tensor, want: &[Vec<f32>], what: &str| {
        for (row, want) in out.to_vec2::<f32>().unwrap().iter().zip(want) {
            let mut got = row.clone();
            crate::recognize::l2_normalize(&mut got);
            let cosine = crate::gallery::dot(&got, want);
            assert!(cosine >= 0.9999, "{what}: chain vs ONNX Runtime cosine {cosine}");
        }
    };
    let out = chain.forward(&input).unwrap();
    assert_same(&out, &ort.embed(&crops).unwrap(), "original weights");

    let grads = out.sqr().unwrap().sum_all().unwrap().backward().unwrap();
    let trainable = chain.trainable();
    let reached = trainable
        .iter()
        .filter(|(_, v)| grads.get(v.as_tensor()).is_some())
        .count();
    assert_eq!(reached, trainable.len(), "every weight gets a gradient");

    // Move every weight a little, as training would, then export and run the export.
    for (_, var) in &trainable {
        let moved = (var.as_tensor() * 1.01).unwrap();
        var.set(&moved).unwrap();
    }
    let moved = chain.forward(&input).unwrap();
    let (before, after) = (out.to_vec2::<f32>().unwrap(), moved.to_vec2::<f32>().unwrap());
    assert_ne!(before, after, "the weights change the embedding");
    let exported = dir.path().join("tuned.onnx");
    chain.write_onnx(&exported).unwrap();
    let mut tuned_card = card.clone();
    tuned_card.file = exported.clone();
    tuned_card.card_path = dir.path().join("tuned.card.toml");
    let mut tuned = Recognizer::load(&tuned_card, ort_library().as_deref(), 2).unwrap();
    assert_same(&moved, &tuned.embed(&crops).unwrap(), "exported weights");

    // At 56 px: the same convolutions, a head resampled to 4x4; the export takes 56 px crops.
    let small = super::chain::FaceChain::load_at(&card, 56).unwrap();
    let small_crops: Vec<BgrImage> = crops.iter().map(|c| c.resized(56, 56).unwrap()).collect();
    let small_crops: Vec<&BgrImage> = small_crops.iter().collect();
    let input = to_tensor(&card, &small_crops, &mut Vec::new()).unwrap();
    let out = small.forward(&input).unwrap();
    small.write_onnx(&exported).unwrap();
    tuned_card.input_size = Some([56, 56]);
    let mut tuned = Recognizer::load(&tuned_card, ort_library().as_deref(), 2).unwrap();
    assert_same(&out, &tuned.embed(&small_crops).unwrap(), "56 px export");
}

/// Surgical fine-tuning trains the input side only: the first K convolutions with their
/// BatchNorm and PReLU, never the dense head.
#[test]
fn training_the_first_convolutions_leaves_the_rest_of_sface_alone() {
    let card = recognizer_card();
    let full = super::chain::FaceChain::load(&card).unwrap();
    let all = full.trainable().len();
    let mut chain = super::chain::FaceChain::load(&card).unwrap();
    chain.train_first_convs(3).unwrap();
    let names: Vec<&str> = chain.trainable().iter().map(|(n, _)| *n).collect();
    let convs = names
        .iter()
        .filter(|n| chain.trainable().iter().any(|(m, v)| m == *n && v.rank() == 4))
        .count();
    assert_eq!(convs, 3, "three convolution weights: {names:?}");
    assert!(
        names.len() > 3 && names.len() < all / 4,
        "{} of {all}: {names:?}",
        names.len()
    );
    assert!(chain.parameter_count() < full.parameter_count() / 10);
    assert!(!names.iter().any(|n| n.contains("fc")), "the head stays: {names:?}");
    for bad in [0, 28] {
        let error = error_of(chain.train_first_convs(bad));
        assert!(error.contains("has 27 convolutions"), "{error}");
    }
    let error = match super::net::Net::new(
        super::net::Init::Scratch,
        StudentShape {
            input_size: 24,
            width: 4,
            embedding_size: 128,
            lowfreq: false,
        },
        &card,
        1,
        Some(3),
    ) {
        Ok(_) => panic!("a scratch student with --train-convs must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("--train-convs needs --init teacher"), "{error}");
}

/// A graph that is not one chain of supported layers is refused, naming the node.
#[test]
fn a_graph_that_is_not_a_plain_chain_is_refused_by_name() {
    let err = match super::chain::FaceChain::load(&detector_card()) {
        Ok(_) => panic!("YuNet is not a chain"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("node `") && err.contains("yunet"), "{err}");
}

/// A 112 px crop with texture everywhere, so every degradation visibly changes it.
fn textured_crop() -> BgrImage {
    let mut crop = BgrImage::new(112, 112);
    for (i, v) in crop.data.iter_mut().enumerate() {
        *v = ((i * 7919) % 251) as u8;
    }
    crop
}

#[test]
fn camera_degradations_are_deterministic_for_a_seed_and_keep_size_and_range() {
    use rand::SeedableRng;
    let crop = textured_crop();
    let camera = Degradation {
        motion_blur_p: 1.0,
        occlusion_p: 1.0,
        ..Degradation::camera(0.9)
    };
    let run = |seed: u64| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..8)
            .map(|_| camera.apply(&crop, 32, &mut rng).unwrap())
            .collect::<Vec<_>>()
    };
    let (a, b, c) = (run(1), run(1), run(2));
    assert_eq!(a, b, "same seed, same degradations");
    assert_ne!(a, c, "another seed, other degradations");
    for image in &a {
        assert_eq!((image.width, image.height, image.data.len()), (32, 32, 32 * 32 * 3));
    }
    let spread = |images: &[BgrImage]| {
        let all: Vec<u8> = images.iter().flat_map(|i| i.data.iter().copied()).collect();
        (*all.iter().min().unwrap(), *all.iter().max().unwrap())
    };
    let (low, high) = spread(&a);
    assert!(
        high - low > 100,
        "pixel values still spread over the range: {low}..{high}"
    );
}

#[test]
fn each_new_camera_effect_changes_the_crop_as_it_should() {
    use rand::SeedableRng;
    let crop = textured_crop();
    let only = |d: Degradation| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        d.apply(&crop, 112, &mut rng).unwrap()
    };
    let none = Degradation {
        min_px: 112,
        max_px: 112,
        blur_p: 0.0,
        noise_p: 0.0,
        jpeg_p: 0.0,
        brightness: 0.0,
        contrast: 0.0,
        ..Degradation::default()
    };
    assert_eq!(only(none.clone()), crop, "with every effect off the crop is unchanged");
    let grey = only(Degradation {
        grey_p: 1.0,
        ..none.clone()
    });
    assert!(
        grey.data.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2]),
        "grey: equal channels"
    );
    let occluded = only(Degradation {
        occlusion_p: 1.0,
        ..none.clone()
    });
    let changed: Vec<&[u8]> = occluded
        .data
        .chunks(3)
        .zip(crop.data.chunks(3))
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a)
        .collect();
    let share = changed.len() as f64 / (112.0 * 112.0);
    assert!((0.04..=0.36).contains(&share), "a patch covers {share:.3} of the crop");
    assert!(changed.iter().all(|p| p == &changed[0]), "the patch is flat");
    let jittered = only(Degradation {
        jitter_px: 1.0,
        min_px: 16,
        max_px: 16,
        ..none.clone()
    });
    let sharp_16 = only(Degradation {
        min_px: 16,
        max_px: 16,
        ..none.clone()
    });
    assert_ne!(jittered, sharp_16, "landmark jitter re-aligns the crop");
    let moved = only(Degradation {
        motion_blur_p: 1.0,
        ..none
    });
    assert_ne!(moved, crop, "motion blur smears the crop");
}

#[test]
fn the_queue_widens_the_relation_term_and_never_counts_a_crop_as_its_own_negative() {
    use super::losses::{TeacherQueue, batch_losses};
    let rows = |seed: u64, n: usize| {
        let values: Vec<f32> = (0..n * 8)
            .map(|i| (((i as u64 + 1) * (seed * 2 + 7919)) % 97) as f32 - 48.0)
            .collect();
        normalise(&candle_core::Tensor::from_vec(values, (n, 8), &candle_core::Device::Cpu).unwrap()).unwrap()
    };
    let (teacher, others) = (rows(1, 4), rows(2, 6));
    let student = normalise(&(teacher.clone() + rows(3, 4).affine(0.3, 0.0).unwrap()).unwrap()).unwrap();
    let keys = [0, 1, 2, 3];
    let mut with_own = TeacherQueue::new(16);
    with_own.push(&[10, 11, 12, 13, 14, 15], &others).unwrap();
    let mut without_own = TeacherQueue::new(16);
    without_own.push(&[10, 11, 12, 13, 14, 15], &others).unwrap();
    // The batch's crops seen in an earlier batch: masked out of the contrastive term.
    with_own.push(&keys, &teacher).unwrap();
    let scalar = |t: &candle_core::Tensor| t.to_scalar::<f32>().unwrap();
    let own = batch_losses(&student, &teacher, with_own.tensor(&keys).unwrap().as_ref(), 0.1).unwrap();
    let clean = batch_losses(&student, &teacher, without_own.tensor(&keys).unwrap().as_ref(), 0.1).unwrap();
    let alone = batch_losses(&student, &teacher, None, 0.1).unwrap();
    assert!(
        (scalar(&own.contrastive) - scalar(&clean.contrastive)).abs() < 1e-4,
        "entries of the batch's crops are masked: {} vs {}",
        scalar(&own.contrastive),
        scalar(&clean.contrastive)
    );
    assert!(
        scalar(&clean.contrastive) > scalar(&alone.contrastive),
        "more negatives, harder choice"
    );
    assert_ne!(
        scalar(&clean.relation),
        scalar(&alone.relation),
        "the queue enters the relation term"
    );
    let perfect = batch_losses(&teacher, &teacher, without_own.tensor(&keys).unwrap().as_ref(), 0.1).unwrap();
    assert!(scalar(&perfect.relation) < 1e-6 && scalar(&perfect.instance) < 1e-6);
    let order = candle_core::Tensor::new(&[1u32, 2, 3, 0], &candle_core::Device::Cpu).unwrap();
    let swapped = teacher.index_select(&order, 0).unwrap();
    let wrong = batch_losses(&swapped, &teacher, without_own.tensor(&keys).unwrap().as_ref(), 0.1).unwrap();
    assert!(
        scalar(&perfect.contrastive) < scalar(&wrong.contrastive),
        "picking one's own teacher embedding is easier than another's"
    );
    let mut small = TeacherQueue::new(3);
    small.push(&[1, 2, 3, 4], &teacher).unwrap();
    assert_eq!(
        small.tensor(&[9]).unwrap().unwrap().embeddings.dims(),
        &[3, 8],
        "bounded"
    );
}

#[test]
fn a_smaller_learning_curve_point_trains_on_a_subset_of_a_larger_one() {
    use super::train::limit_sources;
    let paths: Vec<std::path::PathBuf> = (0..40)
        .flat_map(|p| (0..2).map(move |c| format!("/d/{p:03}-0-a{c:03}.png").into()))
        .collect();
    let all: Vec<usize> = (0..paths.len()).collect();
    let small = limit_sources(&paths, all.clone(), Some(5));
    let large = limit_sources(&paths, all.clone(), Some(20));
    assert_eq!(small.len(), 10, "five photo faces, both crops of each ({small:?})");
    assert_eq!(large.len(), 40);
    assert!(small.iter().all(|i| large.contains(i)));
    assert_eq!(limit_sources(&paths, all.clone(), None), all);
}

#[test]
fn a_students_card_records_its_training_data_and_inherited_licence() {
    let dir = tempfile::tempdir().unwrap();
    let shape = StudentShape {
        input_size: 16,
        width: 4,
        embedding_size: 128,
        lowfreq: false,
    };
    let student = Student::new(shape, 1).unwrap();
    let provenance = export::Provenance {
        trained_on: "CelebA sample (594 people)".into(),
        licence: "non-commercial research only".into(),
    };
    let info = CardInfo {
        id: "celeba",
        embedding_space: SFACE_SPACE,
        teacher_id: "sface-2021dec",
        provenance: Some(&provenance),
    };
    let card_path = export::write(&student, dir.path(), "student", &info).unwrap();
    let text = std::fs::read_to_string(&card_path).unwrap();
    assert!(text.contains("# Trained on: CelebA sample (594 people)."), "{text}");
    let card = ModelCard::load(&card_path).unwrap();
    assert_eq!(card.licence.as_deref(), Some("non-commercial research only"));
    assert_eq!(card.embedding_space.as_deref(), Some(SFACE_SPACE));
}

#[test]
fn training_with_synthetic_faces_a_queue_and_the_contrastive_term_uses_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let (data, synthetic) = (dir.path().join("crops"), dir.path().join("synthetic"));
    harvest_photos(&data, 8);
    harvest_photos(&synthetic, 2);
    // Held-out folder: other copies (this set has too few people to hold whole ones out).
    let val = dir.path().join("val");
    std::fs::create_dir_all(&val).unwrap();
    for (i, path) in dataset::image_files(&data).unwrap().iter().step_by(4).enumerate() {
        std::fs::rename(path, val.join(format!("v{i:03}.png"))).unwrap();
    }
    let config = TrainConfig {
        val_data: Some(val),
        synthetic: vec![synthetic],
        synthetic_share: 0.25,
        queue: 64,
        contrastive_weight: 0.5,
        degradation: Degradation::camera(0.9),
        ..train_config(&data, &dir.path().join("student"), 5)
    };
    let report = distill(&config).unwrap();
    assert_eq!(report.synthetic_crops, 18, "six synthetic faces, three crops each");
    assert_eq!(report.val_crops, 14);
    let (first, last) = (&report.epochs[0], report.epochs.last().unwrap());
    assert!(
        first.contrastive_loss > 0.0 && last.contrastive_loss < first.contrastive_loss,
        "{first:?} → {last:?}"
    );
    assert!(last.peak_memory_mib > 0.0);
    assert_student_beats_untrained(&report, 0.05);
}

/// Every validation probe size: the trained student ahead of its untrained self by `margin`.
fn assert_student_beats_untrained(report: &super::DistillReport, margin: f64) {
    for row in &report.validation {
        assert!(
            row.student > row.untrained + margin,
            "probe {} px: trained {} vs untrained {}",
            row.probe_px,
            row.student,
            row.untrained
        );
    }
}

#[test]
fn held_out_rank1_rewards_discrimination_not_the_mean_direction() {
    use super::train::rank1;
    let gallery = normalise(
        &candle_core::Tensor::new(
            &[[1f32, 0.2, 0.0], [0.2, 1.0, 0.0], [0.2, 0.0, 1.0]],
            &candle_core::Device::Cpu,
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(rank1(&gallery, &gallery).unwrap(), 1.0);
    // Every probe at the mean direction: a fair cosine to each face, but one right answer.
    let mean =
        normalise(&candle_core::Tensor::new(&[[1f32, 0.4, 0.35]; 3], &candle_core::Device::Cpu).unwrap()).unwrap();
    assert!((rank1(&mean, &gallery).unwrap() - 1.0 / 3.0).abs() < 1e-9);
}

#[test]
fn variants_a_moving_average_and_two_synthetic_folders_train_and_resume_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (data, dcgan, morphs) = (
        dir.path().join("crops"),
        dir.path().join("dcgan"),
        dir.path().join("morphs"),
    );
    harvest_photos(&data, 5);
    harvest_photos(&dcgan, 1);
    harvest_photos(&morphs, 1);
    let config = |out: &str, ema: f64| TrainConfig {
        synthetic: vec![dcgan.clone(), morphs.clone()],
        synthetic_share: 0.25,
        target_variants: 3,
        ema,
        ..train_config(&data, &dir.path().join(out), 2)
    };
    let straight = distill(&config("a", 0.9)).unwrap();
    let files = |f: &Path| dataset::image_files(f).unwrap().len();
    assert_eq!(straight.synthetic_crops, files(&dcgan) + files(&morphs), "both folders");
    let cached = std::fs::read_dir(&data)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".teacher-")
        })
        .count();
    assert_eq!(cached, 3, "one teacher pass per variant, each cached");

    let split = TrainConfig {
        stop_after: Some(1),
        ..config("b", 0.9)
    };
    assert!(error_of(distill(&split)).contains("--resume"));
    let resumed = distill(&TrainConfig {
        resume: true,
        ..config("b", 0.9)
    })
    .unwrap();
    let (a, b) = (straight.epochs[1].val_cosine, resumed.epochs[1].val_cosine);
    assert!(
        (a - b).abs() < 1e-5,
        "straight {a} vs resumed {b}: the average must be checkpointed"
    );

    let without = distill(&config("c", 0.0)).unwrap();
    assert_eq!(
        without.epochs[0].instance_loss, straight.epochs[0].instance_loss,
        "same steps"
    );
    assert_ne!(
        without.epochs[1].val_cosine, straight.epochs[1].val_cosine,
        "validation must see the averaged weights"
    );
}

#[test]
fn blend_meets_a_model_tuned_at_a_smaller_input_with_the_base_resampled_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let sface = repo().join("models/sface.card.toml");
    // SFace's network at 56 px, untrained: what `distill --init teacher --input-size 56`
    // starts from. Blended with SFace itself, every weight must come out unchanged.
    let small = dir.path().join("small.onnx");
    super::chain::FaceChain::load_at(&ModelCard::load(&sface).unwrap(), 56)
        .unwrap()
        .write_onnx(&small)
        .unwrap();
    let small_card = dir.path().join("small.card.toml");
    let text = std::fs::read_to_string(&sface)
        .unwrap()
        .replace("input_size = [112, 112]", "input_size = [56, 56]")
        .replace("id = \"sface-2021dec\"", "id = \"small\"")
        .replace("file = \"sface.onnx\"", "file = \"small.onnx\"");
    std::fs::write(&small_card, text).unwrap();
    let out = dir.path().join("mixed.card.toml");
    let report = blend(&BlendRequest {
        base: &sface,
        tuned: &small_card,
        alpha: 0.5,
        out_card: &out,
        id: None,
    })
    .unwrap();
    assert_eq!(report.base_resampled_to, Some(56));
    assert!(
        report.tuned_relative_distance < 1e-6,
        "{}",
        report.tuned_relative_distance
    );
    let (want, got) = (initializer_values(&small_card), initializer_values(&out));
    assert_eq!(want.len(), got.len());
    for (name, values) in &got {
        assert!(
            values.iter().zip(&want[name]).all(|(a, b)| (a - b).abs() <= 1e-6),
            "{name}"
        );
    }
    let card = ModelCard::load(&out).unwrap();
    assert_eq!(card.input_size, Some([56, 56]));
    let mut recognizer = Recognizer::load(&card, ort_library().as_deref(), 1).unwrap();
    let crop = textured_crop().resized_to(Some((56, 56))).unwrap();
    assert_eq!(recognizer.embed(&[&crop]).unwrap()[0].len(), 128);
}

#[test]
fn a_restorer_exports_in_front_of_the_teacher_as_one_model_that_runs_as_it_trained() {
    let dir = tempfile::tempdir().unwrap();
    let card = ModelCard::load(&repo().join("models/sface.card.toml")).unwrap();
    let shape = StudentShape {
        input_size: 112,
        width: 4,
        embedding_size: 128,
        lowfreq: false,
    };
    let net = super::net::Net::new(super::net::Init::Restorer, shape, &card, 3, None).unwrap();
    assert_eq!(net.parameter_count(), 3 * 4 * 9 + 4 + 4 * 4 * 9 + 4 + 4 * 3 * 9 + 3);
    assert!(
        net.trainable().iter().all(|(name, _)| name.starts_with("conv")),
        "only the front-end learns"
    );
    // A front-end that does something: its last convolution is zero until trained.
    let mut tensors: std::collections::HashMap<_, _> =
        net.tensors().into_iter().map(|(k, v)| (k, v.copy().unwrap())).collect();
    let conv3 = candle_core::Tensor::randn(0f32, 0.05, (3, 4, 3, 3), &candle_core::Device::Cpu).unwrap();
    tensors.insert("conv3.weight".into(), conv3);
    net.load_tensors(&tensors, Path::new("test")).unwrap();
    let info = CardInfo {
        id: "restored",
        embedding_space: SFACE_SPACE,
        teacher_id: "sface-2021dec",
        provenance: None,
    };
    let exported = net.export(dir.path(), "restored", &info).unwrap();

    let crop = textured_crop();
    let packed = to_tensor(&net.training_card(), &[&crop], &mut Vec::new()).unwrap();
    let trained: Vec<f32> = normalise(&net.forward(&packed, false).unwrap())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let exported_card = ModelCard::load(&exported).unwrap();
    assert_eq!(exported_card.embedding_space.as_deref(), Some(SFACE_SPACE));
    let embed = |card: &ModelCard| {
        Recognizer::load(card, ort_library().as_deref(), 1)
            .unwrap()
            .embed(&[&crop])
            .unwrap()[0]
            .clone()
    };
    let cosine = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let ort = embed(&exported_card);
    assert!(
        cosine(&ort, &trained) > 0.999,
        "ORT {} vs candle",
        cosine(&ort, &trained)
    );
    assert!(
        cosine(&ort, &embed(&card)) < 0.9999,
        "the front-end must change what the teacher sees"
    );
    // The teacher inside is the teacher, weight for weight.
    let inside = onnx::float_initializers(&onnx::read(&exported_card.model_path()).unwrap());
    for (name, (dims, values)) in onnx::float_initializers(&onnx::read(&card.model_path()).unwrap()) {
        assert_eq!(inside[&name], (dims, values), "{name}");
    }
}

#[test]
fn a_restorer_learns_through_the_frozen_teacher_and_leaves_it_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("crops");
    harvest_photos(&data, 1);
    let config = TrainConfig {
        init: super::net::Init::Restorer,
        input_size: 112,
        width: 4,
        learning_rate: 1e-3,
        batch: 8,
        ..train_config(&data, &dir.path().join("restored"), 3)
    };
    let report = distill(&config).unwrap();
    assert_eq!(report.parameters, 371, "only the front-end's weights");
    let (first, last) = (&report.epochs[0], report.epochs.last().unwrap());
    assert!(last.instance_loss < first.instance_loss, "{first:?} → {last:?}");
    let sface = ModelCard::load(&repo().join("models/sface.card.toml")).unwrap();
    let inside = onnx::float_initializers(&onnx::read(&ModelCard::load(&report.card).unwrap().model_path()).unwrap());
    let moved = inside.keys().filter(|k| k.starts_with("restore.conv3")).count();
    assert_eq!(moved, 2, "the front-end's last layer is in the graph");
    for (name, value) in onnx::float_initializers(&onnx::read(&sface.model_path()).unwrap()) {
        assert_eq!(inside[&name], value, "{name}: the teacher must stay frozen");
    }
}
