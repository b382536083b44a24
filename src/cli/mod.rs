//! Command-line interface: argument definitions and one function per subcommand.

mod cluster;
mod commands;
mod distill;
mod eval;
mod unknowns;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use commands::dispatch;

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
    Soak {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, default_value_t = 1800.0)]
        seconds: f64,
        #[arg(long, default_value_t = 60.0)]
        every: f64,
        #[arg(long)]
        out: Option<PathBuf>,
    },
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
pub enum CamerasAction {
    /// Add or replace the cameras of a file of `[[cameras]]` tables (validated as in a config
    /// file); a changed camera restarts on its worker, the others keep running.
    Put { file: PathBuf },
    /// Remove cameras by id; their workers stop them.
    Rm {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// The cameras in the topic, credentials redacted.
    List {
        /// One JSON object per line instead.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClusterAction {
    /// Members of the group, their partitions and cameras.
    Status {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UnknownsAction {
    /// One line per stranger: id, visits, first and last seen, cameras, faces, ignored.
    List {
        /// One JSON object per line instead.
        #[arg(long)]
        json: bool,
    },
    /// One stranger in full; --faces writes its best face crops as JPEG files.
    Show {
        id: String,
        #[arg(long)]
        faces: Option<PathBuf>,
    },
    /// Make the stranger an identity (or add them to one): their best faces become its
    /// templates, each at the size it was seen.
    Promote {
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        watchlist: Option<String>,
    },
    /// Never alert on this stranger, and never let them match an identity.
    Ignore { id: String },
    /// Make one stranger of two (the older id stays).
    Merge { a: String, b: String },
    /// Delete strangers not seen for --older-than-days days, or --all of them.
    Purge {
        #[arg(long, required_unless_present = "all")]
        older_than_days: Option<f64>,
        #[arg(long, conflicts_with = "older_than_days")]
        all: bool,
    },
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
}

#[derive(Debug, clap::Args)]
pub struct HarvestArgs {
    /// Output folder for the crops (and harvest.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Harvest the cameras of this config (live ones for --seconds each, one after another).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Video files, repeatable.
    #[arg(long = "video")]
    pub videos: Vec<PathBuf>,
    /// Folders of face photos (sub-folders one level deep included), repeatable.
    #[arg(long = "photos")]
    pub photos: Vec<PathBuf>,
    #[arg(long, default_value_t = 60.0)]
    pub seconds: f64,
    /// Smallest face width kept, in pixels.
    #[arg(long, default_value_t = 40.0)]
    pub min_face_px: f32,
    /// Smallest face quality weight kept (0–1: size, sharpness, pose, detection score).
    #[arg(long, default_value_t = 0.3)]
    pub min_quality: f32,
    /// Crops kept per track.
    #[arg(long, default_value_t = 3)]
    pub per_track: usize,
    /// Frames between two kept crops of one track.
    #[arg(long, default_value_t = 12)]
    pub min_gap_frames: u64,
    /// Jittered copies per photo face (rotation, scale, shift, mirror).
    #[arg(long, default_value_t = 0)]
    pub augment: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[arg(long, default_value = "pipelines")]
    pub templates: PathBuf,
    #[command(flatten)]
    pub models: ModelArgs,
}

#[derive(Debug, clap::Args)]
pub struct DistillArgs {
    /// Folder of aligned HR crops (from `squint harvest` or `squint split-faces`).
    #[arg(long)]
    pub data: PathBuf,
    /// Held-out crops of people not in --data (`squint split-faces` writes them); without it
    /// --val-fraction of --data is held out.
    #[arg(long)]
    pub val_data: Option<PathBuf>,
    /// Aligned crops of generated faces (`squint synth-faces`'s aligned/ folder, `squint
    /// morph-faces`'s output); repeat for several folders.
    #[arg(long)]
    pub synthetic: Vec<PathBuf>,
    /// Share of each batch drawn from --synthetic (0–0.9).
    #[arg(long, default_value_t = 0.0)]
    pub synthetic_share: f64,
    /// Train on at most this many sources (people, tracks) of --data: learning curves.
    #[arg(long)]
    pub max_sources: Option<usize>,
    /// Output folder: checkpoint.*, student.onnx, student.card.toml, report.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Teacher model card.
    #[arg(long, default_value = "models/sface.card.toml")]
    pub teacher: PathBuf,
    /// Train a small student from scratch, or fine-tune the teacher's own network and
    /// weights on degraded faces (it keeps the teacher's input size and embedding space).
    #[arg(long, value_enum, default_value = "scratch")]
    pub init: crate::distill::net::Init,
    /// Student input side in pixels (divisible by 4); default 32, or the teacher's with
    /// --init teacher.
    #[arg(long)]
    pub input_size: Option<u32>,
    /// Student stem channels (stages use 2× and 4×).
    #[arg(long, default_value_t = 32)]
    pub width: usize,
    /// Feed the student the Haar wavelet LL band instead of pixels.
    #[arg(long)]
    pub lowfreq: bool,
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, default_value_t = 3e-3)]
    pub learning_rate: f64,
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f64,
    /// Weight of the instance loss (1 − cosine to the teacher's embedding).
    #[arg(long, default_value_t = 1.0)]
    pub instance_weight: f64,
    /// Weight of the relation loss (similarities to the batch and the queue).
    #[arg(long, default_value_t = 1.0)]
    pub relation_weight: f64,
    /// Weight of the contrastive loss (own teacher embedding among the queue's).
    #[arg(long, default_value_t = 0.0)]
    pub contrastive_weight: f64,
    /// Softmax temperature of the contrastive loss.
    #[arg(long, default_value_t = 0.1)]
    pub temperature: f64,
    /// Teacher embeddings of recent batches kept for relation and contrastive terms (0: off).
    #[arg(long, default_value_t = 0)]
    pub queue: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[arg(long, default_value_t = 0.2)]
    pub val_fraction: f64,
    /// Hold out whole sources (`source`: tracks, photo faces; measures faces never seen) or
    /// single crops (`crop`: for sets too small to spare whole faces).
    #[arg(long, default_value = "source", value_parser = ["source", "crop"])]
    pub split: String,
    /// Probe widths of the validation table.
    #[arg(long, value_delimiter = ',', default_value = "12,16,20,24,32")]
    pub probe_sizes: Vec<u32>,
    /// Smallest and largest width the training crops are degraded to.
    #[arg(long, default_value_t = 10)]
    pub min_px: u32,
    #[arg(long, default_value_t = 32)]
    pub max_px: u32,
    /// Landmark error of the detector on tiny faces, px of the small face (standard deviation
    /// per coordinate; `squint eval` reports the measured error): training crops are
    /// re-aligned from landmarks moved this much. 0: off.
    #[arg(long, default_value_t = 0.0)]
    pub jitter_px: f64,
    /// Chance of a motion blur.
    #[arg(long, default_value_t = 0.0)]
    pub motion_blur: f64,
    /// Chance of a flat patch over part of the face (hand, scarf).
    #[arg(long, default_value_t = 0.0)]
    pub occlusion: f64,
    /// Chance of grey conversion (IR night images).
    #[arg(long, default_value_t = 0.0)]
    pub grey: f64,
    /// Continue from the checkpoint in --out.
    #[arg(long)]
    pub resume: bool,
    /// Train at most this many epochs now, then checkpoint and stop (time-boxed runs);
    /// continue with --resume.
    #[arg(long)]
    pub stop_after: Option<usize>,
    /// Share of each batch's faces left sharp, so a fine-tuned teacher keeps what it did on
    /// sharp faces (0–1).
    #[arg(long, default_value_t = 0.0)]
    pub sharp_share: f64,
    /// Export the epoch with the best held-out rank-1, not the last (early stopping).
    #[arg(long)]
    pub keep_best: bool,
    /// With --init teacher: train only the first K convolutions (with their BatchNorm and
    /// PReLU) and keep the rest, head included, as the teacher has them (surgical
    /// fine-tuning: degradation shifts the input, identity lives in the late layers).
    #[arg(long)]
    pub train_convs: Option<usize>,
    /// Versions of every training and synthetic crop, each with the teacher's own embedding
    /// as its target (1: the crop; 2: also mirrored; 3 and up: also shifted, turned and
    /// zoomed a little). Each extra version costs one teacher pass over the crops, cached.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=8))]
    pub target_variants: u64,
    /// Keep an exponential moving average of the weights with this decay (e.g. 0.998) and
    /// validate, keep and export it instead of the last step's weights (0: off).
    #[arg(long, default_value_t = 0.0)]
    pub ema: f64,
    /// Model id written into the card (default student-<size>px-w<width>).
    #[arg(long)]
    pub id: Option<String>,
    /// The training data, written into the card (with --licence).
    #[arg(long)]
    pub trained_on: Option<String>,
    /// The licence the weights inherit from their training data, written into the card.
    #[arg(long)]
    pub licence: Option<String>,
    /// ONNX Runtime threads for the teacher.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

#[derive(Debug, clap::Args)]
pub struct AdaptArgs {
    /// Card of the model to adapt (teacher or student).
    #[arg(long)]
    pub model: PathBuf,
    /// Folder of unlabeled aligned face crops from the camera.
    #[arg(long)]
    pub crops: PathBuf,
    /// The adapted model's card; the ONNX file is written beside it.
    #[arg(long)]
    pub out: PathBuf,
    /// At most this many crops go into the statistics (one batch).
    #[arg(long, default_value_t = 256)]
    pub max_crops: usize,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

#[derive(Debug, clap::Args)]
pub struct BlendArgs {
    /// Card of the original model (α = 0), e.g. models/sface.card.toml.
    #[arg(long)]
    pub base: PathBuf,
    /// Card of its fine-tuned copy (α = 1), e.g. one `squint distill --init teacher` wrote.
    #[arg(long)]
    pub tuned: PathBuf,
    /// Share of the fine-tuned weights, 0 to 1.
    #[arg(long)]
    pub alpha: f32,
    /// The blended model's card; the ONNX file is written beside it.
    #[arg(long)]
    pub out: PathBuf,
    /// The new card's id (default: the fine-tuned id with `-a<ALPHA>`).
    #[arg(long)]
    pub id: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Labelled set: a folder with one sub-folder of photos per identity (repeatable). The
    /// first photo (by name) of each identity is enrolled, the others are probes (see --enrol).
    #[arg(long = "set")]
    pub sets: Vec<PathBuf>,
    /// Photos of other people (repeatable): alternately enrolled as extra gallery identities
    /// and used as strangers for the open-set numbers.
    #[arg(long = "distractors")]
    pub distractors: Vec<PathBuf>,
    /// Recognizer cards that embed the probes (repeatable; SFace by default).
    #[arg(long = "recognizer")]
    pub recognizers: Vec<PathBuf>,
    /// The card that enrols the gallery; every recognizer must share its embedding space.
    #[arg(long, default_value = "models/sface.card.toml")]
    pub enroll_with: PathBuf,
    #[arg(long, default_value = "models/yunet.card.toml")]
    pub detector: PathBuf,
    /// Take the detector settings (`[detect]`) and ONNX Runtime from this config.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Gallery strategies (repeatable; both by default).
    #[arg(long = "gallery", value_enum)]
    pub galleries: Vec<crate::eval::GalleryKind>,
    /// Which photo of each person is enrolled: the first, or each in turn with the others
    /// probing it (both directions of every pair).
    #[arg(long, value_enum, default_value = "first")]
    pub enrol: crate::eval::Enrolment,
    /// Resamples of the bootstrap over people behind the 90 % intervals (0: none).
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
    /// Widths of the degraded templates of a multi-res gallery.
    #[arg(long, value_delimiter = ',', default_value = "16,24,32")]
    pub multi_res: Vec<u32>,
    /// Probe face widths in pixels.
    #[arg(long, value_delimiter = ',', default_value = "12,16,20,24,32,40")]
    pub sizes: Vec<u32>,
    /// Track lengths: each probe is seen in N frames (own placement, landmark jitter and
    /// camera noise per frame), fused as the pipeline fuses a track; one row per N.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub frames: Vec<usize>,
    /// Camera blur of the frame (sigma, px; 0 = none).
    #[arg(long, default_value_t = 0.0)]
    pub blur: f64,
    /// Sensor noise of the frame (sigma, grey levels; 0 = none).
    #[arg(long, default_value_t = 0.0)]
    pub noise: f64,
    /// JPEG round trip of the frame at this quality.
    #[arg(long)]
    pub jpeg: Option<i32>,
    /// Exposure of the frame: CONTRAST,BRIGHTNESS around mid-grey (a darker, flatter camera:
    /// 0.6,-40).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub exposure: Option<Vec<f64>>,
    /// Background footage for the probe frames (default: assets/vtest.avi when present,
    /// else a mid-grey frame).
    #[arg(long)]
    pub background: Option<PathBuf>,
    /// Make every photo grey (for grey sets such as Olivetti).
    #[arg(long)]
    pub grey: bool,
    /// Real footage without labels (repeatable): tracks as identities.
    #[arg(long = "video")]
    pub videos: Vec<PathBuf>,
    /// Frames between the two faces of a genuine video pair.
    #[arg(long, default_value_t = 10)]
    pub min_gap_frames: u64,
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Save the first probe frame of each set and width here (what the detector saw).
    #[arg(long)]
    pub dump_frames: Option<PathBuf>,
    /// Write the strangers' detected faces, aligned at 112 px, here: unlabeled crops of this
    /// camera for `squint adapt`.
    #[arg(long)]
    pub dump_stranger_crops: Option<PathBuf>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

#[derive(Debug, clap::Args)]
pub struct MorphFacesArgs {
    /// Aligned crops, one face each (`squint split-faces`'s train/).
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long)]
    pub count: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Gets morph-NNNNNN.png at the crops' size.
    #[arg(long)]
    pub out: PathBuf,
    /// Least share of either face in a blend (0–0.5).
    #[arg(long, default_value_t = 0.3)]
    pub min_weight: f64,
}

#[derive(Debug, clap::Args)]
pub struct SynthFacesArgs {
    #[arg(long)]
    pub count: usize,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[arg(long)]
    pub out: PathBuf,
    /// The generator checkpoint (default: dcgan-weights.tar where scripts/setup.sh --faces
    /// put it: $SQUINT_FACES, else ~/.cache/squint/faces).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    #[command(flatten)]
    pub models: ModelArgs,
}

#[derive(Debug, clap::Args)]
pub struct FacePairsArgs {
    /// Folder of photos, one (unknown) person each.
    #[arg(long)]
    pub photos: PathBuf,
    /// Teacher cosine above which two photos are a candidate pair.
    #[arg(long, default_value_t = 0.45)]
    pub min_cosine: f32,
    /// Contact sheet: each candidate pair side by side with its cosine.
    #[arg(long)]
    pub sheet: Option<PathBuf>,
    #[command(flatten)]
    pub models: ModelArgs,
}

#[derive(Debug, clap::Args)]
pub struct SplitFacesArgs {
    /// Photos of one person each, shared out over the three sides (CelebA's singles).
    #[arg(long)]
    pub pool: PathBuf,
    /// A set held out entirely: photos, or one folder per person (repeatable).
    #[arg(long = "held-out")]
    pub held_out: Vec<PathBuf>,
    /// Pool photos held out for testing (`squint eval --distractors OUT/test`).
    #[arg(long, default_value_t = 200)]
    pub test: usize,
    /// Pool photos held out for validation (`squint distill --val-data OUT/val`).
    #[arg(long, default_value_t = 100)]
    pub val: usize,
    /// Teacher cosine above which a training face counts as a held-out person's.
    #[arg(long, default_value_t = 0.6)]
    pub near_duplicate: f32,
    /// Gets train/ and val/ (aligned crops), test/ (photos) and split.json.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub models: ModelArgs,
}
