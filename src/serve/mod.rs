//! `squint serve-rtsp`: serves a video file over RTSP in an endless loop, re-encoded as
//! H.264 in real time, for demos and tests. Built on gst-rtsp-server, bound to 127.0.0.1.

mod video;

pub use video::{VideoReader, probe_video};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use gst::glib;

use crate::gst_util::element_by_name;
use gst_rtsp_server::prelude::*;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("video {path}: {message}")]
    Video { path: PathBuf, message: String },
    #[error("RTSP server: {0}")]
    Server(String),
    #[error("RTSP server: --path `{0}` must start with `/`, e.g. /scene")]
    Path(String),
    #[error(
        "RTSP server: cannot listen on 127.0.0.1:{port}: {message}; is another server using it? pick another --port (0 picks a free one)"
    )]
    Listen { port: u16, message: String },
}

/// Encoder side of the served stream. I420 before x264enc: otherwise x264 picks High 4:4:4,
/// which many decoders reject.
const LAUNCH: &str = "( appsrc name=src is-live=true format=time do-timestamp=true \
    ! videoconvert ! video/x-raw,format=I420 \
    ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 \
    ! rtph264pay name=pay0 pt=96 config-interval=1 )";

/// A running RTSP server; stops when dropped.
pub struct RtspServer {
    pub port: u16,
    pub path: String,
    server: gst_rtsp_server::RTSPServer,
    main_loop: glib::MainLoop,
    paused: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RtspServer {
    /// Serves `file` at `rtsp://127.0.0.1:PORT/PATH`; port 0 picks a free port.
    pub fn start(file: &Path, port: u16, path: &str) -> Result<RtspServer, ServeError> {
        // GStreamer only logs a critical for a mount path without `/` and then serves nothing.
        if !path.starts_with('/') || path.contains(char::is_whitespace) {
            return Err(ServeError::Path(path.to_string()));
        }
        gst::init().map_err(|e| ServeError::Server(e.to_string()))?;
        let caps = probe_video(file)?;
        let context = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let paused = Arc::new(AtomicBool::new(false));
        let server = gst_rtsp_server::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service(&port.to_string());
        let factory = gst_rtsp_server::RTSPMediaFactory::new();
        factory.set_launch(LAUNCH);
        factory.set_shared(true);
        let (file_owned, paused_feeder) = (file.to_path_buf(), paused.clone());
        factory.connect_media_configure(move |_, media| {
            let Some(appsrc) = element_by_name::<gst_app::AppSrc>(&media.element(), "src") else {
                tracing::error!("served media has no appsrc");
                return;
            };
            appsrc.set_caps(Some(&caps));
            let (file, paused) = (file_owned.clone(), paused_feeder.clone());
            std::thread::spawn(move || video::feed_loop(&file, &appsrc, &paused));
        });
        let mounts = server
            .mount_points()
            .ok_or_else(|| ServeError::Server("no mount points".into()))?;
        mounts.add_factory(path, factory);
        let (tx, rx) = std::sync::mpsc::channel();
        let loop_clone = main_loop.clone();
        let server_clone = server.clone();
        let thread = std::thread::Builder::new()
            .name("rtsp-server".into())
            .spawn(move || {
                let result = context.with_thread_default(|| {
                    let source = match server_clone.attach(Some(&context)) {
                        Ok(source) => source,
                        Err(e) => {
                            let _ = tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = tx.send(Ok(server_clone.bound_port()));
                    loop_clone.run();
                    // Closes the listening socket so the port can be bound again.
                    if let Some(source) = context.find_source_by_id(&source) {
                        source.destroy();
                    }
                });
                if let Err(e) = result {
                    tracing::error!(error = %e, "RTSP server context");
                }
            })
            .map_err(|e| ServeError::Server(e.to_string()))?;
        let bound = rx
            .recv()
            .map_err(|e| ServeError::Server(e.to_string()))?
            .map_err(|message| ServeError::Listen { port, message })?;
        Ok(RtspServer {
            port: bound as u16,
            path: path.to_string(),
            server,
            main_loop,
            paused,
            thread: Some(thread),
        })
    }

    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}{}", self.port, self.path)
    }

    /// While paused the server keeps connections open but sends no frames (a frozen camera).
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }

    /// Blocks until the server stops (never, unless stopped from another thread).
    pub fn join(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RtspServer {
    /// Disconnects every client (as a killed server would) and closes the port.
    fn drop(&mut self) {
        self.server
            .client_filter(Some(&mut |_, _| gst_rtsp_server::RTSPFilterResult::Remove));
        self.main_loop.quit();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
