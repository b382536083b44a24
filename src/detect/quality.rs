//! How much to trust one detected face: its size, sharpness, pose and whether the frame cut
//! it off. Travels with the crop into the recognizer and into every event.

use crate::image::BgrImage;
use crate::types::Detection;
pub use crate::types::FaceQuality;

/// Each detection of `frame` with its quality: what the tracker takes.
pub fn assess_all(frame: &BgrImage, detections: Vec<Detection>) -> Vec<(Detection, FaceQuality)> {
    detections
        .into_iter()
        .map(|d| {
            let quality = assess(frame, &d);
            (d, quality)
        })
        .collect()
}

/// Assesses one detection on the frame it came from.
pub fn assess(frame: &BgrImage, detection: &Detection) -> FaceQuality {
    let b = &detection.bbox;
    let (roll_deg, yaw_deg) = pose(detection);
    let touches_border =
        b.x <= 1.0 || b.y <= 1.0 || b.x + b.w >= frame.width as f32 - 1.0 || b.y + b.h >= frame.height as f32 - 1.0;
    let crop = frame.crop(
        b.x.floor() as i32,
        b.y.floor() as i32,
        b.w.ceil() as u32,
        b.h.ceil() as u32,
    );
    FaceQuality {
        width_px: b.w,
        detection_score: detection.score,
        sharpness: laplacian_variance(&crop),
        yaw_deg,
        roll_deg,
        touches_border,
    }
}

/// (roll, yaw) in degrees from the five landmarks.
fn pose(detection: &Detection) -> (f32, f32) {
    let [left_in_image, right_in_image, nose, _, _] = detection.landmarks;
    let (dx, dy) = (right_in_image.0 - left_in_image.0, right_in_image.1 - left_in_image.1);
    let roll = dy.atan2(dx);
    let eye_distance = (dx * dx + dy * dy).sqrt().max(1e-3);
    let mid = (
        (left_in_image.0 + right_in_image.0) / 2.0,
        (left_in_image.1 + right_in_image.1) / 2.0,
    );
    // Nose offset along the eye line, with roll removed, relative to half the eye distance.
    let along = ((nose.0 - mid.0) * roll.cos() + (nose.1 - mid.1) * roll.sin()) / (eye_distance / 2.0);
    let yaw = along.clamp(-1.0, 1.0).asin();
    (roll.to_degrees(), yaw.to_degrees())
}

fn laplacian_variance(image: &BgrImage) -> f32 {
    let (w, h) = (image.width as usize, image.height as usize);
    if w < 3 || h < 3 {
        return 0.0;
    }
    let grey: Vec<f32> = image
        .data
        .chunks_exact(3)
        .map(|p| (p[0] as f32 + p[1] as f32 + p[2] as f32) / 3.0)
        .collect();
    let mut values = Vec::with_capacity((w - 2) * (h - 2));
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let at = y * w + x;
            values.push(grey[at - 1] + grey[at + 1] + grey[at - w] + grey[at + w] - 4.0 * grey[at]);
        }
    }
    let mean = values.iter().sum::<f32>() / values.len() as f32;
    values.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / values.len() as f32
}
