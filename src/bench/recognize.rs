//! `squint bench-recognize`: crops per second through Squint's recognizer against a plain
//! ONNX Runtime loop over the same model, crops, batch sizes and threads, in the same run;
//! and the time to match one probe against galleries of 1k, 10k and 100k identities.

use std::time::{Duration, Instant};

use ndarray::Array4;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::gallery::Matcher;
use crate::image::BgrImage;
use crate::model::{ColorOrder, ModelCard, environment};
use crate::recognize::{Recognizer, l2_normalize};

#[derive(Debug, Serialize)]
pub struct ThroughputRow {
    pub batch: usize,
    pub squint_crops_per_s: f64,
    pub raw_ort_crops_per_s: f64,
    /// Squint over raw ONNX Runtime; 1.0 means no overhead.
    pub ratio: f64,
}

/// Milliseconds per face of several recognizers at one batch size, timed in turns.
#[derive(Debug, Serialize)]
pub struct VersusRow {
    pub batch: usize,
    /// Model id → ms per face.
    pub ms_per_face: Vec<(String, f64)>,
}

/// The landmark refiner's cost per face (patch cut included) beside the recognizer's
/// (alignment not included), same faces, same run, in turns.
#[derive(Debug, Serialize)]
pub struct RefinerRow {
    /// Faces per refiner run (small faces in one frame) and per recognizer batch.
    pub batch: usize,
    pub refiner_ms_per_face: f64,
    pub recognizer_ms_per_face: f64,
    /// Refiner over recognizer.
    pub ratio: f64,
}

#[derive(Debug, Serialize)]
pub struct MatchRow {
    pub identities: usize,
    pub ms_per_probe: f64,
}

#[derive(Debug, Serialize)]
pub struct RecognizeBench {
    pub model: String,
    pub threads: usize,
    pub crops: usize,
    pub throughput: Vec<ThroughputRow>,
    pub matching: Vec<MatchRow>,
    /// The model against the `--versus` models, same crops (resized to each input), same run.
    pub versus: Vec<VersusRow>,
    /// The `--refiner` against the model (the refiner runs on one thread, as in the pipeline).
    pub refiner: Vec<RefinerRow>,
}

/// A plain ONNX Runtime session and loop, as one would write it without Squint.
pub struct RawOrt {
    session: Session,
    card: ModelCard,
    side: usize,
}

impl RawOrt {
    pub fn load(card: &ModelCard, threads: usize) -> anyhow::Result<RawOrt> {
        // Builder errors carry the builder, which is not Send: keep their message.
        let plain = |e: ort::Error<_>| anyhow::anyhow!("{e}");
        let session = Session::builder(environment(None)?)?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(plain)?
            .with_intra_threads(threads)
            .map_err(plain)?
            .commit_from_file(card.model_path())?;
        let side = card.input_size.map_or(112, |[w, _]| w as usize);
        Ok(RawOrt {
            session,
            card: card.clone(),
            side,
        })
    }

    /// L2-normalised embeddings of `crops`, one model run.
    pub fn embed(&mut self, crops: &[BgrImage]) -> anyhow::Result<Vec<Vec<f32>>> {
        let side = self.side;
        let card = &self.card;
        let rgb = card.color == ColorOrder::Rgb;
        let input = Array4::from_shape_fn((crops.len(), 3, side, side), |(n, c, y, x)| {
            let channel = if rgb { 2 - c } else { c };
            let px = crops[n].data[(y * side + x) * 3 + channel] as f32;
            (px * card.scale - card.mean[c]) / card.std[c]
        });
        let outputs = self.session.run(ort::inputs![
            card.input.as_str() => TensorRef::from_array_view(&input)?
        ])?;
        let (_, data) = outputs[card.outputs[0].as_str()].try_extract_tensor::<f32>()?;
        let size = data.len() / crops.len().max(1);
        Ok(data
            .chunks_exact(size)
            .map(|chunk| {
                let mut v = chunk.to_vec();
                l2_normalize(&mut v);
                v
            })
            .collect())
    }
}

pub fn run(
    card: &ModelCard,
    crops: &[BgrImage],
    batches: &[usize],
    threads: usize,
    seconds_each: f64,
) -> anyhow::Result<RecognizeBench> {
    let mut squint = Recognizer::load(card, None, threads)?;
    let mut raw = RawOrt::load(card, threads)?;
    let mut throughput = Vec::new();
    for &batch in batches {
        let chunk: Vec<BgrImage> = crops.iter().cycle().take(batch).cloned().collect();
        let refs: Vec<&BgrImage> = chunk.iter().collect();
        // Warm both up, then alternate so neither profits from a quieter moment.
        squint.embed(&refs)?;
        raw.embed(&chunk)?;
        let (mut squint_time, mut raw_time, mut rounds) = (Duration::ZERO, Duration::ZERO, 0usize);
        while (squint_time + raw_time).as_secs_f64() < seconds_each * 2.0 || rounds < 3 {
            let started = Instant::now();
            squint.embed(&refs)?;
            squint_time += started.elapsed();
            let started = Instant::now();
            raw.embed(&chunk)?;
            raw_time += started.elapsed();
            rounds += 1;
        }
        let per_s = |time: Duration| (rounds * batch) as f64 / time.as_secs_f64();
        throughput.push(ThroughputRow {
            batch,
            squint_crops_per_s: per_s(squint_time),
            raw_ort_crops_per_s: per_s(raw_time),
            ratio: raw_time.as_secs_f64() / squint_time.as_secs_f64(),
        });
    }
    let (dim, _) = card.require_embedding()?;
    let matching = [1_000, 10_000, 100_000].iter().map(|&n| match_time(n, dim)).collect();
    Ok(RecognizeBench {
        model: card.id.clone(),
        threads,
        crops: crops.len(),
        throughput,
        matching,
        versus: Vec::new(),
        refiner: Vec::new(),
    })
}

/// Every model in `cards` on the same crops (resized to its input), one batch after another
/// in turns so none profits from a quieter moment: ms per face per batch size.
pub fn versus(
    cards: &[ModelCard],
    crops: &[BgrImage],
    batches: &[usize],
    threads: usize,
    seconds_each: f64,
) -> anyhow::Result<Vec<VersusRow>> {
    let mut models = Vec::new();
    for card in cards {
        let [w, h] = card.input_size.unwrap_or([112, 112]);
        let resized = crops.iter().map(|c| c.resized(w, h)).collect::<Result<Vec<_>, _>>()?;
        models.push((Recognizer::load(card, None, threads)?, resized));
    }
    let mut rows = Vec::new();
    for &batch in batches {
        let mut time = vec![Duration::ZERO; models.len()];
        let mut rounds = 0usize;
        while time.iter().sum::<Duration>().as_secs_f64() < seconds_each * models.len() as f64 || rounds < 3 {
            for ((recognizer, crops), spent) in models.iter_mut().zip(&mut time) {
                let chunk: Vec<&BgrImage> = crops.iter().cycle().take(batch).collect();
                if rounds == 0 {
                    recognizer.embed(&chunk)?; // warm-up
                }
                let started = Instant::now();
                recognizer.embed(&chunk)?;
                *spent += started.elapsed();
            }
            rounds += 1;
        }
        rows.push(VersusRow {
            batch,
            ms_per_face: cards
                .iter()
                .zip(&time)
                .map(|(card, t)| (card.id.clone(), t.as_secs_f64() * 1000.0 / (rounds * batch) as f64))
                .collect(),
        });
    }
    Ok(rows)
}

/// The refiner on each crop's own reference landmarks (the patch cut is part of its cost)
/// and the recognizer on the crops, batch after batch in turns.
pub fn refiner_versus(
    refiner_card: &ModelCard,
    card: &ModelCard,
    crops: &[BgrImage],
    batches: &[usize],
    threads: usize,
    seconds_each: f64,
) -> anyhow::Result<Vec<RefinerRow>> {
    let mut refiner = crate::align::Refiner::load(refiner_card, None)?;
    let mut recognizer = Recognizer::load(card, None, threads)?;
    let side = recognizer.input_size();
    let landmarks = crate::align::reference_points(side);
    let mut rows = Vec::new();
    for &batch in batches {
        let chunk: Vec<&BgrImage> = crops.iter().cycle().take(batch).collect();
        let faces = vec![landmarks; batch];
        refiner.refine(chunk[0], &faces)?; // warm-up
        recognizer.embed(&chunk)?;
        let (mut refine_time, mut embed_time, mut rounds) = (Duration::ZERO, Duration::ZERO, 0usize);
        while (refine_time + embed_time).as_secs_f64() < seconds_each * 2.0 || rounds < 3 {
            let started = Instant::now();
            refiner.refine(chunk[rounds % chunk.len()], &faces)?;
            refine_time += started.elapsed();
            let started = Instant::now();
            recognizer.embed(&chunk)?;
            embed_time += started.elapsed();
            rounds += 1;
        }
        let per_face = |t: Duration| t.as_secs_f64() * 1000.0 / (rounds * batch) as f64;
        rows.push(RefinerRow {
            batch,
            refiner_ms_per_face: per_face(refine_time),
            recognizer_ms_per_face: per_face(embed_time),
            ratio: refine_time.as_secs_f64() / embed_time.as_secs_f64(),
        });
    }
    Ok(rows)
}

/// Milliseconds to rank one probe against `identities` random templates.
fn match_time(identities: usize, dim: usize) -> MatchRow {
    let mut rng = StdRng::seed_from_u64(identities as u64);
    let mut unit = || {
        let mut v: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        l2_normalize(&mut v);
        v
    };
    let mut matcher = Matcher::new(dim);
    for i in 0..identities {
        matcher.add(&format!("person-{i}"), &unit());
    }
    let probes: Vec<Vec<f32>> = (0..50).map(|_| unit()).collect();
    let started = Instant::now();
    let mut checksum = 0.0;
    for probe in &probes {
        checksum += matcher.ranked(probe, 3).first().map_or(0.0, |m| m.similarity);
    }
    let elapsed = started.elapsed();
    std::hint::black_box(checksum);
    MatchRow {
        identities,
        ms_per_probe: elapsed.as_secs_f64() * 1000.0 / probes.len() as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    fn crops() -> Vec<BgrImage> {
        let mut detector = crate::detect::Detector::load(
            &testing::detector_card(),
            testing::ort_library().as_deref(),
            &crate::detect::DetectConfig::default(),
        )
        .unwrap();
        ["obama.jpg", "biden.jpg", "grace_hopper.jpg", "astronaut.png"]
            .iter()
            .map(|name| crate::gallery::align_photo(&mut detector, &testing::photo(name), 112).unwrap())
            .collect()
    }

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn batcher_and_a_direct_ort_call_agree_whatever_the_batch() {
        let card = testing::recognizer_card();
        crate::model::environment(testing::ort_library().as_deref()).unwrap();
        let crops = crops();
        let mut raw = RawOrt::load(&card, 1).unwrap();
        let alone: Vec<Vec<f32>> = crops
            .iter()
            .map(|c| raw.embed(std::slice::from_ref(c)).unwrap().remove(0))
            .collect();
        let mut recognizer = Recognizer::load(&card, testing::ort_library().as_deref(), 2).unwrap();
        // The same crops in different company and order.
        let mixes: [&[usize]; 3] = [&[0, 1, 2, 3], &[3, 3, 0], &[2, 0, 1, 3, 2, 1, 0]];
        for mix in mixes {
            let batch: Vec<&BgrImage> = mix.iter().map(|&i| &crops[i]).collect();
            let embedded = recognizer.embed(&batch).unwrap();
            for (&i, embedding) in mix.iter().zip(&embedded) {
                let similarity = cosine(embedding, &alone[i]);
                assert!(similarity >= 0.9999, "crop {i} in {mix:?}: cosine {similarity}");
            }
        }
    }

    #[test]
    fn versus_times_every_model_at_every_batch_on_its_own_input_size() {
        crate::model::environment(testing::ort_library().as_deref()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let shape = crate::distill::StudentShape {
            input_size: 16,
            width: 4,
            embedding_size: 128,
            lowfreq: false,
        };
        let student = crate::distill::Student::new(shape, 1).unwrap();
        let info = crate::distill::export::CardInfo {
            id: "tiny-student",
            embedding_space: "sface-2021dec",
            teacher_id: "sface-2021dec",
            provenance: None,
        };
        let card_path = crate::distill::export::write(&student, dir.path(), "student", &info).unwrap();
        let cards = [testing::recognizer_card(), ModelCard::load(&card_path).unwrap()];
        let rows = versus(&cards, &crops(), &[1, 3], 1, 0.0).unwrap();
        assert_eq!(rows.iter().map(|r| r.batch).collect::<Vec<_>>(), [1, 3]);
        for row in &rows {
            let ids: Vec<&str> = row.ms_per_face.iter().map(|(id, _)| id.as_str()).collect();
            assert_eq!(ids, ["sface-2021dec", "tiny-student"]);
            assert!(row.ms_per_face.iter().all(|(_, ms)| *ms > 0.0), "{:?}", row.ms_per_face);
        }
    }
}
