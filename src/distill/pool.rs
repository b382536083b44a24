//! What the student trains on: aligned sharp crops with the teacher's embedding of each, and
//! optionally a few fixed *variants* of every crop (mirrored, slightly shifted, turned and
//! zoomed), each embedded by the teacher itself. A degraded copy of a variant is then pulled
//! to the teacher's embedding of that very variant — a consistent target — instead of to the
//! embedding of a crop it was not made from. Variants are seeded by crop, so their teacher
//! embeddings are computed once and cached beside the crops like the plain ones.

use std::path::Path;

use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::DistillError;
use super::dataset::{self, Crops};
use crate::image::{BgrImage, ImageError};
use crate::model::ModelCard;
use crate::recognize::{Recognizer, pack_crops};

/// Most a variant moves the face: ±6 % zoom, ±6° turn, ±4 % of the width sideways and up or
/// down — within what alignment from good landmarks leaves, so the teacher still embeds the
/// variant as the same face.
const MAX_ZOOM: f64 = 0.06;
const MAX_TURN_DEG: f64 = 6.0;
const MAX_SHIFT: f64 = 0.04;

/// Crops of one or more folders with the teacher's embedding of each variant of each crop.
/// Rows are crop-major: variant `v` of crop `i` is row `i · variants + v`.
pub(super) struct Pool {
    pub(super) images: Vec<BgrImage>,
    pub(super) targets: Tensor,
    pub(super) variants: usize,
    /// The file each crop came from (one per crop, not per variant).
    pub(super) paths: Vec<std::path::PathBuf>,
}

impl Pool {
    /// Every crop of `folder` with `variants` versions each (1: the crop alone).
    pub(super) fn load(
        folder: &Path,
        size: u32,
        variants: usize,
        teacher: &mut Recognizer,
    ) -> Result<Pool, DistillError> {
        let crops = dataset::load_crops(folder, size)?;
        let mut per_variant = vec![dataset::teacher_embeddings(folder, &crops, teacher)?];
        // Variant 0 is the crops themselves, moved in below.
        let mut images = vec![Vec::new()];
        for v in 1..variants {
            let varied = Crops {
                paths: crops.paths.clone(),
                images: crops
                    .images
                    .iter()
                    .enumerate()
                    .map(|(i, image)| variant(image, i, v))
                    .collect::<Result<_, _>>()?,
            };
            per_variant.push(dataset::teacher_embeddings(folder, &varied, teacher)?);
            images.push(varied.images);
        }
        let n = crops.images.len();
        let interleaved: Vec<usize> = (0..n).flat_map(|i| (0..variants).map(move |v| v * n + i)).collect();
        let stacked = Tensor::cat(&per_variant, 0)?;
        images[0] = crops.images;
        Ok(Pool {
            images: interleave(images),
            targets: select_rows(&stacked, &interleaved)?,
            variants,
            paths: crops.paths,
        })
    }

    /// Several folders as one pool (e.g. DCGAN faces and morphs); all with the same variants.
    pub(super) fn load_all(
        folders: &[std::path::PathBuf],
        size: u32,
        variants: usize,
        teacher: &mut Recognizer,
    ) -> Result<Option<Pool>, DistillError> {
        let mut pools = Vec::new();
        for folder in folders {
            pools.push(Pool::load(folder, size, variants, teacher)?);
        }
        if pools.len() <= 1 {
            return Ok(pools.pop());
        }
        let targets = Tensor::cat(&pools.iter().map(|p| &p.targets).collect::<Vec<_>>(), 0)?;
        let mut joined = Pool {
            images: Vec::new(),
            targets,
            variants,
            paths: Vec::new(),
        };
        for pool in pools {
            joined.images.extend(pool.images);
            joined.paths.extend(pool.paths);
        }
        Ok(Some(joined))
    }

    pub(super) fn len(&self) -> usize {
        self.paths.len()
    }
}

/// `per_variant[v][i]` laid out crop-major.
fn interleave(per_variant: Vec<Vec<BgrImage>>) -> Vec<BgrImage> {
    let mut iters: Vec<_> = per_variant.into_iter().map(Vec::into_iter).collect();
    let mut out = Vec::new();
    'crops: loop {
        for it in &mut iters {
            match it.next() {
                Some(image) => out.push(image),
                None => break 'crops,
            }
        }
    }
    out
}

/// Variant `v` of crop number `index`: 0 is the crop, odd variants are mirrored, and every
/// variant from 2 on is also zoomed, turned and shifted by a draw seeded with `(index, v)`
/// (so the same crop always gets the same variant and the teacher's cache holds).
pub fn variant(crop: &BgrImage, index: usize, v: usize) -> Result<BgrImage, ImageError> {
    if v == 0 {
        return Ok(crop.clone());
    }
    let mut image = if v % 2 == 1 { crop.mirrored() } else { crop.clone() };
    if v >= 2 {
        let mut rng = StdRng::seed_from_u64(((index as u64) << 8) ^ v as u64 ^ 0x005E_ED0F_FACE);
        let zoom = 1.0 + rng.random_range(-MAX_ZOOM..=MAX_ZOOM);
        let turn = rng.random_range(-MAX_TURN_DEG..=MAX_TURN_DEG).to_radians();
        let side = image.width as f64;
        let shift = [
            rng.random_range(-MAX_SHIFT..=MAX_SHIFT) * side,
            rng.random_range(-MAX_SHIFT..=MAX_SHIFT) * side,
        ];
        image = image.warp_affine_replicate(about_centre(side, zoom, turn, shift), image.width, image.height)?;
    }
    Ok(image)
}

/// The similarity that zooms by `zoom` and turns by `turn` radians about the centre of a
/// `side`-wide square, then moves by `shift`.
fn about_centre(side: f64, zoom: f64, turn: f64, shift: [f64; 2]) -> [[f64; 3]; 2] {
    let (a, b) = (zoom * turn.cos(), zoom * turn.sin());
    let c = side / 2.0;
    [
        [a, -b, c - a * c + b * c + shift[0]],
        [b, a, c - b * c - a * c + shift[1]],
    ]
}

/// Some of a pool's crops, all their variants, with their teacher embeddings.
pub(super) struct Subset<'a> {
    /// Crop-major like the pool: variant `v` of the subset's crop `j` is `j · variants + v`.
    pub(super) images: Vec<&'a BgrImage>,
    pub(super) targets: Tensor,
    pub(super) variants: usize,
}

impl<'a> Subset<'a> {
    pub(super) fn new(pool: &'a Pool, indices: &[usize]) -> Result<Subset<'a>, DistillError> {
        let rows: Vec<usize> = indices
            .iter()
            .flat_map(|&i| (0..pool.variants).map(move |v| i * pool.variants + v))
            .collect();
        Ok(Subset {
            images: rows.iter().map(|&r| &pool.images[r]).collect(),
            targets: select_rows(&pool.targets, &rows)?,
            variants: pool.variants,
        })
    }

    pub(super) fn all(pool: &'a Pool) -> Result<Subset<'a>, DistillError> {
        Subset::new(pool, &(0..pool.len()).collect::<Vec<_>>())
    }

    /// Crops in the subset (not counting variants).
    pub(super) fn len(&self) -> usize {
        self.images.len() / self.variants.max(1)
    }

    /// The plain (variant 0) version of every crop: what validation probes.
    pub(super) fn originals(&self) -> Vec<&'a BgrImage> {
        self.images.iter().step_by(self.variants.max(1)).copied().collect()
    }

    /// One random variant of each of `crops` (no draw when there is one variant, so a run
    /// without variants keeps its random stream): the images and their teacher embeddings.
    pub(super) fn draw(&self, crops: &[usize], rng: &mut StdRng) -> Result<(Vec<&'a BgrImage>, Tensor), DistillError> {
        let rows: Vec<usize> = crops
            .iter()
            .map(|&j| {
                let v = if self.variants > 1 {
                    rng.random_range(0..self.variants)
                } else {
                    0
                };
                j * self.variants + v
            })
            .collect();
        Ok((
            rows.iter().map(|&r| self.images[r]).collect(),
            select_rows(&self.targets, &rows)?,
        ))
    }
}

pub(super) fn select_rows(tensor: &Tensor, indices: &[usize]) -> Result<Tensor, DistillError> {
    let ids: Vec<u32> = indices.iter().map(|&i| i as u32).collect();
    Ok(tensor.index_select(&Tensor::new(ids.as_slice(), &Device::Cpu)?, 0)?)
}

/// Crops packed as the network's `[N, 3, side, side]` input, the way the card says.
pub fn to_tensor(card: &ModelCard, crops: &[&BgrImage], buffer: &mut Vec<f32>) -> Result<Tensor, DistillError> {
    pack_crops(card, crops, buffer);
    let side = crops.first().map_or(0, |c| c.width as usize);
    Ok(Tensor::from_slice(
        buffer.as_slice(),
        (crops.len(), 3, side, side),
        &Device::Cpu,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(side: u32) -> BgrImage {
        let mut image = BgrImage::new(side, side);
        for (k, v) in image.data.iter_mut().enumerate() {
            *v = ((k / 3) % side as usize * 255 / side as usize) as u8;
        }
        image
    }

    #[test]
    fn variants_are_fixed_per_crop_and_differ_between_variants() {
        let crop = gradient(112);
        assert_eq!(variant(&crop, 3, 0).unwrap().data, crop.data);
        assert_eq!(variant(&crop, 3, 1).unwrap().data, crop.mirrored().data);
        let (a, b) = (variant(&crop, 3, 2).unwrap(), variant(&crop, 3, 2).unwrap());
        assert_eq!(a.data, b.data, "the same crop and variant must give the same image");
        assert_ne!(
            a.data,
            variant(&crop, 4, 2).unwrap().data,
            "another crop gets another draw"
        );
        assert_ne!(a.data, variant(&crop, 3, 3).unwrap().data);
    }

    #[test]
    fn the_centre_stays_put_without_a_shift() {
        let m = about_centre(112.0, 1.05, 0.1, [0.0, 0.0]);
        let (x, y) = (56.0, 56.0);
        assert!((m[0][0] * x + m[0][1] * y + m[0][2] - x).abs() < 1e-9);
        assert!((m[1][0] * x + m[1][1] * y + m[1][2] - y).abs() < 1e-9);
    }

    #[test]
    fn interleaving_puts_the_variants_of_a_crop_together() {
        let tag = |v: u8| {
            let mut image = BgrImage::new(1, 1);
            image.data.fill(v);
            image
        };
        let out = interleave(vec![vec![tag(0), tag(1)], vec![tag(10), tag(11)]]);
        let firsts: Vec<u8> = out.iter().map(|i| i.data[0]).collect();
        assert_eq!(firsts, vec![0, 10, 1, 11]);
    }
}
