use candle_core::{Device, Tensor};

use super::synth::{Generator, latents, to_images};
use super::{FacesError, LabelledSet, distractor_photos};
use crate::image::BgrImage;

#[test]
fn a_sample_latent_does_not_depend_on_its_batch() {
    let batch = latents(5, 0, 4).unwrap();
    let alone = latents(5, 2, 1).unwrap();
    let row: Vec<f32> = batch.get(2).unwrap().to_vec1().unwrap();
    assert_eq!(row, alone.get(0).unwrap().to_vec1::<f32>().unwrap());
    let other: Vec<f32> = latents(6, 2, 1).unwrap().get(0).unwrap().to_vec1().unwrap();
    assert_ne!(row, other);
    // Standard normal, roughly.
    let all: Vec<f32> = latents(5, 0, 100).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let mean = all.iter().sum::<f32>() / all.len() as f32;
    let var = all.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / all.len() as f32;
    assert!(mean.abs() < 0.05 && (var - 1.0).abs() < 0.1, "mean {mean}, var {var}");
}

#[test]
fn generator_output_becomes_bgr_pixels() {
    // One 1×2 image: pixel 0 pure red (R=1, G=B=-1), pixel 1 mid-grey (0).
    let rgb = Tensor::from_vec(vec![1.0f32, 0.0, -1.0, 0.0, -1.0, 0.0], (1, 3, 1, 2), &Device::Cpu).unwrap();
    let images = to_images(&rgb).unwrap();
    assert_eq!(images[0].data, vec![0, 0, 255, 128, 128, 128]);
}

#[test]
fn missing_generator_weights_name_the_file_and_the_fix() {
    let Err(e) = Generator::load(std::path::Path::new("/nonexistent/weights.tar")) else {
        panic!("loaded weights from nowhere");
    };
    let text = e.to_string();
    assert!(
        text.contains("/nonexistent/weights.tar") && text.contains("setup.sh --faces"),
        "{text}"
    );
}

#[test]
fn a_labelled_set_is_a_folder_per_identity() {
    let dir = tempfile::tempdir().unwrap();
    let image = BgrImage::new(8, 8);
    for (person, n) in [("b", 2), ("a", 3)] {
        std::fs::create_dir_all(dir.path().join(person)).unwrap();
        for i in 0..n {
            image.save(&dir.path().join(person).join(format!("{i}.png"))).unwrap();
        }
    }
    std::fs::create_dir_all(dir.path().join("empty")).unwrap();
    let set = LabelledSet::load(dir.path()).unwrap();
    let names: Vec<&str> = set.identities.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["a", "b"], "sorted, empty folders skipped");
    assert_eq!(set.probe_photos(), 3);
    assert_eq!(distractor_photos(dir.path()).unwrap().len(), 5);
}

#[test]
fn a_set_without_identity_folders_names_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    match LabelledSet::load(dir.path()) {
        Err(FacesError::Data { path, message }) => {
            assert_eq!(path, dir.path());
            assert!(message.contains("one sub-folder per person"), "{message}");
        }
        other => panic!("expected a data error, got {:?}", other.map(|s| s.name)),
    }
    assert!(distractor_photos(&dir.path().join("missing")).is_err());
}

#[test]
fn padding_repeats_edges_and_grey_keeps_three_equal_channels() {
    let mut image = BgrImage::new(2, 1);
    image.data = vec![10, 20, 30, 200, 100, 50];
    let padded = image.padded(1).unwrap();
    assert_eq!((padded.width, padded.height), (4, 3));
    assert_eq!(&padded.data[0..3], &[10, 20, 30], "corner repeats the nearest pixel");
    let grey = image.grey();
    assert!(grey.data.chunks(3).all(|p| p[0] == p[1] && p[1] == p[2]));
    assert_eq!(
        grey.data[0],
        (0.114f32 * 10.0 + 0.587 * 20.0 + 0.299 * 30.0).round() as u8
    );
}
