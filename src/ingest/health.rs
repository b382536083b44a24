use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    Starting,
    Streaming,
    Stalled,
    Reconnecting,
    /// A file source reached its end.
    Finished,
    Failed,
    Stopped,
}

/// Live health of one camera, shared between its ingest thread and whoever asks.
#[derive(Debug)]
pub struct CameraHealth {
    pub camera_id: String,
    state: Mutex<(CameraState, Option<String>)>,
    pub frames_in: AtomicU64,
    pub frames_dropped: AtomicU64,
    pub reconnects: AtomicU64,
    /// Frames per second in and dropped, over the last window of at least a second.
    rates: Mutex<RateWindow>,
}

#[derive(Debug)]
struct RateWindow {
    since: Instant,
    frames_in: u64,
    frames_dropped: u64,
    fps_in: f64,
    fps_dropped: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct HealthSnapshot {
    pub camera_id: String,
    pub state: CameraState,
    pub last_error: Option<String>,
    pub frames_in: u64,
    pub frames_dropped: u64,
    pub reconnects: u64,
    pub fps_in: f64,
    pub fps_dropped: f64,
}

impl CameraHealth {
    pub fn new(camera_id: &str) -> CameraHealth {
        CameraHealth {
            camera_id: camera_id.to_string(),
            state: Mutex::new((CameraState::Starting, None)),
            frames_in: AtomicU64::new(0),
            frames_dropped: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            rates: Mutex::new(RateWindow {
                since: Instant::now(),
                frames_in: 0,
                frames_dropped: 0,
                fps_in: 0.0,
                fps_dropped: 0.0,
            }),
        }
    }

    /// Recomputes the rates when the current window is at least a second old.
    fn rates(&self, frames_in: u64, frames_dropped: u64) -> (f64, f64) {
        let Ok(mut w) = self.rates.lock() else {
            return (0.0, 0.0);
        };
        let elapsed = w.since.elapsed().as_secs_f64();
        if elapsed >= 1.0 {
            w.fps_in = (frames_in - w.frames_in) as f64 / elapsed;
            w.fps_dropped = (frames_dropped - w.frames_dropped) as f64 / elapsed;
            (w.since, w.frames_in, w.frames_dropped) = (Instant::now(), frames_in, frames_dropped);
        }
        (w.fps_in, w.fps_dropped)
    }

    /// Records a state change and logs it; the error is redacted here, since it ends up in
    /// logs, /health and stats files.
    pub fn set(&self, state: CameraState, error: Option<String>) {
        let error = error.map(|e| crate::redact::redact_credentials(&e));
        let Ok(mut guard) = self.state.lock() else {
            return;
        };
        if guard.0 == state && error.is_none() {
            return;
        }
        match (&error, state) {
            (Some(err), _) => {
                tracing::warn!(camera = %self.camera_id, ?state, error = %err, "camera state")
            }
            (None, _) => tracing::info!(camera = %self.camera_id, ?state, "camera state"),
        }
        guard.0 = state;
        if error.is_some() {
            guard.1 = error;
        }
    }

    pub fn state(&self) -> CameraState {
        self.state.lock().map(|g| g.0).unwrap_or(CameraState::Failed)
    }

    pub fn snapshot(&self) -> HealthSnapshot {
        let (state, last_error) = self
            .state
            .lock()
            .map(|g| g.clone())
            .unwrap_or((CameraState::Failed, Some("health lock poisoned".into())));
        let frames_in = self.frames_in.load(Ordering::Relaxed);
        let frames_dropped = self.frames_dropped.load(Ordering::Relaxed);
        let (fps_in, fps_dropped) = self.rates(frames_in, frames_dropped);
        HealthSnapshot {
            camera_id: self.camera_id.clone(),
            state,
            last_error,
            frames_in,
            frames_dropped,
            reconnects: self.reconnects.load(Ordering::Relaxed),
            fps_in,
            fps_dropped,
        }
    }
}
