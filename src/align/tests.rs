use super::*;

fn rotate_scale_shift(points: &Landmarks, angle: f32, scale: f32, shift: (f32, f32)) -> Landmarks {
    let (s, c) = angle.sin_cos();
    points.map(|(x, y)| (scale * (c * x - s * y) + shift.0, scale * (s * x + c * y) + shift.1))
}

#[test]
fn recovers_a_known_similarity_exactly() {
    let src = rotate_scale_shift(&ARCFACE_112, 0.3, 0.25, (300.0, 120.0));
    let m = similarity_transform(&src, &ARCFACE_112);
    for (p, q) in src.iter().zip(&ARCFACE_112) {
        let (x, y) = apply(&m, *p);
        assert!(
            (x - q.0).abs() < 1e-3 && (y - q.1).abs() < 1e-3,
            "{p:?} -> ({x},{y}) != {q:?}"
        );
    }
}

#[test]
fn reference_points_scale_with_crop_size() {
    let r = reference_points(56);
    assert!((r[0].0 - ARCFACE_112[0].0 / 2.0).abs() < 1e-4);
}

#[test]
fn aligned_crop_has_requested_size_and_puts_eyes_on_the_reference() {
    // Two bright dots at the "eyes" of a tilted small face in a 200×150 frame.
    let src = rotate_scale_shift(&ARCFACE_112, -0.2, 0.3, (80.0, 40.0));
    let mut frame = BgrImage::new(200, 150);
    for &(x, y) in &src[..2] {
        let at = (y.round() as usize * 200 + x.round() as usize) * 3;
        frame.data[at..at + 3].copy_from_slice(&[255, 255, 255]);
    }
    let crop = align_face(&frame, &src, 112).unwrap();
    assert_eq!((crop.width, crop.height, crop.data.len()), (112, 112, 112 * 112 * 3));
    for &(rx, ry) in &ARCFACE_112[..2] {
        let brightest = brightest_near(&crop, rx, ry, 6);
        let dist = ((brightest.0 - rx).powi(2) + (brightest.1 - ry).powi(2)).sqrt();
        assert!(dist <= 2.0, "eye landed at {brightest:?}, reference ({rx},{ry})");
    }
}

fn brightest_near(img: &BgrImage, cx: f32, cy: f32, radius: i32) -> (f32, f32) {
    let mut best = (0u32, (cx, cy));
    for dy in -radius..=radius {
        for dx in -radius..=radius {
            let (x, y) = (cx as i32 + dx, cy as i32 + dy);
            let at = (y as usize * img.width as usize + x as usize) * 3;
            let v = img.data[at] as u32 + img.data[at + 1] as u32 + img.data[at + 2] as u32;
            if v > best.0 {
                best = (v, (x as f32, y as f32));
            }
        }
    }
    best.1
}
