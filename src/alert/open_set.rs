//! Open-set thresholds that know how many are enrolled: a stranger compared with one
//! template rarely reaches a threshold, but compared with a million templates one of them
//! often does. Impostor scores (one probe against one template of someone else) are
//! modelled as a Gaussian; the chance a stranger reaches `t` against *some* template of `n`
//! is `1 - (1 - q(t))^n`.

/// Impostor similarity of one probe against one template of someone else.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ImpostorModel {
    pub mean: f64,
    pub sd: f64,
}

impl ImpostorModel {
    /// Mean and standard deviation of measured impostor scores; `None` for fewer than two.
    pub fn fit(scores: &[f32]) -> Option<ImpostorModel> {
        if scores.len() < 2 {
            return None;
        }
        let n = scores.len() as f64;
        let mean = scores.iter().map(|&s| s as f64).sum::<f64>() / n;
        let var = scores.iter().map(|&s| (s as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (var > 0.0).then(|| ImpostorModel { mean, sd: var.sqrt() })
    }

    /// The chance one impostor score reaches `threshold`.
    pub fn single_rate(&self, threshold: f64) -> f64 {
        upper_tail((threshold - self.mean) / self.sd)
    }

    /// The chance that a probe of nobody enrolled reaches `threshold` against at least one
    /// of `templates` templates: false candidates per probe.
    pub fn false_candidate_rate(&self, threshold: f64, templates: usize) -> f64 {
        // 1 - (1 - q)^n without losing q when it is tiny.
        -f64::exp_m1(templates as f64 * f64::ln_1p(-self.single_rate(threshold)))
    }

    /// The threshold at which a probe of nobody enrolled is a candidate with chance `rate`
    /// against `templates` templates.
    pub fn threshold(&self, rate: f64, templates: usize) -> f64 {
        let single = -f64::exp_m1(f64::ln_1p(-rate.clamp(1e-300, 1.0 - 1e-12)) / templates.max(1) as f64);
        self.mean + self.sd * inverse_upper_tail(single)
    }
}

/// P(Z ≥ z) of a standard normal (complementary error function, Numerical Recipes' Chebyshev
/// fit; relative error below 1.2e-7 everywhere).
pub fn upper_tail(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = -x * x - 1.26551223
        + t * (1.00002368
            + t * (0.37409196
                + t * (0.09678418
                    + t * (-0.18628806
                        + t * (0.27886807
                            + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let erfc = t * poly.exp();
    0.5 * if x >= 0.0 { erfc } else { 2.0 - erfc }
}

/// The z with P(Z ≥ z) = `q`, by bisection (monotone, and precise to 1e-10 in z).
pub fn inverse_upper_tail(q: f64) -> f64 {
    let (mut lo, mut hi) = (-40.0f64, 40.0f64);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if upper_tail(mid) > q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normal_tail_matches_known_values_and_inverts() {
        for (z, q) in [
            (0.0, 0.5),
            (1.0, 0.158655),
            (1.959964, 0.025),
            (3.090232, 0.001),
            (6.0, 9.8659e-10),
        ] {
            assert!(
                (upper_tail(z) / q - 1.0).abs() < 1e-4,
                "P(Z >= {z}) = {} not {q}",
                upper_tail(z)
            );
            assert!((inverse_upper_tail(q) - z).abs() < 1e-3, "inverse of {q}");
        }
    }

    #[test]
    fn a_larger_gallery_needs_a_higher_threshold_for_the_same_false_candidates() {
        let model = ImpostorModel { mean: 0.05, sd: 0.1 };
        let small = model.threshold(0.01, 1_000);
        let large = model.threshold(0.01, 1_000_000);
        assert!(large > small + 0.1, "{small} → {large}");
        // The threshold found gives back the rate asked for.
        for n in [1, 1_000, 1_000_000] {
            let t = model.threshold(0.01, n);
            assert!((model.false_candidate_rate(t, n) - 0.01).abs() < 1e-6, "n = {n}");
        }
        // One template: the threshold is the impostor quantile itself.
        assert!((model.threshold(0.5, 1) - 0.05).abs() < 1e-6);
    }

    #[test]
    fn fitting_recovers_mean_and_spread() {
        let scores: Vec<f32> = (0..1000).map(|i| if i % 2 == 0 { 0.1 } else { 0.3 }).collect();
        let model = ImpostorModel::fit(&scores).unwrap();
        assert!(
            (model.mean - 0.2).abs() < 1e-6 && (model.sd - 0.1).abs() < 1e-3,
            "{model:?}"
        );
        assert!(ImpostorModel::fit(&[0.5]).is_none());
    }
}
