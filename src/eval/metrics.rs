//! Recognition metrics from similarity scores. A probe the detector missed has no
//! embedding: it scores negative infinity against everyone, so it is never accepted and never
//! ranked first — a miss, as the pipeline would experience it.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
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
    Some(nth_highest(&mut impostors.to_vec(), allowed_impostors(n, far)))
}

/// How many of `n` impostor scores a false-accept rate of `far` lets through.
fn allowed_impostors(n: usize, far: f64) -> usize {
    ((far * n as f64).floor() as usize).min(n - 1)
}

/// The score with `k` scores above it. Accepting strictly above the (allowed+1)-th highest
/// score accepts at most `allowed`. Linear time: only that rank is needed, not the order.
fn nth_highest(scores: &mut [f32], k: usize) -> f32 {
    *scores.select_nth_unstable_by(k, |a, b| b.total_cmp(a)).1
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

/// A 90 % interval: the 5th and 95th percentiles of the bootstrap distribution.
pub type Interval = [f64; 2];

/// One recognizer's spread over people, and its difference from the first recognizer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Spread {
    pub rank1_ci90: Option<Interval>,
    pub tar_far_1e3_ci90: Option<Interval>,
    /// rank-1 minus the first recognizer's, on the same resampled people (paired); absent
    /// for the first recognizer itself.
    pub rank1_delta_ci90: Option<Interval>,
    pub tar_far_1e3_delta_ci90: Option<Interval>,
}

/// What the bootstrap needs of one mated probe: whether it ranks right, its genuine score,
/// and its impostor scores, highest first.
pub(super) struct Mated {
    person: usize,
    right: bool,
    genuine: f32,
    impostors: Vec<f32>,
}

impl Mated {
    pub(super) fn summarise(probes: &[ProbeScores]) -> Vec<Mated> {
        probes
            .iter()
            .filter(|p| p.truth.is_some())
            .map(|p| {
                let mut impostors: Vec<f32> = p.impostors().collect();
                impostors.sort_by(|a, b| b.total_cmp(a));
                Mated {
                    person: p.truth.unwrap_or_default(),
                    right: p.top().map(|(i, _)| Some(i)) == Some(p.truth),
                    genuine: p.genuine(),
                    impostors,
                }
            })
            .collect()
    }
}

/// rank-1 and TAR at `far` of the mated probes at `draw` (indices, repeats allowed).
pub(super) fn resampled(probes: &[Mated], draw: &[usize], far: f64, pool: &mut Vec<f32>) -> (f64, Option<f64>) {
    let n = draw.len().max(1) as f64;
    let rank1 = draw.iter().filter(|&&i| probes[i].right).count() as f64 / n;
    let total: usize = draw.iter().map(|&i| probes[i].impostors.len()).sum();
    if total == 0 || (total as f64) * far < 1.0 {
        return (rank1, None);
    }
    // The threshold has `allowed` scores of the pool above it, so it is among the
    // `allowed + 1` highest of its own probe's: the rest of each list cannot matter.
    let allowed = allowed_impostors(total, far);
    pool.clear();
    for &i in draw {
        let own = &probes[i].impostors;
        pool.extend_from_slice(&own[..own.len().min(allowed + 1)]);
    }
    let threshold = nth_highest(pool, allowed);
    let accepted = draw.iter().filter(|&&i| probes[i].genuine > threshold).count();
    (rank1, Some(accepted as f64 / n))
}

/// Bootstrap over people: each resample draws as many people as there are, with
/// replacement, and takes all their mated probes. `recognizers[r]` are one recognizer's
/// scores for the same probes in the same order, so every recognizer sees the same draws
/// and its difference from `recognizers[0]` is paired. Strangers do not enter rank-1 or TAR.
pub fn bootstrap_by_person(recognizers: &[&[ProbeScores]], resamples: usize, seed: u64) -> Vec<Spread> {
    const FAR: f64 = 1e-3;
    let summaries: Vec<Vec<Mated>> = recognizers.iter().map(|p| Mated::summarise(p)).collect();
    let Some(first) = summaries.first() else {
        return Vec::new();
    };
    let mut people: Vec<Vec<usize>> = Vec::new();
    let mut slot = std::collections::HashMap::new();
    for (i, probe) in first.iter().enumerate() {
        let k = *slot.entry(probe.person).or_insert_with(|| {
            people.push(Vec::new());
            people.len() - 1
        });
        people[k].push(i);
    }
    if resamples == 0 || people.is_empty() {
        return vec![Spread::default(); recognizers.len()];
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pool = Vec::new();
    // [recognizer] → per resample (rank-1, TAR).
    let mut draws: Vec<Vec<(f64, Option<f64>)>> = vec![Vec::with_capacity(resamples); recognizers.len()];
    for _ in 0..resamples {
        let draw: Vec<usize> = (0..people.len())
            .flat_map(|_| people[rng.random_range(0..people.len())].iter().copied())
            .collect();
        for (r, probes) in summaries.iter().enumerate() {
            draws[r].push(resampled(probes, &draw, FAR, &mut pool));
        }
    }
    // Per recognizer, the resamples' rank-1 and (when every resample could measure it) TAR.
    let rank1: Vec<Vec<f64>> = draws.iter().map(|d| d.iter().map(|x| x.0).collect()).collect();
    let tar: Vec<Option<Vec<f64>>> = draws.iter().map(|d| d.iter().map(|x| x.1).collect()).collect();
    let minus = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x - y).collect::<Vec<f64>>();
    (0..recognizers.len())
        .map(|r| Spread {
            rank1_ci90: interval(rank1[r].clone()),
            tar_far_1e3_ci90: tar[r].clone().and_then(interval),
            // The first recognizer is what the others are compared with: no difference of its own.
            rank1_delta_ci90: if r > 0 {
                interval(minus(&rank1[r], &rank1[0]))
            } else {
                None
            },
            tar_far_1e3_delta_ci90: match (&tar[r], &tar[0]) {
                (Some(a), Some(b)) if r > 0 => interval(minus(a, b)),
                _ => None,
            },
        })
        .collect()
}

/// 90 % bootstrap interval of the mean of `values` (resampled with replacement; e.g. the
/// landmark error over faces).
pub fn mean_interval(values: &[f64], resamples: usize, seed: u64) -> Option<Interval> {
    if values.is_empty() || resamples == 0 {
        return None;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let n = values.len();
    let means = (0..resamples)
        .map(|_| (0..n).map(|_| values[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    interval(means)
}

/// The 5th and 95th percentiles (nearest rank).
fn interval(mut values: Vec<f64>) -> Option<Interval> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((q * (values.len() - 1) as f64).round() as usize).min(values.len() - 1)];
    Some([at(0.05), at(0.95)])
}
