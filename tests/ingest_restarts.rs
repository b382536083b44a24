//! Kill and restart the camera's server ten times: frames resume within the back-off plus
//! 2 s, and the process's thread and file-descriptor counts do not grow. Its own test
//! binary, so no other test's threads are counted.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use squint::serve::RtspServer;

/// Kills the server and waits until the camera has noticed.
fn continue_after_drop(server: RtspServer, running: &Running) {
    let reconnects = running.source.health.snapshot().reconnects;
    drop(server);
    assert!(
        wait_until(Duration::from_secs(10), || running.source.health.snapshot().reconnects
            > reconnects),
        "server loss noticed"
    );
}

fn count_entries(dir: &str) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn ten_server_restarts_resume_without_leaking_threads_or_fds() {
    let port = closed_port();
    let stop = Arc::new(AtomicBool::new(false));
    let cam = camera_with("cam", &format!("rtsp://127.0.0.1:{port}/live"), "");
    let running = start(&cam, &stop);
    // Allowed: the longest back-off (400 ms + 20 % jitter) plus 2 s.
    let resume_limit = Duration::from_millis(480) + Duration::from_secs(2);
    let mut baseline = None;
    for cycle in 0..10 {
        let server = RtspServer::start(&short_clip(), port, "/live").unwrap();
        let limit = if cycle == 0 {
            Duration::from_secs(20)
        } else {
            resume_limit
        };
        let resumed = time_to_frames(&running.frames, 3, limit);
        assert!(
            resumed.is_some(),
            "cycle {cycle}: no frames within {limit:?}: {:?}",
            running.source.health.snapshot()
        );
        let counts = (count_entries("/proc/self/task"), count_entries("/proc/self/fd"));
        // The first connection creates GStreamer's lazily started thread pools; compare later
        // cycles with the second.
        if cycle == 0 {
            continue_after_drop(server, &running);
            continue;
        }
        let (threads, fds) = *baseline.get_or_insert(counts);
        assert!(
            counts.0 <= threads + 4 && counts.1 <= fds + 4,
            "cycle {cycle}: threads/fds {counts:?} vs {:?}",
            (threads, fds)
        );
        let reconnects = running.source.health.snapshot().reconnects;
        drop(server);
        assert!(
            wait_until(Duration::from_secs(10), || running.source.health.snapshot().reconnects
                > reconnects),
            "cycle {cycle}: server loss noticed"
        );
    }
    stop.store(true, Ordering::Relaxed);
}
