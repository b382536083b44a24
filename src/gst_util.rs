//! Small GStreamer helpers shared by the stages that build pipelines from launch lines.

use gst::prelude::*;

/// The element called `name` in a parsed launch line, as type `T` (e.g. `gst_app::AppSink`).
pub fn element_by_name<T: IsA<gst::Element>>(pipeline: &gst::Element, name: &str) -> Option<T> {
    pipeline.downcast_ref::<gst::Bin>()?.by_name(name)?.downcast::<T>().ok()
}
