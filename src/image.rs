//! Packed BGR images and the few OpenCV operations the stages need on them.

use std::path::Path;

use opencv::core::{self as cv, Mat, MatTraitConst, MatTraitConstManual};
use opencv::prelude::VectorToVec;
use opencv::{imgcodecs, imgproc};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image {path}: cannot read it (missing, or not an image OpenCV can decode)")]
    Unreadable { path: String },
    #[error("image is {width}x{height} with {len} bytes; expected {expected}")]
    Corrupt {
        width: u32,
        height: u32,
        len: usize,
        expected: usize,
    },
    #[error("image {path}: cannot write it (missing folder, or an extension OpenCV cannot encode)")]
    Unwritable { path: String },
    #[error("OpenCV: {0}")]
    OpenCv(#[from] opencv::Error),
}

/// Packed BGR, 3 bytes per pixel, rows without padding.
#[derive(Debug, Clone, PartialEq)]
pub struct BgrImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl BgrImage {
    pub fn new(width: u32, height: u32) -> BgrImage {
        BgrImage {
            width,
            height,
            data: vec![0; width as usize * height as usize * 3],
        }
    }

    pub fn load(path: &Path) -> Result<BgrImage, ImageError> {
        let unreadable = || ImageError::Unreadable {
            path: path.display().to_string(),
        };
        let path_str = path.to_str().ok_or_else(unreadable)?;
        let mat = imgcodecs::imread(path_str, imgcodecs::IMREAD_COLOR)?;
        if mat.empty() {
            return Err(unreadable());
        }
        BgrImage::from_mat(&mat)
    }

    /// Checks that the pixel buffer matches the declared size.
    pub fn validate(&self) -> Result<(), ImageError> {
        let expected = self.width as usize * self.height as usize * 3;
        if self.width == 0 || self.height == 0 || self.data.len() != expected {
            return Err(ImageError::Corrupt {
                width: self.width,
                height: self.height,
                len: self.data.len(),
                expected,
            });
        }
        Ok(())
    }

    pub fn from_mat(mat: &Mat) -> Result<BgrImage, ImageError> {
        let mat = if mat.is_continuous() {
            mat.clone()
        } else {
            mat.try_clone()?
        };
        Ok(BgrImage {
            width: mat.cols() as u32,
            height: mat.rows() as u32,
            data: mat.data_bytes()?.to_vec(),
        })
    }

    /// Runs `f` on an OpenCV view of the pixels, without copying them.
    pub fn with_mat<T>(&self, f: impl FnOnce(&Mat) -> Result<T, ImageError>) -> Result<T, ImageError> {
        self.validate()?;
        // SAFETY: the Mat borrows `self.data`, which outlives it (dropped before return) and
        // has exactly height rows of width*3 bytes (checked by validate). OpenCV only reads it.
        let mat = unsafe {
            Mat::new_rows_cols_with_data_unsafe(
                self.height as i32,
                self.width as i32,
                cv::CV_8UC3,
                self.data.as_ptr() as *mut std::ffi::c_void,
                self.width as usize * 3,
            )?
        };
        f(&mat)
    }

    pub fn resized(&self, width: u32, height: u32) -> Result<BgrImage, ImageError> {
        self.with_mat(|src| {
            let mut dst = Mat::default();
            let interpolation = if width < self.width {
                imgproc::INTER_AREA
            } else {
                imgproc::INTER_LINEAR
            };
            imgproc::resize(
                src,
                &mut dst,
                cv::Size::new(width as i32, height as i32),
                0.0,
                0.0,
                interpolation,
            )?;
            BgrImage::from_mat(&dst)
        })
    }

    /// Resized to `size` when given, else unchanged.
    pub fn resized_to(self, size: Option<(u32, u32)>) -> Result<BgrImage, ImageError> {
        match size {
            Some((w, h)) if (w, h) != (self.width, self.height) => self.resized(w, h),
            _ => Ok(self),
        }
    }

    /// Warps with a 2×3 affine matrix into a `width × height` image (black border).
    pub fn warp_affine(&self, matrix: [[f64; 3]; 2], width: u32, height: u32) -> Result<BgrImage, ImageError> {
        self.warp_with_border(matrix, width, height, cv::BORDER_CONSTANT)
    }

    /// [`Self::warp_affine`] repeating the edge pixels outside the image instead of black: a
    /// crop re-warped by a few pixels keeps no black seam.
    pub fn warp_affine_replicate(
        &self,
        matrix: [[f64; 3]; 2],
        width: u32,
        height: u32,
    ) -> Result<BgrImage, ImageError> {
        self.warp_with_border(matrix, width, height, cv::BORDER_REPLICATE)
    }

    fn warp_with_border(
        &self,
        matrix: [[f64; 3]; 2],
        width: u32,
        height: u32,
        border: i32,
    ) -> Result<BgrImage, ImageError> {
        self.with_mat(|src| {
            let m = Mat::from_slice_2d(&matrix)?;
            let mut dst = Mat::default();
            imgproc::warp_affine(
                src,
                &mut dst,
                &m,
                cv::Size::new(width as i32, height as i32),
                imgproc::INTER_LINEAR,
                border,
                cv::Scalar::default(),
            )?;
            BgrImage::from_mat(&dst)
        })
    }

    /// Copies a rectangle out; the rectangle is clipped to the image.
    pub fn crop(&self, x: i32, y: i32, width: u32, height: u32) -> BgrImage {
        let x0 = x.clamp(0, self.width as i32) as u32;
        let y0 = y.clamp(0, self.height as i32) as u32;
        let x1 = (x + width as i32).clamp(0, self.width as i32) as u32;
        let y1 = (y + height as i32).clamp(0, self.height as i32) as u32;
        let mut out = BgrImage::new(x1 - x0, y1 - y0);
        let row = (x1 - x0) as usize * 3;
        for yy in y0..y1 {
            let src = (yy as usize * self.width as usize + x0 as usize) * 3;
            let dst = (yy - y0) as usize * row;
            out.data[dst..dst + row].copy_from_slice(&self.data[src..src + row]);
        }
        out
    }

    pub fn save(&self, path: &Path) -> Result<(), ImageError> {
        let path_str = path.to_str().ok_or_else(|| ImageError::Unreadable {
            path: path.display().to_string(),
        })?;
        self.with_mat(|mat| {
            // imwrite reports a missing folder or unknown extension by returning false.
            if imgcodecs::imwrite(path_str, mat, &cv::Vector::new())? {
                Ok(())
            } else {
                Err(ImageError::Unwritable {
                    path: path.display().to_string(),
                })
            }
        })
    }

    /// Gaussian blur with standard deviation `sigma` pixels (kernel sized by OpenCV).
    pub fn blurred(&self, sigma: f64) -> Result<BgrImage, ImageError> {
        self.with_mat(|src| {
            let mut dst = Mat::default();
            imgproc::gaussian_blur(src, &mut dst, cv::Size::new(0, 0), sigma, sigma, cv::BORDER_REFLECT_101)?;
            BgrImage::from_mat(&dst)
        })
    }

    /// Smeared along a straight line of `length` pixels at `angle_deg`: a face moving (or a
    /// camera shaking) during the exposure.
    pub fn motion_blurred(&self, length: f64, angle_deg: f64) -> Result<BgrImage, ImageError> {
        let side = (length.ceil() as usize | 1).max(3);
        let mut kernel = vec![0f32; side * side];
        let (dx, dy) = (angle_deg.to_radians().cos(), angle_deg.to_radians().sin());
        let centre = (side / 2) as f64;
        let samples = side * 4;
        for k in 0..samples {
            let t = (k as f64 / (samples - 1) as f64 - 0.5) * length;
            let (x, y) = ((centre + t * dx).round(), (centre + t * dy).round());
            if (0.0..side as f64).contains(&x) && (0.0..side as f64).contains(&y) {
                kernel[y as usize * side + x as usize] += 1.0;
            }
        }
        let total: f32 = kernel.iter().sum();
        kernel.iter_mut().for_each(|v| *v /= total.max(1.0));
        self.with_mat(|src| {
            let kernel = Mat::new_rows_cols_with_data(side as i32, side as i32, &kernel)?;
            let mut dst = Mat::default();
            imgproc::filter_2d(
                src,
                &mut dst,
                -1,
                &kernel,
                cv::Point::new(-1, -1),
                0.0,
                cv::BORDER_REFLECT_101,
            )?;
            BgrImage::from_mat(&dst)
        })
    }

    /// Encoded as JPEG at `quality` (1–100) and decoded again: the compression artefacts a
    /// camera's encoder leaves.
    pub fn jpeg_roundtrip(&self, quality: i32) -> Result<BgrImage, ImageError> {
        self.with_mat(|mat| {
            let mut jpeg = cv::Vector::<u8>::new();
            let params = cv::Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, quality.clamp(1, 100)]);
            imgcodecs::imencode(".jpg", mat, &mut jpeg, &params)?;
            let decoded = imgcodecs::imdecode(&jpeg, imgcodecs::IMREAD_COLOR)?;
            BgrImage::from_mat(&decoded)
        })
    }

    /// With `border` pixels added on every side, repeating the edge pixels: tightly cropped
    /// face photos need room around the face for the detector.
    pub fn padded(&self, border: u32) -> Result<BgrImage, ImageError> {
        self.with_mat(|src| {
            let mut dst = Mat::default();
            let b = border as i32;
            cv::copy_make_border(src, &mut dst, b, b, b, b, cv::BORDER_REPLICATE, cv::Scalar::default())?;
            BgrImage::from_mat(&dst)
        })
    }

    /// Grey, still stored as three equal channels (ITU-R BT.601 luma).
    pub fn grey(&self) -> BgrImage {
        let mut out = self.clone();
        for px in out.data.chunks_exact_mut(3) {
            let y = 0.114 * px[0] as f32 + 0.587 * px[1] as f32 + 0.299 * px[2] as f32;
            px.fill(y.round().clamp(0.0, 255.0) as u8);
        }
        out
    }

    /// Mirrored left to right.
    pub fn mirrored(&self) -> BgrImage {
        let mut out = self.clone();
        let row = self.width as usize * 3;
        for (dst, src) in out.data.chunks_exact_mut(row).zip(self.data.chunks_exact(row)) {
            for (d, s) in dst.chunks_exact_mut(3).zip(src.chunks_exact(3).rev()) {
                d.copy_from_slice(s);
            }
        }
        out
    }

    /// Encodes as JPEG (OpenCV's default quality, 95).
    pub fn jpeg(&self) -> Result<Vec<u8>, ImageError> {
        self.with_mat(|mat| {
            let mut jpeg = cv::Vector::<u8>::new();
            imgcodecs::imencode(".jpg", mat, &mut jpeg, &cv::Vector::new())?;
            Ok(jpeg.to_vec())
        })
    }
}
