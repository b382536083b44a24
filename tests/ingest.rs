//! Camera ingest against a real gst-rtsp-server on 127.0.0.1: frames arrive, an unreachable
//! camera is retried with its password redacted, and the other cameras keep streaming.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use squint::ingest::CameraState;
use squint::serve::RtspServer;
use squint::testing;

#[test]
fn unreachable_camera_is_retried_redacted_while_another_streams() {
    let server = RtspServer::start(&short_clip(), 0, "/live").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let good = start(&camera_with("good", &server.url(), ""), &stop);
    // A port nothing listens on (the server's port + 1 is not bound by it).
    let dead_url = format!("rtsp://admin:hunter2@127.0.0.1:{}/cam", closed_port());
    let dead = start(&camera_with("dead", &dead_url, ""), &stop);

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
    let running = start(&camera_with("cam", &server.url(), ""), &stop);
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
    let (mut seqs, mut starts) = (Vec::new(), Vec::new());
    assert!(
        wait_until(Duration::from_secs(20), || {
            for frame in running.frames.try_iter() {
                seqs.push(frame.seq);
                starts.push(frame.stream_start);
            }
            seqs.len() >= 5
        }),
        "frames resumed: {:?}",
        running.source.health.snapshot()
    );
    if let Some(before) = last_seq_before {
        assert!(seqs[0] > before, "sequence numbers stay monotonic across reconnects");
    }
    // The detector sweeps the whole frame after a reconnect because of this flag.
    assert!(starts[0], "the first frame after the reconnect starts a stream");
    assert!(starts[1..].iter().all(|s| !s), "{starts:?}");
    stop.store(true, Ordering::Relaxed);
    drop(server);
}

#[test]
fn missing_file_fails_with_its_name() {
    let stop = Arc::new(AtomicBool::new(false));
    let missing = Path::new("/nonexistent/clip.mp4");
    let running = start(&camera_with("file", missing.to_str().unwrap(), ""), &stop);
    assert!(wait_until(Duration::from_secs(10), || running.source.is_finished()));
    let snapshot = running.source.health.snapshot();
    assert_eq!(snapshot.state, CameraState::Failed);
    let error = snapshot.last_error.unwrap();
    assert!(error.contains("/nonexistent/clip.mp4"), "{error}");
}

#[test]
fn a_file_delivers_every_frame_then_finishes() {
    let stop = Arc::new(AtomicBool::new(false));
    let running = start(&camera_with("file", short_clip().to_str().unwrap(), ""), &stop);
    let mut count = 0u64;
    let mut last_seq = None;
    // vtest.avi has 795 frames; a slow consumer must not lose any of them.
    while let Ok(frame) = running.frames.recv_timeout(Duration::from_secs(20)) {
        assert_eq!(last_seq.map_or(0, |s: u64| s + 1), frame.seq);
        assert_eq!(
            frame.stream_start,
            frame.seq == 0,
            "only the first frame starts the stream"
        );
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

#[test]
fn frozen_server_trips_the_watchdog_then_recovers() {
    let server = RtspServer::start(&short_clip(), 0, "/live").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let running = start(&camera_with("cam", &server.url(), ""), &stop);
    assert!(time_to_frames(&running.frames, 3, Duration::from_secs(20)).is_some());
    server.set_paused(true);
    let frozen_at = Instant::now();
    assert!(
        wait_until(Duration::from_secs(10), || running.source.health.snapshot().reconnects
            >= 1),
        "watchdog fired: {:?}",
        running.source.health.snapshot()
    );
    let detected = frozen_at.elapsed();
    // Not before the configured 2 s of silence.
    assert!(detected >= Duration::from_millis(1800), "fired after {detected:?}");
    let error = running.source.health.snapshot().last_error.unwrap_or_default();
    assert!(error.contains("no frame for 2.0 s"), "{error}");
    running.frames.try_iter().count();
    server.set_paused(false);
    assert!(
        time_to_frames(&running.frames, 3, Duration::from_secs(10)).is_some(),
        "frames after unfreezing"
    );
    stop.store(true, Ordering::Relaxed);
}

/// Encodes `frames` identical colour-bar frames to an MP4 (the served stream re-encodes them
/// with a key frame every 25 frames, so runs of exactly equal frames are ~15 long).
fn still_clip(path: &Path, frames: u32) {
    gst::init().unwrap();
    let launch = format!(
        "videotestsrc pattern=colors num-buffers={frames} ! video/x-raw,width=320,height=240,framerate=25/1 \
         ! videoconvert ! video/x-raw,format=I420 ! x264enc ! mp4mux ! filesink location={}",
        path.display()
    );
    let pipeline = gst::parse::launch(&launch).unwrap();
    use gst::prelude::*;
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(30),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(
        matches!(msg.map(|m| m.type_()), Some(gst::MessageType::Eos)),
        "still clip encoded"
    );
}

#[test]
fn a_server_repeating_one_frame_is_detected_as_stalled() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("still.mp4");
    still_clip(&clip, 50);
    let server = RtspServer::start(&clip, 0, "/still").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let running = start(&camera_with("still", &server.url(), "stall_repeat_frames = 10"), &stop);
    let mut saw_stalled = false;
    assert!(
        wait_until(Duration::from_secs(20), || {
            running.frames.try_iter().count();
            let snapshot = running.source.health.snapshot();
            saw_stalled |= snapshot
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("same frame repeated 10 times"));
            saw_stalled && snapshot.reconnects >= 1
        }),
        "{:?}",
        running.source.health.snapshot()
    );
    stop.store(true, Ordering::Relaxed);
}

#[test]
fn wrong_path_and_non_video_file_are_clear_errors_while_others_stream() {
    let server = RtspServer::start(&short_clip(), 0, "/live").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let good = start(&camera_with("good", &server.url(), ""), &stop);
    let wrong_path = format!("rtsp://op:pa55word@127.0.0.1:{}/nope", server.port);
    let missing_path = start(&camera_with("nope", &wrong_path, ""), &stop);
    let not_video = testing::repo().join("Cargo.toml");
    let text = start(&camera_with("text", not_video.to_str().unwrap(), ""), &stop);

    assert!(wait_until(Duration::from_secs(20), || missing_path
        .source
        .health
        .snapshot()
        .reconnects
        >= 1));
    let error = missing_path.source.health.snapshot().last_error.unwrap();
    assert!(error.contains("Not Found") || error.contains("404"), "{error}");
    assert!(
        error.contains("rtsp://***@127.0.0.1") && !error.contains("pa55word"),
        "{error}"
    );

    assert!(wait_until(Duration::from_secs(20), || text.source.is_finished()));
    let snapshot = text.source.health.snapshot();
    assert_eq!(snapshot.state, CameraState::Failed);
    assert!(snapshot.last_error.unwrap().contains("Cargo.toml"));

    assert!(
        time_to_frames(&good.frames, 10, Duration::from_secs(20)).is_some(),
        "the good camera keeps streaming"
    );
    stop.store(true, Ordering::Relaxed);
}

#[test]
fn a_slow_consumer_gets_fresh_frames_and_drops_are_counted() {
    let server = RtspServer::start(&short_clip(), 0, "/live").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let running = start(&camera_with("cam", &server.url(), ""), &stop);
    assert!(time_to_frames(&running.frames, 1, Duration::from_secs(20)).is_some());
    let mut worst_age = Duration::ZERO;
    for _ in 0..12 {
        // A consumer at ~3 frames/s on a 10 frames/s camera.
        std::thread::sleep(Duration::from_millis(300));
        assert!(running.frames.len() <= 2, "queue stays at its bound");
        if let Ok(frame) = running.frames.recv_timeout(Duration::from_secs(5)) {
            worst_age = worst_age.max(frame.captured_at.elapsed().unwrap_or_default());
        }
    }
    let snapshot = running.source.health.snapshot();
    assert!(snapshot.frames_dropped >= 10, "drops counted: {snapshot:?}");
    assert!(
        worst_age < Duration::from_secs(1),
        "oldest frame handed out was {worst_age:?} old"
    );
    stop.store(true, Ordering::Relaxed);
}
