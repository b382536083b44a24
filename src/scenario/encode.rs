use std::path::{Path, PathBuf};

use gst::prelude::*;

use super::ScenarioError;
use crate::gst_util::element_by_name;
use crate::image::BgrImage;

/// H.264 in MP4 through x264 (I420 first, so every decoder can read it).
pub struct Encoder {
    pipeline: gst::Element,
    appsrc: gst_app::AppSrc,
    path: PathBuf,
    fps: f64,
}

impl Encoder {
    pub fn start(path: &Path, width: u32, height: u32, fps: f64) -> Result<Encoder, ScenarioError> {
        let encode_error = |message: String| ScenarioError::Encode {
            path: path.to_path_buf(),
            message,
        };
        let pipeline = gst::parse::launch(
            "appsrc name=src format=time ! videoconvert ! video/x-raw,format=I420 \
             ! x264enc speed-preset=veryfast key-int-max=20 ! h264parse ! mp4mux ! filesink name=out",
        )
        .map_err(|e| encode_error(e.to_string()))?;
        let out: gst::Element = element_by_name(&pipeline, "out").ok_or_else(|| encode_error("no filesink".into()))?;
        out.set_property("location", path.to_string_lossy().as_ref());
        let appsrc: gst_app::AppSrc =
            element_by_name(&pipeline, "src").ok_or_else(|| encode_error("no appsrc".into()))?;
        let fps_n = (fps * 1000.0).round() as i32;
        let caps = gst_video::VideoInfo::builder(gst_video::VideoFormat::Bgr, width, height)
            .fps(gst::Fraction::new(fps_n, 1000))
            .build()
            .and_then(|info| info.to_caps())
            .map_err(|e| encode_error(e.to_string()))?;
        appsrc.set_caps(Some(&caps));
        appsrc.set_property("block", true);
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| encode_error(e.to_string()))?;
        Ok(Encoder {
            pipeline,
            appsrc,
            path: path.to_path_buf(),
            fps,
        })
    }

    fn error(&self, message: String) -> ScenarioError {
        ScenarioError::Encode {
            path: self.path.clone(),
            message,
        }
    }

    pub fn push(&mut self, frame: &BgrImage, index: usize) -> Result<(), ScenarioError> {
        // Rows of packed BGR must be padded to 4 bytes, as GStreamer's default stride is.
        let row = frame.width as usize * 3;
        let stride = row.div_ceil(4) * 4;
        let mut data = vec![0u8; stride * frame.height as usize];
        for (dst, src) in data.chunks_exact_mut(stride).zip(frame.data.chunks_exact(row)) {
            dst[..row].copy_from_slice(src);
        }
        let mut buffer = gst::Buffer::from_mut_slice(data);
        {
            let b = buffer
                .get_mut()
                .ok_or_else(|| self.error("buffer not writable".into()))?;
            let ns = |i: usize| (i as f64 * 1e9 / self.fps) as u64;
            b.set_pts(gst::ClockTime::from_nseconds(ns(index)));
            b.set_duration(gst::ClockTime::from_nseconds(ns(index + 1) - ns(index)));
        }
        self.appsrc
            .push_buffer(buffer)
            .map_err(|e| self.error(format!("push: {e:?}")))?;
        Ok(())
    }

    /// Sends EOS and waits until the MP4 is finalised.
    pub fn finish(self) -> Result<(), ScenarioError> {
        self.appsrc
            .end_of_stream()
            .map_err(|e| self.error(format!("eos: {e:?}")))?;
        let bus = self.pipeline.bus().ok_or_else(|| self.error("no bus".into()))?;
        let message = bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(120),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        let _ = self.pipeline.set_state(gst::State::Null);
        match message.as_ref().map(|m| m.view()) {
            Some(gst::MessageView::Eos(_)) => Ok(()),
            Some(gst::MessageView::Error(e)) => Err(self.error(e.error().to_string())),
            _ => Err(self.error("timed out finalising".into())),
        }
    }
}
