//! `squint bench-failover`: how long a site's cameras are dark when a worker dies. Starts
//! worker processes of one consumer group on cameras served here, kills one with SIGKILL
//! over and over, and times until each of its cameras streams again on another worker. The
//! same [`Site`] drives the cluster integration tests.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Writes worker `id`'s config (its `[cluster] worker_id` and `[http] address` set) and
/// returns its path.
pub type WorkerConfig = Box<dyn Fn(&str, SocketAddr) -> anyhow::Result<PathBuf>>;

struct Worker {
    child: Child,
    http: SocketAddr,
}

/// What one worker's `/health` says: the cameras it holds and the state of each.
#[derive(Debug, Clone, Default)]
pub struct Holding {
    pub cameras: BTreeMap<String, CameraSeen>,
    pub group_state: String,
}

#[derive(Debug, Clone)]
pub struct CameraSeen {
    pub state: String,
    pub frames_in: u64,
}

/// Worker processes of one site, killed when dropped.
pub struct Site {
    squint: PathBuf,
    logs: PathBuf,
    config_for: WorkerConfig,
    workers: BTreeMap<String, Worker>,
}

impl Site {
    pub fn new(squint: &Path, logs: &Path, config_for: WorkerConfig) -> Site {
        Site {
            squint: squint.to_path_buf(),
            logs: logs.to_path_buf(),
            config_for,
            workers: BTreeMap::new(),
        }
    }

    /// Starts `squint run` as worker `id` (its output in `<logs>/<id>.log`).
    pub fn start(&mut self, id: &str) -> anyhow::Result<()> {
        let http = free_address()?;
        let config = (self.config_for)(id, http)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("{id}.log")))?;
        let child = Command::new(&self.squint)
            .args(["run", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.workers.insert(id.to_string(), Worker { child, http });
        Ok(())
    }

    /// SIGKILL: no leave, no clean stop; the group notices only when the session times out.
    pub fn kill(&mut self, id: &str) {
        if let Some(mut worker) = self.workers.remove(id) {
            let _ = worker.child.kill();
            let _ = worker.child.wait();
        }
    }

    /// SIGTERM and wait: the worker stops its cameras and leaves the group. False when it
    /// had to be killed after 30 s (or was not running).
    pub fn stop(&mut self, id: &str) -> bool {
        let Some(mut worker) = self.workers.remove(id) else {
            return false;
        };
        let _ = Command::new("kill").arg(worker.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = worker.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = worker.child.kill();
        let _ = worker.child.wait();
        false
    }

    pub fn workers(&self) -> Vec<String> {
        self.workers.keys().cloned().collect()
    }

    /// The body of `path` on worker `id`'s HTTP endpoint.
    pub fn get(&self, id: &str, path: &str) -> Option<String> {
        http_get(self.workers.get(id)?.http, path)
    }

    /// Each live worker's holding; a worker not answering yet holds nothing.
    pub fn holdings(&self) -> BTreeMap<String, Holding> {
        self.workers
            .iter()
            .map(|(id, w)| (id.clone(), health(w.http).unwrap_or_default()))
            .collect()
    }

    /// Polls every 100 ms until `done` holds, at most `limit`; returns the time it took.
    pub fn wait_for(
        &self,
        limit: Duration,
        mut done: impl FnMut(&BTreeMap<String, Holding>) -> bool,
    ) -> Option<Duration> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if done(&self.holdings()) {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Site {
    /// Waits until every camera of `cameras` streams on exactly one worker and none has
    /// moved for `quiet` (a rebalance settles in steps: a joining member may first be given
    /// nothing); returns how long that took, `quiet` included.
    pub fn wait_settled(&self, limit: Duration, quiet: Duration, cameras: &[String]) -> Option<Duration> {
        let mut last: Option<(BTreeMap<String, String>, Instant)> = None;
        self.wait_for(limit, |holdings| {
            if !each_streams_once(holdings, cameras) {
                last = None;
                return false;
            }
            let now = holders(holdings);
            match &last {
                Some((map, since)) if *map == now => since.elapsed() >= quiet,
                _ => {
                    last = Some((now, Instant::now()));
                    false
                }
            }
        })
    }
}

/// Which worker holds each camera.
pub fn holders(holdings: &BTreeMap<String, Holding>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (worker, holding) in holdings {
        for camera in holding.cameras.keys() {
            out.insert(camera.clone(), worker.clone());
        }
    }
    out
}

impl Drop for Site {
    fn drop(&mut self) {
        for id in self.workers() {
            self.kill(&id);
        }
    }
}

/// True when every camera of `cameras` streams on exactly one worker.
pub fn each_streams_once(holdings: &BTreeMap<String, Holding>, cameras: &[String]) -> bool {
    cameras.iter().all(|camera| {
        let holders: Vec<&CameraSeen> = holdings.values().filter_map(|h| h.cameras.get(camera)).collect();
        holders.len() == 1 && holders[0].state == "streaming" && holders[0].frames_in > 0
    })
}

/// Cameras held by more than one worker.
pub fn held_twice(holdings: &BTreeMap<String, Holding>) -> Vec<String> {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for holding in holdings.values() {
        for camera in holding.cameras.keys() {
            *count.entry(camera).or_default() += 1;
        }
    }
    count
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(c, _)| c.to_string())
        .collect()
}

fn free_address() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// One worker's `/health`: the cameras it runs as the group gave them.
fn health(address: SocketAddr) -> Option<Holding> {
    let body = http_get(address, "/health")?;
    let value: serde_json::Value = serde_json::from_str(&body).ok()?;
    let cluster = value.get("cluster")?;
    let held: Vec<&str> = cluster["cameras"]
        .as_array()?
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    let mut cameras = BTreeMap::new();
    for camera in value["cameras"].as_array()? {
        let id = camera["camera_id"].as_str()?;
        if held.contains(&id) {
            let seen = CameraSeen {
                state: camera["state"].as_str().unwrap_or_default().to_string(),
                frames_in: camera["frames_in"].as_u64().unwrap_or_default(),
            };
            cameras.insert(id.to_string(), seen);
        }
    }
    Some(Holding {
        cameras,
        group_state: cluster["state"].as_str().unwrap_or_default().to_string(),
    })
}

/// A bare HTTP/1.0 GET on 127.0.0.1 (the body, whatever the status: /health answers 503
/// while a camera is down).
pub(super) fn http_get(address: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
}

#[derive(Debug, Serialize)]
pub struct FailoverReport {
    pub workers: usize,
    pub cameras: usize,
    pub session_timeout_s: f64,
    /// Seconds from SIGKILL until every camera of the killed worker streamed on another.
    pub failover_s: Vec<f64>,
    pub median_s: f64,
    pub max_s: f64,
    /// Kills after which some camera did not come back within the limit.
    pub not_recovered: usize,
    /// Polls (every 100 ms) that saw a camera on two workers at once.
    pub seen_twice: usize,
}

/// Kills the worker holding the most cameras `kills` times (replacing it with a new worker,
/// so the site keeps `workers` members) and times each failover.
pub fn measure(
    site: &mut Site,
    cameras: &[String],
    kills: usize,
    session_timeout_s: f64,
) -> anyhow::Result<FailoverReport> {
    let workers = site.workers().len();
    let limit = Duration::from_secs_f64(session_timeout_s * 3.0 + 30.0);
    let mut failover_s = Vec::new();
    let (mut not_recovered, mut seen_twice) = (0, 0);
    for round in 0..kills {
        let quiet = Duration::from_secs_f64(session_timeout_s);
        if site.wait_settled(Duration::from_secs(180), quiet, cameras).is_none() {
            anyhow::bail!("round {round}: the site never had every camera streaming on one worker");
        }
        let holdings = site.holdings();
        let (victim, held) = holdings
            .iter()
            .max_by_key(|(_, h)| h.cameras.len())
            .map(|(id, h)| (id.clone(), h.cameras.keys().cloned().collect::<Vec<_>>()))
            .ok_or_else(|| anyhow::anyhow!("no worker"))?;
        site.kill(&victim);
        let killed = Instant::now();
        let recovered = site.wait_for(limit, |h| {
            seen_twice += usize::from(!held_twice(h).is_empty());
            each_streams_once(h, &held)
        });
        match recovered {
            Some(_) => failover_s.push(killed.elapsed().as_secs_f64()),
            None => not_recovered += 1,
        }
        tracing::info!(round, victim = %victim, cameras = ?held, seconds = ?recovered.map(|d| d.as_secs_f64()), "failover");
        site.start(&format!("w{}", workers + round + 1))?;
    }
    let mut sorted = failover_s.clone();
    sorted.sort_by(f64::total_cmp);
    let median_s = match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    };
    let max_s = sorted.last().copied().unwrap_or(f64::NAN);
    Ok(FailoverReport {
        workers,
        cameras: cameras.len(),
        session_timeout_s,
        failover_s,
        median_s,
        max_s,
        not_recovered,
        seen_twice,
    })
}

/// What `squint bench-failover` is given.
pub struct FailoverBench<'a> {
    /// A worker config with `[cluster]` and a real `[kafka]` broker; group and topics get a
    /// per-run suffix so a live site is never touched.
    pub template: &'a Path,
    /// Served as every camera, over RTSP on 127.0.0.1.
    pub video: &'a Path,
    pub workers: usize,
    pub cameras: usize,
    pub kills: usize,
    /// Worker logs and state folders.
    pub work: &'a Path,
}

pub fn run(bench: &FailoverBench) -> anyhow::Result<FailoverReport> {
    let config = crate::config::Config::load(bench.template)?;
    let cluster = config
        .cluster
        .clone()
        .ok_or_else(|| anyhow::anyhow!("{}: bench-failover needs a [cluster] table", bench.template.display()))?;
    std::fs::create_dir_all(bench.work)?;
    let work = std::fs::canonicalize(bench.work)?;
    let suffix = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let mut site_cluster = cluster.clone();
    site_cluster.group = format!("{}-{suffix}", cluster.group);
    site_cluster.cameras_topic = format!("{}.{suffix}", cluster.cameras_topic);
    let servers = (1..=bench.cameras)
        .map(|i| crate::serve::RtspServer::start(bench.video, 0, &format!("/cam{i}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut cameras = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        let text = format!("id = \"cam{}\"\nurl = \"{}\"\nmax_fps = 5.0\n", i + 1, server.url());
        cameras.push(toml::from_str::<crate::ingest::CameraConfig>(&text)?);
    }
    crate::cluster::CamerasTopic::new(&config.kafka, &site_cluster).put(&cameras)?;
    let template: toml::Table = toml::from_str(&std::fs::read_to_string(bench.template)?)?;
    let folder = bench.template.parent().unwrap_or(Path::new(".")).to_path_buf();
    let stem = bench
        .template
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let written = std::sync::Arc::new(std::sync::Mutex::new(Vec::<PathBuf>::new()));
    let config_for: WorkerConfig = {
        let (site_cluster, suffix, work, written) =
            (site_cluster.clone(), suffix.clone(), work.clone(), written.clone());
        Box::new(move |id, http| {
            let mut table = template.clone();
            set(&mut table, "cluster", "group", &site_cluster.group);
            set(&mut table, "cluster", "cameras_topic", &site_cluster.cameras_topic);
            set(&mut table, "cluster", "worker_id", id);
            set(&mut table, "http", "address", &http.to_string());
            set(&mut table, "pipeline", "state_dir", &work.join(id).to_string_lossy());
            let topic = |key: &str, default: &str| {
                let name = table
                    .get("kafka")
                    .and_then(|k| k.get(key))
                    .and_then(|v| v.as_str())
                    .unwrap_or(default)
                    .to_string();
                format!("{name}.{suffix}")
            };
            let (identity, alerts) = (topic("topic", "squint.identity"), topic("alert_topic", "squint.alerts"));
            set(&mut table, "kafka", "topic", &identity);
            set(&mut table, "kafka", "alert_topic", &alerts);
            // Beside the template, so its relative paths mean the same.
            let path = folder.join(format!(".{stem}.{suffix}.{id}.toml"));
            std::fs::write(&path, toml::to_string(&table)?)?;
            if let Ok(mut written) = written.lock() {
                written.push(path.clone());
            }
            Ok(path)
        })
    };
    let mut site = Site::new(&std::env::current_exe()?, &work, config_for);
    let report = (|| {
        for i in 1..=bench.workers {
            site.start(&format!("w{i}"))?;
        }
        let ids: Vec<String> = cameras.iter().map(|c| c.id.clone()).collect();
        measure(&mut site, &ids, bench.kills, cluster.session_timeout_s)
    })();
    drop(site);
    for path in written.lock().map(|w| w.clone()).unwrap_or_default() {
        let _ = std::fs::remove_file(path);
    }
    report
}

fn set(table: &mut toml::Table, section: &str, key: &str, value: &str) {
    let entry = table
        .entry(section.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let Some(section) = entry.as_table_mut() {
        section.insert(key.to_string(), toml::Value::String(value.to_string()));
    }
}
