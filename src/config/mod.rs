//! The one TOML file that configures `squint run`. Each stage owns its section's struct
//! (in its own folder); this module loads the file, resolves paths and validates it, with
//! errors that name the file, the key and the fix.

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::check::{KeyError, check_range};

use crate::alert::AlertConfig;
use crate::align::AlignConfig;
use crate::cluster::ClusterConfig;
use crate::detect::DetectConfig;
use crate::gallery::GalleryConfig;
use crate::ingest::{CameraConfig, validate_cameras};
use crate::publish::KafkaConfig;
use crate::recognize::RecognizeConfig;
use crate::track::TrackConfig;
use crate::unknowns::UnknownsConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: cannot read it: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config file {path}: key `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsConfig {
    /// Card of the face detector (YuNet).
    pub detector: PathBuf,
    /// Card of the face recognizer (SFace or a student distilled into its space).
    pub recognizer: PathBuf,
    /// libonnxruntime.so.1.x; defaults to the ORT_DYLIB_PATH environment variable.
    #[serde(default)]
    pub onnxruntime: Option<PathBuf>,
    /// Face widths routed to other recognizers of the same embedding space (`[[models.routes]]`);
    /// a camera's own `routes` replace these.
    #[serde(default)]
    pub routes: Vec<crate::recognize::Route>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Folder of GStreamer pipeline templates (`<name>.pipeline`). Default: `pipelines/`
    /// beside the config's folder, else `./pipelines`.
    #[serde(default)]
    pub templates: Option<PathBuf>,
    /// Aligned crops waiting for the recognizer, across all cameras. When full, new crops
    /// are dropped and counted rather than stalling video.
    #[serde(default = "default_crop_queue")]
    pub crop_queue: usize,
    /// Frames waiting per camera for detection; live cameras drop the oldest when full.
    #[serde(default = "default_frame_queue")]
    pub frame_queue: usize,
    /// Where run-time state goes (e.g. the embedded broker's address file).
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            templates: None,
            crop_queue: default_crop_queue(),
            frame_queue: default_frame_queue(),
            state_dir: default_state_dir(),
        }
    }
}

/// Two recognizer batches: a deeper queue only adds latency (every queued crop waits for
/// the ones ahead of it; 64 crops at ~80 faces/s is 0.8 s).
fn default_crop_queue() -> usize {
    16
}
fn default_frame_queue() -> usize {
    2
}
fn default_state_dir() -> PathBuf {
    PathBuf::from("run")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub models: ModelsConfig,
    #[serde(default)]
    pub pipeline: PipelineConfig,
    #[serde(default)]
    pub detect: DetectConfig,
    #[serde(default)]
    pub align: AlignConfig,
    #[serde(default)]
    pub recognize: RecognizeConfig,
    #[serde(default)]
    pub track: TrackConfig,
    pub gallery: GalleryConfig,
    #[serde(default)]
    pub alerts: AlertConfig,
    #[serde(default)]
    pub unknowns: UnknownsConfig,
    pub kafka: KafkaConfig,
    #[serde(default)]
    pub http: crate::observe::HttpConfig,
    #[serde(default)]
    pub cameras: Vec<CameraConfig>,
    /// Share the site's cameras with other workers through a Kafka consumer group.
    #[serde(default)]
    pub cluster: Option<ClusterConfig>,
    /// The file this was read from, for error messages.
    #[serde(skip)]
    pub source: PathBuf,
}

impl Config {
    /// Reads, resolves relative paths against the file's folder, and validates.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        // Before parsing: a parse error quotes the offending line, which may hold a secret.
        crate::redact::register_assigned_secrets(text);
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: crate::redact::redact_credentials(e.to_string().trim_end()),
        })?;
        config.source = path.to_path_buf();
        config.register_secrets();
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        config.validate()?;
        Ok(config)
    }

    /// Makes every secret this configuration holds redacted by value from now on.
    fn register_secrets(&self) {
        self.kafka.register_secrets();
        if let Some(token) = &self.http.token {
            crate::redact::register_secret(token);
        }
        for camera in &self.cameras {
            crate::redact::register_url_secrets(&camera.url);
        }
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut self.models.detector);
        resolve(&mut self.models.recognizer);
        for route in &mut self.models.routes {
            resolve(&mut route.recognizer);
        }
        for camera in &mut self.cameras {
            if let Some(p) = camera.recognizer.as_mut() {
                resolve(p);
            }
            for route in camera.routes.iter_mut().flatten() {
                resolve(&mut route.recognizer);
            }
        }
        if let Some(p) = self.models.onnxruntime.as_mut() {
            resolve(p);
        }
        match self.pipeline.templates.as_mut() {
            Some(templates) => resolve(templates),
            None => {
                let beside = base.join("../pipelines");
                self.pipeline.templates = Some(if beside.is_dir() {
                    beside
                } else {
                    PathBuf::from("pipelines")
                });
            }
        }
        self.align.resolve_paths(base);
        resolve(&mut self.pipeline.state_dir);
        resolve(&mut self.gallery.path);
        if let Some(index) = self.gallery.index.path.as_mut() {
            resolve(index);
        }
        if let Some(dir) = self.kafka.spool.dir.as_mut() {
            resolve(dir);
        }
        if let Some(dir) = self.alerts.thumbnails.dir.as_mut() {
            resolve(dir);
        }
        for camera in &mut self.cameras {
            camera.resolve_paths(base);
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, message: String| ConfigError::Invalid {
            path: self.source.clone(),
            key,
            message,
        };
        match &self.cluster {
            None if self.cameras.is_empty() => {
                return Err(invalid(
                    "cameras".into(),
                    "no camera configured; add a [[cameras]] table with `id` and `url`".into(),
                ));
            }
            Some(_) if !self.cameras.is_empty() => {
                return Err(invalid(
                    "cameras".into(),
                    "with [cluster] the site's cameras come from cluster.cameras_topic; move these tables to a file of their own and publish them with `squint cameras put --config <this file> <that file>`".into(),
                ));
            }
            _ => {}
        }
        validate_cameras(&self.cameras, self.pipeline.templates_dir(), false)
            .map_err(|(key, msg)| invalid(key, msg))?;
        if let Some(cluster) = &self.cluster {
            cluster
                .validate()
                .map_err(|(key, msg)| invalid(format!("cluster.{key}"), msg))?;
            if self.kafka.is_embedded() {
                return Err(invalid(
                    "kafka.brokers".into(),
                    "a cluster worker needs the site's Kafka, not the embedded demo broker".into(),
                ));
            }
        }
        self.detect
            .validate()
            .map_err(|(key, msg)| invalid(format!("detect.{key}"), msg))?;
        self.align
            .validate()
            .map_err(|(key, msg)| invalid(format!("align.{key}"), msg))?;
        self.recognize
            .validate()
            .map_err(|(key, msg)| invalid(format!("recognize.{key}"), msg))?;
        crate::recognize::validate_routes(&self.models.routes)
            .map_err(|(key, msg)| invalid(format!("models.routes{key}"), msg))?;
        self.gallery
            .validate()
            .map_err(|(key, msg)| invalid(format!("gallery.{key}"), msg))?;
        self.track
            .validate()
            .map_err(|(key, msg)| invalid(format!("track.{key}"), msg))?;
        self.alerts
            .validate()
            .map_err(|(key, msg)| invalid(format!("alerts.{key}"), msg))?;
        self.unknowns
            .validate()
            .map_err(|(key, msg)| invalid(format!("unknowns.{key}"), msg))?;
        if self.alerts.unknowns.is_some() && !self.unknowns.enabled {
            return Err(invalid(
                "alerts.unknowns".into(),
                "recurring-stranger alerts need unknown faces clustered: set `enabled = true` under [unknowns]".into(),
            ));
        }
        self.kafka
            .validate()
            .map_err(|(key, msg)| invalid(format!("kafka.{key}"), msg))?;
        for (key, size) in [
            ("crop_queue", self.pipeline.crop_queue),
            ("frame_queue", self.pipeline.frame_queue),
        ] {
            check_range(key, size, 1, 100_000).map_err(|(key, msg)| invalid(format!("pipeline.{key}"), msg))?;
        }
        self.http
            .validate()
            .map_err(|(key, msg)| invalid(format!("http.{key}"), msg))?;
        Ok(())
    }
}

impl PipelineConfig {
    /// The templates folder (always set after [`Config::load`]).
    pub fn templates_dir(&self) -> &Path {
        self.templates.as_deref().unwrap_or(Path::new("pipelines"))
    }
}

impl Config {
    /// Where the event spool lives: `kafka.spool.dir`, else `<state_dir>/spool`.
    pub fn spool_dir(&self) -> PathBuf {
        self.kafka
            .spool
            .dir
            .clone()
            .unwrap_or_else(|| self.pipeline.state_dir.join("spool"))
    }
}

#[cfg(test)]
mod tests;
