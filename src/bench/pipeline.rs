//! `squint bench-pipeline`: the whole pipeline on a generated scene, N cameras, against the
//! OpenCV Python reference (`scripts/reference_pipeline.py`) on the same frames.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde_json::{Value, json};

use crate::config::Config;
use crate::detect::{DetectConfig, Detector};
use crate::gallery::{Enroller, Gallery};
use crate::model::ModelCard;
use crate::pipeline::Pipeline;
use crate::recognize::Recognizer;
use crate::scenario::{Person, ScenarioSpec, generate};

pub struct PipelineBench {
    pub cameras: usize,
    pub frames: usize,
    /// Scene, gallery and state go here.
    pub work: PathBuf,
    pub python: PathBuf,
    /// Folder with OpenCV-zoo's original YuNet and SFace files for the reference.
    pub reference_models: PathBuf,
    pub repo: PathBuf,
    /// Play the scene at its frame rate, like live cameras, instead of as fast as possible.
    pub realtime: bool,
    /// Embed every face of every frame, as the reference does, instead of using the
    /// recognition budget.
    pub every_face: bool,
    /// Squint runs once per entry, with that many detect threads (`detect.workers`).
    pub detect_workers: Vec<usize>,
    /// Skip the OpenCV reference (when only Squint's own settings are compared).
    pub no_reference: bool,
    /// Width routes `(max_px, card)`, narrowest first: each band runs from the previous
    /// route's `max_px` (or 0) to its own.
    pub routes: Vec<(f32, PathBuf)>,
}

const SCENE_PEOPLE: [(&str, &str); 4] = [
    ("obama", "obama.jpg"),
    ("biden", "biden.jpg"),
    ("grace", "grace_hopper.jpg"),
    ("eileen", "astronaut.png"),
];
/// Enrolled from other photos than the scene's where there are any; eileen is not enrolled.
const GALLERY: [(&str, &str); 4] = [
    ("obama", "obama2.jpg"),
    ("obama", "obama3.jpg"),
    ("biden", "biden.jpg"),
    ("grace", "grace_hopper.jpg"),
];

impl PipelineBench {
    fn photo(&self, name: &str) -> PathBuf {
        self.repo.join("assets/photos").join(name)
    }

    fn scene(&self) -> anyhow::Result<PathBuf> {
        let dir = self.work.join(format!("scene-{}", self.frames));
        let video = dir.join("scene.mp4");
        if !video.is_file() {
            let people = SCENE_PEOPLE
                .iter()
                .map(|(n, p)| Person {
                    name: n.to_string(),
                    photo: self.photo(p),
                })
                .collect();
            let spec = ScenarioSpec {
                background: self.repo.join("assets/vtest.avi"),
                people,
                out_dir: dir,
                frames: self.frames,
                min_face_px: 24.0,
                max_face_px: 40.0,
                appearances_per_person: 2,
                seed: 7,
                fps: Some(25.0),
                size: None,
            };
            let mut detector = Detector::load(&self.card("yunet")?, None, &DetectConfig::default())?;
            generate(&spec, &mut detector)?;
        }
        Ok(video)
    }

    fn card(&self, name: &str) -> anyhow::Result<ModelCard> {
        Ok(ModelCard::load(&self.repo.join(format!("models/{name}.card.toml")))?)
    }

    fn gallery(&self) -> anyhow::Result<PathBuf> {
        let path = self.work.join("gallery.db");
        let _ = std::fs::remove_file(&path);
        let detector = Detector::load(&self.card("yunet")?, None, &DetectConfig::default())?;
        let recognizer = Recognizer::load(&self.card("sface")?, None, 2)?;
        let mut enroller = Enroller { detector, recognizer };
        let mut gallery = Gallery::create(&path)?;
        for (name, photo) in GALLERY {
            enroller.enroll(&mut gallery, name, &self.photo(photo))?;
        }
        Ok(path)
    }

    /// Squint with the reference's detection settings (native resolution, same thresholds).
    fn squint(&self, video: &Path, gallery: &Path, detect_workers: usize) -> anyhow::Result<Value> {
        let repo = self.repo.display();
        let mut text = format!(
            "[models]\ndetector = \"{repo}/models/yunet.card.toml\"\nrecognizer = \"{repo}/models/sface.card.toml\"\n\
             [pipeline]\ntemplates = \"{repo}/pipelines\"\nstate_dir = \"{state}\"\n\
             [detect]\nmode = \"native\"\nscore_threshold = 0.6\nnms_threshold = 0.3\nworkers = {detect_workers}\n\
             [track]\nbudget = {budget}\n\
             [gallery]\npath = \"{gallery}\"\n[kafka]\nbrokers = \"embedded\"\n",
            state = self.work.join("state").display(),
            gallery = gallery.display(),
            budget = !self.every_face,
        );
        text.push_str(&self.routes_toml());
        for camera in 0..self.cameras {
            text.push_str(&format!(
                "[[cameras]]\nid = \"cam{camera}\"\nurl = \"{}\"\nrealtime = {}\n",
                video.display(),
                self.realtime
            ));
        }
        let config = Config::parse(&text, &self.work.join("bench.toml"))?;
        let pipeline = Pipeline::start(&config)?;
        pipeline.wait(&AtomicBool::new(false), None, Duration::from_secs(3600));
        let (stats, _) = pipeline.shutdown();
        Ok(json!({
            "implementation": "squint",
            "cameras": self.cameras,
            "detect_workers": detect_workers,
            "frames": stats.frames,
            "faces": stats.faces,
            "embedded": stats.embedded,
            "embedded_by_recognizer": stats.embedded_by_recognizer,
            "recognition_budget": !self.every_face,
            "events": stats.events,
            "seconds": stats.seconds,
            "frames_per_s": stats.frames as f64 / stats.seconds,
            "faces_per_s": stats.faces as f64 / stats.seconds,
            "latency_ms": { "p50": stats.event_latency.p50_ms, "p95": stats.event_latency.p95_ms,
                            "p99": stats.event_latency.p99_ms, "max": stats.event_latency.max_ms },
        }))
    }

    /// `[[models.routes]]` tables for `--route`, each band starting where the last ended.
    fn routes_toml(&self) -> String {
        let mut min_px = 0.0;
        let mut text = String::new();
        for (max_px, card) in &self.routes {
            text.push_str(&format!(
                "[[models.routes]]\nmin_px = {min_px:?}\nmax_px = {max_px:?}\nrecognizer = \"{}\"\n",
                card.display()
            ));
            min_px = *max_px;
        }
        text
    }

    fn reference(&self, video: &Path) -> anyhow::Result<Value> {
        let mut command = Command::new(&self.python);
        command
            .arg(self.repo.join("scripts/reference_pipeline.py"))
            .arg("--video")
            .arg(video)
            .args(["--cameras", &self.cameras.to_string()])
            .arg("--detector")
            .arg(self.reference_models.join("face_detection_yunet_2023mar.onnx"))
            .arg("--recognizer")
            .arg(self.reference_models.join("face_recognition_sface_2021dec.onnx"));
        if self.realtime {
            command.arg("--realtime");
        }
        for (name, photo) in GALLERY {
            command
                .arg("--person")
                .arg(format!("{name}={}", self.photo(photo).display()));
        }
        let output = command.output()?;
        anyhow::ensure!(
            output.status.success(),
            "reference failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(serde_json::from_slice(&output.stdout)?)
    }

    pub fn run(&self) -> anyhow::Result<Value> {
        std::fs::create_dir_all(&self.work)?;
        let video = self.scene()?;
        let gallery = self.gallery()?;
        let runs = self
            .detect_workers
            .iter()
            .map(|&workers| self.squint(&video, &gallery, workers))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let first = runs.first().cloned().unwrap_or(Value::Null);
        let fps = |run: &Value| run["frames_per_s"].as_f64().unwrap_or(f64::NAN);
        let scene = json!({ "video": video.display().to_string(), "frames_per_camera": self.frames, "size": "768x576", "fps": 25, "realtime": self.realtime });
        let by_workers = json!({
            "runs": runs,
            "frames_per_s_over_first": runs.iter().map(|r| fps(r) / fps(&first)).collect::<Vec<_>>(),
        });
        if self.no_reference {
            return Ok(json!({ "scene": scene, "squint": first, "detect_workers": by_workers }));
        }
        let squint = first;
        let reference = self.reference(&video)?;
        let ratio = |key: &str| squint[key].as_f64().unwrap_or(0.0) / reference[key].as_f64().unwrap_or(f64::NAN);
        let latency_ratio = |q: &str| {
            reference["latency_ms"][q].as_f64().unwrap_or(0.0) / squint["latency_ms"][q].as_f64().unwrap_or(f64::NAN)
        };
        let same_frames = squint["frames"] == reference["frames"];
        Ok(json!({
            "scene": scene,
            "squint": squint,
            "reference": reference,
            "same_frames": same_frames,
            "detect_workers": by_workers,
            "speedup": { "frames_per_s": ratio("frames_per_s"), "faces_per_s": ratio("faces_per_s"),
                         "latency_p50": latency_ratio("p50"), "latency_p99": latency_ratio("p99") },
        }))
    }
}
