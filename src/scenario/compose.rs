use crate::image::{BgrImage, ImageError};
use crate::types::BBox;

/// A face cut from a photo with some context around it, and where the face sits inside.
pub struct FacePatch {
    image: BgrImage,
    face: BBox,
    /// Top-left corner of the patch in the photo.
    origin: (f32, f32),
}

/// Where a pasted patch's photo ended up: frame = photo · scale + offset, per axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    pub scale: (f32, f32),
    pub offset: (f32, f32),
}

impl Placement {
    /// A point of the photo in frame coordinates (e.g. the sharp photo's landmarks).
    pub fn map(&self, (x, y): (f32, f32)) -> (f32, f32) {
        (x * self.scale.0 + self.offset.0, y * self.scale.1 + self.offset.1)
    }
}

/// Context kept around the detected face box, as a fraction of its size on each side.
const CONTEXT: f32 = 0.35;

impl FacePatch {
    pub fn cut(photo: &BgrImage, face: &BBox) -> FacePatch {
        let (mx, my) = (face.w * CONTEXT, face.h * CONTEXT);
        let x = (face.x - mx).max(0.0).floor() as i32;
        let y = (face.y - my).max(0.0).floor() as i32;
        let w = (face.w + 2.0 * mx).ceil() as u32;
        let h = (face.h + 2.0 * my).ceil() as u32;
        let image = photo.crop(x, y, w, h);
        FacePatch {
            face: BBox {
                x: face.x - x as f32,
                y: face.y - y as f32,
                w: face.w,
                h: face.h,
            },
            image,
            origin: (x as f32, y as f32),
        }
    }

    /// Pastes the patch so that its face covers `target`, blending its border into the
    /// frame with an elliptical feather so the detector sees a face, not a rectangle.
    /// Returns where the photo's pixels landed.
    pub fn paste(&self, frame: &mut BgrImage, target: BBox) -> Result<Placement, ImageError> {
        let scale = target.w / self.face.w;
        let pw = ((self.image.width as f32 * scale).round() as u32).max(1);
        let ph = ((self.image.height as f32 * scale).round() as u32).max(1);
        let patch = self.image.resized(pw, ph)?;
        let ox = (target.x - self.face.x * scale).round() as i32;
        let oy = (target.y - self.face.y * scale).round() as i32;
        let (cx, cy) = (pw as f32 / 2.0, ph as f32 / 2.0);
        for py in 0..ph as i32 {
            let fy = oy + py;
            if fy < 0 || fy >= frame.height as i32 {
                continue;
            }
            for px in 0..pw as i32 {
                let fx = ox + px;
                if fx < 0 || fx >= frame.width as i32 {
                    continue;
                }
                let (dx, dy) = ((px as f32 + 0.5 - cx) / cx, (py as f32 + 0.5 - cy) / cy);
                let r = (dx * dx + dy * dy).sqrt();
                let alpha = ((1.0 - r) / 0.25).clamp(0.0, 1.0);
                if alpha <= 0.0 {
                    continue;
                }
                let src = (py as usize * pw as usize + px as usize) * 3;
                let dst = (fy as usize * frame.width as usize + fx as usize) * 3;
                for c in 0..3 {
                    let (s, d) = (patch.data[src + c] as f32, frame.data[dst + c] as f32);
                    frame.data[dst + c] = (alpha * s + (1.0 - alpha) * d).round() as u8;
                }
            }
        }
        let scale = (
            pw as f32 / self.image.width as f32,
            ph as f32 / self.image.height as f32,
        );
        // Pixel centres sit at integer coordinates; resizing keeps centres aligned, which
        // moves every point by half a pixel of the scale change (0.5 px at tiny faces).
        let offset = |o: i32, origin: f32, s: f32| o as f32 - origin * s + 0.5 * (s - 1.0);
        Ok(Placement {
            scale,
            offset: (offset(ox, self.origin.0, scale.0), offset(oy, self.origin.1, scale.1)),
        })
    }
}
