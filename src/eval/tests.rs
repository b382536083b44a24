use super::metrics::{
    Mated, ProbeScores, accept_rate, auc, bootstrap_by_person, dir_at_far, rank1, resampled, tar_at_far,
    threshold_at_far,
};
use crate::gallery::Matcher;

fn mated(truth: usize, scores: &[f32]) -> ProbeScores {
    ProbeScores {
        truth: Some(truth),
        scores: scores.to_vec(),
    }
}

fn stranger(scores: &[f32]) -> ProbeScores {
    ProbeScores {
        truth: None,
        scores: scores.to_vec(),
    }
}

/// Three identities; five mated probes (one missed by the detector) and four strangers (one
/// missed). Every expected value below was worked out by hand.
fn hand_made() -> Vec<ProbeScores> {
    vec![
        mated(0, &[0.9, 0.2, 0.1]), // right, genuine 0.9
        mated(1, &[0.6, 0.5, 0.3]), // wrong (0 beats 1)
        mated(2, &[0.1, 0.2, 0.7]), // right, 0.7
        ProbeScores::missed(Some(0)),
        mated(1, &[0.1, 0.3, 0.0]), // right, but only 0.3
        stranger(&[0.4, 0.1, 0.0]),
        stranger(&[0.2, 0.35, 0.1]),
        ProbeScores::missed(None),
        stranger(&[0.1, 0.1, 0.15]),
    ]
}

#[test]
fn rank1_counts_missed_probes_as_wrong_and_ignores_strangers() {
    assert!((rank1(&hand_made()) - 3.0 / 5.0).abs() < 1e-9);
}

#[test]
fn tar_at_far_matches_the_hand_computed_thresholds() {
    // Impostors of mated probes: 0.2 0.1 | 0.6 0.3 | 0.1 0.2 | — | 0.1 0.0 → 8 scores.
    let probes = hand_made();
    let at = tar_at_far(&probes, 1.0 / 8.0);
    assert_eq!(at.threshold, Some(0.3), "one impostor (0.6) may pass");
    // Genuine 0.9, 0.5, 0.7, missed, 0.3: three are strictly above 0.3.
    assert!((at.rate.unwrap() - 3.0 / 5.0).abs() < 1e-9);
    let at = tar_at_far(&probes, 0.5);
    assert_eq!(at.threshold, Some(0.1), "four impostors (0.6 0.3 0.2 0.2) may pass");
    assert!((at.rate.unwrap() - 4.0 / 5.0).abs() < 1e-9);
    // Eight impostors cannot measure a FAR of 1e-2.
    assert_eq!(tar_at_far(&probes, 1e-2).threshold, None);
}

#[test]
fn dir_uses_the_strangers_best_scores() {
    // Strangers' best: 0.4, 0.35, missed, 0.15.
    let probes = hand_made();
    let at = dir_at_far(&probes, 0.25);
    assert_eq!(at.threshold, Some(0.35));
    assert!(
        (at.rate.unwrap() - 2.0 / 5.0).abs() < 1e-9,
        "probes 1 and 3 pass, 5 (0.3) does not"
    );
    let at = dir_at_far(&probes, 0.5);
    assert_eq!(at.threshold, Some(0.15));
    assert!(
        (at.rate.unwrap() - 3.0 / 5.0).abs() < 1e-9,
        "probe 5 passes now; probe 2 is ranked wrong"
    );
}

#[test]
fn threshold_accepts_at_most_the_allowed_share() {
    let impostors: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
    let t = threshold_at_far(&impostors, 1e-2).unwrap();
    assert!((accept_rate(&impostors, t) - 0.01).abs() < 1e-9);
    assert_eq!(threshold_at_far(&impostors[..50], 1e-2), None);
}

#[test]
fn auc_counts_ties_half() {
    assert_eq!(auc(&[1.0, 0.5], &[0.5, 0.0]), Some(0.875));
    assert_eq!(auc(&[], &[0.5]), None);
}

#[test]
fn scores_from_fixed_embeddings_through_the_matcher() {
    // Gallery A = (1, 0), B = (0, 1); a probe of A at 37° from A.
    let mut matcher = Matcher::new(2);
    matcher.add("A", &[1.0, 0.0]);
    matcher.add("B", &[0.0, 1.0]);
    let probe = [0.8, 0.6];
    let scores = matcher.scores(&probe).unwrap();
    assert_eq!(scores, vec![0.8, 0.6]);
    let probes = vec![mated(0, &scores), mated(1, &matcher.scores(&[0.6, 0.8]).unwrap())];
    assert_eq!(rank1(&probes), 1.0);
}

/// The oracle column aligns on the sharp photo's landmarks mapped into the frame: at 40 px
/// they must land where the detector puts them (within a pixel or two), or the oracle would
/// measure a misalignment of its own.
#[test]
fn oracle_landmarks_land_where_the_detector_finds_them() {
    use super::probes::{CameraDegradation, Composer, locate};
    use crate::detect::{DetectConfig, Detector};
    use crate::testing;

    let card = testing::detector_card();
    let ort = testing::ort_library();
    let mut detector = Detector::load(&card, ort.as_deref(), &DetectConfig::default()).unwrap();
    let face = crate::faces::find_face(&mut detector, &testing::photo("obama.jpg"), false)
        .unwrap()
        .expect("a face in obama.jpg");
    let mut composer = Composer::new(Vec::new(), CameraDegradation::default(), 3).unwrap();
    let (frame, placed) = composer.compose(&[&face, &face, &face], 40, 0).unwrap();
    let detections = detector.detect(&frame).unwrap();
    for p in &placed {
        let found = locate(&detections, &p.truth).expect("a 40 px face is found");
        let error: f32 = found
            .landmarks
            .iter()
            .zip(&p.oracle)
            .map(|(a, b)| ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt())
            .sum::<f32>()
            / 5.0;
        assert!(error < 1.5, "mean landmark distance {error} px at 40 px");
    }
}

#[test]
fn camera_degradation_is_off_by_default_and_deterministic_for_a_seed() {
    use super::probes::{CameraDegradation, Composer};
    let mut frame = crate::image::BgrImage::new(768, 576);
    for (i, v) in frame.data.iter_mut().enumerate() {
        *v = (i * 7 % 251) as u8;
    }
    let compose = |degradation: CameraDegradation, seed: u64| {
        let mut composer = Composer::new(vec![frame.clone()], degradation, seed).unwrap();
        composer.compose(&[], 16, 0).unwrap().0
    };
    assert_eq!(
        compose(CameraDegradation::default(), 1),
        frame,
        "no face, no degradation: the background"
    );
    let camera = CameraDegradation {
        blur_sigma: 0.7,
        noise_sigma: 4.0,
        jpeg_quality: Some(60),
        exposure: None,
    };
    let a = compose(camera, 1);
    assert_ne!(a, frame);
    assert_eq!(a, compose(camera, 1), "same seed, same noise");
    assert_ne!(a, compose(camera, 2));
    assert_eq!((a.width, a.height), (768, 576));
    let darker = compose(
        CameraDegradation {
            exposure: Some((0.6, -40.0)),
            ..CameraDegradation::default()
        },
        1,
    );
    let mean =
        |image: &crate::image::BgrImage| image.data.iter().map(|&v| v as f64).sum::<f64>() / image.data.len() as f64;
    assert!(mean(&darker) < mean(&frame) - 30.0, "a darker camera");
}

/// `people` mated probes per person over `people` identities: probe k of person p scores
/// `genuine(p, k)` on its own identity and a spread of lower scores elsewhere.
fn synthetic_probes(people: usize, per_person: usize, genuine: impl Fn(usize, usize) -> f32) -> Vec<ProbeScores> {
    let mut probes = Vec::new();
    for p in 0..people {
        for k in 0..per_person {
            let scores: Vec<f32> = (0..people)
                .map(|q| {
                    if q == p {
                        genuine(p, k)
                    } else {
                        ((p * 31 + q * 17 + k * 7) % 97) as f32 / 200.0
                    }
                })
                .collect();
            probes.push(mated(p, &scores));
        }
    }
    probes
}

#[test]
fn the_bootstraps_truncated_pool_gives_tar_at_far_exactly() {
    let probes = synthetic_probes(60, 2, |p, k| 0.2 + ((p * 13 + k * 5) % 40) as f32 / 100.0);
    let summary = Mated::summarise(&probes);
    let everyone: Vec<usize> = (0..summary.len()).collect();
    for far in [1e-3, 1e-2, 0.1] {
        let (r1, tar) = resampled(&summary, &everyone, far, &mut Vec::new());
        assert!((r1 - rank1(&probes)).abs() < 1e-12, "far {far}");
        assert_eq!(tar, tar_at_far(&probes, far).rate, "far {far}");
    }
    // A draw with repeats: the same as the full computation on the repeated probes.
    let draw = [0, 0, 0, 5, 5, 9, 17, 17, 17, 17, 40];
    let repeated: Vec<ProbeScores> = draw.iter().map(|&i| probes[i].clone()).collect();
    for far in [1e-2, 0.05] {
        let (_, tar) = resampled(&summary, &draw, far, &mut Vec::new());
        assert_eq!(tar, tar_at_far(&repeated, far).rate, "far {far}");
    }
}

#[test]
fn bootstrap_intervals_bracket_the_estimate_and_pair_recognizers() {
    let weak = synthetic_probes(80, 2, |p, k| if (p + k) % 3 == 0 { 0.1 } else { 0.7 });
    let strong = synthetic_probes(80, 2, |_, _| 0.7);
    let spreads = bootstrap_by_person(&[&weak, &weak, &strong], 500, 1);
    let estimate = rank1(&weak);
    let [lo, hi] = spreads[0].rank1_ci90.unwrap();
    assert!(lo < estimate && estimate < hi, "{lo} < {estimate} < {hi}");
    assert!(
        hi - lo < 0.3,
        "80 people give an interval narrower than 30 points: {lo}..{hi}"
    );
    assert!(spreads[0].tar_far_1e3_ci90.is_some());
    // The same recognizer twice differs by exactly nothing in every resample.
    assert_eq!(spreads[1].rank1_delta_ci90, Some([0.0, 0.0]));
    assert_eq!(spreads[1].tar_far_1e3_delta_ci90, Some([0.0, 0.0]));
    // One that is right on every probe beats it in every resample.
    let [lo, _] = spreads[2].rank1_delta_ci90.unwrap();
    assert!(lo > 0.0, "paired difference interval {:?}", spreads[2].rank1_delta_ci90);
    // The same seed gives the same intervals.
    assert_eq!(bootstrap_by_person(&[&weak], 500, 1)[0], spreads[0]);
    assert_eq!(bootstrap_by_person(&[&weak], 0, 1)[0].rank1_ci90, None);
}

#[test]
fn enrolling_each_photo_in_turn_measures_every_ordered_pair_once() {
    use super::config::Enrolment;
    use super::run::plan_rounds;
    // Person 0: faces 0, 1; person 1: face 2 only; person 2: faces 3, 4, 5.
    let people = vec![vec![0, 1], vec![2], vec![3, 4, 5]];

    let (probes, rounds) = plan_rounds(Enrolment::First, &people);
    assert_eq!(probes, vec![(0, 1), (2, 4), (2, 5)]);
    assert_eq!(rounds, vec![(vec![0, 2, 3], vec![0, 1, 2])]);

    let (probes, rounds) = plan_rounds(Enrolment::Each, &people);
    assert_eq!(probes, vec![(0, 0), (0, 1), (2, 3), (2, 4), (2, 5)]);
    assert_eq!(rounds.len(), 3);
    let mut pairs = Vec::new();
    for (enrolled, measured) in &rounds {
        assert_eq!(enrolled[1], 2, "a person with one photo is enrolled in every round");
        for &i in measured {
            let (person, face) = probes[i];
            assert_ne!(
                face, enrolled[person],
                "the enrolled photo never probes its own gallery"
            );
            pairs.push((enrolled[person], face));
        }
    }
    pairs.sort();
    let expected = vec![(0, 1), (1, 0), (3, 4), (3, 5), (4, 3), (4, 5), (5, 3), (5, 4)];
    assert_eq!(pairs, expected, "each ordered pair of a person's photos, once");
}

#[test]
fn a_track_of_n_frames_fuses_only_what_its_first_n_frames_saw() {
    use super::run::fuse_tracks;
    // Probe 0 found in frames 0 and 3; probe 1 missed until frame 2.
    let embeddings = vec![
        vec![(0, (1.0, vec![1.0, 0.0])), (3, (1.0, vec![0.0, 1.0]))],
        vec![(2, (1.0, vec![0.0, 1.0]))],
    ];
    let one = fuse_tracks(&embeddings, 1);
    assert_eq!(one[0].as_deref(), Some(&[1.0, 0.0][..]));
    assert_eq!(
        one[1], None,
        "a probe the detector missed in frame 0 has no single-frame embedding"
    );
    let three = fuse_tracks(&embeddings, 3);
    assert_eq!(
        three[0].as_deref(),
        Some(&[1.0, 0.0][..]),
        "frame 3 is past a track of 3"
    );
    assert!(three[1].is_some());
    let four = fuse_tracks(&embeddings, 4);
    let both = four[0].as_ref().unwrap();
    assert!((both[0] - both[1]).abs() < 1e-6, "frames 0 and 3 weigh alike: {both:?}");
}
