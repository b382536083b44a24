use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gst::prelude::*;

use super::ServeError;
use crate::gst_util::element_by_name;
use crate::image::BgrImage;
use crate::ingest::sample_to_image;

/// Decodes a video file to packed BGR frames, in order.
pub struct VideoReader {
    pipeline: gst::Element,
    sink: gst_app::AppSink,
    path: std::path::PathBuf,
    /// Frames per second from the caps (0 when unknown).
    pub fps: f64,
}

impl VideoReader {
    /// `sync` paces frames at the file's rate (for serving) instead of as fast as possible.
    pub fn open(path: &Path, sync: bool) -> Result<VideoReader, ServeError> {
        let video_error = |message: String| ServeError::Video {
            path: path.to_path_buf(),
            message,
        };
        gst::init().map_err(|e| video_error(e.to_string()))?;
        if !path.is_file() {
            return Err(video_error("no such file".into()));
        }
        let pipeline = gst::parse::launch(&format!(
            "filesrc name=file ! decodebin ! videoconvert ! video/x-raw,format=BGR ! appsink name=sink max-buffers=4 sync={sync}"
        ))
        .map_err(|e| video_error(e.to_string()))?;
        let file: gst::Element = element_by_name(&pipeline, "file").ok_or_else(|| video_error("no filesrc".into()))?;
        file.set_property("location", path.to_string_lossy().as_ref());
        let sink: gst_app::AppSink =
            element_by_name(&pipeline, "sink").ok_or_else(|| video_error("no appsink".into()))?;
        pipeline
            .set_state(gst::State::Paused)
            .map_err(|e| video_error(format!("cannot open: {e}")))?;
        let mut reader = VideoReader {
            pipeline,
            sink,
            path: path.to_path_buf(),
            fps: 0.0,
        };
        let caps = reader.wait_preroll()?;
        if let Ok(info) = gst_video::VideoInfo::from_caps(&caps) {
            let fps = info.fps();
            reader.fps = if fps.denom() > 0 {
                fps.numer() as f64 / fps.denom() as f64
            } else {
                0.0
            };
        }
        reader
            .pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| reader.error(format!("cannot play: {e}")))?;
        Ok(reader)
    }

    fn error(&self, message: String) -> ServeError {
        ServeError::Video {
            path: self.path.clone(),
            message,
        }
    }

    fn wait_preroll(&self) -> Result<gst::Caps, ServeError> {
        let sample = self
            .sink
            // Generous: on a loaded 2-core machine (tests in parallel, each with ONNX Runtime
            // threads) typefinding and decoder start-up have taken over 10 s.
            .try_pull_preroll(gst::ClockTime::from_seconds(30))
            .ok_or_else(|| {
                self.error(
                    self.bus_error()
                        .unwrap_or_else(|| "not a video file GStreamer can decode".into()),
                )
            })?;
        sample
            .caps()
            .map(|c| c.to_owned())
            .ok_or_else(|| self.error("no caps".into()))
    }

    fn bus_error(&self) -> Option<String> {
        let bus = self.pipeline.bus()?;
        let message = bus.pop_filtered(&[gst::MessageType::Error])?;
        match message.view() {
            gst::MessageView::Error(err) => Some(err.error().to_string()),
            _ => None,
        }
    }

    /// The next decoded sample, or None at the end.
    pub fn next_sample(&self) -> Option<gst::Sample> {
        self.sink.try_pull_sample(gst::ClockTime::from_seconds(10))
    }

    pub fn next_frame(&self) -> Result<Option<BgrImage>, ServeError> {
        let Some(sample) = self.next_sample() else {
            return match self.bus_error() {
                Some(e) => Err(self.error(e)),
                None => Ok(None),
            };
        };
        sample_to_image(&sample).map(Some).map_err(|e| self.error(e))
    }

    /// Back to the first frame.
    pub fn rewind(&self) -> bool {
        self.pipeline
            .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT, gst::ClockTime::ZERO)
            .is_ok()
    }
}

impl Drop for VideoReader {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// The caps the served stream's appsrc announces.
pub fn probe_video(path: &Path) -> Result<gst::Caps, ServeError> {
    let reader = VideoReader::open(path, false)?;
    let sample = reader.next_sample().ok_or_else(|| reader.error("no frames".into()))?;
    let caps = sample.caps().ok_or_else(|| reader.error("no caps".into()))?;
    Ok(caps.to_owned())
}

/// Pushes the file's frames into `appsrc` at their own pace, forever, until the client side
/// goes away. While `paused`, nothing is sent but the connection stays open.
pub(crate) fn feed_loop(path: &Path, appsrc: &gst_app::AppSrc, paused: &AtomicBool) {
    let reader = match VideoReader::open(path, true) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "serve: cannot read video");
            return;
        }
    };
    loop {
        if paused.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let Some(sample) = reader.next_sample() else {
            if !reader.rewind() {
                return;
            }
            continue;
        };
        let Some(buffer) = sample.buffer_owned() else {
            continue;
        };
        let mut buffer = buffer;
        {
            let b = buffer.make_mut();
            b.set_pts(gst::ClockTime::NONE);
            b.set_dts(gst::ClockTime::NONE);
        }
        if appsrc.push_buffer(buffer).is_err() {
            return; // client gone: media torn down
        }
    }
}
