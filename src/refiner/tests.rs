use std::path::PathBuf;

use super::samples::mirrored;
use super::train::{RefinerCard, RefinerConfig, fit, predict, write_model};
use super::*;
use crate::align::{PatchGeometry, REFINER_OUTPUTS, Refiner, invert, reference_points, similarity_transform};
use crate::distill::{Student, StudentShape};
use crate::image::BgrImage;
use crate::model::ModelCard;
use crate::testing::ort_library;
use crate::types::Landmarks;

const GEOMETRY: PatchGeometry = PatchGeometry { side: 32 };

fn tilted_face() -> Landmarks {
    [
        (101.3, 52.0),
        (118.9, 54.5),
        (109.0, 63.2),
        (102.1, 71.8),
        (116.4, 73.0),
    ]
}

#[test]
fn zero_offsets_align_the_face_as_the_detector_landmarks_do_and_targets_invert() {
    let detected = tilted_face();
    let matrix = GEOMETRY.transform(&detected);
    let back = GEOMETRY.landmarks(&matrix, &[0.0; REFINER_OUTPUTS]);
    let crop = |points: &Landmarks| similarity_transform(points, &reference_points(112));
    for (row, want) in crop(&back).iter().zip(&crop(&detected)) {
        for (a, b) in row.iter().zip(want) {
            assert!((a - b).abs() < 1e-3, "{:?} != {:?}", crop(&back), crop(&detected));
        }
    }
    let truth: Landmarks = detected.map(|(x, y)| (x + 0.7, y - 0.4));
    let through = GEOMETRY.landmarks(&matrix, &GEOMETRY.offsets(&matrix, &truth));
    for i in 0..5 {
        assert!((through[i].0 - truth[i].0).abs() < 1e-3 && (through[i].1 - truth[i].1).abs() < 1e-3);
    }
    let identity = invert(&invert(&matrix));
    for (row, want) in identity.iter().zip(&matrix) {
        for (a, b) in row.iter().zip(want) {
            assert!((a - b).abs() < 1e-9, "{identity:?} != {matrix:?}");
        }
    }
}

/// A grey patch with a bright 2×2 dot whose top-left pixel is at `(x, y)`: the dot's centre
/// is at `(x + 0.5, y + 0.5)` in pixel-centre coordinates.
fn dot_patch(x: usize, y: usize) -> BgrImage {
    let mut patch = BgrImage::new(32, 32);
    patch.data.fill(60);
    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
        let i = ((y + dy) * 32 + x + dx) * 3;
        patch.data[i..i + 3].fill(250);
    }
    patch
}

/// Every point sits on the dot: the target is where the dot is.
fn dot_sample(x: usize, y: usize) -> Sample {
    let reference = GEOMETRY.reference();
    let mut target = [0.0; REFINER_OUTPUTS];
    for i in 0..5 {
        target[2 * i] = x as f32 + 0.5 - reference[i].0;
        target[2 * i + 1] = y as f32 + 0.5 - reference[i].1;
    }
    Sample {
        patch: dot_patch(x, y),
        target,
        scale: 2.0,
    }
}

#[test]
fn mirroring_moves_the_points_with_the_picture() {
    let sample = dot_sample(9, 20);
    let (patch, target) = mirrored(&sample, GEOMETRY);
    let expected = dot_sample(32 - 2 - 9, 20);
    assert_eq!(patch.data, expected.patch.data);
    for (got, want) in target.iter().zip(&expected.target) {
        assert!((got - want).abs() < 1e-4, "{target:?} != {:?}", expected.target);
    }
}

fn config(out: PathBuf) -> RefinerConfig {
    RefinerConfig {
        train: Vec::new(),
        val: Vec::new(),
        detector: PathBuf::new(),
        detect: Default::default(),
        ort_library: ort_library(),
        background: None,
        out,
        id: "test-refiner".into(),
        side: 32,
        width: 4,
        epochs: 30,
        batch: 16,
        learning_rate: 1e-2,
        weight_decay: 0.0,
        rounds: 1,
        train_sizes: vec![12],
        val_sizes: vec![12],
        seed: 3,
        trained_on: "dots".into(),
        licence: "test".into(),
        progress: false,
    }
}

fn zero_head_student() -> Student {
    let shape = StudentShape {
        input_size: 32,
        width: 4,
        embedding_size: REFINER_OUTPUTS,
        lowfreq: false,
    };
    let student = Student::new(shape, 3).unwrap();
    let fc = student.param("fc.weight").unwrap();
    fc.set(&fc.as_tensor().zeros_like().unwrap()).unwrap();
    student
}

fn mean_error(student: &Student, samples: &[Sample]) -> f64 {
    let offsets = predict(student, samples).unwrap();
    offsets.iter().zip(samples).map(|(o, s)| s.error_px(o)).sum::<f64>() / samples.len() as f64
}

#[test]
fn training_learns_where_the_points_are_and_keeps_the_best_epoch() {
    let dots = |range: std::ops::Range<usize>| -> Vec<Sample> {
        range
            .flat_map(|x| (8..22).step_by(3).map(move |y| dot_sample(x, y)))
            .collect()
    };
    let train = dots(6..24);
    let val = vec![(12, dots(7..23))];
    let student = zero_head_student();
    let before = mean_error(&student, &val[0].1);
    let dir = tempfile::tempdir().unwrap();
    let trained = fit(&config(dir.path().into()), &student, &train, &val, GEOMETRY).unwrap();
    let after = mean_error(&student, &val[0].1);
    assert!(after < 0.5 * before, "validation error {before:.3} -> {after:.3} px");
    let best = trained
        .epochs
        .iter()
        .min_by(|a, b| a.val_error_px.total_cmp(&b.val_error_px))
        .unwrap();
    assert_eq!(trained.best_epoch, best.epoch);
    assert!(
        (best.val_error_px - after).abs() < 1e-4,
        "{} != {after}",
        best.val_error_px
    );
}

#[test]
fn exported_refiner_runs_in_onnx_runtime_as_in_candle() {
    let student = zero_head_student();
    // Give the head weights so the outputs are not all zero.
    let fc = student.param("fc.weight").unwrap();
    fc.set(&(fc.as_tensor().ones_like().unwrap() * 0.01).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let info = RefinerCard {
        id: "test-refiner",
        trained_on: "dots",
        licence: "test",
    };
    let card = write_model(dir.path(), &info, &student).unwrap();
    let card = ModelCard::load(&card).unwrap();
    assert_eq!(card.outputs, vec![train::OUTPUT.to_string()]);
    let mut refiner = Refiner::load(&card, ort_library().as_deref()).unwrap();
    let samples: Vec<Sample> = (5..9).map(|x| dot_sample(x * 2, 12)).collect();
    let expected = predict(&student, &samples).unwrap();
    let got = refiner
        .run(&samples.iter().map(|s| &s.patch).collect::<Vec<_>>())
        .unwrap();
    for (g, e) in got.chunks_exact(REFINER_OUTPUTS).zip(&expected) {
        for (a, b) in g.iter().zip(e) {
            assert!((a - b).abs() < 1e-4, "ort {g:?} vs candle {e:?}");
        }
    }
    // In the frame: the refined landmarks are the candle offsets mapped back.
    let frame = dot_patch(14, 14).resized(96, 96).unwrap();
    let detected = tilted_face().map(|(x, y)| (x - 60.0, y - 20.0));
    let refined = refiner.refine(&frame, &[detected]).unwrap();
    let (patch, matrix) = GEOMETRY.cut(&frame, &detected).unwrap();
    let sample = Sample {
        patch,
        target: [0.0; REFINER_OUTPUTS],
        scale: 1.0,
    };
    let want = GEOMETRY.landmarks(&matrix, &predict(&student, &[sample]).unwrap()[0]);
    for (a, b) in refined[0].iter().zip(&want) {
        assert!(
            (a.0 - b.0).abs() < 1e-3 && (a.1 - b.1).abs() < 1e-3,
            "{refined:?} vs {want:?}"
        );
    }
}

#[test]
fn a_recognizer_card_is_refused_as_a_refiner_with_the_shapes_expected() {
    let card = ModelCard::load(std::path::Path::new("models/sface.card.toml")).unwrap();
    let error = match Refiner::load(&card, ort_library().as_deref()) {
        Ok(_) => panic!("SFace loaded as a landmark refiner"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.contains("input_size 112x112") || error.contains("[?,10]"),
        "{error}"
    );
}
