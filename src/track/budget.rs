use crate::types::FaceQuality;

use super::TrackConfig;

/// Which faces of a track are worth embedding: the first, any whose quality clearly beats
/// the best embedded so far, and otherwise one every `every` frames, since consecutive
/// frames of one face add little new evidence.
#[derive(Debug, Clone)]
pub struct Budget {
    enabled: bool,
    every: u64,
    quality_gain: f32,
}

#[derive(Debug, Clone, Default)]
pub(super) struct BudgetState {
    last_embedded_seq: Option<u64>,
    best_embedded_weight: f32,
}

impl From<&TrackConfig> for Budget {
    fn from(config: &TrackConfig) -> Self {
        Budget {
            enabled: config.budget,
            every: config.embed_every_frames,
            quality_gain: config.embed_quality_gain,
        }
    }
}

impl Budget {
    pub(super) fn decide(&self, state: &mut BudgetState, seq: u64, quality: &FaceQuality) -> bool {
        let weight = quality.weight();
        let embed = !self.enabled
            || match state.last_embedded_seq {
                None => true,
                Some(last) => {
                    seq.saturating_sub(last) >= self.every || weight >= state.best_embedded_weight * self.quality_gain
                }
            };
        if embed {
            state.last_embedded_seq = Some(seq);
            state.best_embedded_weight = state.best_embedded_weight.max(weight);
        }
        embed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quality(width_px: f32) -> FaceQuality {
        FaceQuality {
            width_px,
            detection_score: 0.9,
            sharpness: 150.0,
            yaw_deg: 0.0,
            roll_deg: 0.0,
            touches_border: false,
        }
    }

    fn budget(enabled: bool) -> Budget {
        Budget::from(&TrackConfig {
            budget: enabled,
            embed_every_frames: 4,
            embed_quality_gain: 1.25,
            ..TrackConfig::default()
        })
    }

    #[test]
    fn embeds_the_first_face_then_every_kth_frame() {
        let (budget, mut state) = (budget(true), BudgetState::default());
        let chosen: Vec<u64> = (0..12)
            .filter(|&seq| budget.decide(&mut state, seq, &quality(20.0)))
            .collect();
        assert_eq!(chosen, vec![0, 4, 8]);
    }

    #[test]
    fn a_clearly_better_face_is_embedded_at_once() {
        let (budget, mut state) = (budget(true), BudgetState::default());
        assert!(budget.decide(&mut state, 0, &quality(16.0)));
        assert!(
            !budget.decide(&mut state, 1, &quality(17.0)),
            "5 % better is not enough"
        );
        assert!(budget.decide(&mut state, 2, &quality(24.0)), "50 % better is");
    }

    #[test]
    fn disabled_budget_embeds_everything() {
        let (budget, mut state) = (budget(false), BudgetState::default());
        assert!((0..10).all(|seq| budget.decide(&mut state, seq, &quality(20.0))));
    }
}
