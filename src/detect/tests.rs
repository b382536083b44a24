use super::yunet::StrideOutputs;
use super::*;
use crate::image::BgrImage;
use crate::testing;
use crate::types::{BBox, Detection};

fn detector() -> Detector {
    Detector::load(
        &testing::detector_card(),
        testing::ort_library().as_deref(),
        &DetectConfig::default(),
    )
    .expect("detector loads")
}

#[test]
fn decodes_an_anchor_like_opencv() {
    // One 2×2 grid at stride 8; only anchor 3 (col 1, row 1) is confident.
    let cls = [0.0, 0.0, 0.0, 0.81];
    let obj = [0.0, 0.0, 0.0, 1.0];
    let mut bbox = [0.0; 16];
    bbox[12..16].copy_from_slice(&[0.5, 0.25, 2f32.ln(), 0.0]);
    let mut kps = [0.0; 40];
    kps[30] = 0.5; // first landmark x offset
    let heads = StrideOutputs {
        cls: &cls,
        obj: &obj,
        bbox: &bbox,
        kps: &kps,
    };
    let mut found = Vec::new();
    decode_stride(&heads, 8, 2, 0.5, &mut found);
    assert_eq!(found.len(), 1);
    let d = &found[0];
    assert!((d.score - 0.9).abs() < 1e-6);
    // centre ((1+0.5)*8, (1+0.25)*8) = (12, 10); size (16, 8)
    assert_eq!(
        d.bbox,
        BBox {
            x: 4.0,
            y: 6.0,
            w: 16.0,
            h: 8.0
        }
    );
    assert_eq!(d.landmarks[0], (12.0, 8.0));
}

#[test]
fn nms_keeps_the_best_of_overlapping_boxes() {
    let det = |x: f32, score: f32| Detection {
        bbox: BBox {
            x,
            y: 0.0,
            w: 10.0,
            h: 10.0,
        },
        landmarks: [(0.0, 0.0); 5],
        score,
    };
    let kept = nms(vec![det(0.0, 0.7), det(1.0, 0.9), det(50.0, 0.8)], 0.3);
    let xs: Vec<f32> = kept.iter().map(|d| d.bbox.x).collect();
    assert_eq!(xs, vec![1.0, 50.0]);
}

#[test]
fn finds_the_face_in_every_public_domain_photo() {
    let mut detector = detector();
    for name in [
        "obama.jpg",
        "obama2.jpg",
        "obama3.jpg",
        "biden.jpg",
        "grace_hopper.jpg",
        "astronaut.png",
    ] {
        let image = BgrImage::load(&testing::photo(name)).unwrap();
        let faces = detector.detect(&image).unwrap();
        let face = crate::gallery::largest_face(&faces).unwrap_or_else(|| panic!("no face in {name}"));
        assert!(face.bbox.w > 40.0, "{name}: face only {} px", face.bbox.w);
        for point in face.landmarks {
            assert!(
                face.bbox.contains(point),
                "{name}: landmark {point:?} outside {:?}",
                face.bbox
            );
        }
    }
}

#[test]
fn finds_a_small_face_after_downscaling() {
    let mut detector = detector();
    let photo = BgrImage::load(&testing::photo("obama.jpg")).unwrap();
    let small = photo.resized(photo.width / 6, photo.height / 6).unwrap();
    let faces = detector.detect(&small).unwrap();
    let face = crate::gallery::largest_face(&faces).expect("face found at small scale");
    assert!(face.bbox.w < 60.0, "expected a small face, got {}", face.bbox.w);
}

#[test]
fn corrupt_and_empty_frames_are_clear_errors() {
    let mut detector = detector();
    let corrupt = BgrImage {
        width: 64,
        height: 64,
        data: vec![0; 100],
    };
    let err = detector.detect(&corrupt).unwrap_err().to_string();
    assert!(err.contains("64x64") && err.contains("100 bytes"), "{err}");
    let empty = BgrImage {
        width: 0,
        height: 0,
        data: vec![],
    };
    assert!(detector.detect(&empty).is_err());
}

fn detector_with(config: DetectConfig) -> Detector {
    Detector::load(&testing::detector_card(), testing::ort_library().as_deref(), &config).expect("detector loads")
}

/// A vtest.avi frame with obama's face pasted at `target`.
fn scene_with_face(target: BBox) -> BgrImage {
    let reader = crate::serve::VideoReader::open(&testing::background_video(), false).unwrap();
    let mut frame = reader.next_frame().unwrap().unwrap();
    let photo = BgrImage::load(&testing::photo("obama.jpg")).unwrap();
    let faces = detector().detect(&photo).unwrap();
    let face = crate::gallery::largest_face(&faces).unwrap();
    crate::scenario::FacePatch::cut(&photo, &face.bbox)
        .paste(&mut frame, target)
        .unwrap();
    frame
}

fn hits(faces: &[Detection], target: &BBox) -> usize {
    faces.iter().filter(|d| d.bbox.iou(target) > 0.1).count()
}

#[test]
fn a_12_px_face_in_street_footage_is_found_in_tiny_face_modes() {
    // Top-left grass area, away from vtest's pedestrians.
    let target = BBox {
        x: 120.0,
        y: 330.0,
        w: 12.0,
        h: 14.4,
    };
    let frame = scene_with_face(target);
    for mode in [DetectMode::Upscale, DetectMode::Tiles] {
        let mut detector = detector_with(DetectConfig {
            mode,
            upscale: 2.0,
            ..DetectConfig::default()
        });
        let faces = detector.detect(&frame).unwrap();
        assert_eq!(hits(&faces, &target), 1, "{mode:?}: {faces:?}");
    }
}

#[test]
fn tiles_merge_a_face_on_a_tile_border_into_one_box() {
    // The centre of the frame is where the four 2×2 tiles meet.
    let target = BBox {
        x: 364.0,
        y: 268.0,
        w: 40.0,
        h: 48.0,
    };
    let frame = scene_with_face(target);
    let mut detector = detector_with(DetectConfig {
        mode: DetectMode::Tiles,
        upscale: 1.0,
        ..DetectConfig::default()
    });
    let faces = detector.detect(&frame).unwrap();
    assert_eq!(hits(&faces, &target), 1, "{faces:?}");
}

/// A public-domain photo scaled to `width × height`.
fn photo_at(name: &str, width: u32, height: u32) -> BgrImage {
    BgrImage::load(&testing::photo(name))
        .unwrap()
        .resized(width, height)
        .unwrap()
}

#[test]
fn a_batch_gives_what_single_runs_give_and_rejects_mixed_sizes() {
    let mut detector = detector();
    let a = photo_at("obama.jpg", 320, 240);
    let b = photo_at("biden.jpg", 320, 240);
    let batch = detector.detect_batch(&[&a, &b]).unwrap();
    let single = [
        detector.detect_batch(&[&a]).unwrap().remove(0),
        detector.detect_batch(&[&b]).unwrap().remove(0),
    ];
    for (one, many) in single.iter().zip(&batch) {
        assert_eq!(one.len(), many.len());
        for (x, y) in one.iter().zip(many) {
            assert!((x.bbox.x - y.bbox.x).abs() < 0.01 && (x.score - y.score).abs() < 1e-4);
        }
    }
    let small = a.resized(160, 120).unwrap();
    assert!(matches!(
        detector.detect_batch(&[&a, &small]),
        Err(DetectError::MixedSizes)
    ));
}

#[test]
fn blur_lowers_sharpness_and_tilt_sets_the_roll_sign() {
    let mut detector = detector();
    let photo = BgrImage::load(&testing::photo("obama.jpg")).unwrap();
    let face = crate::gallery::largest_face(&detector.detect(&photo).unwrap())
        .unwrap()
        .clone();
    let sharp = assess(&photo, &face);
    let blurred = photo
        .resized(photo.width / 4, photo.height / 4)
        .unwrap()
        .resized(photo.width, photo.height)
        .unwrap();
    let soft = assess(&blurred, &face);
    assert!(
        soft.sharpness < sharp.sharpness * 0.5,
        "blurred {} vs sharp {}",
        soft.sharpness,
        sharp.sharpness
    );
    assert!(sharp.roll_deg.abs() < 8.0 && sharp.yaw_deg.abs() < 25.0, "{sharp:?}");

    let (cx, cy) = (photo.width as f64 / 2.0, photo.height as f64 / 2.0);
    for degrees in [15.0f64, -15.0] {
        let (s, c) = degrees.to_radians().sin_cos();
        // Rotates clockwise on screen for positive angles (image y points down).
        let matrix = [[c, -s, cx - c * cx + s * cy], [s, c, cy - s * cx - c * cy]];
        let tilted = photo.warp_affine(matrix, photo.width, photo.height).unwrap();
        let faces = detector.detect(&tilted).unwrap();
        let q = assess(&tilted, crate::gallery::largest_face(&faces).unwrap());
        assert_eq!(q.roll_deg.signum(), degrees.signum() as f32, "{degrees}°: {q:?}");
        assert!((q.roll_deg - degrees as f32).abs() < 8.0, "{degrees}°: {q:?}");
    }
}

#[test]
fn faces_at_the_frame_edge_are_flagged() {
    let frame = BgrImage::new(100, 100);
    let at_edge = Detection {
        bbox: BBox {
            x: 0.0,
            y: 40.0,
            w: 20.0,
            h: 24.0,
        },
        landmarks: [(5.0, 50.0); 5],
        score: 0.8,
    };
    let inside = Detection {
        bbox: BBox {
            x: 40.0,
            y: 40.0,
            w: 20.0,
            h: 24.0,
        },
        ..at_edge.clone()
    };
    assert!(assess(&frame, &at_edge).touches_border);
    assert!(!assess(&frame, &inside).touches_border);
}

#[test]
fn decoding_matches_opencvs_face_detector_yn() {
    let path = testing::repo().join("tests/fixtures/yunet/reference.json");
    let reference: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let config = DetectConfig {
        mode: DetectMode::Native,
        min_face_px: 0.0,
        max_faces: 5000,
        ..DetectConfig::default()
    };
    assert!((reference["score_threshold"].as_f64().unwrap() - config.score_threshold as f64).abs() < 1e-6);
    assert!((reference["nms_threshold"].as_f64().unwrap() - config.nms_threshold as f64).abs() < 1e-6);
    let mut detector = detector_with(config);
    let mut compared = 0;
    for case in reference["cases"].as_array().unwrap() {
        let image_path = case["image"].as_str().unwrap();
        let image = BgrImage::load(&testing::repo().join(image_path)).unwrap();
        let ours = detector.detect(&image).unwrap();
        let theirs: Vec<Vec<f32>> = serde_json::from_value(case["faces"].clone()).unwrap();
        assert_eq!(ours.len(), theirs.len(), "{image_path}: {ours:?} vs {theirs:?}");
        for face in &theirs {
            let bbox = BBox {
                x: face[0],
                y: face[1],
                w: face[2],
                h: face[3],
            };
            let mine = ours
                .iter()
                .max_by(|a, b| a.bbox.iou(&bbox).total_cmp(&b.bbox.iou(&bbox)))
                .unwrap();
            let mut values = vec![mine.bbox.x, mine.bbox.y, mine.bbox.w, mine.bbox.h];
            values.extend(mine.landmarks.iter().flat_map(|&(x, y)| [x, y]));
            for (i, (a, b)) in values.iter().zip(&face[..14]).enumerate() {
                assert!((a - b).abs() <= 1.0, "{image_path}: value {i} is {a}, OpenCV says {b}");
            }
            assert!(
                (mine.score - face[14]).abs() <= 0.01,
                "{image_path}: score {} vs {}",
                mine.score,
                face[14]
            );
            compared += 1;
        }
    }
    assert!(compared >= 10, "only {compared} faces compared");
}

#[test]
fn detect_many_over_cameras_of_different_sizes_equals_one_at_a_time() {
    let mut detector = detector();
    let a = photo_at("obama.jpg", 320, 240);
    let b = photo_at("biden.jpg", 320, 240);
    let c = photo_at("grace_hopper.jpg", 200, 200);
    let together = detector.detect_many(&[&a, &b, &c]).unwrap();
    let alone = [&a, &b, &c].map(|image| detector.detect(image).unwrap());
    assert_eq!(together.len(), 3);
    for (many, one) in together.iter().zip(&alone) {
        assert_eq!(many.len(), one.len());
        assert!(!one.is_empty(), "each photo has a face");
        for (x, y) in many.iter().zip(one) {
            assert!(x.bbox.iou(&y.bbox) > 0.99 && (x.score - y.score).abs() < 1e-4);
        }
    }
}

fn region_planner(config: &DetectConfig) -> RegionSearch {
    RegionSearch::new(&DetectConfig {
        search: SearchMode::Regions,
        ..config.clone()
    })
    .unwrap()
}

/// The largest difference of a box corner and of a landmark coordinate, in pixels.
fn gaps(a: &Detection, b: &Detection) -> (f32, f32) {
    let corners = |d: &Detection| [d.bbox.x, d.bbox.y, d.bbox.x + d.bbox.w, d.bbox.y + d.bbox.h];
    let points = |d: &Detection| d.landmarks.iter().flat_map(|&(x, y)| [x, y]).collect::<Vec<_>>();
    let largest = |p: &[f32], q: &[f32]| p.iter().zip(q).map(|(p, q)| (p - q).abs()).fold(0.0, f32::max);
    (largest(&corners(a), &corners(b)), largest(&points(a), &points(b)))
}

#[test]
fn regions_find_the_boxes_and_landmarks_of_a_full_search_within_a_pixel() {
    // Off-grid places and sizes, on grass and pavement away from vtest's pedestrians.
    let targets = [
        (121.0, 331.0, 12.0),
        (437.0, 93.0, 16.0),
        (250.0, 501.0, 24.0),
        (600.0, 200.0, 10.0),
        (30.0, 150.0, 14.0),
        (700.0, 480.0, 20.0),
    ];
    let mut landmark_gaps = Vec::new();
    for upscale in [1.5, 2.0] {
        let config = DetectConfig {
            upscale,
            ..DetectConfig::default()
        };
        let mut detector = detector_with(config.clone());
        for (x, y, w) in targets {
            let target = BBox { x, y, w, h: w * 1.2 };
            let frame = scene_with_face(target);
            let full = detector.detect(&frame).unwrap();
            let whole = full.iter().find(|d| target.found_by(&d.bbox));
            let whole = whole.unwrap_or_else(|| panic!("×{upscale}: {w} px face not found whole: {full:?}"));
            // What the planner makes of a track window around the face.
            let mut planner = region_planner(&config);
            planner.plan(&frame, &[], false).unwrap();
            let window = target.grown(w * 0.5, w * 0.5);
            let search = planner.plan(&frame, &[window], false).unwrap();
            assert!(matches!(search, Search::Regions(ref r) if r.len() == 1), "{search:?}");
            let found = detector.detect_searched(&[(&frame, &search)]).unwrap().remove(0);
            let in_region: Vec<_> = found.iter().filter(|d| target.found_by(&d.bbox)).collect();
            assert_eq!(in_region.len(), 1, "×{upscale} {w} px: {found:?}");
            let (boxes, landmarks) = gaps(whole, in_region[0]);
            assert!(
                boxes <= 1.0,
                "×{upscale} {w} px: boxes {boxes} px apart: {whole:?} vs {in_region:?}"
            );
            // YuNet's landmarks on some tiny faces move by up to 2 px with any change of
            // surroundings; a drift beyond that would be a mapping error.
            assert!(landmarks <= 2.5, "×{upscale} {w} px: landmarks {landmarks} px apart");
            landmark_gaps.push(landmarks);
            assert!((whole.score - in_region[0].score).abs() < 0.05);
        }
    }
    landmark_gaps.sort_by(f32::total_cmp);
    let median = landmark_gaps[landmark_gaps.len() / 2];
    assert!(median <= 1.0, "landmarks typically within a pixel: {landmark_gaps:?}");
}

#[test]
fn a_face_that_never_moves_is_found_by_the_full_sweeps_and_kept_by_its_track_window() {
    let target = BBox {
        x: 121.0,
        y: 331.0,
        w: 14.0,
        h: 16.8,
    };
    let frame = scene_with_face(target);
    let config = DetectConfig {
        full_every_frames: 4,
        ..DetectConfig::default()
    };
    let mut detector = detector_with(config.clone());
    let found_in = |planner: &mut RegionSearch, detector: &mut Detector, windows: &[BBox]| {
        let search = planner.plan(&frame, windows, false).unwrap();
        let faces = detector.detect_searched(&[(&frame, &search)]).unwrap().remove(0);
        (search == Search::Full, faces.iter().any(|d| target.found_by(&d.bbox)))
    };
    // Without tracks only the sweeps (frames 0, 4, 8) see it: nothing in it moves.
    let mut planner = region_planner(&config);
    let seen: Vec<(bool, bool)> = (0..9).map(|_| found_in(&mut planner, &mut detector, &[])).collect();
    let expected: Vec<(bool, bool)> = (0..9).map(|i| (i % 4 == 0, i % 4 == 0)).collect();
    assert_eq!(seen, expected, "(swept, found) per frame");
    // Once found, a window where it stands keeps it in every frame between the sweeps.
    let window = [target.grown(7.0, 7.0)];
    let mut planner = region_planner(&config);
    let seen: Vec<bool> = (0..9)
        .map(|i| found_in(&mut planner, &mut detector, if i == 0 { &[] } else { &window }).1)
        .collect();
    assert_eq!(seen, vec![true; 9]);
}
