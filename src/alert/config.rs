use serde::Deserialize;

use crate::check::{KeyError, check_range};

/// Similarity thresholds for faces narrower than `below_px` (the last band has no limit).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    #[serde(default)]
    pub below_px: Option<f32>,
    /// Names a track in identity events and raises a `candidate` alert.
    pub candidate: f32,
    /// Each supporting frame must reach this for `confirmed`.
    pub confirm: f32,
}

impl Band {
    fn new(below_px: Option<f32>, candidate: f32, confirm: f32) -> Band {
        Band {
            below_px,
            candidate,
            confirm,
        }
    }
}

/// The band of a face `width_px` wide among `bands` (narrowest first; never empty once the
/// config is validated).
pub fn band_for(bands: &[Band], width_px: f32) -> &Band {
    bands
        .iter()
        .find(|b| b.below_px.is_none_or(|limit| width_px < limit))
        .unwrap_or_else(|| &bands[bands.len() - 1])
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    /// Face-size bands, narrowest first; see README "Choosing thresholds" for how the
    /// defaults were measured.
    #[serde(default = "default_bands")]
    pub bands: Vec<Band>,
    /// `confirmed` needs this many frames at or above the band's confirm threshold…
    #[serde(default = "default_confirm_frames")]
    pub confirm_min_frames: usize,
    /// …within this many frames of the track.
    #[serde(default = "default_confirm_window")]
    pub confirm_window_frames: u64,
    /// A candidate is retracted after this many embedded frames in a row that no longer
    /// support it.
    #[serde(default = "default_retract_after")]
    pub retract_after_frames: u32,
    /// After `confirmed`, the same identity on the same camera raises no new alert for this
    /// long (a track that breaks and restarts is still the same visit).
    #[serde(default = "default_cooldown")]
    pub cooldown_s: f64,
    /// Identity events: at most one per track per this interval, plus one whenever the
    /// track's identity changes.
    #[serde(default = "default_identity_interval")]
    pub identity_interval_ms: u64,
    #[serde(default)]
    pub thumbnails: super::ThumbnailConfig,
    /// Alert policy per gallery watchlist (`squint enroll --watchlist`); identities on a
    /// watchlist not listed here use the settings above.
    #[serde(default)]
    pub watchlists: std::collections::BTreeMap<String, WatchlistPolicy>,
    /// `[alerts.unknowns]`: alerts for recurring strangers (needs `[unknowns] enabled`).
    #[serde(default)]
    pub unknowns: Option<RecurringPolicy>,
    /// `[alerts.open_set]`: raise every band's thresholds with the gallery's size.
    #[serde(default)]
    pub open_set: Option<OpenSetConfig>,
}

/// Thresholds that know how many templates are enrolled: no band's candidate or confirm
/// threshold is below the similarity a stranger reaches against some template of the gallery
/// with chance `false_candidates_per_probe` (README, "Galleries of a million people").
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OpenSetConfig {
    /// The recognizer's impostor scores (one probe against one template of someone else) as
    /// mean and standard deviation, e.g. `impostor_real` of `squint bench-gallery`.
    pub impostor_mean: f64,
    pub impostor_sd: f64,
    /// Target chance that a probe of nobody enrolled reaches a candidate threshold.
    pub false_candidates_per_probe: f64,
}

impl OpenSetConfig {
    /// The lowest threshold allowed for a gallery of `templates` templates.
    pub fn floor(&self, templates: usize) -> f32 {
        let model = super::ImpostorModel {
            mean: self.impostor_mean,
            sd: self.impostor_sd,
        };
        model.threshold(self.false_candidates_per_probe, templates.max(1)) as f32
    }

    fn validate(&self) -> Result<(), KeyError> {
        check_range("open_set.impostor_mean", self.impostor_mean, -1.0, 1.0)?;
        check_range("open_set.impostor_sd", self.impostor_sd, 1e-4, 1.0)?;
        check_range(
            "open_set.false_candidates_per_probe",
            self.false_candidates_per_probe,
            1e-9,
            0.5,
        )
    }
}

/// A stranger seen on at least `min_visits` distinct visits within `within_s` raises a
/// `recurring` alert, once per track, then not again on that camera for `cooldown_s`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurringPolicy {
    #[serde(default = "default_min_visits")]
    pub min_visits: usize,
    #[serde(default = "default_within_s")]
    pub within_s: f64,
    /// Default: `[alerts] cooldown_s`.
    pub cooldown_s: Option<f64>,
}

fn default_min_visits() -> usize {
    3
}
/// A week.
fn default_within_s() -> f64 {
    604_800.0
}

/// How alerts for one watchlist's identities behave; unset keys take the `[alerts]` value.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchlistPolicy {
    /// false: no alerts at all (e.g. staff), identity events only.
    #[serde(default = "default_true")]
    pub alerts: bool,
    /// false: no early `candidate` (nor its `retracted`), only `confirmed` and `ended`.
    #[serde(default = "default_true")]
    pub candidates: bool,
    pub confirm_min_frames: Option<usize>,
    pub cooldown_s: Option<f64>,
}

fn default_true() -> bool {
    true
}

/// The policy in force for one identity, all keys resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub watchlist: String,
    pub alerts: bool,
    pub candidates: bool,
    pub confirm_min_frames: usize,
    pub cooldown_s: f64,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            bands: default_bands(),
            confirm_min_frames: default_confirm_frames(),
            confirm_window_frames: default_confirm_window(),
            retract_after_frames: default_retract_after(),
            cooldown_s: default_cooldown(),
            identity_interval_ms: default_identity_interval(),
            thumbnails: Default::default(),
            watchlists: Default::default(),
            unknowns: None,
            open_set: None,
        }
    }
}

/// From `scripts/bench-alerts.sh` (SFace, generated scenes): the best wrong identity's
/// per-frame similarity stays below ~0.34 at every size, while the right identity's median
/// falls from 0.87 (>=40 px) to 0.55 (16-24) and 0.38 (<16). Candidates sit just above the
/// impostor maximum; confirm thresholds rise with size, where the margin is free.
fn default_bands() -> Vec<Band> {
    vec![
        Band::new(Some(16.0), 0.34, 0.38),
        Band::new(Some(24.0), 0.36, 0.42),
        Band::new(Some(40.0), 0.38, 0.48),
        Band::new(None, 0.40, 0.52),
    ]
}
fn default_confirm_frames() -> usize {
    3
}
fn default_confirm_window() -> u64 {
    75
}
fn default_retract_after() -> u32 {
    4
}
fn default_cooldown() -> f64 {
    30.0
}
fn default_identity_interval() -> u64 {
    1000
}

impl AlertConfig {
    /// The alert policy for identities on `watchlist`.
    pub fn policy(&self, watchlist: &str) -> Policy {
        let own = self.watchlists.get(watchlist).cloned().unwrap_or(WatchlistPolicy {
            alerts: true,
            candidates: true,
            ..WatchlistPolicy::default()
        });
        Policy {
            watchlist: watchlist.to_string(),
            alerts: own.alerts,
            candidates: own.candidates,
            confirm_min_frames: own.confirm_min_frames.unwrap_or(self.confirm_min_frames),
            cooldown_s: own.cooldown_s.unwrap_or(self.cooldown_s),
        }
    }

    /// The band a face of `width_px` falls in.
    pub fn band(&self, width_px: f32) -> &Band {
        band_for(&self.bands, width_px)
    }

    /// The bands raised to `[alerts.open_set]`'s floor for a gallery of `templates`
    /// templates, and that floor (`None` without `[alerts.open_set]`).
    pub fn bands_for_gallery(&self, templates: usize) -> (Vec<Band>, Option<f32>) {
        let Some(floor) = self.open_set.as_ref().map(|o| o.floor(templates)) else {
            return (self.bands.clone(), None);
        };
        let raised = self
            .bands
            .iter()
            .map(|b| Band::new(b.below_px, b.candidate.max(floor), b.confirm.max(floor)))
            .collect();
        (raised, Some(floor))
    }

    pub(crate) fn validate(&self) -> Result<(), KeyError> {
        if self.bands.is_empty() {
            return Err(("bands".into(), "needs at least one band".into()));
        }
        let mut previous = 0.0;
        for (i, band) in self.bands.iter().enumerate() {
            let key = |k: &str| format!("bands[{i}].{k}");
            check_range(&key("candidate"), band.candidate, -1.0, 1.0)?;
            check_range(&key("confirm"), band.confirm, band.candidate, 1.0)
                .map_err(|(k, m)| (k, format!("{m} (confirm is at least candidate)")))?;
            let last = i + 1 == self.bands.len();
            match (band.below_px, last) {
                (Some(limit), false) if limit > previous => previous = limit,
                (None, true) => {}
                (_, false) => {
                    return Err((
                        key("below_px"),
                        "every band but the last needs below_px, increasing from band to band".into(),
                    ));
                }
                (Some(_), true) => {
                    return Err((
                        key("below_px"),
                        "the last band covers all larger faces: leave it out".into(),
                    ));
                }
            }
        }
        if let Some(open_set) = &self.open_set {
            open_set.validate()?;
        }
        check_range("confirm_min_frames", self.confirm_min_frames, 1, 1000)?;
        check_range("confirm_window_frames", self.confirm_window_frames, 1, 100_000)?;
        check_range("retract_after_frames", self.retract_after_frames, 1, 10_000)?;
        check_range("cooldown_s", self.cooldown_s, 0.0, 86_400.0)?;
        check_range("identity_interval_ms", self.identity_interval_ms, 0, 3_600_000)?;
        for (name, policy) in &self.watchlists {
            if let Some(frames) = policy.confirm_min_frames {
                check_range(&format!("watchlists.{name}.confirm_min_frames"), frames, 1, 1000)?;
            }
            if let Some(cooldown) = policy.cooldown_s {
                check_range(&format!("watchlists.{name}.cooldown_s"), cooldown, 0.0, 86_400.0)?;
            }
        }
        if let Some(recurring) = &self.unknowns {
            check_range("unknowns.min_visits", recurring.min_visits, 2, 10_000)?;
            check_range("unknowns.within_s", recurring.within_s, 1.0, 3650.0 * 86_400.0)?;
            if let Some(cooldown) = recurring.cooldown_s {
                check_range("unknowns.cooldown_s", cooldown, 0.0, 30.0 * 86_400.0)?;
            }
        }
        self.thumbnails.validate()
    }
}

/// A band's name in events, e.g. `16-24`.
pub fn band_label(bands: &[Band], band: &Band) -> String {
    let lower = bands
        .iter()
        .take_while(|b| *b != band)
        .filter_map(|b| b.below_px)
        .last();
    match (lower, band.below_px) {
        (None, Some(hi)) => format!("<{hi}"),
        (Some(lo), Some(hi)) => format!("{lo}-{hi}"),
        (Some(lo), None) => format!(">={lo}"),
        (None, None) => "all".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faces_fall_into_their_band() {
        let config = AlertConfig::default();
        config.validate().unwrap();
        let labels: Vec<String> = [12.0, 16.0, 30.0, 80.0]
            .iter()
            .map(|&w| band_label(&config.bands, config.band(w)))
            .collect();
        assert_eq!(labels, ["<16", "16-24", "24-40", ">=40"]);
    }

    #[test]
    fn misordered_bands_name_the_key() {
        let config: AlertConfig = toml::from_str(
            "[[bands]]\nbelow_px = 24\ncandidate = 0.4\nconfirm = 0.4\n[[bands]]\nbelow_px = 16\ncandidate = 0.4\nconfirm = 0.4\n[[bands]]\ncandidate = 0.3\nconfirm = 0.3\n",
        )
        .unwrap();
        let (key, message) = config.validate().unwrap_err();
        assert_eq!(key, "bands[1].below_px", "{message}");
        let config: AlertConfig = toml::from_str("[[bands]]\ncandidate = 0.5\nconfirm = 0.4\n").unwrap();
        assert_eq!(config.validate().unwrap_err().0, "bands[0].confirm");
    }
}
