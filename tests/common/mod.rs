//! Helpers shared by the integration test binaries.
#![allow(dead_code)]

pub mod scene;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use squint::ingest::{CameraConfig, CameraSource, FrameSender};
use squint::testing;
use squint::types::Frame;

pub struct Running {
    pub source: CameraSource,
    pub frames: crossbeam_channel::Receiver<Frame>,
}

pub fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub fn time_to_frames(frames: &crossbeam_channel::Receiver<Frame>, n: usize, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut got = 0;
    wait_until(limit, || {
        got += frames.try_iter().count();
        got >= n
    })
    .then(|| started.elapsed())
}

pub fn short_clip() -> PathBuf {
    testing::background_video()
}

pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn start(camera: &CameraConfig, stop: &Arc<AtomicBool>) -> Running {
    let (tx, rx) = crossbeam_channel::bounded(2);
    let templates = testing::repo().join("pipelines");
    let source = CameraSource::spawn(camera, &templates, FrameSender::new(tx, rx.clone()), stop.clone()).unwrap();
    Running { source, frames: rx }
}

pub fn camera_with(id: &str, url: &str, extra: &str) -> CameraConfig {
    let toml = format!(
        "id = \"{id}\"\nurl = \"{url}\"\nbackoff_initial_ms = 100\nbackoff_max_ms = 400\nstall_timeout_s = 2.0\n{extra}\n"
    );
    toml::from_str(&toml).unwrap()
}

/// Runs the binary in the repository; returns (success, stdout, stderr).
pub fn squint(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_squint"))
        .args(args)
        .current_dir(testing::repo())
        .envs(testing::ort_library().map(|p| ("ORT_DYLIB_PATH", p)))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A plain HTTP/1.0 GET: status and body.
pub fn get(address: SocketAddr, path: &str) -> (u16, String) {
    let (status, body) = get_bytes(address, path);
    (status, String::from_utf8_lossy(&body).into_owned())
}

pub fn get_bytes(address: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |p| p + 4);
    let head = String::from_utf8_lossy(&response[..head_end]);
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, response[head_end..].to_vec())
}
