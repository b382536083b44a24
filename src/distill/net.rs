//! What `squint distill` trains: a small student from scratch, or the teacher itself
//! (`--init teacher`), fine-tuned on degraded faces toward its own embeddings of the sharp
//! ones, or a small restoration front-end in front of the frozen teacher (`--init restorer`).
//! All share the losses, the optimiser, checkpoints and the validation table.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

use super::DistillError;
use super::chain::FaceChain;
use super::export::{self, CardInfo};
use super::restorer::Restorer;
use super::student::{Student, StudentShape};
use crate::model::ModelCard;

/// Where the trained network starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// A small student, randomly initialised.
    #[default]
    Scratch,
    /// The teacher's own network and weights.
    Teacher,
    /// A restoration front-end (`--width` channels) in front of the frozen teacher.
    Restorer,
}

/// The network's description, recorded in checkpoints (a resumed run must train the same
/// network) and in the report. Untagged: a student's is what it always was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NetShape {
    Student(StudentShape),
    /// Before `Teacher`: untagged, a restorer's shape also has the teacher's fields.
    Restored(RestoredShape),
    Teacher(TeacherShape),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoredShape {
    /// The frozen teacher behind the front-end.
    pub initialised_from: String,
    pub input_size: u32,
    pub restorer_channels: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeacherShape {
    /// The teacher model's id whose network and weights were the starting point.
    pub initialised_from: String,
    pub input_size: u32,
    /// Surgical fine-tuning: only the first this many convolutions were trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_convs: Option<usize>,
}

pub enum Net {
    Student(Student),
    Teacher {
        chain: Box<FaceChain>,
        card: ModelCard,
    },
    Restored {
        restorer: Restorer,
        chain: Box<FaceChain>,
        card: ModelCard,
    },
}

impl Net {
    /// A new network for `init`: the student of `shape`, or the teacher of `teacher` (all of
    /// it trained, or its first `train_convs` convolutions).
    pub fn new(
        init: Init,
        shape: StudentShape,
        teacher: &ModelCard,
        seed: u64,
        train_convs: Option<usize>,
    ) -> Result<Net, DistillError> {
        match init {
            Init::Scratch if train_convs.is_some() => Err(DistillError::Invalid(
                "--train-convs needs --init teacher: a student from scratch trains every layer".into(),
            )),
            Init::Scratch => Ok(Net::Student(Student::new(shape, seed)?)),
            Init::Restorer if train_convs.is_some() => Err(DistillError::Invalid(
                "--train-convs trains part of the teacher; --init restorer keeps all of it frozen".into(),
            )),
            Init::Restorer => {
                let mut chain = FaceChain::load_at(teacher, shape.input_size)?;
                chain.freeze();
                Ok(Net::Restored {
                    restorer: Restorer::new(shape.width, seed)?,
                    chain: Box::new(chain),
                    card: teacher.clone(),
                })
            }
            Init::Teacher => {
                let mut chain = FaceChain::load_at(teacher, shape.input_size)?;
                if let Some(k) = train_convs {
                    chain.train_first_convs(k)?;
                }
                Ok(Net::Teacher {
                    chain: Box::new(chain),
                    card: teacher.clone(),
                })
            }
        }
    }

    pub fn shape(&self) -> NetShape {
        match self {
            Net::Student(s) => NetShape::Student(s.shape.clone()),
            Net::Teacher { chain, card } => NetShape::Teacher(TeacherShape {
                initialised_from: card.id.clone(),
                input_size: chain.input_size(),
                train_convs: chain.trained_convs(),
            }),
            Net::Restored { restorer, chain, card } => NetShape::Restored(RestoredShape {
                initialised_from: card.id.clone(),
                input_size: chain.input_size(),
                restorer_channels: restorer.channels(),
            }),
        }
    }

    /// Raw embeddings of a batch packed per [`Net::training_card`]. A student's BN learns its
    /// statistics in training mode; the teacher's stay frozen.
    pub fn forward(&self, input: &Tensor, train: bool) -> Result<Tensor, DistillError> {
        match self {
            Net::Student(s) => s.forward(input, train),
            Net::Teacher { chain, .. } => chain.forward(input),
            Net::Restored { restorer, chain, .. } => chain.forward(&restorer.forward(input)?),
        }
    }

    pub fn trainable(&self) -> Vec<(&str, &Var)> {
        match self {
            Net::Student(s) => s.trainable(),
            Net::Teacher { chain, .. } => chain.trainable(),
            Net::Restored { restorer, .. } => restorer.trainable(),
        }
    }

    pub fn parameter_count(&self) -> usize {
        match self {
            Net::Student(s) => s.parameter_count(),
            Net::Teacher { chain, .. } => chain.parameter_count(),
            Net::Restored { restorer, .. } => restorer.parameter_count(),
        }
    }

    pub fn tensors(&self) -> HashMap<String, Tensor> {
        match self {
            Net::Student(s) => s.tensors(),
            Net::Teacher { chain, .. } => chain.tensors(),
            Net::Restored { restorer, .. } => restorer.tensors(),
        }
    }

    pub fn load_tensors(&self, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<(), DistillError> {
        match self {
            Net::Student(s) => s.load_tensors(tensors, path),
            Net::Teacher { chain, .. } => chain.load_tensors(tensors, path),
            Net::Restored { restorer, .. } => restorer.load_tensors(tensors, path),
        }
    }

    /// How crops are packed for it: what its exported card will declare.
    pub fn training_card(&self) -> ModelCard {
        match self {
            Net::Student(s) => export::training_card(s),
            Net::Teacher { card, chain } | Net::Restored { card, chain, .. } => ModelCard {
                input_size: Some([chain.input_size(); 2]),
                ..card.clone()
            },
        }
    }

    pub fn default_id(&self) -> String {
        match self {
            Net::Student(s) => format!("student-{}px-w{}", s.shape.input_size, s.shape.width),
            Net::Teacher { card, chain } => format!("{}-lr-{}px", card.id, chain.input_size()),
            Net::Restored { card, .. } => format!("{}-restored", card.id),
        }
    }

    /// Writes `<dir>/<stem>.onnx` and `<dir>/<stem>.card.toml`; returns the card's path.
    pub fn export(&self, dir: &Path, stem: &str, info: &CardInfo) -> Result<PathBuf, DistillError> {
        match self {
            Net::Student(s) => export::write(s, dir, stem, info),
            Net::Teacher { chain, card } => {
                let header = format!(
                    "# `{}` fine-tuned by `squint distill --init teacher` at {size}x{size} px on degraded faces\n\
                     # toward its own embeddings of the sharp ones: the same network (the dense head resampled\n\
                     # when the input is smaller) and embedding space, so galleries enrolled with `{}` match it.\n",
                    card.id,
                    card.id,
                    size = chain.input_size()
                );
                write_derived(dir, stem, info, card, chain.input_size(), &header, &chain.onnx_model()?)
            }
            Net::Restored { restorer, chain, card } => {
                let mut model = chain.onnx_model()?;
                restorer.prepend_to(&mut model, chain.input_name())?;
                let header = format!(
                    "# `{}` unchanged behind a restoration front-end ({} channels) trained by `squint distill\n\
                     # --init restorer` to make degraded faces embed like the sharp ones: the same embedding\n\
                     # space, so galleries enrolled with `{}` match it.\n",
                    card.id,
                    restorer.channels(),
                    card.id,
                );
                write_derived(dir, stem, info, card, chain.input_size(), &header, &model)
            }
        }
    }
}

/// Writes `model` as `<dir>/<stem>.onnx` with a card derived from the teacher's; returns the
/// card's path.
fn write_derived(
    dir: &Path,
    stem: &str,
    info: &CardInfo,
    card: &ModelCard,
    input_size: u32,
    header: &str,
    model: &super::onnx::ModelProto,
) -> Result<PathBuf, DistillError> {
    std::fs::create_dir_all(dir).map_err(|source| DistillError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(format!("{stem}.onnx"));
    super::onnx::write(model, &path)?;
    let card_path = dir.join(format!("{stem}.card.toml"));
    let mut header = header.to_string();
    if let Some(p) = info.provenance {
        header.push_str(&format!("# Trained on: {}.\n# Licence: {}\n", p.trained_on, p.licence));
    }
    export::derived_card(
        &card.card_path,
        &card_path,
        &export::DerivedCard {
            id: info.id,
            model: &path,
            header: &header,
            licence: info.provenance.map(|p| p.licence.as_str()),
            input_size: Some(input_size),
        },
    )?;
    Ok(card_path)
}
