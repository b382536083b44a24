//! Command-line interface: the top-level commands here, each family's arguments beside its handlers.

mod bench_gallery;
mod cluster;
mod commands;
mod distill;
mod eval;
mod refiner;
mod unknowns;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use bench_gallery::BenchGalleryArgs;
pub use cluster::{CamerasAction, ClusterAction};
pub use commands::dispatch;
pub use distill::{AdaptArgs, BlendArgs, DistillArgs, HarvestArgs};
pub use eval::{EvalArgs, FacePairsArgs, MorphFacesArgs, SplitFacesArgs, SynthFacesArgs};
pub use refiner::TrainRefinerArgs;
pub use unknowns::UnknownsAction;

/// An error and its causes, one per line; a cause whose text the message already holds
/// (many errors quote their source) is left out rather than said twice.
pub fn describe_error(error: &anyhow::Error) -> String {
    let mut message = error.to_string();
    let mut causes = Vec::new();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) && !causes.contains(&text) {
            causes.push(text);
        }
    }
    if !causes.is_empty() {
        message.push_str("\n\nCaused by:");
        for cause in &causes {
            message.push_str("\n    ");
            message.push_str(cause);
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::describe_error;

    #[test]
    fn a_cause_already_quoted_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let error = anyhow::Error::new(io).context("reading x.db: No such file or directory");
        assert_eq!(describe_error(&error), "reading x.db: No such file or directory");
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let error = anyhow::Error::new(io).context("reading x.db");
        assert_eq!(
            describe_error(&error),
            "reading x.db\n\nCaused by:\n    No such file or directory"
        );
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "squint",
    version,
    about = "Recognize people from tiny faces in live video; publish identity events to Kafka"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    /// Detector model card.
    #[arg(long, default_value = "models/yunet.card.toml")]
    pub detector: PathBuf,
    /// Recognizer model card.
    #[arg(long, default_value = "models/sface.card.toml")]
    pub recognizer: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    #[arg(long)]
    pub config: PathBuf,
    #[arg(long, default_value_t = 1800.0)]
    pub seconds: f64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 60.0)]
    pub every: f64,
    /// Serve this video to every camera at rtsp://127.0.0.1:PORT/PATH (a server each).
    #[arg(long)]
    pub serve: Option<PathBuf>,
    /// Restart one camera server in turn every this many seconds (with --serve).
    #[arg(long)]
    pub restart_every: Option<f64>,
    /// Enrol NAME=PHOTO into the running gallery at --enrol-at seconds.
    #[arg(long)]
    pub enrol: Option<String>,
    #[arg(long, default_value_t = 600.0)]
    pub enrol_at: f64,
    /// Promote the stranger seen most to an identity at this many seconds.
    #[arg(long)]
    pub promote_at: Option<f64>,
    /// GET /metrics and /review every this many seconds (needs [http]).
    #[arg(long)]
    pub poll_every: Option<f64>,
    /// At the end, read the identity topic back and count the events.
    #[arg(long)]
    pub read_back: bool,
    /// Write the JSON here as well as to stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Chart RSS, threads, open files, latency and disk against time (PNG).
    #[arg(long)]
    pub chart: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchDetectPart {
    All,
    Still,
    Moving,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pipeline on the configured cameras until Ctrl-C (or --duration).
    Run {
        #[arg(long)]
        config: PathBuf,
        /// Stop after this many seconds.
        #[arg(long)]
        duration: Option<f64>,
        /// Write the final counters and per-stage timings as JSON to this file.
        #[arg(long)]
        stats_json: Option<PathBuf>,
    },
    /// Enroll photos of one person (`--name N IMG…`), or a folder with one sub-folder per person.
    Enroll {
        #[arg(long)]
        gallery: PathBuf,
        #[arg(long, required_unless_present = "folder")]
        name: Option<String>,
        /// Folder of sub-folders, each named after a person and holding their photos.
        #[arg(long, conflicts_with = "name")]
        folder: Option<PathBuf>,
        images: Vec<PathBuf>,
        /// Store the photos as negatives of the (already enrolled) person: look-alikes that
        /// must not be matched to them.
        #[arg(long)]
        negative: bool,
        /// Also store templates of each face degraded to these widths in pixels (e.g.
        /// 16,24,32), to match tiny probes better.
        #[arg(long, value_delimiter = ',', conflicts_with = "negative")]
        multi_res: Vec<u32>,
        /// Put the person on this watchlist (its alert policy is `[alerts.watchlists.NAME]`).
        #[arg(long, conflicts_with = "negative")]
        watchlist: Option<String>,
        /// A worker config with `[cluster] gallery_topic`: also publish the enrolled people
        /// to the site's gallery, which every worker follows.
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Review the strangers `[unknowns]` clustered: list, show, promote to an identity,
    /// ignore, merge, purge.
    Unknowns {
        #[arg(long)]
        gallery: PathBuf,
        #[command(subcommand)]
        action: UnknownsAction,
    },
    /// Edit the site's cameras in the cameras topic (`[cluster]`): the workers of the group
    /// start, restart and stop them.
    Cameras {
        /// A worker's config file: its `[kafka]` and `[cluster]` say where the topic is.
        #[arg(long)]
        config: PathBuf,
        #[command(subcommand)]
        action: CamerasAction,
    },
    /// The site's consumer group (`[cluster]`): members, the partitions each holds, their cameras.
    Cluster {
        #[arg(long)]
        config: PathBuf,
        #[command(subcommand)]
        action: ClusterAction,
    },
    /// Inspect or edit a gallery.
    Gallery {
        #[arg(long)]
        gallery: PathBuf,
        /// A worker config with `[cluster] gallery_topic`: publish a removal to the site's
        /// gallery too.
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: GalleryAction,
    },
    /// Generate a test scene: faces from photos moving over background footage, with ground truth.
    Scenario {
        #[arg(long)]
        background: PathBuf,
        /// NAME=PHOTO, repeatable.
        #[arg(long = "person", required = true)]
        people: Vec<String>,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 200)]
        frames: usize,
        #[arg(long, default_value_t = 24.0)]
        min_px: f32,
        #[arg(long, default_value_t = 40.0)]
        max_px: f32,
        #[arg(long, default_value_t = 2)]
        appearances: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Output frame rate (default: the background's).
        #[arg(long)]
        fps: Option<f64>,
        /// Output size WIDTHxHEIGHT (default: the background's).
        #[arg(long, value_parser = parse_size)]
        size: Option<(u32, u32)>,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Serve a video file over RTSP on 127.0.0.1, looping forever.
    ServeRtsp {
        file: PathBuf,
        #[arg(long, default_value_t = 8554)]
        port: u16,
        #[arg(long, default_value = "/scene")]
        path: String,
    },
    /// Measure ingest alone: CPU and frame rate of one camera, or recovery times after
    /// server restarts and freezes (in-process RTSP server); writes JSON.
    BenchIngest {
        /// Camera URL or file to measure CPU and fps on.
        #[arg(long, conflicts_with = "recovery")]
        url: Option<String>,
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
        /// Video to serve for the recovery measurement.
        #[arg(long)]
        recovery: Option<PathBuf>,
        #[arg(long, default_value_t = 10)]
        cycles: usize,
        #[arg(long, default_value = "pipelines")]
        templates: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Crops/s through Squint's recognizer against a plain ONNX Runtime loop (same model,
    /// crops, batch sizes and threads, same run), and match time for 1k/10k/100k
    /// identities; writes JSON.
    BenchRecognize {
        #[arg(long, default_value = "assets/photos")]
        photos: PathBuf,
        #[arg(long, value_delimiter = ',', default_value = "1,8,32,64")]
        batches: Vec<usize>,
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Measuring time per batch size and side.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        #[arg(long)]
        out: Option<PathBuf>,
        /// Other recognizers timed against --recognizer on the same crops in the same run
        /// (repeatable): ms per face of each, per batch size.
        #[arg(long)]
        versus: Vec<PathBuf>,
        /// A landmark refiner card timed against --recognizer, same faces, same run: ms per
        /// face of each, per batch size.
        #[arg(long)]
        refiner: Option<PathBuf>,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Alert precision/recall per face-size band, time to `confirmed`, similarity
    /// distributions and recognition-budget savings on generated scenes (folders made by
    /// `squint scenario`), using the config's models, gallery, track and alert settings;
    /// writes JSON.
    BenchAlerts {
        #[arg(long)]
        config: PathBuf,
        #[arg(long = "scene", required = true)]
        scenes: Vec<PathBuf>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// How long a site's cameras are dark when a worker dies: worker processes of one
    /// consumer group, one killed with SIGKILL again and again; writes JSON.
    BenchFailover {
        /// A worker config with `[cluster]` and a real `[kafka]` broker.
        #[arg(long)]
        config: PathBuf,
        /// Served over RTSP as every camera.
        #[arg(long)]
        video: PathBuf,
        #[arg(long, default_value_t = 3)]
        workers: usize,
        #[arg(long, default_value_t = 6)]
        cameras: usize,
        #[arg(long, default_value_t = 10)]
        kills: usize,
        /// Worker logs and state.
        #[arg(long, default_value = "run/bench/failover")]
        work: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Unknown-face clustering on generated visits: cluster purity, visits filed under one
    /// `unknown_id` and naming after `promote`, per face-size band. Settings are chosen on
    /// --tune (other strangers) and reported on --report; each holds one folder per band
    /// with `visit-1`, `visit-2`, … scenes made by `squint scenario`, the last visit being
    /// the one after promotion. Uses the config's models, gallery (the enrolled people;
    /// only copies are changed), track, alert and [unknowns] settings; writes JSON.
    BenchUnknowns {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        tune: PathBuf,
        #[arg(long)]
        report: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// What fine-tuning the teacher itself costs here: candle forward and forward + backward
    /// seconds per face, and hours per epoch; writes JSON.
    BenchTeacher {
        #[arg(long, default_value = "assets/photos")]
        photos: PathBuf,
        #[arg(long, default_value_t = 4)]
        batch: usize,
        #[arg(long, default_value_t = 2)]
        steps: usize,
        /// Faces per epoch to extrapolate to (the training side of `squint split-faces`).
        #[arg(long, default_value_t = 594)]
        epoch_faces: usize,
        /// Also time the graph run by candle-onnx (grouped convolutions one group at a time):
        /// the cost before the trainer's own kernels; slow.
        #[arg(long)]
        baseline: bool,
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Detection modes compared: ms per frame (768×576 and 1920×1080, 1 and 2 threads) and
    /// recall of faces pasted at 8–32 px into street footage; then moving scenes (faces
    /// walking over consecutive frames) searched whole and in regions, with recall per face
    /// size and how many frames later regions first find a face; writes JSON.
    BenchDetect {
        #[arg(long, default_value = "assets/vtest.avi")]
        video: PathBuf,
        #[arg(long, default_value = "assets/photos")]
        photos: PathBuf,
        #[arg(long, default_value_t = 20)]
        frames: usize,
        /// Consecutive frames of each moving scene (after 30 that warm its background model up).
        #[arg(long, default_value_t = 60)]
        moving_frames: usize,
        /// Frames of the video skipped before the moving scenes, to measure on another stretch
        /// of footage than the defaults were chosen on (the README's figures: 400).
        #[arg(long, default_value_t = 0)]
        moving_start: usize,
        /// Which scenes: still pictures, moving scenes, or both.
        #[arg(long, value_enum, default_value_t = BenchDetectPart::All)]
        part: BenchDetectPart,
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// The whole pipeline on a generated 768×576 scene with N cameras, against the OpenCV
    /// Python reference on the same frames (run scripts/bench-pipeline.sh); writes JSON.
    BenchPipeline {
        #[arg(long, default_value_t = 1)]
        cameras: usize,
        #[arg(long, default_value_t = 150)]
        frames: usize,
        #[arg(long, default_value = "run/bench/work")]
        work: PathBuf,
        /// Play the scene at 25 fps like live cameras (for latency) instead of as fast as
        /// possible (for throughput).
        #[arg(long)]
        realtime: bool,
        /// Embed every face of every frame like the reference (no recognition budget).
        #[arg(long)]
        every_face: bool,
        /// Python with opencv-python-headless.
        #[arg(long, required_unless_present = "no_reference")]
        python: Option<PathBuf>,
        /// Folder with face_detection_yunet_2023mar.onnx and face_recognition_sface_2021dec.onnx.
        #[arg(long, required_unless_present = "no_reference")]
        reference_models: Option<PathBuf>,
        /// Detect threads (`detect.workers`) to run Squint with, once each, e.g. `1 2`.
        #[arg(long, num_args = 1.., default_value = "1")]
        detect_workers: Vec<usize>,
        /// Only Squint's runs (compare --detect-workers), without the OpenCV reference.
        #[arg(long)]
        no_reference: bool,
        /// Width route `MAX_PX=CARD` (repeatable): faces narrower than MAX_PX go to CARD's
        /// recognizer, as `[[models.routes]]` with `max_px` would send them; bands run from
        /// the previous route's MAX_PX (or 0), widest faces stay with SFace.
        #[arg(long = "route", value_parser = parse_route)]
        routes: Vec<(f32, PathBuf)>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run the configured pipeline for a long time, sampling memory, threads, open files,
    /// event rate and latency at an interval; writes JSON.
    Soak(SoakArgs),
    /// Measure each stage of the frame path on a video; writes JSON.
    Bench {
        #[arg(long)]
        video: PathBuf,
        #[arg(long, default_value_t = 100)]
        frames: usize,
        /// Detector upscale factor (1.0 = native resolution).
        #[arg(long, default_value_t = 1.0)]
        upscale: f32,
        /// ONNX Runtime threads for each model.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Write the JSON here as well as to stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Collect aligned high-resolution face crops (unlabeled) from cameras, videos or photo
    /// folders as a distillation set.
    Harvest(HarvestArgs),
    /// Train a low-resolution student in the teacher's embedding space on harvested crops;
    /// writes checkpoints, the ONNX student, its card and report.json.
    Distill(DistillArgs),
    /// Re-estimate a model's batch-norm statistics on unlabeled crops from one camera
    /// (adaptive BN); writes a new ONNX file and card.
    Adapt(AdaptArgs),
    /// Interpolate a model and its fine-tuned copy weight by weight (WiSE-FT):
    /// `(1 − α) · base + α · tuned`; writes a new ONNX file and card.
    Blend(BlendArgs),
    /// Recognition against face size on labelled face sets (and real footage): detection
    /// rate, rank-1, TAR@FAR, open-set DIR and cosine to the sharp embedding, per recognizer,
    /// gallery strategy, width and alignment; markdown table, JSON and PNG chart.
    Eval(EvalArgs),
    /// Generate synthetic faces with the DCGAN of `gan-face-generate` (64×64 PNGs, plus
    /// aligned crops where the detector finds the face).
    SynthFaces(SynthFacesArgs),
    /// Blend pairs of aligned faces of different people into new faces of nobody: unlabeled
    /// training faces for `squint distill --synthetic`.
    MorphFaces(MorphFacesArgs),
    /// Candidate same-person pairs among photos of unlabeled people, by teacher cosine, with
    /// a contact sheet to check each pair by eye (how the CelebA repeat list was made).
    FacePairs(FacePairsArgs),
    /// Split face photos identity-disjointly into train / validation / test sides for
    /// `squint distill` and `squint eval` (near-duplicates of held-out faces leave training).
    SplitFaces(SplitFacesArgs),
    /// Train a landmark refiner for tiny faces: YuNet's points on sharp photos teach a small
    /// CNN to find them on the same faces shrunk to 10–24 px (use it with `[align] refiner`).
    TrainRefiner(TrainRefinerArgs),
    /// Matching against galleries of 10k to 1M identities, exact and through the HNSW index:
    /// build and start-up time, memory, ms per probe, recall@1 against exact matching, and
    /// how soon an enrolment is matched; writes JSON.
    BenchGallery(BenchGalleryArgs),
    /// Print identity events from Kafka.
    Tail {
        /// Read brokers and topic from this config (handles kafka.brokers = "embedded").
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, conflicts_with = "config")]
        brokers: Option<String>,
        #[arg(long)]
        topic: Option<String>,
        #[arg(long)]
        from_beginning: bool,
        #[arg(long)]
        max_events: Option<usize>,
        /// Stop when no event arrived for this many seconds.
        #[arg(long, default_value_t = 10.0)]
        idle_secs: f64,
        /// Stop after this many seconds in any case.
        #[arg(long, default_value_t = 3600.0)]
        timeout_secs: f64,
        /// Print raw JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text.split_once('x').ok_or("expected WIDTHxHEIGHT, e.g. 1920x1080")?;
    let parse = |v: &str| v.parse::<u32>().map_err(|e| format!("{v}: {e}"));
    Ok((parse(w)?, parse(h)?))
}

fn parse_route(text: &str) -> Result<(f32, PathBuf), String> {
    let (max_px, card) = text
        .split_once('=')
        .ok_or("expected MAX_PX=CARD, e.g. 24=models/sface-lr-gentle.card.toml")?;
    let max_px = max_px.parse::<f32>().map_err(|e| format!("{max_px}: {e}"))?;
    Ok((max_px, PathBuf::from(card)))
}

#[derive(Debug, Subcommand)]
pub enum GalleryAction {
    /// List identities and their template counts.
    List,
    /// Remove an identity and all its templates.
    Remove { name: String },
    /// Write every identity with its watchlist, templates and negatives as JSON (to stdout,
    /// or --out).
    Export {
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Add or replace identities from precomputed embeddings: a `gallery export` document, or
    /// JSON lines (*.jsonl) of one identity each ({"name", "watchlist", "templates": [{"source",
    /// "embedding"}], "negatives": []}). Identities already as the file says are skipped, so
    /// an interrupted import is resumed by running it again.
    Import {
        file: PathBuf,
        /// The embeddings' space, when the file does not say (JSON lines); default: the
        /// gallery's.
        #[arg(long)]
        space: Option<String>,
    },
}
