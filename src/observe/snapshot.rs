use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use opencv::core::{self as cv, Mat, MatTraitConst};
use opencv::prelude::VectorToVec;
use opencv::{imgcodecs, imgproc};

use crate::image::{BgrImage, ImageError};
use crate::types::BBox;

/// How often a camera's latest frame is copied for /cameras/{id}/snapshot.jpg; copying every
/// frame would cost a full-frame copy each time for pictures nobody may ask for.
const EVERY: Duration = Duration::from_millis(200);

struct Entry {
    taken: Instant,
    seq: u64,
    image: BgrImage,
    faces: Vec<(BBox, String)>,
}

/// The latest frame of each camera with its faces and, once recognized, their names.
#[derive(Default)]
pub struct Snapshots {
    cameras: Mutex<HashMap<String, Entry>>,
}

impl Snapshots {
    /// Keeps this frame if the camera's snapshot is due for renewal.
    pub fn offer(&self, camera: &str, seq: u64, image: &BgrImage, faces: impl Iterator<Item = BBox>) {
        let Ok(mut cameras) = self.cameras.lock() else { return };
        if cameras.get(camera).is_some_and(|e| e.taken.elapsed() < EVERY) {
            return;
        }
        let faces = faces.map(|b| (b, "?".to_string())).collect();
        cameras.insert(
            camera.to_string(),
            Entry {
                taken: Instant::now(),
                seq,
                image: image.clone(),
                faces,
            },
        );
    }

    /// Names a face of the snapshot's frame once the recognizer has matched it.
    pub fn label(&self, camera: &str, seq: u64, bbox: &BBox, name: &str) {
        let Ok(mut cameras) = self.cameras.lock() else { return };
        if let Some(entry) = cameras.get_mut(camera).filter(|e| e.seq == seq)
            && let Some(face) = entry.faces.iter_mut().find(|(b, _)| b == bbox)
        {
            face.1 = name.to_string();
        }
    }

    /// The latest frame with boxes and names drawn, as JPEG; None before the first frame.
    pub fn jpeg(&self, camera: &str) -> Option<Result<Vec<u8>, ImageError>> {
        let cameras = self.cameras.lock().ok()?;
        let entry = cameras.get(camera)?;
        Some(render(&entry.image, &entry.faces))
    }
}

fn render(image: &BgrImage, faces: &[(BBox, String)]) -> Result<Vec<u8>, ImageError> {
    image.with_mat(|mat| {
        let mut canvas = Mat::default();
        mat.copy_to(&mut canvas)?;
        for (b, name) in faces {
            let rect = cv::Rect::new(b.x as i32, b.y as i32, b.w.max(1.0) as i32, b.h.max(1.0) as i32);
            let colour = if name.starts_with("unknown") || name == "?" {
                cv::Scalar::new(0.0, 200.0, 255.0, 0.0)
            } else {
                cv::Scalar::new(0.0, 255.0, 0.0, 0.0)
            };
            imgproc::rectangle(&mut canvas, rect, colour, 2, imgproc::LINE_8, 0)?;
            let origin = cv::Point::new(b.x as i32, (b.y as i32 - 4).max(10));
            imgproc::put_text(
                &mut canvas,
                name,
                origin,
                imgproc::FONT_HERSHEY_SIMPLEX,
                0.45,
                colour,
                1,
                imgproc::LINE_AA,
                false,
            )?;
        }
        let mut jpeg = cv::Vector::<u8>::new();
        imgcodecs::imencode(".jpg", &canvas, &mut jpeg, &cv::Vector::new())?;
        Ok(jpeg.to_vec())
    })
}
