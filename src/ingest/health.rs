use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

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
}

#[derive(Debug, Clone, Serialize)]
pub struct HealthSnapshot {
    pub camera_id: String,
    pub state: CameraState,
    pub last_error: Option<String>,
    pub frames_in: u64,
    pub frames_dropped: u64,
    pub reconnects: u64,
}

impl CameraHealth {
    pub fn new(camera_id: &str) -> CameraHealth {
        CameraHealth {
            camera_id: camera_id.to_string(),
            state: Mutex::new((CameraState::Starting, None)),
            frames_in: AtomicU64::new(0),
            frames_dropped: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
        }
    }

    /// Records a state change and logs it; `error` must already be redacted.
    pub fn set(&self, state: CameraState, error: Option<String>) {
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
        HealthSnapshot {
            camera_id: self.camera_id.clone(),
            state,
            last_error,
            frames_in: self.frames_in.load(Ordering::Relaxed),
            frames_dropped: self.frames_dropped.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
        }
    }
}
