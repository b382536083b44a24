//! `squint bench-unknowns`: how well unknown faces are clustered. Strangers walk among
//! enrolled people over several visits (one generated scene each, an hour apart in video
//! time); every visit runs through the pipeline's own stages and the alert stage's
//! [`Matching`] with `[unknowns]` on, on a copy of the gallery. Per face-size band it
//! reports cluster purity, the share of a stranger's visits filed under one `unknown_id`,
//! and, after each stranger's cluster is promoted under their name, whether their next
//! visit is named.
//!
//! Join thresholds and `merge_similarity` are chosen on the `--tune` visits (other people
//! than the `--report` ones) and only reported on `--report`, next to the defaults.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use uuid::Uuid;

use super::scene::{Models, Observed, load_models, observe, read_truth, track_appearances};
use crate::alert::AlertEngine;
use crate::config::Config;
use crate::detect::Detector;
use crate::gallery::{Gallery, dot};
use crate::pipeline::Matching;
use crate::publish::{ModelIds, Outgoing, UNKNOWN};
use crate::recognize::Recognizer;
use crate::scenario::GroundTruth;
use crate::types::TrackMessage;
use crate::unknowns::{Filed, Strangers, UnknownBand, UnknownsConfig};

/// Video time between the starts of two visits: far beyond any visit gap.
const VISIT_EVERY: Duration = Duration::from_secs(3600);

/// Purity the tuning must keep in every band (the goal reported against).
const PURITY_GOAL: f64 = 0.95;

/// Clustering settings tried on the tuning visits.
const THRESHOLD_OFFSETS: [f32; 6] = [-0.05, 0.0, 0.05, 0.10, 0.15, 0.20];
const MERGE_SIMILARITIES: [f32; 4] = [0.5, 0.6, 0.7, 0.8];

/// Clustering settings: the join thresholds are the config's (by default the alert bands'
/// candidate thresholds) moved by `threshold_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Params {
    pub threshold_offset: f32,
    pub merge_similarity: f32,
}

#[derive(Debug, Default, Serialize)]
pub struct BandResult {
    /// The folder the visits came from, e.g. `16-24`.
    pub band: String,
    pub strangers: usize,
    /// Strangers' passes through the clustering visits (the last visit is for `promote`).
    pub visits: usize,
    /// Strangers' tracks filed under a cluster, and tracks of anyone skipped as too small,
    /// too short or too poor.
    pub stranger_tracks_filed: usize,
    pub tracks_skipped: usize,
    pub clusters: usize,
    /// Over all filed tracks that followed a person: the share filed with the cluster's
    /// most common person.
    pub purity: f64,
    /// Over all strangers' visits: the share filed under that stranger's most common id.
    pub visits_on_one_id: f64,
    /// Visits of which no track was filed (skipped, or taken for an enrolled person).
    pub visits_unfiled: usize,
    /// Strangers' tracks that identity events named as an enrolled person.
    pub strangers_named_enrolled: usize,
    /// Enrolled people's tracks filed as strangers.
    pub enrolled_filed: usize,
    /// Strangers whose most common cluster was promoted under their name.
    pub promoted: usize,
    /// Of those, the share whose pass in the next visit was named right.
    pub named_after_promote: f64,
    pub misnamed_after_promote: usize,
    /// Similarity of filed strangers' track templates: the same stranger on different visits
    /// (genuine) and different strangers (impostor); what the join thresholds separate.
    pub genuine_p10: Option<f32>,
    pub genuine_median: Option<f32>,
    pub impostor_p99: Option<f32>,
    pub impostor_max: Option<f32>,
}

#[derive(Debug, Serialize)]
pub struct GridPoint {
    pub params: Params,
    pub bands: Vec<BandResult>,
}

#[derive(Debug, Serialize)]
pub struct UnknownsBench {
    /// Strangers (people of the scenes not in the gallery) of each side.
    pub tune_strangers: Vec<String>,
    pub report_strangers: Vec<String>,
    pub visits_per_band: usize,
    pub selection: String,
    pub defaults: Params,
    pub chosen: Params,
    /// Every setting tried, on the tuning visits.
    pub tune_grid: Vec<GridPoint>,
    pub report_defaults: Vec<BandResult>,
    pub report_chosen: Vec<BandResult>,
}

/// One band's visits, in order, as the alert stage received them.
struct Experiment {
    band: String,
    visits: Vec<(GroundTruth, Observed)>,
}

/// What the benchmark runs against: models, the enrolled gallery, settings.
struct Setup<'a> {
    config: &'a Config,
    models: ModelIds,
    gallery: &'a Path,
    space: String,
    dim: usize,
    /// The gallery's identities (everyone else in the scenes is a stranger).
    enrolled: BTreeSet<String>,
}

/// `tune` and `report` each hold one folder per band, each with `visit-1`, `visit-2`, …
/// scenes (made by `squint scenario`); the last visit is the one after `promote`.
pub fn run(config: &Config, tune: &Path, report: &Path) -> anyhow::Result<UnknownsBench> {
    let Models {
        mut detector,
        mut recognizer,
        ids,
        dim,
    } = load_models(config)?;
    let matcher = Gallery::open_read_only(&config.gallery.path)?.matcher(&ids.embedding_space, dim)?;
    let setup = Setup {
        config,
        space: ids.embedding_space.clone(),
        models: ids,
        gallery: &config.gallery.path,
        dim,
        enrolled: matcher.names().map(String::from).collect(),
    };
    let enrolled = &setup.enrolled;
    let defaults = Params {
        threshold_offset: 0.0,
        merge_similarity: config.unknowns.merge_similarity,
    };

    let tuning = observe_side(config, tune, &mut detector, &mut recognizer)?;
    let mut tune_grid = Vec::new();
    for threshold_offset in THRESHOLD_OFFSETS {
        for merge_similarity in MERGE_SIMILARITIES {
            let params = Params {
                threshold_offset,
                merge_similarity,
            };
            let bands = tuning
                .iter()
                .map(|e| setup.replay(&params, e))
                .collect::<Result<_, _>>()?;
            tune_grid.push(GridPoint { params, bands });
        }
    }
    let chosen = choose(&tune_grid, defaults);
    let tune_strangers = strangers_of(&tuning, enrolled);
    drop(tuning);

    let reporting = observe_side(config, report, &mut detector, &mut recognizer)?;
    let report_defaults = reporting
        .iter()
        .map(|e| setup.replay(&defaults, e))
        .collect::<Result<_, _>>()?;
    let report_chosen = reporting
        .iter()
        .map(|e| setup.replay(&chosen, e))
        .collect::<Result<_, _>>()?;
    Ok(UnknownsBench {
        tune_strangers,
        report_strangers: strangers_of(&reporting, enrolled),
        visits_per_band: reporting.first().map_or(0, |e| e.visits.len()),
        selection: format!(
            "on the tuning visits: purity >= {PURITY_GOAL} in every band, then the most visits on one id \
             (mean over bands), then the setting nearest the defaults"
        ),
        defaults,
        chosen,
        tune_grid,
        report_defaults,
        report_chosen,
    })
}

/// Every band folder under `side`, its visits played through the frame path.
fn observe_side(
    config: &Config,
    side: &Path,
    detector: &mut Detector,
    recognizer: &mut Recognizer,
) -> anyhow::Result<Vec<Experiment>> {
    // Recent video time, so nothing is past `retention_days` when the clusters are stored;
    // on a whole hour, so every run sees the same millisecond timestamps (identity events
    // are paced by them).
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH)?.as_secs();
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(now / 3600 * 3600 - 2 * 86_400);
    let mut bands = Vec::new();
    for band in sorted_dirs(side, "")? {
        let visits = sorted_dirs(&band, "visit-")?;
        if visits.len() < 2 {
            anyhow::bail!(
                "{}: needs at least two visit-N scenes (clustering, then the visit after promote)",
                band.display()
            );
        }
        bands.push((band, visits));
    }
    if bands.is_empty() {
        anyhow::bail!("{}: no band folders with visit-N scenes", side.display());
    }
    let scenes = bands.iter().map(|(_, v)| v.len() as u64).sum();
    let progress = indicatif::ProgressBar::new(scenes).with_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} scenes, {eta} left")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    progress.set_message(file_name(side));
    let mut experiments = Vec::new();
    for (band, visits) in bands {
        let mut played = Vec::new();
        for (n, visit) in visits.iter().enumerate() {
            let at = start + VISIT_EVERY * n as u32;
            played.push((read_truth(visit)?, observe(config, visit, at, detector, recognizer)?));
            progress.inc(1);
        }
        experiments.push(Experiment {
            band: file_name(&band),
            visits: played,
        });
    }
    progress.finish_and_clear();
    Ok(experiments)
}

/// Sub-folders of `dir` whose names start with `prefix`, in natural order (`visit-10`
/// after `visit-9`).
fn sorted_dirs(dir: &Path, prefix: &str) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && file_name(p).starts_with(prefix))
        .collect();
    dirs.sort_by_key(|p| {
        let name = file_name(p);
        let number: Option<u64> = name[prefix.len()..].parse().ok();
        (number, name)
    });
    Ok(dirs)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn strangers_of(experiments: &[Experiment], enrolled: &BTreeSet<String>) -> Vec<String> {
    let people = experiments
        .iter()
        .flat_map(|e| &e.visits)
        .flat_map(|(truth, _)| &truth.people)
        .map(|p| p.name.clone())
        .filter(|name| !enrolled.contains(name));
    people.collect::<BTreeSet<_>>().into_iter().collect()
}

/// The tuning rule of [`UnknownsBench::selection`].
fn choose(grid: &[GridPoint], defaults: Params) -> Params {
    let min_purity = |p: &GridPoint| p.bands.iter().map(|b| b.purity).fold(1.0, f64::min);
    let mean_one_id =
        |p: &GridPoint| p.bands.iter().map(|b| b.visits_on_one_id).sum::<f64>() / p.bands.len().max(1) as f64;
    let distance = |p: &GridPoint| {
        (p.params.threshold_offset - defaults.threshold_offset).abs()
            + (p.params.merge_similarity - defaults.merge_similarity).abs()
    };
    let pure = grid.iter().filter(|p| min_purity(p) >= PURITY_GOAL);
    let best = pure
        .min_by(|a, b| {
            mean_one_id(b)
                .total_cmp(&mean_one_id(a))
                .then(distance(a).total_cmp(&distance(b)))
        })
        .or_else(|| grid.iter().max_by(|a, b| min_purity(a).total_cmp(&min_purity(b))));
    best.map_or(defaults, |p| p.params)
}

/// What one visit's tracks became.
#[derive(Default)]
struct Played {
    /// Track id → identity named by each of its identity events.
    names: BTreeMap<u64, Vec<String>>,
    /// Ordered by track id, so ties between a stranger's tracks resolve the same way on
    /// every run.
    filed: BTreeMap<u64, Filed>,
    /// Track id → its template when it ended.
    templates: BTreeMap<u64, Vec<f32>>,
}

/// One filed track of a clustering visit.
struct FiledTrack {
    visit: usize,
    person: Option<String>,
    frames: usize,
    cluster: Uuid,
    template: Vec<f32>,
}

impl Setup<'_> {
    fn unknowns_config(&self, params: &Params) -> UnknownsConfig {
        let base = &self.config.unknowns;
        let bands = base
            .join_bands(&self.config.alerts.bands)
            .into_iter()
            .map(|b| UnknownBand {
                below_px: b.below_px,
                threshold: b.candidate + params.threshold_offset,
            });
        UnknownsConfig {
            enabled: true,
            bands: Some(bands.collect()),
            merge_similarity: params.merge_similarity,
            ..base.clone()
        }
    }

    /// One band's visits on a fresh copy of the enrolled gallery.
    fn replay(&self, params: &Params, experiment: &Experiment) -> anyhow::Result<BandResult> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("gallery.db");
        std::fs::copy(self.gallery, &path)
            .map_err(|e| anyhow::anyhow!("copying gallery {}: {e}", self.gallery.display()))?;
        let matcher = Gallery::open_read_only(&path)?.matcher(&self.space, self.dim)?;
        let enrolled = &self.enrolled;
        let engine = AlertEngine::new(&self.config.alerts, matcher, self.models.clone());
        let strangers = Strangers::open(&self.unknowns_config(params), &self.config.alerts, &path)?;
        let mut matching = Matching::new(engine, Some(strangers));

        let (clustering, after) = experiment.visits.split_at(experiment.visits.len() - 1);
        let mut result = BandResult {
            band: experiment.band.clone(),
            ..BandResult::default()
        };
        let mut merged = HashMap::new();
        let mut filed = Vec::new();
        for (visit, (truth, seen)) in clustering.iter().enumerate() {
            let played = play(&mut matching, seen, &mut merged)?;
            let appearances = track_appearances(truth, seen);
            for (track, outcome) in &played.filed {
                let person = appearances.get(track).map(|&a| truth.appearances[a].identity.clone());
                let stranger = person.as_ref().is_some_and(|p| !enrolled.contains(p));
                match outcome {
                    Filed::Skipped(_) => result.tracks_skipped += 1,
                    Filed::Assigned(assignment) => {
                        result.stranger_tracks_filed += usize::from(stranger);
                        result.enrolled_filed += usize::from(person.is_some() && !stranger);
                        filed.push(FiledTrack {
                            visit,
                            person,
                            frames: seen.track_boxes.get(track).map_or(0, Vec::len),
                            cluster: assignment.id(),
                            template: played.templates.get(track).cloned().unwrap_or_default(),
                        });
                    }
                }
            }
            for (track, names) in &played.names {
                let person = appearances.get(track).map(|&a| &truth.appearances[a].identity);
                let stranger = person.is_some_and(|p| !enrolled.contains(p));
                result.strangers_named_enrolled += usize::from(stranger && named(names) != UNKNOWN);
            }
        }
        for track in &mut filed {
            track.cluster = resolve(&merged, track.cluster);
        }
        result.clusters = matching.clusters().unwrap_or(0);
        result.purity = purity(&filed);
        let (mut genuine, mut impostor) = template_similarities(&filed, enrolled);
        result.genuine_p10 = super::alerts::quantile(&mut genuine, 0.1);
        result.genuine_median = super::alerts::quantile(&mut genuine, 0.5);
        result.impostor_p99 = super::alerts::quantile(&mut impostor, 0.99);
        result.impostor_max = super::alerts::quantile(&mut impostor, 1.0);
        let visit_ids = visit_ids(clustering, &filed, enrolled);
        result.strangers = visit_ids.len();
        result.visits = visit_ids.values().map(Vec::len).sum();
        result.visits_unfiled = visit_ids.values().flatten().filter(|id| id.is_none()).count();
        let dominant: BTreeMap<&String, (Uuid, usize)> = visit_ids
            .iter()
            .filter_map(|(person, ids)| most_common(ids.iter().flatten()).map(|d| (person, d)))
            .collect();
        let on_one_id: usize = dominant.values().map(|(_, n)| n).sum();
        result.visits_on_one_id = on_one_id as f64 / result.visits.max(1) as f64;

        let promoted = self.promote(&path, &dominant, &mut matching)?;
        result.promoted = promoted.len();
        if let Some((truth, seen)) = after.first() {
            let played = play(&mut matching, seen, &mut merged)?;
            let (named, misnamed) = named_after(truth, seen, &played, &promoted);
            result.named_after_promote = named as f64 / promoted.len().max(1) as f64;
            result.misnamed_after_promote = misnamed;
        }
        Ok(result)
    }

    /// Promotes each stranger's most common cluster under their name, as `squint unknowns
    /// promote` would, and matches against the grown gallery from then on. A cluster that
    /// is most common for two strangers goes to the one with more visits on it.
    fn promote(
        &self,
        path: &Path,
        dominant: &BTreeMap<&String, (Uuid, usize)>,
        matching: &mut Matching,
    ) -> anyhow::Result<BTreeSet<String>> {
        let mut order: Vec<_> = dominant.iter().collect();
        order.sort_by_key(|(person, (_, n))| (std::cmp::Reverse(*n), person.to_string()));
        let mut gallery = Gallery::open(path)?;
        let mut taken = BTreeSet::new();
        let mut promoted = BTreeSet::new();
        for (person, (id, _)) in order {
            if taken.insert(*id) {
                gallery.promote_unknown(&id.to_string(), person, None)?;
                promoted.insert((*person).clone());
            }
        }
        drop(gallery);
        let matcher = Gallery::open_read_only(path)?.matcher(&self.space, self.dim)?;
        matching.engine.set_matcher(matcher);
        Ok(promoted)
    }
}

/// Feeds one visit to the alert stage; records merges of clusters as (gone → kept).
fn play(matching: &mut Matching, seen: &Observed, merged: &mut HashMap<Uuid, Uuid>) -> anyhow::Result<Played> {
    let mut played = Played::default();
    for (_, message) in &seen.messages {
        match message {
            TrackMessage::Face(face) => {
                for event in matching.face(face) {
                    if let Outgoing::Identity(event) = event {
                        played
                            .names
                            .entry(face.track.track_id)
                            .or_default()
                            .push(event.identity);
                    }
                }
            }
            TrackMessage::Ended(track) => {
                if let Some(template) = matching.engine.track_template(track) {
                    played.templates.insert(track.track_id, template);
                }
                let before = cluster_ids(matching);
                let ended = matching.track_ended(track);
                let Some(outcome) = ended.filed else { continue };
                let outcome = outcome?;
                if let Filed::Assigned(assignment) = &outcome {
                    // Merges happen only into the cluster the track joined.
                    for gone in before.difference(&cluster_ids(matching)) {
                        merged.insert(*gone, assignment.id());
                    }
                }
                played.filed.insert(track.track_id, outcome);
            }
        }
    }
    Ok(played)
}

fn cluster_ids(matching: &Matching) -> BTreeSet<Uuid> {
    matching
        .strangers
        .as_ref()
        .map(|s| s.clusters().all().iter().map(|c| c.id).collect())
        .unwrap_or_default()
}

/// The id a cluster ended up under after later merges.
fn resolve(merged: &HashMap<Uuid, Uuid>, mut id: Uuid) -> Uuid {
    // Bounded: a merge chain is never longer than the clusters ever opened.
    for _ in 0..=merged.len() {
        match merged.get(&id) {
            Some(&kept) if kept != id => id = kept,
            _ => break,
        }
    }
    id
}

/// The identity most of a track's identity events named (the first among equals).
fn named(names: &[String]) -> &str {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for name in names {
        match counts.iter_mut().find(|(n, _)| n == name) {
            Some((_, count)) => *count += 1,
            None => counts.push((name, 1)),
        }
    }
    let best = counts.iter().rev().max_by_key(|(_, count)| *count);
    best.map_or(UNKNOWN, |(name, _)| name)
}

fn most_common<'a>(ids: impl Iterator<Item = &'a Uuid>) -> Option<(Uuid, usize)> {
    let mut counts: BTreeMap<Uuid, usize> = BTreeMap::new();
    for id in ids {
        *counts.entry(*id).or_default() += 1;
    }
    counts.into_iter().max_by_key(|&(id, n)| (n, std::cmp::Reverse(id)))
}

/// Over filed tracks that followed a person: the share that are their cluster's most
/// common person.
fn purity(filed: &[FiledTrack]) -> f64 {
    let mut clusters: BTreeMap<Uuid, BTreeMap<&str, usize>> = BTreeMap::new();
    for track in filed {
        if let Some(person) = &track.person {
            *clusters.entry(track.cluster).or_default().entry(person).or_default() += 1;
        }
    }
    let total: usize = clusters.values().flat_map(|c| c.values()).sum();
    let majority: usize = clusters.values().filter_map(|c| c.values().max()).sum();
    if total == 0 {
        1.0
    } else {
        majority as f64 / total as f64
    }
}

/// Template similarities between filed strangers' tracks: the same stranger on different
/// visits, and different strangers.
fn template_similarities(filed: &[FiledTrack], enrolled: &BTreeSet<String>) -> (Vec<f32>, Vec<f32>) {
    let strangers: Vec<(&FiledTrack, &String)> = filed
        .iter()
        .filter_map(|t| t.person.as_ref().filter(|p| !enrolled.contains(*p)).map(|p| (t, p)))
        .filter(|(t, _)| !t.template.is_empty())
        .collect();
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for (i, (a, person_a)) in strangers.iter().enumerate() {
        for (b, person_b) in &strangers[i + 1..] {
            let similarity = dot(&a.template, &b.template);
            match (person_a == person_b, a.visit != b.visit) {
                (true, true) => genuine.push(similarity),
                (false, _) => impostor.push(similarity),
                (true, false) => {}
            }
        }
    }
    (genuine, impostor)
}

/// Stranger → the cluster each of their visits was filed under (that of their longest
/// filed track), `None` for a visit with nothing filed.
fn visit_ids(
    clustering: &[(GroundTruth, Observed)],
    filed: &[FiledTrack],
    enrolled: &BTreeSet<String>,
) -> BTreeMap<String, Vec<Option<Uuid>>> {
    let mut ids: BTreeMap<String, Vec<Option<Uuid>>> = BTreeMap::new();
    for (visit, (truth, _)) in clustering.iter().enumerate() {
        let present: BTreeSet<&String> = truth.appearances.iter().map(|a| &a.identity).collect();
        for person in present.into_iter().filter(|p| !enrolled.contains(*p)) {
            let longest = filed
                .iter()
                .filter(|t| t.visit == visit && t.person.as_ref() == Some(person))
                .max_by_key(|t| t.frames);
            ids.entry(person.clone()).or_default().push(longest.map(|t| t.cluster));
        }
    }
    ids
}

/// Of the promoted strangers in the visit after promotion: how many had their longest track
/// named right, and how many were named as someone else.
fn named_after(truth: &GroundTruth, seen: &Observed, played: &Played, promoted: &BTreeSet<String>) -> (usize, usize) {
    let appearances = track_appearances(truth, seen);
    let mut longest: BTreeMap<&String, (usize, u64)> = BTreeMap::new();
    for (track, &a) in &appearances {
        let person = &truth.appearances[a].identity;
        if !promoted.contains(person) || !played.names.contains_key(track) {
            continue;
        }
        let frames = seen.track_boxes.get(track).map_or(0, Vec::len);
        let entry = longest.entry(person).or_insert((frames, *track));
        if (frames, std::cmp::Reverse(*track)) > (entry.0, std::cmp::Reverse(entry.1)) {
            *entry = (frames, *track);
        }
    }
    let mut named_right = 0;
    let mut misnamed = 0;
    for (person, (_, track)) in longest {
        let name = played.names.get(&track).map_or(UNKNOWN, |n| named(n));
        if name == person.as_str() {
            named_right += 1;
        } else if name != UNKNOWN {
            misnamed += 1;
        }
    }
    (named_right, misnamed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(cluster: u128, person: &str) -> FiledTrack {
        FiledTrack {
            visit: 0,
            person: Some(person.into()),
            frames: 1,
            cluster: Uuid::from_u128(cluster),
            template: Vec::new(),
        }
    }

    #[test]
    fn purity_counts_each_clusters_majority() {
        let filed = [track(1, "a"), track(1, "a"), track(1, "b"), track(2, "b")];
        assert_eq!(purity(&filed), 0.75);
        assert_eq!(purity(&[]), 1.0);
    }

    #[test]
    fn merges_resolve_through_chains() {
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let merged = HashMap::from([(a, b), (b, c)]);
        assert_eq!(resolve(&merged, a), c);
        assert_eq!(resolve(&merged, c), c);
    }

    #[test]
    fn a_track_is_named_by_most_of_its_events() {
        let names: Vec<String> = ["unknown", "s21", "s21", "obama"].map(String::from).to_vec();
        assert_eq!(named(&names), "s21");
        assert_eq!(named(&[]), UNKNOWN);
    }

    #[test]
    fn choice_keeps_purity_before_consistency() {
        let point = |offset: f32, purity: f64, one_id: f64| GridPoint {
            params: Params {
                threshold_offset: offset,
                merge_similarity: 0.6,
            },
            bands: vec![BandResult {
                purity,
                visits_on_one_id: one_id,
                ..BandResult::default()
            }],
        };
        let defaults = Params {
            threshold_offset: 0.0,
            merge_similarity: 0.6,
        };
        let grid = [point(-0.05, 0.90, 1.0), point(0.05, 0.97, 0.8), point(0.1, 0.99, 0.8)];
        assert_eq!(choose(&grid, defaults).threshold_offset, 0.05);
        let impure = [point(0.0, 0.5, 1.0), point(0.2, 0.9, 0.1)];
        assert_eq!(choose(&impure, defaults).threshold_offset, 0.2);
    }
}
