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
