//! Recognition metrics from similarity scores. A probe the detector missed has no
//! embedding: it scores negative infinity against everyone, so it is never accepted and never
//! ranked first — a miss, as the pipeline would experience it.

use serde::Serialize;

/// One probe's scores against every gallery identity (by its best template).
#[derive(Debug, Clone)]
pub struct ProbeScores {
    /// Index of the probe's own identity in the gallery; `None` for a stranger.
    pub truth: Option<usize>,
    /// One score per gallery identity; empty when the detector missed the probe.
    pub scores: Vec<f32>,
}

impl ProbeScores {
    pub fn missed(truth: Option<usize>) -> ProbeScores {
        ProbeScores {
            truth,
            scores: Vec::new(),
        }
    }

    /// The best identity and its score.
    pub fn top(&self) -> Option<(usize, f32)> {
        self.scores
            .iter()
            .copied()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    fn genuine(&self) -> f32 {
        match self.truth {
            Some(t) => self.scores.get(t).copied().unwrap_or(f32::NEG_INFINITY),
            None => f32::NEG_INFINITY,
        }
    }

    fn impostors(&self) -> impl Iterator<Item = f32> + '_ {
        let truth = self.truth;
        self.scores
            .iter()
            .enumerate()
            .filter(move |(i, _)| Some(*i) != truth)
            .map(|(_, s)| *s)
    }
}

/// Fraction of mated probes whose best identity is their own.
pub fn rank1(probes: &[ProbeScores]) -> f64 {
    let mated: Vec<&ProbeScores> = probes.iter().filter(|p| p.truth.is_some()).collect();
    if mated.is_empty() {
        return 0.0;
    }
    let right = mated
        .iter()
        .filter(|p| p.top().map(|(i, _)| Some(i)) == Some(p.truth))
        .count();
    right as f64 / mated.len() as f64
}

/// The decision threshold (accept when score > threshold) at which at most `far` of the
/// impostor scores are accepted; `None` when there are too few impostors to measure that FAR
/// (fewer than 1/far).
pub fn threshold_at_far(impostors: &[f32], far: f64) -> Option<f32> {
    let n = impostors.len();
    if n == 0 || (n as f64) * far < 1.0 {
        return None;
    }
    let mut sorted = impostors.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let allowed = (far * n as f64).floor() as usize;
    // Accepting strictly above the (allowed+1)-th highest score accepts at most `allowed`.
    Some(sorted[allowed.min(n - 1)])
}

/// Fraction of `genuine` scores strictly above `threshold`.
pub fn accept_rate(genuine: &[f32], threshold: f32) -> f64 {
    if genuine.is_empty() {
        return 0.0;
    }
    genuine.iter().filter(|&&s| s > threshold).count() as f64 / genuine.len() as f64
}

/// Verification at one false-accept rate: threshold and true-accept rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AtFar {
    pub far: f64,
    pub threshold: Option<f32>,
    pub rate: Option<f64>,
}

/// Verification over all probe–identity pairs: each mated probe against its own identity
/// (genuine) and against every other identity (impostor).
pub fn tar_at_far(probes: &[ProbeScores], far: f64) -> AtFar {
    let mated = probes.iter().filter(|p| p.truth.is_some());
    let genuine: Vec<f32> = mated.clone().map(ProbeScores::genuine).collect();
    let impostors: Vec<f32> = mated.flat_map(|p| p.impostors()).collect();
    let threshold = threshold_at_far(&impostors, far);
    AtFar {
        far,
        threshold,
        rate: threshold.map(|t| accept_rate(&genuine, t)),
    }
}

/// Open-set identification (watchlist): the threshold is set so that at most `far` of the
/// strangers' best scores pass it; the detection-and-identification rate is the fraction of
/// mated probes ranked first on their own identity with a score above it.
pub fn dir_at_far(probes: &[ProbeScores], far: f64) -> AtFar {
    let strangers: Vec<f32> = probes
        .iter()
        .filter(|p| p.truth.is_none())
        .map(|p| p.top().map_or(f32::NEG_INFINITY, |(_, s)| s))
        .collect();
    let threshold = threshold_at_far(&strangers, far);
    let mated: Vec<&ProbeScores> = probes.iter().filter(|p| p.truth.is_some()).collect();
    let rate = threshold.map(|t| {
        let hits = mated
            .iter()
            .filter(|p| p.top().is_some_and(|(i, s)| Some(i) == p.truth && s > t))
            .count();
        if mated.is_empty() {
            0.0
        } else {
            hits as f64 / mated.len() as f64
        }
    });
    AtFar { far, threshold, rate }
}

/// Area under the ROC curve: the chance that a random genuine pair scores above a random
/// impostor pair (ties count half). Sorting makes it O(n log n).
pub fn auc(genuine: &[f32], impostors: &[f32]) -> Option<f64> {
    if genuine.is_empty() || impostors.is_empty() {
        return None;
    }
    let mut sorted = impostors.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let mut wins = 0.0;
    for &g in genuine {
        let below = sorted.partition_point(|&s| s < g);
        let not_above = sorted.partition_point(|&s| s <= g);
        wins += below as f64 + 0.5 * (not_above - below) as f64;
    }
    Some(wins / (genuine.len() as f64 * impostors.len() as f64))
}
