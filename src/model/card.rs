use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ModelError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ColorOrder {
    #[serde(rename = "RGB")]
    Rgb,
    #[serde(rename = "BGR")]
    Bgr,
}

/// How to feed a model and what it produces. Lives beside the model as `<name>.card.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCard {
    /// Stable id that goes into every event, e.g. `sface-2021dec`.
    pub id: String,
    /// Model file, relative to the card.
    pub file: PathBuf,
    pub input: String,
    /// Input `[width, height]`; absent when the model takes any size (detectors).
    #[serde(default)]
    pub input_size: Option<[u32; 2]>,
    /// Only NCHW is supported today; the key exists so a card says it explicitly.
    #[serde(default = "default_layout")]
    pub layout: String,
    pub color: ColorOrder,
    /// Input = (pixel * scale - mean) / std, per channel in `color` order.
    #[serde(default = "one")]
    pub scale: f32,
    #[serde(default)]
    pub mean: [f32; 3],
    #[serde(default = "ones")]
    pub std: [f32; 3],
    /// Output names the code reads.
    pub outputs: Vec<String>,
    #[serde(default)]
    pub embedding_size: Option<usize>,
    /// The embedding space the outputs live in; a student declares its teacher's space.
    #[serde(default)]
    pub embedding_space: Option<String>,
    #[serde(default)]
    pub licence: Option<String>,
    /// Where the card was read from; `file` is relative to its directory.
    #[serde(skip)]
    pub card_path: PathBuf,
}

fn default_layout() -> String {
    "NCHW".into()
}
fn one() -> f32 {
    1.0
}
fn ones() -> [f32; 3] {
    [1.0; 3]
}

impl ModelCard {
    pub fn load(path: &Path) -> Result<ModelCard, ModelError> {
        let card_error = |message: String| ModelError::Card {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            card_error(format!(
                "cannot read it: {e}; run scripts/setup.sh to install the models, or point at the card: \
                 --detector / --recognizer on the command line, models.detector / models.recognizer in a config"
            ))
        })?;
        let mut card: ModelCard = toml::from_str(&text).map_err(|e| card_error(e.to_string()))?;
        if card.layout != "NCHW" {
            return Err(card_error(format!(
                "layout `{}` is not supported; use NCHW",
                card.layout
            )));
        }
        if card.std.contains(&0.0) {
            return Err(card_error("std must not contain 0".into()));
        }
        card.card_path = path.to_path_buf();
        Ok(card)
    }

    pub fn model_path(&self) -> PathBuf {
        self.card_path.parent().unwrap_or(Path::new(".")).join(&self.file)
    }

    /// The embedding space of a recognizer; required for matching against a gallery.
    pub fn require_embedding(&self) -> Result<(usize, String), ModelError> {
        match (self.embedding_size, &self.embedding_space, self.input_size) {
            (Some(size), Some(space), Some(_)) => Ok((size, space.clone())),
            _ => Err(ModelError::Card {
                path: self.card_path.clone(),
                message: "a recognizer card needs input_size, embedding_size and embedding_space".into(),
            }),
        }
    }
}
