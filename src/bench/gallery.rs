//! `squint bench-gallery`: matching against galleries of 10k to 1M identities, exact and
//! through the HNSW index — build and start-up time, memory, time per probe, recall@1
//! against exact matching, and how soon an enrolment reaches the running matcher.
//!
//! Synthetic identities are drawn from a Gaussian fitted to real SFace embeddings (mean and
//! covariance), so their impostor scores look like real ones; real people are mixed in and
//! their other photos are the probes recall is measured on.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use crate::alert::ImpostorModel;
use crate::distill::degrade::normal;
use crate::gallery::{
    ExportedEmbedding, ExportedIdentity, Gallery, GalleryWatch, IndexConfig, IndexMode, Match, Matcher, WatchSpec,
};
use crate::recognize::l2_normalize;

/// A real person: the template enrolled and their other photos' embeddings.
#[derive(Debug, Clone)]
pub struct RealPerson {
    pub name: String,
    pub template: Vec<f32>,
    pub probes: Vec<Vec<f32>>,
}

#[derive(Debug, Clone)]
pub struct GalleryBenchPlan {
    pub sizes: Vec<usize>,
    /// Embeddings the synthetic distribution is fitted to.
    pub fit: Vec<Vec<f32>>,
    pub people: Vec<RealPerson>,
    /// A person enrolled while the matcher runs (template, probe).
    pub late: (Vec<f32>, Vec<f32>),
    pub unmated_probes: usize,
    pub expansions: Vec<usize>,
    pub candidates: usize,
    pub reload_s: f64,
    pub decided_above: f32,
    /// Where the galleries and indexes are written.
    pub dir: PathBuf,
    pub space: String,
}

#[derive(Debug, Serialize)]
pub struct GalleryBenchReport {
    pub space: String,
    pub dim: usize,
    pub real_people: usize,
    pub real_probes: usize,
    pub unmated_probes: usize,
    pub candidates: usize,
    pub decided_above: f32,
    /// Impostor cosine of the synthetic identities against real probes (mean, sd), beside
    /// the real people's among themselves: how well the synthetic draw matches SFace.
    pub impostor_synthetic: ImpostorModel,
    /// Fitted to the real people's probes against the other real people's templates: the
    /// model the threshold curve is drawn from.
    pub impostor_real: ImpostorModel,
    pub sizes: Vec<SizeRow>,
}

#[derive(Debug, Serialize)]
pub struct SizeRow {
    pub identities: usize,
    pub gallery_write_s: f64,
    /// Reading the gallery into an exact matcher.
    pub exact_load_s: f64,
    pub exact_p50_ms: f64,
    pub exact_p99_ms: f64,
    pub index_build_s: f64,
    /// Opening gallery + persisted index, as `squint run` does on start-up.
    pub indexed_startup_s: f64,
    pub raw_embeddings_mib: f64,
    pub matcher_mib: f64,
    pub index_mib: f64,
    /// (matcher + index) / raw embeddings.
    pub memory_ratio: f64,
    pub index_file_mib: f64,
    pub searches: Vec<SearchRow>,
    /// Seconds from an enrolment's commit until the watch delivered a matcher that names the
    /// newcomer (`gallery.reload_s` included).
    pub enrolment_to_match_s: f64,
    /// Best similarity each probe of nobody enrolled reaches in this gallery (real people's
    /// probes with their own identity left out, then the synthetic ones): its upper
    /// percentiles are the thresholds for 10 % and 1 % false candidates per probe.
    pub stranger_best: StrangerScores,
}

#[derive(Debug, Serialize)]
pub struct StrangerScores {
    pub real_p90: f64,
    pub real_p99: f64,
    pub synthetic_p90: f64,
    pub synthetic_p99: f64,
}

#[derive(Debug, Serialize)]
pub struct SearchRow {
    pub expansion: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Probes of enrolled real people whose best identity equals exact matching's.
    pub recall_real: f64,
    /// Probes of nobody enrolled (synthetic) whose best identity equals exact matching's.
    pub recall_unmated: f64,
    /// Probes of real people whose exact best is their own identity (a true match the index
    /// must not lose): best identity equal to exact matching's.
    pub recall_mated: f64,
    /// All probes whose exact best similarity reaches `decided_above` (those a threshold
    /// near it would name): best identity equal to exact matching's.
    pub recall_decided: f64,
    /// `recall_real` per `--people` folder.
    pub recall_by_folder: std::collections::BTreeMap<String, f64>,
}

pub fn run(plan: &GalleryBenchPlan) -> anyhow::Result<GalleryBenchReport> {
    let dim = plan
        .fit
        .first()
        .map(Vec::len)
        .ok_or_else(|| anyhow::anyhow!("no embeddings to fit"))?;
    let draw = Gaussian::fit(&plan.fit)?;
    let mut rng = StdRng::seed_from_u64(11);
    let real_probes: Vec<(&str, &[f32])> = plan
        .people
        .iter()
        .flat_map(|p| p.probes.iter().map(move |probe| (p.name.as_str(), probe.as_slice())))
        .collect();
    let unmated: Vec<Vec<f32>> = (0..plan.unmated_probes).map(|_| draw.sample(&mut rng)).collect();
    let synthetic_check: Vec<Vec<f32>> = (0..2000).map(|_| draw.sample(&mut rng)).collect();
    let mut report = GalleryBenchReport {
        space: plan.space.clone(),
        dim,
        real_people: plan.people.len(),
        real_probes: real_probes.len(),
        unmated_probes: unmated.len(),
        candidates: plan.candidates,
        decided_above: plan.decided_above,
        impostor_synthetic: model(&impostor_scores(
            real_probes.iter().map(|(_, p)| *p),
            &synthetic_check,
            |_| true,
        ))?,
        impostor_real: model(&real_impostors(&plan.people))?,
        sizes: Vec::new(),
    };
    for &size in &plan.sizes {
        tracing::info!(identities = size, "gallery bench");
        report.sizes.push(one_size(plan, &draw, size, &real_probes, &unmated)?);
    }
    Ok(report)
}

fn model(scores: &[f32]) -> anyhow::Result<ImpostorModel> {
    ImpostorModel::fit(scores).ok_or_else(|| anyhow::anyhow!("too few impostor scores to fit"))
}

fn one_size(
    plan: &GalleryBenchPlan,
    draw: &Gaussian,
    size: usize,
    real_probes: &[(&str, &[f32])],
    unmated: &[Vec<f32>],
) -> anyhow::Result<SizeRow> {
    let path = plan.dir.join(format!("gallery-{size}.db"));
    let index_config = IndexConfig {
        mode: IndexMode::On,
        candidates: plan.candidates,
        ..IndexConfig::default()
    };
    for stale in [path.clone(), index_config.file(&path)] {
        let _ = std::fs::remove_file(&stale);
    }
    let started = Instant::now();
    write_gallery(&path, plan, draw, size)?;
    let gallery_write_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let exact = Gallery::open_read_only(&path)?.matcher(&plan.space, draw.dim())?;
    let exact_load_s = started.elapsed().as_secs_f64();
    let probes: Vec<&[f32]> = real_probes
        .iter()
        .map(|(_, p)| *p)
        .chain(unmated.iter().map(Vec::as_slice))
        .collect();
    let (exact_best, exact_times) = best_of_each(&exact, &probes);
    let strangers = stranger_best(&exact, real_probes, unmated);
    drop(exact);

    let spec = WatchSpec {
        path: path.clone(),
        space: plan.space.clone(),
        size: draw.dim(),
        every: Duration::from_secs_f64(plan.reload_s),
        index: index_config.clone(),
    };
    let started = Instant::now();
    let (mut watch, _) = GalleryWatch::open(spec.clone())?;
    let built = watch
        .wait(Duration::from_secs(3600))
        .ok_or_else(|| anyhow::anyhow!("the index was not built within an hour"))??;
    let index_build_s = started.elapsed().as_secs_f64();
    drop((built, watch));

    let started = Instant::now();
    let (mut watch, indexed) = GalleryWatch::open(spec)?;
    let indexed_startup_s = started.elapsed().as_secs_f64();
    let index = indexed
        .index()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the persisted index was not used at start-up"))?;
    let folders: std::collections::BTreeSet<String> = real_probes
        .iter()
        .filter_map(|(name, _)| name.split('/').next().map(str::to_string))
        .collect();
    let mut searches = Vec::new();
    for &expansion in &plan.expansions {
        index.set_expansion(expansion);
        let (best, times) = best_of_each(&indexed, &probes);
        let agree = |probes: &mut dyn Iterator<Item = usize>| {
            let (mut n, mut same) = (0, 0);
            for i in probes {
                n += 1;
                same +=
                    usize::from(best[i].as_ref().map(|m| &m.identity) == exact_best[i].as_ref().map(|m| &m.identity));
            }
            same as f64 / n.max(1) as f64
        };
        let mated = |i: &usize| exact_best[*i].as_ref().is_some_and(|m| m.identity == real_probes[*i].0);
        let decided = |i: &usize| {
            exact_best[*i]
                .as_ref()
                .is_some_and(|m| m.similarity >= plan.decided_above)
        };
        searches.push(SearchRow {
            expansion,
            p50_ms: percentile(&times, 0.5),
            p99_ms: percentile(&times, 0.99),
            recall_real: agree(&mut (0..real_probes.len())),
            recall_unmated: agree(&mut (real_probes.len()..probes.len())),
            recall_mated: agree(&mut (0..real_probes.len()).filter(mated)),
            recall_decided: agree(&mut (0..probes.len()).filter(decided)),
            recall_by_folder: folders
                .iter()
                .map(|folder| {
                    let inside = |i: &usize| real_probes[*i].0.split('/').next() == Some(folder.as_str());
                    (folder.clone(), agree(&mut (0..real_probes.len()).filter(inside)))
                })
                .collect(),
        });
    }
    let raw = (size * draw.dim() * 4) as f64;
    let (matcher_bytes, index_bytes) = (indexed.memory_bytes() as f64, index.memory_bytes() as f64);
    drop((indexed, index));
    let enrolment_to_match_s = enrolment_latency(&path, &plan.late, &mut watch)?;
    let mib = |bytes: f64| bytes / (1024.0 * 1024.0);
    Ok(SizeRow {
        identities: size,
        gallery_write_s,
        exact_load_s,
        exact_p50_ms: percentile(&exact_times, 0.5),
        exact_p99_ms: percentile(&exact_times, 0.99),
        index_build_s,
        indexed_startup_s,
        raw_embeddings_mib: mib(raw),
        matcher_mib: mib(matcher_bytes),
        index_mib: mib(index_bytes),
        memory_ratio: (matcher_bytes + index_bytes) / raw,
        index_file_mib: mib(std::fs::metadata(index_config.file(&path))?.len() as f64),
        searches,
        enrolment_to_match_s,
        stranger_best: strangers,
    })
}

/// Writes `size` identities: the real people, then synthetic ones, in chunks (one
/// transaction each).
fn write_gallery(path: &Path, plan: &GalleryBenchPlan, draw: &Gaussian, size: usize) -> anyhow::Result<()> {
    let mut gallery = Gallery::create(path)?;
    let identity = |name: String, embedding: Vec<f32>| ExportedIdentity {
        name,
        watchlist: crate::gallery::DEFAULT_WATCHLIST.to_string(),
        templates: vec![ExportedEmbedding {
            source: "bench".into(),
            embedding,
        }],
        negatives: Vec::new(),
    };
    let real: Vec<ExportedIdentity> = plan
        .people
        .iter()
        .map(|p| identity(p.name.clone(), p.template.clone()))
        .collect();
    gallery.replace_identities(&real, &plan.space)?;
    let mut rng = StdRng::seed_from_u64(size as u64);
    let mut next = 0;
    let synthetic = size.saturating_sub(real.len());
    while next < synthetic {
        let chunk: Vec<ExportedIdentity> = (next..(next + 20_000).min(synthetic))
            .map(|i| identity(format!("synthetic-{i}"), draw.sample(&mut rng)))
            .collect();
        next += chunk.len();
        gallery.replace_identities(&chunk, &plan.space)?;
    }
    Ok(())
}

/// Enrols the late arrival and waits for the watch to deliver a matcher naming them.
fn enrolment_latency(path: &Path, late: &(Vec<f32>, Vec<f32>), watch: &mut GalleryWatch) -> anyhow::Result<f64> {
    let mut gallery = Gallery::open(path)?;
    let space = gallery.embedding_space()?.unwrap_or_default();
    let started = Instant::now();
    gallery.add_template("late-arrival", "bench", &space, &late.0)?;
    while started.elapsed() < Duration::from_secs(120) {
        if let Some(matcher) = watch.wait(Duration::from_millis(200))
            && matcher?.best(&late.1).is_some_and(|m| m.identity == "late-arrival")
        {
            return Ok(started.elapsed().as_secs_f64());
        }
    }
    anyhow::bail!("the enrolment did not reach the matcher within 120 s")
}

/// The best score of each probe against everyone but itself, by percentile.
fn stranger_best(matcher: &Matcher, real_probes: &[(&str, &[f32])], unmated: &[Vec<f32>]) -> StrangerScores {
    let real: Vec<f64> = real_probes
        .iter()
        .filter_map(|(name, probe)| matcher.ranked(probe, 2).into_iter().find(|m| m.identity != *name))
        .map(|m| m.similarity as f64)
        .collect();
    let synthetic: Vec<f64> = unmated
        .iter()
        .filter_map(|probe| matcher.best(probe))
        .map(|m| m.similarity as f64)
        .collect();
    StrangerScores {
        real_p90: percentile(&real, 0.9),
        real_p99: percentile(&real, 0.99),
        synthetic_p90: percentile(&synthetic, 0.9),
        synthetic_p99: percentile(&synthetic, 0.99),
    }
}

/// Each probe's best match and the milliseconds each took, one thread.
fn best_of_each(matcher: &Matcher, probes: &[&[f32]]) -> (Vec<Option<Match>>, Vec<f64>) {
    probes
        .iter()
        .map(|probe| {
            let started = Instant::now();
            let best = matcher.best(probe);
            (best, started.elapsed().as_secs_f64() * 1000.0)
        })
        .unzip()
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
        .get(((sorted.len().max(1) - 1) as f64 * p).round() as usize)
        .copied()
        .unwrap_or(0.0)
}

/// The cosines between probes and templates, over the pairs `keep` accepts.
fn impostor_scores<'a>(
    probes: impl Iterator<Item = &'a [f32]>,
    templates: &[Vec<f32>],
    keep: impl Fn((usize, usize)) -> bool,
) -> Vec<f32> {
    let mut scores = Vec::new();
    for (i, probe) in probes.enumerate() {
        for (j, template) in templates.iter().enumerate() {
            if keep((i, j)) {
                scores.push(crate::gallery::dot(probe, template));
            }
        }
    }
    scores
}

/// The real people's probes against the other real people's templates.
fn real_impostors(people: &[RealPerson]) -> Vec<f32> {
    let owners: Vec<usize> = people
        .iter()
        .enumerate()
        .flat_map(|(i, p)| std::iter::repeat_n(i, p.probes.len()))
        .collect();
    let templates: Vec<Vec<f32>> = people.iter().map(|p| p.template.clone()).collect();
    impostor_scores(
        people.iter().flat_map(|p| p.probes.iter().map(Vec::as_slice)),
        &templates,
        |(probe, template)| owners[probe] != template,
    )
}

/// A Gaussian fitted to embeddings (mean, covariance shrunk a little toward its diagonal so
/// a few hundred samples give a usable 128×128 estimate), sampled and L2-normalised.
struct Gaussian {
    mean: Vec<f64>,
    /// Lower-triangular Cholesky factor of the covariance, row-major.
    factor: Vec<f64>,
}

impl Gaussian {
    fn fit(samples: &[Vec<f32>]) -> anyhow::Result<Gaussian> {
        let dim = samples[0].len();
        anyhow::ensure!(
            samples.len() > dim,
            "{} embeddings cannot fit a {dim}-dimensional Gaussian; give more photos",
            samples.len()
        );
        let n = samples.len() as f64;
        let mut mean = vec![0.0; dim];
        for s in samples {
            for (m, &x) in mean.iter_mut().zip(s) {
                *m += x as f64 / n;
            }
        }
        let mut cov = vec![0.0; dim * dim];
        for s in samples {
            for i in 0..dim {
                let di = s[i] as f64 - mean[i];
                for j in 0..=i {
                    cov[i * dim + j] += di * (s[j] as f64 - mean[j]) / (n - 1.0);
                }
            }
        }
        const SHRINK: f64 = 0.1;
        for i in 0..dim {
            for j in 0..i {
                cov[i * dim + j] *= 1.0 - SHRINK;
            }
        }
        Ok(Gaussian {
            factor: cholesky(&cov, dim)?,
            mean,
        })
    }

    fn dim(&self) -> usize {
        self.mean.len()
    }

    fn sample(&self, rng: &mut StdRng) -> Vec<f32> {
        let dim = self.dim();
        let z: Vec<f64> = (0..dim).map(|_| normal(rng)).collect();
        let mut v: Vec<f32> = (0..dim)
            .map(|i| {
                let row = &self.factor[i * dim..i * dim + i + 1];
                (self.mean[i] + row.iter().zip(&z).map(|(l, z)| l * z).sum::<f64>()) as f32
            })
            .collect();
        l2_normalize(&mut v);
        v
    }
}

/// Cholesky factor of a symmetric positive-definite matrix given by its lower triangle.
fn cholesky(a: &[f64], dim: usize) -> anyhow::Result<Vec<f64>> {
    let mut l = vec![0.0; dim * dim];
    for i in 0..dim {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| l[i * dim + k] * l[j * dim + k]).sum();
            if i == j {
                let d = a[i * dim + i] - sum;
                anyhow::ensure!(d > 0.0, "the embeddings' covariance is not positive definite");
                l[i * dim + j] = d.sqrt();
            } else {
                l[i * dim + j] = (a[i * dim + j] - sum) / l[j * dim + j];
            }
        }
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_follow_the_fitted_covariance() {
        // Two correlated dimensions and one independent: the sample keeps the correlation.
        let mut rng = StdRng::seed_from_u64(1);
        let fit: Vec<Vec<f32>> = (0..2000)
            .map(|_| {
                let a = normal(&mut rng) as f32;
                let b = normal(&mut rng) as f32;
                let c = normal(&mut rng) as f32;
                vec![1.0 + a, 1.0 + a + 0.1 * b, c]
            })
            .collect();
        let draw = Gaussian::fit(&fit).unwrap();
        let samples: Vec<Vec<f32>> = (0..2000).map(|_| draw.sample(&mut rng)).collect();
        let corr = |i: usize, j: usize| {
            let n = samples.len() as f64;
            let m = |k: usize| samples.iter().map(|s| s[k] as f64).sum::<f64>() / n;
            let (mi, mj) = (m(i), m(j));
            let cov = samples
                .iter()
                .map(|s| (s[i] as f64 - mi) * (s[j] as f64 - mj))
                .sum::<f64>();
            let var = |k: usize, mk: f64| samples.iter().map(|s| (s[k] as f64 - mk).powi(2)).sum::<f64>();
            cov / (var(i, mi) * var(j, mj)).sqrt()
        };
        // Shrinkage and the L2 normalisation weaken the correlation, but keep it far from 0.
        assert!(corr(0, 1) > 0.5, "correlated dimensions: {}", corr(0, 1));
        assert!(corr(0, 2).abs() < 0.2, "independent dimensions: {}", corr(0, 2));
    }

    #[test]
    fn cholesky_reproduces_the_matrix() {
        let a = [4.0, 0.0, 2.0, 3.0];
        let l = cholesky(&a, 2).unwrap();
        assert!((l[0] * l[0] - 4.0).abs() < 1e-12);
        assert!((l[2] * l[0] - 2.0).abs() < 1e-12);
        assert!((l[2] * l[2] + l[3] * l[3] - 3.0).abs() < 1e-12);
        assert!(cholesky(&[-1.0], 1).is_err());
    }
}
