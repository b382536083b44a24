//! `squint soak`: runs the configured pipeline for a long time and samples, at a fixed
//! interval, what would show a leak or a slowdown: memory, threads, open files, gallery and
//! spool size, event rate and event latency. Optionally it serves the cameras itself and
//! restarts their servers in turn, enrols someone and promotes a stranger while it runs,
//! polls `/metrics` and `/review`, and at the end reads every identity event back from Kafka.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::Config;
use crate::gallery::Gallery;
use crate::pipeline::Pipeline;
use crate::publish::TailOptions;

#[derive(Debug, Clone, Serialize)]
pub struct SoakSample {
    pub at_s: f64,
    pub rss_mib: f64,
    pub threads: usize,
    pub open_fds: usize,
    /// The gallery's SQLite files (database and write-ahead log).
    pub gallery_bytes: u64,
    /// The event spool's folder.
    pub spool_bytes: u64,
    pub events: u64,
    pub events_per_s: f64,
    /// Over the most recent events (up to 100,000).
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub frames_dropped: u64,
    pub reconnects: u64,
    pub unknown_clusters: u64,
}

/// What happens during the run besides the pipeline itself.
#[derive(Debug, Clone, Default)]
pub struct SoakPlan {
    pub duration: Duration,
    pub every: Duration,
    /// The `squint` binary that serves the cameras and enrols and promotes, in processes of
    /// their own as an operator's commands would run (so their memory is not Squint's).
    pub squint: PathBuf,
    /// Serve this video to every camera whose URL is `rtsp://127.0.0.1:PORT/PATH` (one
    /// `squint serve-rtsp` each, started before the pipeline).
    pub serve: Option<PathBuf>,
    /// Stop and restart one camera server in turn this often.
    pub restart_every: Option<Duration>,
    /// At this time, enrol `name` from `photo` into the running gallery.
    pub enrol: Option<(Duration, String, PathBuf)>,
    /// At this time, promote the stranger cluster seen most to a named identity.
    pub promote_at: Option<Duration>,
    /// GET `/metrics` and `/review` this often (needs `[http]`).
    pub poll_every: Option<Duration>,
    /// At the end, read the identity topic back from Kafka and count the events.
    pub read_back: bool,
}

#[derive(Debug, Serialize)]
pub struct SoakReport {
    pub samples: Vec<SoakSample>,
    pub seconds: f64,
    /// Identity events the pipeline handed to Kafka (delivered, none left in the spool).
    pub events_produced: u64,
    pub events_delivered: u64,
    pub spool_pending: u64,
    /// Identity events read back from the topic; `None` without `read_back`.
    pub events_read_back: Option<u64>,
    pub server_restarts: usize,
    pub enrolled: Option<String>,
    pub promoted: Option<String>,
    pub polls_ok: usize,
    pub polls_failed: usize,
    /// RSS growth between the sample nearest 1/6 of the run and the last one, in %.
    pub rss_growth_pct: f64,
    /// Threads and open files added between the first sixth and the last third of the run.
    pub thread_growth: i64,
    pub fd_growth: i64,
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

/// Bytes of a file, or of every file under a folder.
fn disk_bytes(path: &Path) -> u64 {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::read_dir(path)
            .map(|dir| dir.flatten().map(|e| disk_bytes(&e.path())).sum())
            .unwrap_or(0),
        Ok(meta) => meta.len(),
        Err(_) => 0,
    }
}

fn gallery_bytes(path: &Path) -> u64 {
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    disk_bytes(path) + disk_bytes(&wal)
}

/// The camera servers the soak runs for the config's local RTSP cameras: `squint
/// serve-rtsp` child processes, so their memory and threads are not counted as Squint's and
/// a restart is a real server process dying.
struct Servers {
    squint: PathBuf,
    video: PathBuf,
    running: Vec<Option<Child>>,
    mounts: Vec<(u16, String)>,
    next: usize,
    restarts: usize,
}

impl Servers {
    fn start(squint: &Path, video: &Path, config: &Config) -> anyhow::Result<Servers> {
        let mounts: Vec<(u16, String)> = config.cameras.iter().filter_map(|c| local_mount(&c.url)).collect();
        anyhow::ensure!(
            !mounts.is_empty(),
            "--serve needs cameras at rtsp://127.0.0.1:PORT/PATH in the config"
        );
        let mut servers = Servers {
            squint: squint.to_path_buf(),
            video: video.to_path_buf(),
            running: Vec::new(),
            mounts,
            next: 0,
            restarts: 0,
        };
        for i in 0..servers.mounts.len() {
            let child = servers.spawn(i)?;
            servers.running.push(Some(child));
        }
        Ok(servers)
    }

    fn spawn(&self, i: usize) -> anyhow::Result<Child> {
        let (port, path) = &self.mounts[i];
        let child = Command::new(&self.squint)
            .arg("serve-rtsp")
            .arg(&self.video)
            .args(["--port", &port.to_string(), "--path", path])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {} serve-rtsp: {e}", self.squint.display()))?;
        Ok(child)
    }

    /// Kills one server (as a crash would) and starts it again on the same port; the
    /// camera reconnects.
    fn restart_next(&mut self) -> anyhow::Result<()> {
        let i = self.next % self.running.len();
        self.next += 1;
        if let Some(mut child) = self.running[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.running[i] = Some(self.spawn(i)?);
        self.restarts += 1;
        Ok(())
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for mut child in self.running.iter_mut().filter_map(Option::take) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `(PORT, /PATH)` of a camera at `rtsp://127.0.0.1:PORT/PATH`.
fn local_mount(url: &str) -> Option<(u16, String)> {
    let rest = url.strip_prefix("rtsp://127.0.0.1:")?;
    let (port, path) = rest.split_once('/')?;
    Some((port.parse().ok()?, format!("/{path}")))
}

/// Runs until the plan's duration has passed or `stop` is set; one sample every `every`.
pub fn soak(config_path: &Path, plan: &SoakPlan, stop: &AtomicBool) -> anyhow::Result<SoakReport> {
    let config = Config::load(config_path)?;
    soak_config(&config, plan, stop)
}

pub fn soak_config(config: &Config, plan: &SoakPlan, stop: &AtomicBool) -> anyhow::Result<SoakReport> {
    let mut servers = plan
        .serve
        .as_ref()
        .map(|video| Servers::start(&plan.squint, video, config))
        .transpose()?;
    let pipeline = Pipeline::start(config)?;
    let http = pipeline.http.as_ref().map(|h| h.address);
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut report_actions = Actions::default();
    let (mut last_events, mut last_tick) = (0, Instant::now());
    let (mut last_restart, mut last_poll) = (Instant::now(), Instant::now());
    while started.elapsed() < plan.duration && !stop.load(Ordering::Relaxed) && !pipeline.is_finished() {
        std::thread::sleep(Duration::from_millis(200));
        if let (Some(servers), Some(every)) = (servers.as_mut(), plan.restart_every)
            && last_restart.elapsed() >= every
        {
            servers.restart_next()?;
            last_restart = Instant::now();
        }
        if let (Some(address), Some(every)) = (http, plan.poll_every)
            && last_poll.elapsed() >= every
        {
            report_actions.poll(address);
            last_poll = Instant::now();
        }
        report_actions.run_due(config, plan, started.elapsed())?;
        if last_tick.elapsed() < plan.every {
            continue;
        }
        let sample = sample(&pipeline, config, started, last_events, last_tick);
        tracing::info!(?sample, "soak");
        (last_events, last_tick) = (sample.events, Instant::now());
        samples.push(sample);
    }
    let seconds = started.elapsed().as_secs_f64();
    let (stats, _) = pipeline.shutdown();
    // The cameras' servers stop only after the pipeline, so no camera sees its server go.
    let server_restarts = servers.map_or(0, |s| s.restarts);
    let events_read_back = if plan.read_back {
        Some(read_back(config, stats.events)?)
    } else {
        None
    };
    let (rss_growth_pct, thread_growth, fd_growth) = trends(&samples);
    Ok(SoakReport {
        samples,
        seconds,
        events_produced: stats.events,
        events_delivered: stats.delivered,
        spool_pending: stats.spool_pending,
        events_read_back,
        server_restarts,
        enrolled: report_actions.enrolled,
        promoted: report_actions.promoted,
        polls_ok: report_actions.polls_ok,
        polls_failed: report_actions.polls_failed,
        rss_growth_pct,
        thread_growth,
        fd_growth,
    })
}

fn sample(pipeline: &Pipeline, config: &Config, started: Instant, last_events: u64, last_tick: Instant) -> SoakSample {
    let events = pipeline.stats.events.load(Ordering::Relaxed);
    let latency = pipeline.stats.event_latency.percentiles();
    let health = pipeline.health();
    SoakSample {
        at_s: started.elapsed().as_secs_f64(),
        rss_mib: rss_mib(),
        threads: entries("/proc/self/task"),
        open_fds: entries("/proc/self/fd"),
        gallery_bytes: gallery_bytes(&config.gallery.path),
        spool_bytes: disk_bytes(&config.spool_dir()),
        events,
        events_per_s: events.saturating_sub(last_events) as f64 / last_tick.elapsed().as_secs_f64(),
        latency_p50_ms: latency.p50_ms,
        latency_p99_ms: latency.p99_ms,
        frames_dropped: health.iter().map(|c| c.frames_dropped).sum(),
        reconnects: health.iter().map(|c| c.reconnects).sum(),
        unknown_clusters: pipeline.stats.unknown_clusters.load(Ordering::Relaxed),
    }
}

/// RSS growth (%) from the first sample after the first sixth of the run (start-up, caches
/// and the gallery filling; minute 10 of an hour) to the last; and how many threads and open
/// files were added over the same span: the median of the last third against the median
/// right after the first sixth (medians, so a camera caught mid-reconnect does not count).
pub fn trends(samples: &[SoakSample]) -> (f64, i64, i64) {
    let Some(last) = samples.last() else {
        return (0.0, 0, 0);
    };
    let from = samples.iter().position(|s| s.at_s >= last.at_s / 6.0).unwrap_or(0);
    let span = &samples[from..];
    let third = span.len().div_ceil(3);
    let median = |window: &[SoakSample], f: fn(&SoakSample) -> usize| {
        let mut values: Vec<usize> = window.iter().map(f).collect();
        values.sort_unstable();
        values.get(values.len() / 2).copied().unwrap_or(0) as i64
    };
    let (early, late) = (&span[..third], &span[span.len() - third..]);
    let growth = |f: fn(&SoakSample) -> usize| median(late, f) - median(early, f);
    let base = span[0].rss_mib.max(f64::EPSILON);
    (
        100.0 * (last.rss_mib - base) / base,
        growth(|s| s.threads),
        growth(|s| s.open_fds),
    )
}

/// The enrolment, promotion and HTTP polls a plan asks for, and what came of them.
#[derive(Default)]
struct Actions {
    enrolled: Option<String>,
    promoted: Option<String>,
    polls_ok: usize,
    polls_failed: usize,
}

impl Actions {
    fn run_due(&mut self, config: &Config, plan: &SoakPlan, elapsed: Duration) -> anyhow::Result<()> {
        if let Some((at, name, photo)) = plan.enrol.as_ref().filter(|_| self.enrolled.is_none())
            && elapsed >= *at
        {
            enrol(config, &plan.squint, name, photo)?;
            tracing::info!(name, "soak: enrolled during the run");
            self.enrolled = Some(name.clone());
        }
        if let Some(at) = plan.promote_at.filter(|_| self.promoted.is_none())
            && elapsed >= at
        {
            // No stranger yet: try again at the next tick.
            self.promoted = promote(config, &plan.squint)?;
        }
        Ok(())
    }

    fn poll(&mut self, address: SocketAddr) {
        for path in ["/metrics", "/review"] {
            match super::failover::http_get(address, path) {
                Some(body) if !body.is_empty() => self.polls_ok += 1,
                _ => self.polls_failed += 1,
            }
        }
    }
}

/// `squint <args>` as an operator would run it next to the pipeline; its output on failure.
fn operator_command(config: &Config, squint: &Path, args: &[&std::ffi::OsStr]) -> anyhow::Result<()> {
    let mut command = Command::new(squint);
    command.args(args);
    if let Some(ort) = &config.models.onnxruntime {
        command.env("ORT_DYLIB_PATH", ort);
    }
    let output = command.output()?;
    anyhow::ensure!(
        output.status.success(),
        "squint {:?} failed: {}",
        args,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

fn enrol(config: &Config, squint: &Path, name: &str, photo: &Path) -> anyhow::Result<()> {
    let args = [
        "enroll".as_ref(),
        "--gallery".as_ref(),
        config.gallery.path.as_os_str(),
        "--name".as_ref(),
        name.as_ref(),
        "--detector".as_ref(),
        config.models.detector.as_os_str(),
        "--recognizer".as_ref(),
        config.models.recognizer.as_os_str(),
        photo.as_os_str(),
    ];
    operator_command(config, squint, &args)
}

/// Names the stranger cluster with the most visits `promoted-<id>`; `None` while there is none.
fn promote(config: &Config, squint: &Path) -> anyhow::Result<Option<String>> {
    let unknowns = Gallery::open_read_only(&config.gallery.path)?.unknowns()?;
    let Some(unknown) = unknowns.into_iter().max_by_key(|u| u.visits) else {
        return Ok(None);
    };
    let name = format!("promoted-{}", unknown.id);
    let args = [
        "unknowns".as_ref(),
        "--gallery".as_ref(),
        config.gallery.path.as_os_str(),
        "promote".as_ref(),
        unknown.id.as_ref(),
        "--name".as_ref(),
        name.as_ref(),
    ];
    operator_command(config, squint, &args)?;
    tracing::info!(name, "soak: stranger promoted during the run");
    Ok(Some(name))
}

/// Identity events on the topic, read from the beginning until `expected` arrived or the
/// topic stayed quiet for 10 s.
fn read_back(config: &Config, expected: u64) -> anyhow::Result<u64> {
    let options = TailOptions {
        brokers: Some(config.kafka.brokers.clone()),
        address_file: PathBuf::new(),
        topic: config.kafka.topic.clone(),
        properties: config.kafka.properties.clone(),
        from_beginning: true,
        max_events: Some(expected as usize),
        idle: Duration::from_secs(10),
        timeout: Duration::from_secs(120),
    };
    let mut count = 0u64;
    crate::publish::tail_raw(&options, |message| count += u64::from(message.is_ok()))?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_s: f64, rss_mib: f64, threads: usize, open_fds: usize) -> SoakSample {
        SoakSample {
            at_s,
            rss_mib,
            threads,
            open_fds,
            gallery_bytes: 0,
            spool_bytes: 0,
            events: 0,
            events_per_s: 0.0,
            latency_p50_ms: 0.0,
            latency_p99_ms: 0.0,
            frames_dropped: 0,
            reconnects: 0,
            unknown_clusters: 0,
        }
    }

    #[test]
    fn a_thread_leaked_per_restart_shows_and_a_reconnect_dip_does_not() {
        // Flat at 46 threads, with a camera caught mid-reconnect now and then.
        let flat: Vec<SoakSample> = (0..60)
            .map(|m| sample(m as f64 * 60.0, 800.0, if m % 7 == 3 { 42 } else { 46 }, 58))
            .collect();
        let (rss, threads, fds) = trends(&flat);
        assert_eq!((threads, fds), (0, 0));
        assert!(rss.abs() < 1e-9);
        // One thread and two files left behind by every fifth-minute restart; start-up RSS
        // growth before minute 10 does not count, growth after it does.
        let leaking: Vec<SoakSample> = (0..60)
            .map(|m| {
                sample(
                    m as f64 * 60.0,
                    if m < 10 {
                        600.0 + 20.0 * m as f64
                    } else {
                        800.0 + m as f64
                    },
                    46 + m / 5,
                    58 + 2 * (m / 5),
                )
            })
            .collect();
        let (rss, threads, fds) = trends(&leaking);
        assert!(threads >= 6 && fds >= 12, "{threads} {fds}");
        assert!((rss - 100.0 * 49.0 / 810.0).abs() < 0.5, "{rss}");
    }
}
