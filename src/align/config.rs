use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::check::{KeyError, check_range};

/// `[align]`: how landmarks are found before a face is cut out for the recognizer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlignConfig {
    /// Card of a landmark refiner (`squint train-refiner`). Off when unset: YuNet's own
    /// landmarks are used at every size.
    #[serde(default)]
    pub refiner: Option<PathBuf>,
    /// Faces narrower than this (frame pixels) get the refiner's landmarks; wider ones keep
    /// YuNet's, which are accurate there.
    #[serde(default = "default_refine_below_px")]
    pub refine_below_px: f32,
}

impl Default for AlignConfig {
    fn default() -> Self {
        AlignConfig {
            refiner: None,
            refine_below_px: default_refine_below_px(),
        }
    }
}

/// The validation side measured the refiner's gain at every width from 12 to 24 px.
fn default_refine_below_px() -> f32 {
    26.0
}

impl AlignConfig {
    pub fn validate(&self) -> Result<(), KeyError> {
        check_range("refine_below_px", self.refine_below_px, 1.0, 400.0)?;
        if let Some(card) = &self.refiner
            && !card.is_file()
        {
            return Err((
                "refiner".into(),
                format!(
                    "{} is not a file; give a refiner's model card (from `squint train-refiner`) or remove the key",
                    card.display()
                ),
            ));
        }
        Ok(())
    }

    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(card) = self.refiner.as_mut().filter(|p| p.is_relative()) {
            *card = base.join(&*card);
        }
    }
}
