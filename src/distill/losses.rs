//! The losses a student trains with: instance (its embedding against the teacher's), relation
//! (its similarities to the batch and to a queue of recent teacher embeddings against the
//! teacher's) and contrastive (its own teacher embedding picked out of that queue).

use candle_core::{Device, Tensor};

use super::DistillError;

/// A first-in first-out memory of teacher embeddings from recent batches: the relation and
/// contrastive terms then see hundreds of identities per step instead of one batch's few
/// dozen, as cross-resolution relational distillation does.
pub(super) struct TeacherQueue {
    capacity: usize,
    entries: std::collections::VecDeque<(usize, Vec<f32>)>,
}

/// The queue as the loss sees it: embeddings `[Q, D]`, and a `[B, Q]` mask that is 0 except
/// for entries of crops in the batch (a large negative: the batch row already stands for the
/// crop, so it is neither its own negative nor another row's negative twice).
pub(super) struct Queued {
    pub(super) embeddings: Tensor,
    own: Tensor,
}

impl TeacherQueue {
    pub(super) fn new(capacity: usize) -> TeacherQueue {
        TeacherQueue {
            capacity,
            entries: Default::default(),
        }
    }

    pub(super) fn clear(&mut self) {
        self.entries.clear();
    }

    pub(super) fn tensor(&self, batch_keys: &[usize]) -> Result<Option<Queued>, DistillError> {
        let Some(dim) = self.entries.front().map(|(_, e)| e.len()) else {
            return Ok(None);
        };
        let values: Vec<f32> = self.entries.iter().flat_map(|(_, e)| e.iter().copied()).collect();
        let in_batch: Vec<f32> = self
            .entries
            .iter()
            .map(|(k, _)| if batch_keys.contains(k) { -1e4 } else { 0.0 })
            .collect();
        let mask: Vec<f32> = batch_keys.iter().flat_map(|_| in_batch.iter().copied()).collect();
        let q = self.entries.len();
        Ok(Some(Queued {
            embeddings: Tensor::from_vec(values, (q, dim), &Device::Cpu)?,
            own: Tensor::from_vec(mask, (batch_keys.len(), q), &Device::Cpu)?,
        }))
    }

    pub(super) fn push(&mut self, keys: &[usize], targets: &Tensor) -> Result<(), DistillError> {
        if self.capacity == 0 {
            return Ok(());
        }
        for (key, row) in keys.iter().zip(targets.to_vec2::<f32>()?) {
            self.entries.push_back((*key, row));
        }
        while self.entries.len() > self.capacity {
            self.entries.pop_front();
        }
        Ok(())
    }
}

/// The loss terms of one training batch.
pub(super) struct BatchLosses {
    pub(super) instance: Tensor,
    pub(super) relation: Tensor,
    pub(super) contrastive: Tensor,
}

/// Instance loss as [`losses`]; relation loss over the batch's pairs and every (batch row,
/// queue entry) pair; contrastive loss: cross-entropy of picking the row's own teacher
/// embedding among the batch's and the queue's (InfoNCE at `temperature`).
pub(super) fn batch_losses(
    student: &Tensor,
    teacher: &Tensor,
    queued: Option<&Queued>,
    temperature: f64,
) -> Result<BatchLosses, DistillError> {
    let (instance, batch_relation) = losses(student, teacher)?;
    let n = student.dim(0)? as f64;
    let batch_pairs = (n * (n - 1.0)).max(1.0);
    let mut keys = teacher.clone();
    let mut mask = Tensor::zeros((student.dim(0)?, student.dim(0)?), student.dtype(), &Device::Cpu)?;
    let relation = match queued {
        Some(queued) => {
            let q = queued.embeddings.dim(0)? as f64;
            let to_queue = |x: &Tensor| x.matmul(&queued.embeddings.t()?);
            let queue_sum = (to_queue(student)? - to_queue(teacher)?)?.sqr()?.sum_all()?;
            keys = Tensor::cat(&[teacher, &queued.embeddings], 0)?;
            mask = Tensor::cat(&[&mask, &queued.own], 1)?;
            (((batch_relation * batch_pairs)? + queue_sum)? / (batch_pairs + n * q))?
        }
        None => batch_relation,
    };
    let logits = (student.matmul(&keys.t()?)? / temperature)?.add(&mask)?;
    let max = logits.max_keepdim(1)?.detach();
    let log_sum = (logits.broadcast_sub(&max)?.exp()?.sum_keepdim(1)?.log()? + max)?;
    let own = ((student * teacher)?.sum_keepdim(1)? / temperature)?;
    let contrastive = (log_sum - own)?.mean_all()?;
    Ok(BatchLosses {
        instance,
        relation,
        contrastive,
    })
}

/// (instance, relation): mean (1 − cos) between student and teacher embeddings, and the mean
/// squared difference of their pairwise cosine matrices off the diagonal.
pub fn losses(student: &Tensor, teacher: &Tensor) -> Result<(Tensor, Tensor), DistillError> {
    let instance = (student * teacher)?.sum(1)?.mean_all()?.affine(-1.0, 1.0)?;
    let n = student.dim(0)? as f64;
    let student_pairs = student.matmul(&student.t()?)?;
    let teacher_pairs = teacher.matmul(&teacher.t()?)?;
    let relation = ((student_pairs - teacher_pairs)?.sqr()?.sum_all()? / (n * (n - 1.0)).max(1.0))?;
    Ok((instance, relation))
}

pub fn normalise(x: &Tensor) -> Result<Tensor, DistillError> {
    let norm = (x.sqr()?.sum_keepdim(1)? + 1e-12)?.sqrt()?;
    Ok(x.broadcast_div(&norm)?)
}
