//! Camera ingest against a real gst-rtsp-server on 127.0.0.1: frames arrive, an unreachable
//! camera is retried with its password redacted, and the other cameras keep streaming.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use squint::ingest::{CameraConfig, CameraSource, CameraState, FrameSender};
use squint::serve::RtspServer;
use squint::testing;
use squint::types::Frame;

fn camera(id: &str, url: &str) -> CameraConfig {
    let toml = format!(
        "id = \"{id}\"\nurl = \"{url}\"\nbackoff_initial_ms = 100\nbackoff_max_ms = 400\nstall_timeout_s = 2.0\n"
    );
    toml::from_str(&toml).unwrap()
}

fn templates() -> PathBuf {
    testing::repo().join("pipelines")
}

struct Running {
    source: CameraSource,
    frames: crossbeam_channel::Receiver<Frame>,
}

fn start(camera: &CameraConfig, stop: &Arc<AtomicBool>) -> Running {
    let (tx, rx) = crossbeam_channel::bounded(2);
    let source = CameraSource::spawn(camera, &templates(), FrameSender::new(tx, rx.clone()), stop.clone()).unwrap();
    Running { source, frames: rx }
}

/// Polls `check` every 50 ms for at most `limit`.
fn wait_until(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn short_clip() -> PathBuf {
    testing::background_video()
}

#[test]
fn unreachable_camera_is_retried_redacted_while_another_streams() {
    let server = RtspServer::start(&short_clip(), 0, "/live").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let good = start(&camera("good", &server.url()), &stop);
    // A port nothing listens on (the server's port + 1 is not bound by it).
    let dead_url = format!("rtsp://admin:hunter2@127.0.0.1:{}/cam", closed_port());
    let dead = start(&camera("dead", &dead_url), &stop);

    assert!(
        wait_until(Duration::from_secs(20), || dead.source.health.snapshot().reconnects
            >= 2),
        "dead camera retried: {:?}",
        dead.source.health.snapshot()
    );
    let snapshot = dead.source.health.snapshot();
    assert!(matches!(
        snapshot.state,
        CameraState::Reconnecting | CameraState::Starting
    ));
    let error = snapshot.last_error.expect("the failure is reported");
    assert!(
        !error.contains("hunter2") && !error.contains("admin"),
        "password leaked: {error}"
    );

    let mut received = 0;
    assert!(wait_until(Duration::from_secs(20), || {
        while let Ok(frame) = good.frames.try_recv() {
            assert_eq!((frame.image.width, frame.image.height), (768, 576));
            received += 1;
        }
        received >= 10
    }));
    assert_eq!(good.source.health.snapshot().state, CameraState::Streaming);
    stop.store(true, Ordering::Relaxed);
    for mut running in [good, dead] {
        running.source.join();
        assert_eq!(running.source.health.state(), CameraState::Stopped);
    }
}

#[test]
fn frames_resume_after_the_server_restarts() {
    let port = closed_port();
    let server = RtspServer::start(&short_clip(), port, "/live").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let running = start(&camera("cam", &server.url()), &stop);
    let drain = |n: usize| {
        let mut got = 0;
        wait_until(Duration::from_secs(20), || {
            got += running.frames.try_iter().count();
            got >= n
        })
    };
    assert!(drain(5), "first frames");
    drop(server);
    assert!(
        wait_until(Duration::from_secs(10), || running.source.health.snapshot().reconnects
            >= 1),
        "loss noticed"
    );
    let last_seq_before = running.frames.try_iter().map(|f| f.seq).max();
    let server = RtspServer::start(&short_clip(), port, "/live").unwrap();
    let mut seqs = Vec::new();
    assert!(
        wait_until(Duration::from_secs(20), || {
            seqs.extend(running.frames.try_iter().map(|f| f.seq));
            seqs.len() >= 5
        }),
        "frames resumed: {:?}",
        running.source.health.snapshot()
    );
    if let Some(before) = last_seq_before {
        assert!(seqs[0] > before, "sequence numbers stay monotonic across reconnects");
    }
    stop.store(true, Ordering::Relaxed);
    drop(server);
}

#[test]
fn missing_file_fails_with_its_name() {
    let stop = Arc::new(AtomicBool::new(false));
    let missing = Path::new("/nonexistent/clip.mp4");
    let running = start(&camera("file", missing.to_str().unwrap()), &stop);
    assert!(wait_until(Duration::from_secs(10), || running.source.is_finished()));
    let snapshot = running.source.health.snapshot();
    assert_eq!(snapshot.state, CameraState::Failed);
    let error = snapshot.last_error.unwrap();
    assert!(error.contains("/nonexistent/clip.mp4"), "{error}");
}

#[test]
fn a_file_delivers_every_frame_then_finishes() {
    let stop = Arc::new(AtomicBool::new(false));
    let running = start(&camera("file", short_clip().to_str().unwrap()), &stop);
    let mut count = 0u64;
    let mut last_seq = None;
    // vtest.avi has 795 frames; a slow consumer must not lose any of them.
    while let Ok(frame) = running.frames.recv_timeout(Duration::from_secs(20)) {
        assert_eq!(last_seq.map_or(0, |s: u64| s + 1), frame.seq);
        last_seq = Some(frame.seq);
        count += 1;
        if count.is_multiple_of(200) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    assert_eq!(count, 795);
    assert!(wait_until(Duration::from_secs(5), || running.source.is_finished()));
    assert_eq!(running.source.health.snapshot().state, CameraState::Finished);
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
