use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// Upper bounds of the histogram buckets, seconds (Prometheus `le`).
pub const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Recent samples kept for exact percentiles.
const RECENT: usize = 100_000;

/// A latency histogram for /metrics plus the most recent samples for percentiles.
#[derive(Debug, Default)]
pub struct Latency {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_ns: AtomicU64,
    recent: Mutex<VecDeque<f32>>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    pub samples: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn record(&self, latency: Duration) {
        let seconds = latency.as_secs_f64();
        count_into(&BUCKETS, &self.buckets, seconds);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(latency.as_nanos() as u64, Ordering::Relaxed);
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(seconds as f32);
        }
    }

    /// Cumulative bucket counts (as Prometheus wants them), total count and sum in seconds.
    pub fn histogram(&self) -> (Vec<(f64, u64)>, u64, f64) {
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        (
            cumulative(&BUCKETS, &self.buckets),
            self.count.load(Ordering::Relaxed),
            sum,
        )
    }

    pub fn percentiles(&self) -> Percentiles {
        let mut samples: Vec<f32> = self
            .recent
            .lock()
            .map(|r| r.iter().copied().collect())
            .unwrap_or_default();
        samples.sort_by(f32::total_cmp);
        let at = |q: f64| {
            if samples.is_empty() {
                return 0.0;
            }
            let index = ((samples.len() - 1) as f64 * q).round() as usize;
            samples[index] as f64 * 1000.0
        };
        Percentiles {
            samples: samples.len(),
            p50_ms: at(0.5),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

/// Upper bounds of the count histogram buckets (batch sizes, faces per frame).
pub const SIZE_BUCKETS: [f64; 9] = [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];

/// A histogram of small counts for /metrics.
#[derive(Debug, Default)]
pub struct SizeHistogram {
    buckets: [AtomicU64; SIZE_BUCKETS.len()],
    count: AtomicU64,
    sum: AtomicU64,
}

impl SizeHistogram {
    pub fn record(&self, size: usize) {
        count_into(&SIZE_BUCKETS, &self.buckets, size as f64);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(size as u64, Ordering::Relaxed);
    }

    /// Cumulative bucket counts, total count and sum, as [`Latency::histogram`].
    pub fn histogram(&self) -> (Vec<(f64, u64)>, u64, f64) {
        let sum = self.sum.load(Ordering::Relaxed) as f64;
        (
            cumulative(&SIZE_BUCKETS, &self.buckets),
            self.count.load(Ordering::Relaxed),
            sum,
        )
    }
}

/// Counts `value` in every bucket whose upper bound it does not exceed (cumulative).
fn count_into(bounds: &[f64], buckets: &[AtomicU64], value: f64) {
    for (bucket, &bound) in buckets.iter().zip(bounds) {
        if value <= bound {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn cumulative(bounds: &[f64], buckets: &[AtomicU64]) -> Vec<(f64, u64)> {
    bounds
        .iter()
        .zip(buckets)
        .map(|(&le, c)| (le, c.load(Ordering::Relaxed)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_buckets_are_cumulative() {
        let sizes = SizeHistogram::default();
        for n in [0, 1, 3, 8, 200] {
            sizes.record(n);
        }
        let (buckets, count, sum) = sizes.histogram();
        assert_eq!((count, sum), (5, 212.0));
        assert_eq!(buckets[0], (0.0, 1));
        assert_eq!(buckets[3], (4.0, 3));
        assert_eq!(buckets[8], (128.0, 4), "200 only in +Inf");
    }

    #[test]
    fn buckets_are_cumulative_and_percentiles_exact() {
        let latency = Latency::default();
        for ms in 1..=100 {
            latency.record(Duration::from_millis(ms));
        }
        let (buckets, count, sum) = latency.histogram();
        assert_eq!(count, 100);
        assert!((sum - 5.05).abs() < 1e-6);
        assert_eq!(buckets[0], (0.005, 5));
        assert_eq!(buckets[4], (0.1, 100));
        assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1));
        let p = latency.percentiles();
        assert!(
            (p.p50_ms - 50.0).abs() <= 1.0 && (p.p99_ms - 99.0).abs() <= 1.0 && (p.max_ms - 100.0).abs() < 1e-3,
            "{p:?}"
        );
    }
}
