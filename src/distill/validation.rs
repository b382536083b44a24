//! What a training run reports about its student: held-out crops probed at each width
//! against the teacher's sharp embeddings (cosine, rank-1), and its speed beside the teacher's.

use std::path::Path;
use std::time::Instant;

use candle_core::{Device, Tensor};

use super::DistillError;
use super::config::TrainConfig;
use super::dataset;
use super::degrade;
use super::losses::losses;
use super::losses::normalise;
use super::net::Net;
use super::pool::Subset;
use super::pool::to_tensor;
use super::report::{ProbeRow, Speed, Validation};
use crate::image::BgrImage;
use crate::model::ModelCard;
use crate::recognize::Recognizer;

/// The held-out crops at each probe size, packed for the student: the same every epoch, so
/// made once per run.
pub(super) fn probe_inputs(
    card: &ModelCard,
    data: &Subset,
    probes: &[u32],
    size: u32,
) -> Result<Vec<Tensor>, DistillError> {
    let mut buffer = Vec::new();
    probes
        .iter()
        .map(|&px| {
            let inputs = data
                .images
                .iter()
                .map(|c| degrade::probe(c, px, size))
                .collect::<Result<Vec<_>, _>>()?;
            to_tensor(card, &inputs.iter().collect::<Vec<_>>(), &mut buffer)
        })
        .collect()
}

/// Held-out student(probe) ↔ teacher(HR): mean cosine per probe size, and both losses.
pub(super) fn validate(student: &Net, probes: &[Tensor], targets: &Tensor) -> Result<Validation, DistillError> {
    let mut validation = Validation {
        cosines: Vec::new(),
        rank1: Vec::new(),
        instance_loss: 0.0,
        relation_loss: 0.0,
    };
    for input in probes {
        let output = normalise(&student.forward(input, false)?)?;
        validation.cosines.push(mean_cosine(&output, targets)?);
        validation.rank1.push(rank1(&output, targets)?);
        let (instance, relation) = losses(&output, targets)?;
        validation.instance_loss += instance.to_scalar::<f32>()? as f64 / probes.len() as f64;
        validation.relation_loss += relation.to_scalar::<f32>()? as f64 / probes.len() as f64;
    }
    Ok(validation)
}

/// Share of rows of `probes` whose most similar row of `gallery` is their own.
pub fn rank1(probes: &Tensor, gallery: &Tensor) -> Result<f64, DistillError> {
    let best: Vec<u32> = probes.matmul(&gallery.t()?)?.argmax(1)?.to_vec1()?;
    let hits = best.iter().enumerate().filter(|(i, b)| *i == **b as usize).count();
    Ok(hits as f64 / best.len().max(1) as f64)
}

pub(super) fn mean_cosine(a: &Tensor, b: &Tensor) -> Result<f64, DistillError> {
    Ok((a * b)?.sum(1)?.mean_all()?.to_scalar::<f32>()? as f64)
}

pub(super) fn validation_table(
    config: &TrainConfig,
    student: &Net,
    probes: &[Tensor],
    data: &Subset,
    teacher: &mut Recognizer,
    untrained: &[f64],
) -> Result<Vec<ProbeRow>, DistillError> {
    let trained = validate(student, probes, &data.targets)?;
    let size = teacher.input_size();
    let mut rows = Vec::new();
    for (i, &px) in config.probe_sizes.iter().enumerate() {
        let probes = data
            .images
            .iter()
            .map(|c| degrade::probe(c, px, size))
            .collect::<Result<Vec<_>, _>>()?;
        let embeddings = dataset::embed_in_batches(teacher, &probes.iter().collect::<Vec<_>>())?;
        let embedded = Tensor::from_vec(embeddings.concat(), data.targets.dims(), &Device::Cpu)?;
        rows.push(ProbeRow {
            probe_px: px,
            student: trained.cosines[i],
            untrained: untrained.get(i).copied().unwrap_or(f64::NAN),
            teacher_upsampled: mean_cosine(&embedded, &data.targets)?,
            student_rank1: trained.rank1[i],
            teacher_rank1: rank1(&embedded, &data.targets)?,
        });
    }
    Ok(rows)
}

/// Embeds the held-out crops with the exported student and with the teacher, alternating,
/// at batch 1 and 32, for about a second each; ms per face.
pub(super) fn measure_speed(
    config: &TrainConfig,
    student_card: &Path,
    teacher: &mut Recognizer,
    crops: &[&BgrImage],
) -> Result<Vec<Speed>, DistillError> {
    let card = ModelCard::load(student_card)?;
    let mut student = Recognizer::load(&card, config.ort_library.as_deref(), config.threads)?;
    let small = crops
        .iter()
        .map(|c| degrade::probe(c, config.input_size, config.input_size))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rows = Vec::new();
    for batch in [1, 32] {
        let student_batch: Vec<&BgrImage> = small.iter().cycle().take(batch).collect();
        let teacher_batch: Vec<&BgrImage> = crops.iter().cycle().take(batch).copied().collect();
        let (mut student_s, mut teacher_s, mut rounds) = (0.0, 0.0, 0);
        while rounds < 3 || (student_s + teacher_s < 2.0 && rounds < 1000) {
            let started = Instant::now();
            student.embed(&student_batch)?;
            student_s += started.elapsed().as_secs_f64();
            let started = Instant::now();
            teacher.embed(&teacher_batch)?;
            teacher_s += started.elapsed().as_secs_f64();
            rounds += 1;
        }
        let per_face = |seconds: f64| seconds * 1000.0 / (rounds * batch) as f64;
        rows.push(Speed {
            batch,
            student_ms_per_face: per_face(student_s),
            teacher_ms_per_face: per_face(teacher_s),
        });
    }
    Ok(rows)
}

/// The process's peak resident memory in MiB (`VmHWM`), 0 where it cannot be read.
pub(super) fn peak_memory_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

pub(super) fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}
