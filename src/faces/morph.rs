//! Morphs: pixel blends of two aligned faces of different people. Aligned crops share their
//! landmarks' places, so a blend is a plausible face of nobody in the set — an identity the
//! teacher embeds somewhere between the two, which a fine-tuned student must still tell apart
//! from its neighbours. They cost nothing to make and need no labels.

use std::path::PathBuf;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::FacesError;
use crate::distill::dataset::{image_files, load_image, source_of};
use crate::image::BgrImage;

#[derive(Debug, Clone)]
pub struct MorphConfig {
    /// Aligned crops, one face per file (e.g. `squint split-faces`'s train/).
    pub data: PathBuf,
    pub count: usize,
    pub seed: u64,
    /// Gets `morph-NNNNNN.png`, each at the crops' size.
    pub out: PathBuf,
    /// The second face's share is drawn from `min_weight..=1 - min_weight`.
    pub min_weight: f64,
    pub progress: bool,
}

#[derive(Debug, Serialize)]
pub struct MorphReport {
    pub morphs: usize,
    pub crops: usize,
    pub seconds: f64,
}

pub fn morph_faces(config: &MorphConfig) -> Result<MorphReport, FacesError> {
    let started = Instant::now();
    if !(0.0..=0.5).contains(&config.min_weight) {
        return Err(FacesError::Data {
            path: config.data.clone(),
            message: format!("--min-weight {} must be in 0..=0.5", config.min_weight),
        });
    }
    let paths = image_files(&config.data)?;
    let crops = paths.iter().map(|p| load_image(p)).collect::<Result<Vec<_>, _>>()?;
    let sources: Vec<String> = paths
        .iter()
        .map(|p| source_of(&p.file_stem().unwrap_or_default().to_string_lossy()).to_string())
        .collect();
    check_crops(config, &paths, &crops, &sources)?;
    super::create_folder(&config.out)?;
    let bar = super::progress_bar(config.progress, config.count);
    let mut rng = StdRng::seed_from_u64(config.seed);
    for k in 0..config.count {
        let a = rng.random_range(0..crops.len());
        let b = loop {
            let b = rng.random_range(0..crops.len());
            if sources[b] != sources[a] {
                break b;
            }
        };
        let weight = rng.random_range(config.min_weight..=1.0 - config.min_weight);
        blend(&crops[a], &crops[b], weight).save(&config.out.join(format!("morph-{k:06}.png")))?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(MorphReport {
        morphs: config.count,
        crops: crops.len(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// All crops one size, and faces of at least two people.
fn check_crops(
    config: &MorphConfig,
    paths: &[PathBuf],
    crops: &[BgrImage],
    sources: &[String],
) -> Result<(), FacesError> {
    if let Some((path, crop)) = paths
        .iter()
        .zip(crops)
        .find(|(_, c)| (c.width, c.height) != (crops[0].width, crops[0].height))
    {
        return Err(FacesError::Data {
            path: path.clone(),
            message: format!(
                "crop is {}x{}, the first is {}x{}: morphs need aligned crops of one size",
                crop.width, crop.height, crops[0].width, crops[0].height
            ),
        });
    }
    if sources.iter().all(|s| *s == sources[0]) {
        return Err(FacesError::Data {
            path: config.data.clone(),
            message: "every crop is of one face; morphs blend faces of two people".into(),
        });
    }
    Ok(())
}

/// (1 − weight) · a + weight · b, pixel by pixel.
pub fn blend(a: &BgrImage, b: &BgrImage, weight: f64) -> BgrImage {
    let mut out = a.clone();
    for (o, &v) in out.data.iter_mut().zip(&b.data) {
        *o = ((1.0 - weight) * *o as f64 + weight * v as f64).round() as u8;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(side: u32, value: u8) -> BgrImage {
        let mut image = BgrImage::new(side, side);
        image.data.fill(value);
        image
    }

    #[test]
    fn a_blend_lies_between_its_faces() {
        assert!(blend(&flat(4, 100), &flat(4, 200), 0.25).data.iter().all(|&v| v == 125));
    }

    #[test]
    fn morphs_mix_two_people_and_refuse_one() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("crops");
        std::fs::create_dir_all(&data).unwrap();
        flat(8, 0).save(&data.join("p-a0.png")).unwrap();
        flat(8, 200).save(&data.join("q-a0.png")).unwrap();
        let config = MorphConfig {
            data: data.clone(),
            count: 5,
            seed: 1,
            out: dir.path().join("morphs"),
            min_weight: 0.3,
            progress: false,
        };
        let report = morph_faces(&config).unwrap();
        assert_eq!((report.morphs, report.crops), (5, 2));
        for k in 0..5 {
            let morph = BgrImage::load(&config.out.join(format!("morph-{k:06}.png"))).unwrap();
            assert!(
                morph.data.iter().all(|&v| (60..=140).contains(&v)),
                "{:?}",
                &morph.data[..3]
            );
        }
        std::fs::remove_file(data.join("q-a0.png")).unwrap();
        flat(8, 200).save(&data.join("p-a1.png")).unwrap();
        let error = morph_faces(&config).unwrap_err().to_string();
        assert!(error.contains("one face"), "{error}");
    }
}
