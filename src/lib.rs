//! Squint: recognize people from tiny faces in live surveillance video.
//!
//! A frame travels through the stages in this order, one folder each:
//! [`ingest`] (GStreamer → BGR frames) → [`detect`] (YuNet) → [`track`] (track ids,
//! recognition budget) → [`align`] (5-point warp to 112×112) → [`recognize`] (batched ONNX
//! embedding) → [`alert`] (gallery match, evidence per track, two-stage alerts) →
//! [`publish`] (spool, then JSON events to Kafka). [`pipeline`] wires them with bounded channels and owns the threads.
//! The data types that flow between stages live in [`types`]. [`distill`] makes the
//! low-resolution student the recognizer runs, and adapts models to one camera; [`eval`]
//! measures recognition against face size on labelled [`faces`]. [`unknowns`] clusters the
//! tracks no identity matched into recurring strangers.

pub mod alert;
pub mod align;
pub mod bench;
pub mod chart;
pub mod check;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod detect;
pub mod distill;
pub mod eval;
pub mod faces;
pub mod gallery;
mod gst_util;
pub mod image;
pub mod ingest;
pub mod model;
pub mod observe;
pub mod pipeline;
pub mod publish;
pub mod recognize;
pub mod redact;
pub mod refiner;
pub mod scenario;
pub mod serve;
pub mod stats;
#[doc(hidden)]
pub mod testing;
pub mod track;
pub mod types;
pub mod unknowns;
