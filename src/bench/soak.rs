//! `squint soak`: runs the configured pipeline for a long time and samples, at a fixed
//! interval, what would show a leak or a slowdown: memory, threads, open files, event rate
//! and event latency.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::Config;
use crate::pipeline::Pipeline;

#[derive(Debug, Serialize)]
pub struct SoakSample {
    pub at_s: f64,
    pub rss_mib: f64,
    pub threads: usize,
    pub open_fds: usize,
    pub events_per_s: f64,
    /// Over the most recent events (up to 100,000).
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub frames_dropped: u64,
    pub reconnects: u64,
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn entries(dir: &str) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// Runs until `duration` has passed or `stop` is set; one sample every `every`.
pub fn soak(config: &Path, duration: Duration, every: Duration, stop: &AtomicBool) -> anyhow::Result<Vec<SoakSample>> {
    let config = Config::load(config)?;
    let pipeline = Pipeline::start(&config)?;
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut last_events = 0;
    let mut last_tick = Instant::now();
    while started.elapsed() < duration && !stop.load(Ordering::Relaxed) && !pipeline.is_finished() {
        std::thread::sleep(Duration::from_millis(200));
        if last_tick.elapsed() < every {
            continue;
        }
        let events = pipeline.stats.events.load(Ordering::Relaxed);
        let latency = pipeline.stats.event_latency.percentiles();
        let health = pipeline.health();
        let sample = SoakSample {
            at_s: started.elapsed().as_secs_f64(),
            rss_mib: rss_mib(),
            threads: entries("/proc/self/task"),
            open_fds: entries("/proc/self/fd"),
            events_per_s: (events - last_events) as f64 / last_tick.elapsed().as_secs_f64(),
            latency_p50_ms: latency.p50_ms,
            latency_p99_ms: latency.p99_ms,
            frames_dropped: health.iter().map(|c| c.frames_dropped).sum(),
            reconnects: health.iter().map(|c| c.reconnects).sum(),
        };
        tracing::info!(?sample, "soak");
        samples.push(sample);
        (last_events, last_tick) = (events, Instant::now());
    }
    pipeline.shutdown();
    Ok(samples)
}
