use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};

use super::{BenchDetectPart, Cli, Command, GalleryAction, ModelArgs};
use crate::config::Config;
use crate::detect::{DetectConfig, Detector};
use crate::gallery::{Enroller, Gallery};
use crate::ingest::CameraState;
use crate::model::ModelCard;
use crate::pipeline::{Pipeline, embedded_address_file};
use crate::publish::{IdentityEvent, TailOptions, UNKNOWN, tail};
use crate::recognize::Recognizer;
use crate::scenario::{Person, ScenarioSpec};
use crate::serve::RtspServer;

pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run {
            config,
            duration,
            stats_json,
        } => run(&config, duration, stats_json.as_deref()),
        Command::Enroll {
            gallery,
            name,
            folder,
            images,
            negative,
            multi_res,
            watchlist,
            config,
            models,
        } => {
            let how = EnrolAs {
                negative,
                multi_res,
                watchlist,
            };
            let site = config.as_deref().map(super::cluster::SiteGallery::load).transpose()?;
            enroll(&gallery, name, folder, images, &how, &models, site.as_ref())
        }
        Command::Gallery {
            gallery,
            config,
            action,
        } => {
            let site = config.as_deref().map(super::cluster::SiteGallery::load).transpose()?;
            gallery_action(&gallery, action, site.as_ref())
        }
        Command::Unknowns { gallery, action } => super::unknowns::run(&gallery, action),
        Command::Cameras { config, action } => super::cluster::cameras(&config, action),
        Command::Cluster { config, action } => super::cluster::cluster(&config, action),
        Command::Scenario {
            background,
            people,
            out,
            frames,
            min_px,
            max_px,
            appearances,
            seed,
            fps,
            size,
            models,
        } => {
            let people = people
                .iter()
                .map(|p| parse_person(p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let spec = ScenarioSpec {
                background,
                people,
                out_dir: out,
                frames,
                min_face_px: min_px,
                max_face_px: max_px,
                appearances_per_person: appearances,
                seed,
                fps,
                size,
            };
            scenario(&spec, &models)
        }
        Command::ServeRtsp { file, port, path } => serve(&file, port, &path),
        Command::BenchIngest {
            url,
            seconds,
            recovery,
            cycles,
            templates,
            out,
        } => {
            let report = match (url, recovery) {
                (Some(url), _) => serde_json::to_value(crate::bench::ingest_load(&url, &templates, seconds)?)?,
                (None, Some(video)) => {
                    serde_json::to_value(crate::bench::ingest_recovery(&video, &templates, cycles)?)?
                }
                (None, None) => bail!("bench-ingest needs --url or --recovery"),
            };
            write_report(&report, out.as_deref())
        }
        Command::BenchPipeline {
            cameras,
            frames,
            work,
            realtime,
            every_face,
            python,
            reference_models,
            detect_workers,
            no_reference,
            routes,
            out,
        } => {
            let bench = crate::bench::pipeline::PipelineBench {
                cameras,
                frames,
                // The generated config sits in `work`; paths in it must not be relative to it.
                work: std::path::absolute(&work)?,
                python: python.unwrap_or_default(),
                reference_models: reference_models.unwrap_or_default(),
                repo: std::env::current_dir()?,
                realtime,
                every_face,
                detect_workers,
                no_reference,
                routes: routes
                    .into_iter()
                    .map(|(max_px, card)| Ok((max_px, std::path::absolute(card)?)))
                    .collect::<std::io::Result<_>>()?,
            };
            write_report(&bench.run()?, out.as_deref())
        }
        Command::Soak(args) => soak(&args),
        Command::BenchRecognize {
            photos,
            batches,
            threads,
            seconds,
            out,
            versus,
            refiner,
            models,
        } => {
            let card = ModelCard::load(&models.recognizer)?;
            let crops = photo_crops(&models.detector, &photos, &card)?;
            let mut report = crate::bench::recognize::run(&card, &crops, &batches, threads, seconds)?;
            if !versus.is_empty() {
                let mut cards = vec![card.clone()];
                for path in &versus {
                    cards.push(ModelCard::load(path)?);
                }
                report.versus = crate::bench::recognize::versus(&cards, &crops, &batches, threads, seconds)?;
            }
            if let Some(path) = &refiner {
                let refiner_card = ModelCard::load(path)?;
                report.refiner =
                    crate::bench::recognize::refiner_versus(&refiner_card, &card, &crops, &batches, threads, seconds)?;
            }
            write_report(&serde_json::to_value(report)?, out.as_deref())
        }
        Command::BenchTeacher {
            photos,
            batch,
            steps,
            epoch_faces,
            baseline,
            out,
            models,
        } => {
            let card = ModelCard::load(&models.recognizer)?;
            let crops = photo_crops(&models.detector, &photos, &card)?;
            let report = crate::bench::teacher::run(&card, &crops, batch, steps, epoch_faces, baseline)?;
            write_report(&serde_json::to_value(report)?, out.as_deref())
        }
        Command::BenchAlerts { config, scenes, out } => {
            let config = Config::load(&config)?;
            let report = crate::bench::alerts::run(&config, &scenes)?;
            write_report(&serde_json::to_value(report)?, out.as_deref())
        }
        Command::BenchFailover {
            config,
            video,
            workers,
            cameras,
            kills,
            work,
            out,
        } => {
            let bench = crate::bench::failover::FailoverBench {
                template: &config,
                video: &video,
                workers,
                cameras,
                kills,
                work: &work,
            };
            let report = crate::bench::failover::run(&bench)?;
            write_report(&serde_json::to_value(report)?, out.as_deref())
        }
        Command::BenchUnknowns {
            config,
            tune,
            report,
            out,
        } => {
            let config = Config::load(&config)?;
            let report = crate::bench::unknowns::run(&config, &tune, &report)?;
            write_report(&serde_json::to_value(report)?, out.as_deref())
        }
        Command::BenchDetect {
            video,
            photos,
            frames,
            moving_frames,
            moving_start,
            part,
            out,
            models,
        } => {
            let card = ModelCard::load(&models.detector)?;
            let photo_paths: Vec<PathBuf> = ["obama.jpg", "biden.jpg", "grace_hopper.jpg", "astronaut.png"]
                .iter()
                .map(|n| photos.join(n))
                .collect();
            let photo_refs: Vec<&Path> = photo_paths.iter().map(PathBuf::as_path).collect();
            let patches = crate::bench::detect::face_patches(&card, &photo_refs)?;
            let mut report = serde_json::Map::new();
            if part != BenchDetectPart::Moving {
                let sample = crate::bench::detect::sample_frames(&video, frames, 20)?;
                let cost = crate::bench::detect::cost(&card, &sample[..sample.len().min(10)], &[1, 2])?;
                report.insert("cost".into(), serde_json::to_value(cost)?);
                let recall = crate::bench::detect::recall(&card, &sample, &patches)?;
                report.insert("recall".into(), serde_json::to_value(recall)?);
            }
            if part != BenchDetectPart::Still {
                let count = moving_start + crate::bench::moving::WARM_UP + moving_frames;
                let mut background = crate::bench::detect::sample_frames(&video, count, 1)?;
                background.drain(..moving_start.min(background.len()));
                report.insert(
                    "moving".into(),
                    serde_json::to_value(crate::bench::moving::report(&card, &background, &patches)?)?,
                );
            }
            write_report(&serde_json::Value::Object(report), out.as_deref())
        }
        Command::Bench {
            video,
            frames,
            upscale,
            threads,
            out,
            models,
        } => run_bench(&video, frames, upscale, threads, out.as_deref(), &models),
        Command::Harvest(args) => super::distill::harvest(&args),
        Command::Distill(args) => super::distill::distill(&args),
        Command::Adapt(args) => super::distill::adapt(&args),
        Command::Blend(args) => super::distill::blend(&args),
        Command::Eval(args) => super::eval::eval(&args),
        Command::SynthFaces(args) => super::eval::synth_faces(&args),
        Command::MorphFaces(args) => super::eval::morph_faces(&args),
        Command::FacePairs(args) => super::eval::face_pairs(&args),
        Command::SplitFaces(args) => super::eval::split_faces(&args),
        Command::TrainRefiner(args) => super::refiner::train_refiner_command(&args),
        Command::BenchGallery(args) => super::bench_gallery::bench_gallery(&args),
        Command::Tail {
            config,
            brokers,
            topic,
            from_beginning,
            max_events,
            idle_secs,
            timeout_secs,
            json,
        } => {
            let mut options = TailOptions {
                brokers,
                address_file: PathBuf::new(),
                topic: topic.clone().unwrap_or_else(|| "squint.identity".into()),
                properties: Default::default(),
                from_beginning,
                max_events,
                idle: Duration::from_secs_f64(idle_secs),
                timeout: Duration::from_secs_f64(timeout_secs),
            };
            if let Some(path) = config {
                let config = Config::load(&path)?;
                options.topic = topic.unwrap_or(config.kafka.topic.clone());
                options.address_file = embedded_address_file(&config);
                options.brokers = (!config.kafka.is_embedded()).then(|| config.kafka.brokers.clone());
                options.properties = config.kafka.properties.clone();
            } else if options.brokers.is_none() {
                bail!("tail needs --config or --brokers");
            }
            tail_events(&options, json)
        }
    }
}

/// Stops on the first Ctrl-C/SIGTERM; a second one exits at once.
fn install_stop_handler() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        tracing::info!("stopping: draining stages and flushing events (Ctrl-C again to abort)");
    })
    .context("installing the signal handler")?;
    Ok(stop)
}

fn run(config_path: &Path, duration: Option<f64>, stats_json: Option<&Path>) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let stop = install_stop_handler()?;
    let pipeline = Pipeline::start(&config)?;
    tracing::info!(cameras = config.cameras.len(), "pipeline running");
    pipeline.wait(&stop, duration.map(Duration::from_secs_f64), Duration::from_secs(10));
    let (stats, health) = pipeline.shutdown();
    for camera in &health {
        tracing::info!(camera = %camera.camera_id, state = ?camera.state, frames_in = camera.frames_in, dropped = camera.frames_dropped, reconnects = camera.reconnects, "camera summary");
    }
    tracing::info!(?stats, "pipeline stopped");
    if let Some(path) = stats_json {
        let json = serde_json::json!({ "stats": stats, "cameras": health });
        let text = crate::redact::redact_credentials(&serde_json::to_string_pretty(&json)?);
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    // Live cameras are retried forever; only a source that cannot work (a missing or
    // undecodable file) ends as failed, and that should fail the command too.
    let failed: Vec<String> = health
        .iter()
        .filter(|c| c.state == CameraState::Failed)
        .map(|c| format!("{}: {}", c.camera_id, c.last_error.as_deref().unwrap_or("failed")))
        .collect();
    if !failed.is_empty() {
        bail!("camera(s) failed: {}", failed.join("; "));
    }
    Ok(())
}

fn load_enroller(models: &ModelArgs, detect: &DetectConfig, threads: usize) -> anyhow::Result<Enroller> {
    let detector = Detector::load(&ModelCard::load(&models.detector)?, None, detect)?;
    let recognizer = Recognizer::load(&ModelCard::load(&models.recognizer)?, None, threads)?;
    Ok(Enroller { detector, recognizer })
}

fn run_bench(
    video: &Path,
    frames: usize,
    upscale: f32,
    threads: usize,
    out: Option<&Path>,
    models: &ModelArgs,
) -> anyhow::Result<()> {
    let detect = DetectConfig {
        upscale,
        threads,
        ..DetectConfig::default()
    };
    let Enroller {
        mut detector,
        mut recognizer,
    } = load_enroller(models, &detect, threads)?;
    let timings = crate::bench::run_stages(video, frames, &mut detector, &mut recognizer, &[1, 8, 32])?;
    let report = serde_json::json!({ "upscale": upscale, "threads": threads, "stages": timings });
    write_report(&report, out)
}

/// Prints a benchmark report as JSON, and writes it to `out` when given.
pub(super) fn write_report(report: &serde_json::Value, out: Option<&Path>) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(report)?;
    println!("{json}");
    if let Some(path) = out {
        std::fs::write(path, &json).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// (name, photo) pairs from `--name` + images, or from a folder of per-person folders.
fn enrolment_list(
    name: Option<String>,
    folder: Option<PathBuf>,
    images: Vec<PathBuf>,
) -> anyhow::Result<Vec<(String, PathBuf)>> {
    if let Some(folder) = folder {
        let mut list = Vec::new();
        let entries = std::fs::read_dir(&folder).with_context(|| format!("reading folder {}", folder.display()))?;
        for person in entries.flatten().filter(|e| e.path().is_dir()) {
            let name = person.file_name().to_string_lossy().into_owned();
            let mut photos: Vec<PathBuf> = std::fs::read_dir(person.path())?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect();
            photos.sort();
            list.extend(photos.into_iter().map(|p| (name.clone(), p)));
        }
        list.sort();
        return Ok(list);
    }
    let name = name.context("--name is required with image arguments")?;
    if images.is_empty() {
        bail!("no images given for {name}");
    }
    Ok(images.into_iter().map(|p| (name.clone(), p)).collect())
}

/// Smallest `--multi-res` width: below it a face is a few pixels of colour.
const MIN_MULTI_RES: u32 = 4;

/// `--multi-res` widths must lie between [`MIN_MULTI_RES`] and the recognizer's input side
/// (a larger "degraded" copy would be up-sampled, not degraded).
fn check_multi_res(widths: &[u32], input: u32) -> anyhow::Result<()> {
    match widths.iter().find(|&&w| !(MIN_MULTI_RES..=input).contains(&w)) {
        Some(width) => bail!(
            "--multi-res {width}: widths must be between {MIN_MULTI_RES} and {input} px (the recognizer's input), e.g. --multi-res 16,24,32"
        ),
        None => Ok(()),
    }
}

/// How `squint enroll` stores each photo.
struct EnrolAs {
    negative: bool,
    multi_res: Vec<u32>,
    watchlist: Option<String>,
}

fn enroll_one(
    enroller: &mut Enroller,
    gallery: &mut Gallery,
    name: &str,
    photo: &Path,
    how: &EnrolAs,
) -> anyhow::Result<String> {
    if how.negative {
        enroller.enroll_negative(gallery, name, photo)?;
        return Ok(format!("negative for {name} from {}", photo.display()));
    }
    let extra = enroller.enroll_multi_res(gallery, name, photo, &how.multi_res)?;
    if let Some(watchlist) = &how.watchlist {
        gallery.set_watchlist(name, watchlist)?;
    }
    Ok(format!(
        "enrolled {name} from {} (+{extra} degraded templates)",
        photo.display()
    ))
}

fn enroll(
    gallery_path: &Path,
    name: Option<String>,
    folder: Option<PathBuf>,
    images: Vec<PathBuf>,
    how: &EnrolAs,
    models: &ModelArgs,
    site: Option<&super::cluster::SiteGallery>,
) -> anyhow::Result<()> {
    let list = enrolment_list(name, folder, images)?;
    // Checked before any model loads or any photo is read: a bad name or width stores nothing.
    for (name, _) in &list {
        crate::gallery::validate_name(name)?;
    }
    let mut enroller = load_enroller(models, &DetectConfig::for_photos(), 2)?;
    check_multi_res(&how.multi_res, enroller.recognizer.input_size())?;
    // Negatives go to people already enrolled, so only a plain enrolment may create the file.
    let new_dirs = missing_ancestors(gallery_path);
    let is_new = !gallery_path.exists();
    let mut gallery = if how.negative {
        Gallery::open(gallery_path)?
    } else {
        Gallery::create(gallery_path)?
    };
    let mut failed = 0;
    let mut enrolled = std::collections::BTreeSet::new();
    // Drawn on a terminal only; logs and pipes get the plain lines.
    let progress = indicatif::ProgressBar::new(list.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} photos, {eta} left")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    for (name, photo) in &list {
        match enroll_one(&mut enroller, &mut gallery, name, photo, how) {
            Ok(done) => {
                enrolled.insert(name.clone());
                progress.suspend(|| println!("{done}"));
            }
            Err(e) => {
                failed += 1;
                progress.suspend(|| eprintln!("error: {e:#}"));
            }
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    if is_new && failed == list.len() {
        drop(gallery);
        remove_new_gallery(gallery_path, &new_dirs);
        bail!(
            "no photo could be enrolled (see errors above); no gallery was created at {}",
            gallery_path.display()
        );
    }
    println!(
        "{} of {} photos enrolled into {}",
        list.len() - failed,
        list.len(),
        gallery_path.display()
    );
    if let Some(site) = site {
        site.publish(&gallery, &enrolled.into_iter().collect::<Vec<_>>())?;
    }
    if failed > 0 {
        bail!("{failed} photo(s) could not be enrolled (see errors above); the others were stored");
    }
    Ok(())
}

/// The folders above `path` that do not exist yet, deepest first.
fn missing_ancestors(path: &Path) -> Vec<PathBuf> {
    path.ancestors()
        .skip(1)
        .filter(|dir| !dir.as_os_str().is_empty())
        .take_while(|dir| !dir.exists())
        .map(Path::to_path_buf)
        .collect()
}

/// Undoes the creation of a gallery nothing went into: the file, SQLite's side files and the
/// folders made for it (only while empty).
fn remove_new_gallery(path: &Path, new_dirs: &[PathBuf]) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(file));
    }
    for dir in new_dirs {
        let _ = std::fs::remove_dir(dir);
    }
}

fn gallery_action(
    path: &Path,
    action: GalleryAction,
    site: Option<&super::cluster::SiteGallery>,
) -> anyhow::Result<()> {
    // Only `remove` writes: listing and exporting work on galleries this user may not change.
    let mut gallery = match action {
        GalleryAction::Remove { .. } => Gallery::open(path)?,
        // An import may start a gallery, as enrolment does.
        GalleryAction::Import { .. } => Gallery::create(path)?,
        GalleryAction::List | GalleryAction::Export { .. } => Gallery::open_read_only(path)?,
    };
    match action {
        GalleryAction::List => {
            for identity in gallery.list()? {
                println!(
                    "{}\t{} template(s)\twatchlist {}",
                    identity.name, identity.templates, identity.watchlist
                );
            }
        }
        GalleryAction::Export { out } => {
            let json = serde_json::to_string_pretty(&gallery.export()?)?;
            match out {
                Some(path) => std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?,
                None => println!("{json}"),
            }
        }
        GalleryAction::Import { file, space } => {
            let request = crate::gallery::ImportRequest {
                file: &file,
                space: space.as_deref(),
                progress: true,
            };
            let report = crate::gallery::import(&mut gallery, &request)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if let Some(site) = site {
                site.publish(&gallery, &report.names)?;
            }
        }
        GalleryAction::Remove { name } => {
            if !gallery.remove(&name)? {
                bail!("no identity named {name} in {}", path.display());
            }
            println!("removed {name}");
            if let Some(site) = site {
                site.publish(&gallery, &[name])?;
            }
        }
    }
    Ok(())
}

fn parse_person(spec: &str) -> anyhow::Result<Person> {
    let (name, photo) = spec
        .split_once('=')
        .with_context(|| format!("--person {spec}: expected NAME=PHOTO"))?;
    Ok(Person {
        name: name.to_string(),
        photo: PathBuf::from(photo),
    })
}

fn scenario(spec: &ScenarioSpec, models: &ModelArgs) -> anyhow::Result<()> {
    let config = DetectConfig {
        score_threshold: 0.7,
        ..DetectConfig::default()
    };
    let mut detector = Detector::load(&ModelCard::load(&models.detector)?, None, &config)?;
    let truth = crate::scenario::generate(spec, &mut detector)?;
    println!(
        "wrote {} ({} frames at {:.1} fps, {} appearances) and truth.json to {}",
        truth.video,
        truth.frames,
        truth.fps,
        truth.appearances.len(),
        spec.out_dir.display()
    );
    Ok(())
}

fn serve(file: &Path, port: u16, path: &str) -> anyhow::Result<()> {
    let server = RtspServer::start(file, port, path)?;
    println!("serving {} at {} (Ctrl-C to stop)", file.display(), server.url());
    let stop = install_stop_handler()?;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(server);
    Ok(())
}

fn tail_events(options: &TailOptions, json: bool) -> anyhow::Result<()> {
    if json {
        // Raw lines work for any topic, alerts included.
        let count = crate::publish::tail_raw(options, |message| match message {
            Ok((_, payload)) => println!("{}", String::from_utf8_lossy(payload)),
            Err(e) => eprintln!("skipped message: {e}"),
        })?;
        eprintln!("{count} messages read");
        return Ok(());
    }
    let mut per_identity: BTreeMap<String, usize> = BTreeMap::new();
    let mut bad = 0;
    let count = tail(options, |event| match event {
        Ok(event) => {
            *per_identity.entry(event.identity.clone()).or_default() += 1;
            print_event(&event);
        }
        Err(e) => {
            bad += 1;
            eprintln!("skipped message: {e}");
        }
    })?;
    let summary: Vec<String> = per_identity.iter().map(|(k, v)| format!("{k} {v}")).collect();
    eprintln!(
        "{count} events read ({}){}",
        summary.join(", "),
        if bad > 0 {
            format!(", {bad} unreadable")
        } else {
            String::new()
        }
    );
    Ok(())
}

fn print_event(event: &IdentityEvent) {
    let similarity = event.similarity.map_or("-".to_string(), |s| format!("{s:.2}"));
    let candidate = match (&event.best_candidate, event.identity.as_str()) {
        (Some(c), UNKNOWN) => format!(" (closest: {c})"),
        _ => String::new(),
    };
    println!(
        "{:<8} track {:<16} frame {:>5}  {:<14} sim {:>5} (threshold {:.2})  face {:>3.0} px  det {:.2}{candidate}",
        event.camera_id,
        event.track_id,
        event.frame_seq,
        event.identity,
        similarity,
        event.match_threshold,
        event.face_width_px,
        event.detection_score
    );
}

/// The faces of a photo folder aligned for `card`'s recognizer (photos without one skipped).
fn photo_crops(detector: &Path, photos: &Path, card: &ModelCard) -> anyhow::Result<Vec<crate::image::BgrImage>> {
    let mut detector = Detector::load(&ModelCard::load(detector)?, None, &DetectConfig::default())?;
    let size = card.input_size.map_or(112, |[w, _]| w);
    let mut crops = Vec::new();
    for entry in std::fs::read_dir(photos).with_context(|| format!("reading {}", photos.display()))? {
        let path = entry?.path();
        match crate::gallery::align_photo(&mut detector, &path, size) {
            Ok(crop) => crops.push(crop),
            Err(e) => tracing::warn!(error = %e, "photo skipped"),
        }
    }
    anyhow::ensure!(!crops.is_empty(), "no face found in {}", photos.display());
    Ok(crops)
}

fn soak(args: &super::SoakArgs) -> anyhow::Result<()> {
    let secs = Duration::from_secs_f64;
    let enrol = match &args.enrol {
        Some(spec) => {
            let (name, photo) = spec
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--enrol {spec}: give NAME=PHOTO"))?;
            Some((secs(args.enrol_at), name.to_string(), PathBuf::from(photo)))
        }
        None => None,
    };
    let plan = crate::bench::soak::SoakPlan {
        duration: secs(args.seconds),
        every: secs(args.every),
        squint: std::env::current_exe()?,
        serve: args.serve.clone(),
        restart_every: args.restart_every.map(secs),
        enrol,
        promote_at: args.promote_at.map(secs),
        poll_every: args.poll_every.map(secs),
        read_back: args.read_back,
    };
    let stop = install_stop_handler()?;
    let report = crate::bench::soak::soak(&args.config, &plan, &stop)?;
    if let Some(chart) = &args.chart {
        crate::bench::soak_chart::draw(&report.samples, chart)?;
    }
    write_report(&serde_json::to_value(report)?, args.out.as_deref())
}
