//! One evaluation run: every set, recognizer, gallery strategy, face width and alignment on
//! the same probes.

use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::EvalError;
use super::config::{ALIGNMENTS, Alignment, Enrolment, EvalConfig, GalleryKind};
use super::metrics::{self, ProbeScores};
use super::probes::{Composer, Placed, SLOTS, locate};
use super::report::{EvalReport, Row, SetSummary};
use super::video::evaluate_video;
use crate::alert::WeightedTemplate;
use crate::align::{Refiner, align_face};
use crate::detect::assess;
use crate::detect::{DetectConfig, Detector};
use crate::distill::dataset::embed_in_batches;
use crate::distill::degrade::probe as degraded_template;
use crate::faces::{LabelledSet, SharpFace, distractor_photos, find_face};
use crate::gallery::Matcher;
use crate::image::BgrImage;
use crate::model::ModelCard;
use crate::recognize::Recognizer;
use crate::types::{Detection, Landmarks};

/// The gallery identities' templates: one sharp template each, and the degraded ones a
/// multi-res gallery adds.
struct Enrolled {
    names: Vec<String>,
    single: Vec<Vec<f32>>,
    /// Degraded templates per identity (multi-res only).
    degraded: Vec<Vec<Vec<f32>>>,
}

impl Enrolled {
    fn matcher(&self, kind: GalleryKind, dim: usize) -> Matcher {
        let mut matcher = Matcher::new(dim);
        for (i, name) in self.names.iter().enumerate() {
            matcher.add(name, &self.single[i]);
            if kind == GalleryKind::MultiRes {
                for template in &self.degraded[i] {
                    matcher.add(name, template);
                }
            }
        }
        matcher
    }

    fn extend(&mut self, other: &Enrolled) {
        self.names.extend(other.names.iter().cloned());
        self.single.extend(other.single.iter().cloned());
        self.degraded.extend(other.degraded.iter().cloned());
    }
}

struct Models {
    enroll: Recognizer,
    recognizers: Vec<Recognizer>,
    finder: Detector,
    detector: Detector,
    refiner: Option<Refiner>,
}

fn load_models(config: &EvalConfig) -> Result<Models, EvalError> {
    let ort = config.ort_library.as_deref();
    let enroll = Recognizer::load(&ModelCard::load(&config.enroll_with)?, ort, config.threads)?;
    let mut recognizers = Vec::new();
    for path in &config.recognizers {
        let recognizer = Recognizer::load(&ModelCard::load(path)?, ort, config.threads)?;
        if recognizer.embedding_space() != enroll.embedding_space() {
            return Err(EvalError::Invalid(format!(
                "recognizer {} embeds into space `{}`, but the gallery is enrolled with {} in space `{}`; \
                 give a model of that space (a student distilled from it) or change --enroll-with",
                path.display(),
                recognizer.embedding_space(),
                config.enroll_with.display(),
                enroll.embedding_space()
            )));
        }
        recognizers.push(recognizer);
    }
    let detector_card = ModelCard::load(&config.detector)?;
    // Sharp photos are found with the default settings; probes with the configured ones.
    let finder = Detector::load(&detector_card, ort, &DetectConfig::default())?;
    let detector = Detector::load(&detector_card, ort, &config.detect)?;
    let refiner = match &config.align.refiner {
        Some(card) => Some(Refiner::load(&ModelCard::load(card)?, ort)?),
        None => None,
    };
    Ok(Models {
        enroll,
        recognizers,
        finder,
        detector,
        refiner,
    })
}

pub fn evaluate(config: &EvalConfig) -> Result<EvalReport, EvalError> {
    validate(config)?;
    let started = Instant::now();
    let mut models = load_models(config)?;
    let backgrounds = match &config.background {
        Some(video) => crate::bench::detect::sample_frames(video, 10, 25).map_err(|e| EvalError::Data {
            path: video.clone(),
            message: format!("cannot read background frames: {e}"),
        })?,
        None => Vec::new(),
    };
    let mut report = EvalReport::new(config, &models.recognizers);
    report.refiner = models
        .refiner
        .as_ref()
        .map(|r| format!("{} below {} px", r.model_id(), config.align.refine_below_px));
    // Distractors only matter to labelled sets; a video-only run skips finding their faces.
    let (fillers, strangers) = if config.sets.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        load_distractors(config, &mut models)?
    };
    let named: Vec<(&str, &SharpFace)> = fillers.iter().map(|(name, face)| (name.as_str(), face)).collect();
    let filler_gallery = enrol(config, &mut models.enroll, &named)?;
    for root in &config.sets {
        let set = LabelledSet::load(root)?;
        let mut run = SetRun::prepare(config, &set, &mut models, &strangers, &filler_gallery)?;
        let composer = Composer::new(backgrounds.clone(), config.degradation, config.seed)?;
        run.embed_probes(config, &mut models, composer)?;
        report.rows.extend(run.rows(config, &models));
        report.sets.push(run.summary(fillers.len()));
    }
    for video in &config.videos {
        let rows = evaluate_video(video, &mut models.detector, &mut models.recognizers, config.progress)?;
        report.video.extend(rows);
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn validate(config: &EvalConfig) -> Result<(), EvalError> {
    let invalid = |m: &str| Err(EvalError::Invalid(m.into()));
    if config.sets.is_empty() && config.videos.is_empty() {
        return invalid("give at least one --set FOLDER (one sub-folder per identity) or --video FILE");
    }
    if config.recognizers.is_empty() {
        return invalid("give at least one --recognizer CARD");
    }
    if config.galleries.is_empty() {
        return invalid("give at least one --gallery (single, multi-res)");
    }
    if config.sizes.is_empty() || config.sizes.iter().any(|&s| !(4..=400).contains(&s)) {
        return invalid("--sizes must list face widths between 4 and 400 px");
    }
    if config.frames.is_empty() || config.frames.iter().any(|&n| !(1..=100).contains(&n)) {
        return invalid("--frames must list track lengths between 1 and 100 frames");
    }
    let multi = config.galleries.contains(&GalleryKind::MultiRes);
    if multi && (config.multi_res_widths.is_empty() || config.multi_res_widths.iter().any(|&w| !(4..=400).contains(&w)))
    {
        return invalid("--gallery multi-res needs --multi-res widths between 4 and 400 px");
    }
    for path in config.sets.iter().chain(&config.distractors) {
        if !path.is_dir() {
            return Err(EvalError::Data {
                path: path.clone(),
                message: "not a folder (run scripts/setup.sh --faces for the registry face sets)".into(),
            });
        }
    }
    Ok(())
}

/// A progress bar with elapsed and remaining time (hidden when `visible` is false).
pub fn progress(visible: bool, len: usize, what: &str) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64).with_message(what.to_string());
    if let Ok(style) = ProgressStyle::with_template("{msg:24} [{bar:30}] {pos}/{len} ({elapsed}, {eta} left)") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Photos in which the detector found no face.
type Missed = Vec<PathBuf>;

/// Gallery fillers (a name each) and strangers.
type Distractors = (Vec<(String, SharpFace)>, Vec<SharpFace>);

/// The faces of `photos` that the detector finds, in order, each with its index in
/// `photos`; and the photos it missed.
fn find_faces(
    config: &EvalConfig,
    finder: &mut Detector,
    photos: &[PathBuf],
    what: &str,
) -> Result<(Vec<(usize, SharpFace)>, Missed), EvalError> {
    let bar = progress(config.progress, photos.len(), what);
    let (mut found, mut missed) = (Vec::new(), Vec::new());
    for (i, path) in photos.iter().enumerate() {
        match find_face(finder, path, config.grey)? {
            Some(face) => found.push((i, face)),
            None => missed.push(path.clone()),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok((found, missed))
}

/// Distractor faces, alternately a gallery filler (another enrolled person, which makes
/// ranking harder) and a stranger (a probe of someone not enrolled, for open-set numbers).
fn load_distractors(config: &EvalConfig, models: &mut Models) -> Result<Distractors, EvalError> {
    let mut photos = Vec::new();
    for root in &config.distractors {
        photos.extend(distractor_photos(root)?);
    }
    let (faces, missed) = find_faces(config, &mut models.finder, &photos, "distractor photos")?;
    if !missed.is_empty() {
        tracing::info!(
            missed = missed.len(),
            "distractor photos without a detected face were skipped"
        );
    }
    let (mut fillers, mut strangers) = (Vec::new(), Vec::new());
    for (n, (i, face)) in faces.into_iter().enumerate() {
        if n % 2 == 0 {
            fillers.push((format!("distractor:{}", photos[i].display()), face));
        } else {
            strangers.push(face);
        }
    }
    Ok((fillers, strangers))
}

/// Templates of each named face for both gallery strategies.
fn enrol(config: &EvalConfig, enroll: &mut Recognizer, faces: &[(&str, &SharpFace)]) -> Result<Enrolled, EvalError> {
    let size = enroll.input_size();
    let mut enrolled = Enrolled {
        names: Vec::new(),
        single: Vec::new(),
        degraded: Vec::new(),
    };
    let multi = config.galleries.contains(&GalleryKind::MultiRes);
    let bar = progress(config.progress, faces.len(), "enrolling");
    for (name, face) in faces {
        let crop = align_face(&face.image, &face.detection.landmarks, size)?;
        let mut templates = if multi {
            let mut crops = vec![crop];
            for &width in &config.multi_res_widths {
                crops.push(degraded_template(&crops[0], width, size)?);
            }
            enroll.embed(&crops.iter().collect::<Vec<_>>())?
        } else {
            enroll.embed(&[&crop])?
        };
        enrolled.degraded.push(templates.split_off(1));
        enrolled.single.append(&mut templates);
        enrolled.names.push(name.to_string());
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(enrolled)
}

/// The enrolment model's embeddings of sharp faces, in order.
fn embed_sharp<'f>(
    enroll: &mut Recognizer,
    faces: impl Iterator<Item = &'f SharpFace>,
) -> Result<Vec<Vec<f32>>, EvalError> {
    let size = enroll.input_size();
    let crops = faces
        .map(|f| align_face(&f.image, &f.detection.landmarks, size))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(embed_in_batches(enroll, &crops.iter().collect::<Vec<_>>())?)
}

/// One embedding of a probe and the weight the pipeline's evidence rule gives it.
pub(super) type Weighted = (f32, Vec<f32>);

/// Embeddings of every probe for one recognizer, alignment and size, one per frame the probe
/// was embedded in, with that frame's number in the probe's track (a frame whose detector
/// missed it has none: a track of N frames fuses only what its first N frames saw).
pub(super) type Embeddings = Vec<Vec<(usize, Weighted)>>;

struct SetRun<'a> {
    name: String,
    identities: usize,
    photos_without_face: Vec<PathBuf>,
    identities_without_face: usize,
    /// One gallery per enrolment round (one round when the first photo is enrolled).
    rounds: Vec<Round>,
    /// Mated probes: the person's index in every round's gallery, the face, and the
    /// enrolment model's embedding of the sharp photo.
    mated: Vec<(usize, SharpFace, Vec<f32>)>,
    /// Faces of people not enrolled; probes after the mated ones.
    strangers: &'a [SharpFace],
    /// `[recognizer][alignment][size]` → one embedding per probe.
    embeddings: Vec<[Vec<Embeddings>; 2]>,
    /// `[size][probe]` → per frame, whether the detector found the probe and the mean
    /// distance (frame px) of its detected landmarks from the oracle ones: the alignment
    /// jitter a recognizer must tolerate at that face width.
    located: Vec<Vec<Vec<Option<f64>>>>,
}

/// One enrolment: a gallery (the set's people in set order, then the fillers) and the mated
/// probes that are measured against it (every photo but the enrolled one).
struct Round {
    gallery: Enrolled,
    probes: Vec<usize>,
}

/// Per person, the indices of their faces in the set's face list.
pub(super) type FacesByPerson = Vec<Vec<usize>>;

impl<'a> SetRun<'a> {
    fn prepare(
        config: &EvalConfig,
        set: &LabelledSet,
        models: &mut Models,
        strangers: &'a [SharpFace],
        fillers: &Enrolled,
    ) -> Result<SetRun<'a>, EvalError> {
        // One pass over every photo of the set; each remembers its identity.
        let (photos, owners): (Vec<PathBuf>, Vec<usize>) = set
            .identities
            .iter()
            .enumerate()
            .flat_map(|(n, identity)| identity.photos.iter().map(move |p| (p.clone(), n)))
            .unzip();
        let (found, photos_without_face) =
            find_faces(config, &mut models.finder, &photos, &format!("{} photos", set.name))?;
        let mut by_identity: FacesByPerson = vec![Vec::new(); set.identities.len()];
        let mut faces = Vec::with_capacity(found.len());
        for (i, face) in found {
            by_identity[owners[i]].push(faces.len());
            faces.push(face);
        }
        let identities_without_face = by_identity.iter().filter(|f| f.is_empty()).count();
        // People without a face are not in the gallery: index the rest densely.
        let (names, people): (Vec<String>, FacesByPerson) = set
            .identities
            .iter()
            .zip(by_identity)
            .filter(|(_, faces)| !faces.is_empty())
            .map(|(identity, faces)| (identity.name.clone(), faces))
            .unzip();
        if people.is_empty() {
            return Err(EvalError::Data {
                path: set.root.clone(),
                message: "the detector found no face in any photo of this set".into(),
            });
        }
        if people.iter().all(|f| f.len() < 2) {
            return Err(EvalError::Data {
                path: set.root.clone(),
                message: "no identity has a second photo with a face: nothing to probe with".into(),
            });
        }
        let (probe_faces, plans) = plan_rounds(config.enrolment, &people);
        let mut rounds = Vec::with_capacity(plans.len());
        for (enrolled, probes) in plans {
            let named: Vec<(&str, &SharpFace)> = enrolled
                .iter()
                .zip(&names)
                .map(|(&face, name)| (name.as_str(), &faces[face]))
                .collect();
            let mut gallery = enrol(config, &mut models.enroll, &named)?;
            gallery.extend(fillers);
            rounds.push(Round { gallery, probes });
        }
        let sharp = embed_sharp(&mut models.enroll, probe_faces.iter().map(|&(_, f)| &faces[f]))?;
        // Each face probes once: move it out of the set's list.
        let mut faces: Vec<Option<SharpFace>> = faces.into_iter().map(Some).collect();
        let mated = probe_faces
            .into_iter()
            .zip(sharp)
            .filter_map(|((person, face), sharp)| faces[face].take().map(|face| (person, face, sharp)))
            .collect();
        Ok(SetRun {
            name: set.name.clone(),
            identities: set.identities.len(),
            photos_without_face,
            identities_without_face,
            rounds,
            mated,
            strangers,
            embeddings: Vec::new(),
            located: Vec::new(),
        })
    }

    fn probes(&self) -> usize {
        self.mated.len() + self.strangers.len()
    }

    /// The face of probe `i` (mated probes first, then strangers).
    fn probe_face(&self, i: usize) -> &SharpFace {
        match self.mated.get(i) {
            Some((_, face, _)) => face,
            None => &self.strangers[i - self.mated.len()],
        }
    }

    /// Shrinks, pastes, detects, aligns and embeds every probe at every size, for every
    /// recognizer: the same frames for all of them.
    fn embed_probes(
        &mut self,
        config: &EvalConfig,
        models: &mut Models,
        mut composer: Composer,
    ) -> Result<(), EvalError> {
        let n = self.probes();
        let empty = || vec![vec![Vec::new(); n]; config.sizes.len()];
        self.embeddings = models.recognizers.iter().map(|_| [empty(), empty()]).collect();
        self.located = vec![vec![Vec::new(); n]; config.sizes.len()];
        let frames = config.frames.iter().copied().max().unwrap_or(1);
        if let Some(dir) = &config.dump_stranger_crops {
            std::fs::create_dir_all(dir).map_err(|source| EvalError::Io {
                path: dir.clone(),
                source,
            })?;
        }
        let chunks = n.div_ceil(SLOTS);
        let bar = progress(
            config.progress,
            chunks * config.sizes.len() * frames,
            &format!("{} probes", self.name),
        );
        let mut frame_index = 0;
        for (s, &px) in config.sizes.iter().enumerate() {
            // Frame by frame rather than probe by probe, so the first frame of every probe
            // is composed exactly as a single-frame run composes it.
            for start in (0..n).step_by(SLOTS).cycle().take(chunks * frames) {
                let indices: Vec<usize> = (start..(start + SLOTS).min(n)).collect();
                let faces: Vec<&SharpFace> = indices.iter().map(|&i| self.probe_face(i)).collect();
                let (frame, placed) = composer.compose(&faces, px, frame_index)?;
                frame_index += 1;
                let first_frame = self.located[s][start].is_empty();
                if let Some(dir) = config.dump_frames.as_ref().filter(|_| start == 0 && first_frame) {
                    dump(&frame, &dir.join(format!("{}-{px}px.png", self.name)))?;
                }
                let detections = models.detector.detect(&frame)?;
                let mut found: Vec<_> = placed.iter().map(|p| locate(&detections, &p.truth).cloned()).collect();
                if let Some(refiner) = models.refiner.as_mut() {
                    refiner.refine_small(&frame, found.iter_mut().flatten(), config.align.refine_below_px)?;
                }
                if let Some(dir) = config.dump_stranger_crops.as_ref().filter(|_| first_frame) {
                    self.dump_strangers(dir, &frame, &found, &indices, px)?;
                }
                // This frame's number in each probe's track.
                let seen = self.located[s][start].len();
                for (k, &i) in indices.iter().enumerate() {
                    let error = found[k]
                        .as_ref()
                        .map(|d| landmark_distance(&d.landmarks, &placed[k].oracle));
                    self.located[s][i].push(error);
                }
                for (r, recognizer) in models.recognizers.iter_mut().enumerate() {
                    for (a, embedded) in embed_frame(recognizer, &frame, &found, &placed)?
                        .into_iter()
                        .enumerate()
                    {
                        for (k, weighted) in embedded {
                            self.embeddings[r][a][s][indices[k]].push((seen, weighted));
                        }
                    }
                }
                bar.inc(1);
            }
        }
        bar.finish_and_clear();
        Ok(())
    }

    /// `<dir>/<set>-<px>px-<probe>.png` for every stranger of the frame the detector found.
    fn dump_strangers(
        &self,
        dir: &std::path::Path,
        frame: &BgrImage,
        found: &[Option<Detection>],
        indices: &[usize],
        px: u32,
    ) -> Result<(), EvalError> {
        for (detection, &i) in found.iter().zip(indices) {
            if let Some(d) = detection.as_ref().filter(|_| i >= self.mated.len()) {
                let path = dir.join(format!("{}-{px}px-{i:05}.png", self.name));
                align_face(frame, &d.landmarks, 112)?
                    .save(&path)
                    .map_err(|e| EvalError::Data {
                        path: path.clone(),
                        message: format!("cannot write the crop: {e}"),
                    })?;
            }
        }
        Ok(())
    }

    fn rows(&self, config: &EvalConfig, models: &Models) -> Vec<Row> {
        let mut rows = Vec::new();
        let dim = models.enroll.embedding_size();
        let first = models.recognizers.first().map(|r| r.model_id().to_string());
        for &kind in &config.galleries {
            let matchers: Vec<Matcher> = self.rounds.iter().map(|r| r.gallery.matcher(kind, dim)).collect();
            for (s, &px) in config.sizes.iter().enumerate() {
                for &frames in &config.frames {
                    for (a, &alignment) in ALIGNMENTS.iter().enumerate() {
                        // Every recognizer on the same probes, so the bootstrap can pair them.
                        let fused: Vec<Vec<Option<Vec<f32>>>> = (0..models.recognizers.len())
                            .map(|r| fuse_tracks(&self.embeddings[r][a][s], frames))
                            .collect();
                        let scores: Vec<Vec<ProbeScores>> = fused.iter().map(|f| self.scores(&matchers, f)).collect();
                        let views: Vec<&[ProbeScores]> = scores.iter().map(Vec::as_slice).collect();
                        let spreads = metrics::bootstrap_by_person(&views, config.bootstrap, config.seed);
                        for (r, (recognizer, spread)) in models.recognizers.iter().zip(spreads).enumerate() {
                            let key = RowKey {
                                recognizer: recognizer.model_id(),
                                versus: first.as_deref().filter(|_| r > 0),
                                gallery: kind,
                                alignment,
                                px,
                                frames,
                                resamples: config.bootstrap,
                                seed: config.seed,
                            };
                            rows.push(self.row(&scores[r], spread, &fused[r], s, key));
                        }
                    }
                }
            }
        }
        rows
    }

    /// Every round's mated probes against that round's gallery, then the strangers against
    /// each round's gallery (so strangers keep their share of the probes).
    fn scores(&self, matchers: &[Matcher], fused: &[Option<Vec<f32>>]) -> Vec<ProbeScores> {
        let score = |matcher: &Matcher, i: usize, truth: Option<usize>| match fused[i]
            .as_deref()
            .and_then(|e| matcher.scores(e))
        {
            Some(scores) => ProbeScores { truth, scores },
            None => ProbeScores::missed(truth),
        };
        let mut scores = Vec::new();
        for (round, matcher) in self.rounds.iter().zip(matchers) {
            scores.extend(round.probes.iter().map(|&p| score(matcher, p, Some(self.mated[p].0))));
        }
        for matcher in matchers {
            scores.extend((self.mated.len()..self.probes()).map(|i| score(matcher, i, None)));
        }
        scores
    }

    fn row(
        &self,
        scores: &[ProbeScores],
        spread: metrics::Spread,
        fused: &[Option<Vec<f32>>],
        size_index: usize,
        key: RowKey<'_>,
    ) -> Row {
        let cosines: Vec<f64> = self
            .mated
            .iter()
            .zip(fused)
            .filter_map(|((_, _, sharp), e)| e.as_ref().map(|e| crate::gallery::dot(sharp, e) as f64))
            .collect();
        let mated = self.mated.len();
        let seen = |i: usize| {
            let frames = &self.located[size_index][i];
            &frames[..frames.len().min(key.frames)]
        };
        let detected = (0..mated).filter(|&i| seen(i).iter().any(Option::is_some)).count();
        let errors: Vec<f64> = (0..mated).flat_map(|i| seen(i).iter().flatten().copied()).collect();
        Row {
            set: self.name.clone(),
            recognizer: key.recognizer.to_string(),
            gallery: key.gallery,
            alignment: key.alignment,
            px: key.px,
            frames: key.frames,
            mated_probes: scores.iter().filter(|p| p.truth.is_some()).count(),
            strangers: self.strangers.len(),
            detection_rate: detected as f64 / mated.max(1) as f64,
            rank1: metrics::rank1(scores),
            tar_far_1e2: metrics::tar_at_far(scores, 1e-2),
            tar_far_1e3: metrics::tar_at_far(scores, 1e-3),
            dir_far_1e2: metrics::dir_at_far(scores, 1e-2),
            mean_cosine_to_sharp: mean(&cosines),
            landmark_error_px: mean(&errors),
            landmark_error_ci90: metrics::mean_interval(&errors, key.resamples, key.seed),
            versus: key.versus.map(str::to_string),
            spread,
        }
    }

    fn summary(&self, fillers: usize) -> SetSummary {
        SetSummary {
            name: self.name.clone(),
            identities: self.identities,
            gallery_identities: self.rounds.first().map_or(0, |r| r.gallery.names.len()),
            distractors_in_gallery: fillers,
            enrolment_rounds: self.rounds.len(),
            mated_probes: self.rounds.iter().map(|r| r.probes.len()).sum(),
            probe_photos: self.mated.len(),
            strangers: self.strangers.len(),
            identities_without_face: self.identities_without_face,
            photos_without_face: self.photos_without_face.clone(),
        }
    }
}

/// Each probe's track template over its first `frames` frames, as the pipeline fuses it.
pub(super) fn fuse_tracks(embeddings: &Embeddings, frames: usize) -> Vec<Option<Vec<f32>>> {
    embeddings
        .iter()
        .map(|seen| {
            let first: Vec<&Weighted> = seen.iter().filter(|(n, _)| *n < frames).map(|(_, w)| w).collect();
            fuse(&first)
        })
        .collect()
}

/// Mated probes `(person, face)` and, per enrolment round, the face enrolled for each person
/// and the probes (indices into the first list) measured against that gallery.
pub(super) type RoundPlans = (Vec<(usize, usize)>, Vec<(Vec<usize>, Vec<usize>)>);

/// Who is enrolled with which photo in each round, and who probes. `people[p]` lists person
/// p's faces; a person with one face is enrolled in every round and never probes.
pub(super) fn plan_rounds(enrolment: Enrolment, people: &FacesByPerson) -> RoundPlans {
    let mut probe_faces = Vec::new();
    match enrolment {
        Enrolment::First => {
            for (person, faces) in people.iter().enumerate() {
                probe_faces.extend(faces[1..].iter().map(|&f| (person, f)));
            }
            let enrolled = people.iter().map(|faces| faces[0]).collect();
            let probes = (0..probe_faces.len()).collect();
            (probe_faces, vec![(enrolled, probes)])
        }
        Enrolment::Each => {
            for (person, faces) in people.iter().enumerate().filter(|(_, f)| f.len() > 1) {
                probe_faces.extend(faces.iter().map(|&f| (person, f)));
            }
            let rounds = people.iter().map(Vec::len).max().unwrap_or(0);
            let plans = (0..rounds)
                .map(|round| {
                    let enrolled: Vec<usize> = people.iter().map(|faces| faces[round % faces.len()]).collect();
                    // Each ordered pair once: a person takes part in the rounds of their own photos.
                    let probes = (0..probe_faces.len())
                        .filter(|&i| {
                            let (person, face) = probe_faces[i];
                            round < people[person].len() && face != enrolled[person]
                        })
                        .collect();
                    (enrolled, probes)
                })
                .collect();
            (probe_faces, plans)
        }
    }
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Mean distance between corresponding points of two landmark sets, in pixels.
pub fn landmark_distance(a: &Landmarks, b: &Landmarks) -> f64 {
    let total: f64 = a
        .iter()
        .zip(b)
        .map(|(p, q)| ((p.0 - q.0) as f64).hypot((p.1 - q.1) as f64))
        .sum();
    total / a.len() as f64
}

/// Weighted embeddings by the probe's slot in its frame.
type Slotted = Vec<(usize, Weighted)>;

/// One frame's probes embedded by one recognizer, per alignment (detected, oracle): the slot of
/// each embedded probe and its embedding with the weight the pipeline's evidence rule gives it
/// (the detected face's quality; oracle crops count alike). Probes the detector missed have no
/// detected crop.
fn embed_frame(
    recognizer: &mut Recognizer,
    frame: &BgrImage,
    found: &[Option<Detection>],
    placed: &[Placed],
) -> Result<[Slotted; 2], EvalError> {
    let size = recognizer.input_size();
    let detected = found
        .iter()
        .enumerate()
        .filter_map(|(k, d)| d.as_ref().map(|d| (k, &d.landmarks, assess(frame, d).weight())));
    let oracle = placed.iter().enumerate().map(|(k, p)| (k, &p.oracle, 1.0));
    let mut embed = |landmarks: Vec<(usize, &Landmarks, f32)>| -> Result<Slotted, EvalError> {
        let crops = landmarks
            .iter()
            .map(|(_, l, _)| align_face(frame, l, size))
            .collect::<Result<Vec<_>, _>>()?;
        let embeddings = recognizer.embed(&crops.iter().collect::<Vec<_>>())?;
        Ok(landmarks
            .into_iter()
            .zip(embeddings)
            .map(|((k, _, weight), e)| (k, (weight, e)))
            .collect())
    };
    Ok([embed(detected.collect())?, embed(oracle.collect())?])
}

fn dump(frame: &BgrImage, path: &std::path::Path) -> Result<(), EvalError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| EvalError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    frame.save(path).map_err(|e| EvalError::Data {
        path: path.to_path_buf(),
        message: format!("cannot write the frame: {e}"),
    })
}

struct RowKey<'a> {
    recognizer: &'a str,
    /// The recognizer the paired differences are taken against (the first one given).
    versus: Option<&'a str>,
    gallery: GalleryKind,
    alignment: Alignment,
    px: u32,
    frames: usize,
    /// Bootstrap resamples and seed of the landmark error's interval.
    resamples: usize,
    seed: u64,
}

/// A probe track's embeddings fused by the pipeline's evidence rule; `None`: never embedded.
fn fuse(frames: &[&Weighted]) -> Option<Vec<f32>> {
    let (_, first) = frames.first()?;
    let mut template = WeightedTemplate::new(first.len());
    for (weight, embedding) in frames {
        template.add(*weight, embedding);
    }
    Some(template.template())
}
