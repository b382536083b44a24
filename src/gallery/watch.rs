use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::{Gallery, GalleryError, IndexConfig, Matcher, TemplateIndex};

/// Hot reload: notices when `squint enroll`, `gallery remove` or a promotion changed the
/// gallery file while the pipeline runs, and builds a new matcher from it — on a thread of
/// its own, so matching goes on while a large gallery is read and its index patched.
pub struct GalleryWatch {
    reloaded: Receiver<Result<Matcher, GalleryError>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the watch needs to know about the gallery it follows.
#[derive(Debug, Clone)]
pub struct WatchSpec {
    pub path: PathBuf,
    /// The recognizer's embedding space and size.
    pub space: String,
    pub size: usize,
    /// How often the file is looked at.
    pub every: Duration,
    pub index: IndexConfig,
}

impl GalleryWatch {
    /// Opens the gallery and returns the watch and the current matcher. A persisted index
    /// that fits the gallery is loaded (and patched) now; one that is missing or stale is
    /// built on the watch's thread while the returned matcher compares every template.
    pub fn open(spec: WatchSpec) -> Result<(GalleryWatch, Matcher), GalleryError> {
        let mut loader = Loader::open(spec.clone())?;
        let (matcher, pending) = loader.initial()?;
        let (sender, reloaded) = crossbeam_channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("gallery-reload".into())
                .spawn(move || loader.follow(spec.every, pending, &sender, &stop))
                .map_err(|e| GalleryError::Import {
                    path: spec.path.clone(),
                    message: format!("cannot start the gallery reload thread: {e}"),
                })?
        };
        let watch = GalleryWatch {
            reloaded,
            stop,
            thread: Some(thread),
        };
        Ok((watch, matcher))
    }

    /// The newest matcher built since the last call, if any (never waits).
    pub fn poll(&mut self) -> Option<Result<Matcher, GalleryError>> {
        self.reloaded.try_iter().last()
    }

    /// Waits up to `timeout` for the next matcher.
    pub fn wait(&mut self, timeout: Duration) -> Option<Result<Matcher, GalleryError>> {
        self.reloaded.recv_timeout(timeout).ok()
    }
}

impl Drop for GalleryWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads the gallery into matchers and keeps their index in step with it.
struct Loader {
    gallery: Gallery,
    spec: WatchSpec,
    version: i64,
    revision: i64,
    /// The index in use, and the keys it was last patched to.
    index: Option<(Arc<TemplateIndex>, Vec<u64>)>,
    /// The index changed since it was last saved.
    unsaved: bool,
}

impl Loader {
    fn open(spec: WatchSpec) -> Result<Loader, GalleryError> {
        let gallery = Gallery::open_read_only(&spec.path)?;
        let version = gallery.data_version()?;
        let revision = gallery.match_revision()?;
        Ok(Loader {
            gallery,
            spec,
            version,
            revision,
            index: None,
            unsaved: false,
        })
    }

    /// The first matcher, with the persisted index when it is usable as is or nearly; and
    /// whether an index is still to be built.
    fn initial(&mut self) -> Result<(Matcher, bool), GalleryError> {
        let mut matcher = self.gallery.matcher(&self.spec.space, self.spec.size)?;
        if !self.spec.index.wanted(matcher.templates()) {
            return Ok((matcher, false));
        }
        let file = self.spec.index.file(&self.spec.path);
        match TemplateIndex::load(&file, self.spec.size) {
            Ok(index) => {
                let present = matcher
                    .keyed_templates()
                    .filter(|(key, _)| index.contains(*key))
                    .count();
                let stale = index.len().saturating_sub(present);
                // Patching a few changes is quick; a file mostly about other templates is
                // rebuilt instead, off the start-up path.
                if present * 2 >= matcher.templates() && stale * 10 <= index.len() {
                    tracing::info!(file = %file.display(), templates = index.len(), stale, "gallery index loaded");
                    self.attach(&mut matcher, Arc::new(index), false);
                    return Ok((matcher, false));
                }
                tracing::info!(file = %file.display(), present, stale, "gallery index no longer fits the gallery; rebuilding it while matching goes on without");
            }
            Err(e) if file.exists() => {
                tracing::warn!(error = %e, "gallery index unusable; rebuilding it while matching goes on without")
            }
            Err(_) => tracing::info!(
                templates = matcher.templates(),
                "gallery index not built yet; building it while matching goes on without"
            ),
        }
        Ok((matcher, true))
    }

    /// Looks at the gallery every `every` until told to stop, sending a matcher whenever it
    /// changed (or once the pending index is built).
    fn follow(
        &mut self,
        every: Duration,
        mut pending: bool,
        sender: &Sender<Result<Matcher, GalleryError>>,
        stop: &AtomicBool,
    ) {
        // A loaded index patched at start-up.
        self.save_if_changed();
        let mut checked = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            if pending || checked.elapsed() >= every {
                checked = Instant::now();
                let reloaded = match pending {
                    true => self.reload(),
                    false => self.reload_if_changed(),
                };
                pending = false;
                if let Some(result) = reloaded
                    && sender.send(result).is_err()
                {
                    return;
                }
                // Saved after the matcher is on its way: writing a large index takes seconds.
                self.save_if_changed();
            }
            std::thread::sleep(Duration::from_millis(50).min(every));
        }
    }

    fn reload_if_changed(&mut self) -> Option<Result<Matcher, GalleryError>> {
        let version = match self.gallery.data_version() {
            Ok(version) => version,
            Err(e) => return Some(Err(e)),
        };
        if version == self.version {
            return None;
        }
        self.version = version;
        // Strangers' visits recorded by the pipeline itself change the file but not the
        // matcher.
        let revision = match self.gallery.match_revision() {
            Ok(revision) => revision,
            Err(e) => return Some(Err(e)),
        };
        if revision == self.revision {
            return None;
        }
        self.revision = revision;
        self.reload()
    }

    fn reload(&mut self) -> Option<Result<Matcher, GalleryError>> {
        let started = Instant::now();
        let mut matcher = match self.gallery.matcher(&self.spec.space, self.spec.size) {
            Ok(matcher) => matcher,
            Err(e) => return Some(Err(e)),
        };
        if self.spec.index.wanted(matcher.templates()) {
            let (index, fresh) = match self.index.as_ref() {
                Some((index, _)) => (index.clone(), false),
                None => match self.build(&matcher) {
                    Ok(index) => (index, true),
                    Err(e) => {
                        tracing::error!(error = %e, "gallery index could not be built; matching compares every template");
                        return Some(Ok(matcher));
                    }
                },
            };
            self.attach(&mut matcher, index, fresh);
        } else {
            self.index = None;
        }
        tracing::debug!(ms = started.elapsed().as_millis() as u64, "gallery read");
        Some(Ok(matcher))
    }

    fn build(&self, matcher: &Matcher) -> Result<Arc<TemplateIndex>, super::IndexError> {
        let rows: Vec<(u64, &[f32])> = matcher.keyed_templates().collect();
        let started = Instant::now();
        let total = rows.len();
        let step = (total / 10).max(1);
        let logged = std::sync::atomic::AtomicUsize::new(0);
        let report = |done: usize| {
            let decile = done / step;
            if logged.fetch_max(decile, Ordering::Relaxed) < decile {
                tracing::info!(done, total, "building the gallery index");
            }
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let index = TemplateIndex::build(matcher.dim(), self.spec.index.connectivity, &rows, threads, &report)?;
        tracing::info!(
            templates = total,
            seconds = started.elapsed().as_secs_f64(),
            "gallery index built"
        );
        Ok(Arc::new(index))
    }

    /// Brings `index` in step with `matcher`'s templates (adds the new, removes those gone
    /// since the last patch), saves it when it changed or is `fresh`, and hands it to the
    /// matcher.
    fn attach(&mut self, matcher: &mut Matcher, index: Arc<TemplateIndex>, fresh: bool) {
        let missing: Vec<(u64, &[f32])> = matcher
            .keyed_templates()
            .filter(|(key, _)| !index.contains(*key))
            .collect();
        let mut changed = !missing.is_empty();
        let index = match index.with_room(missing.len()) {
            Ok(index) => index,
            Err(e) => {
                tracing::error!(error = %e, "gallery index could not grow; keeping it as it was");
                index
            }
        };
        for (key, template) in missing {
            if let Err(e) = index.add(key, template) {
                tracing::warn!(error = %e, "a template could not be added to the gallery index");
            }
        }
        let mut keys: Vec<u64> = matcher.keyed_templates().map(|(key, _)| key).collect();
        keys.sort_unstable();
        if let Some((_, before)) = &self.index {
            for key in before.iter().filter(|k| keys.binary_search(k).is_err()) {
                changed = true;
                if let Err(e) = index.remove(*key) {
                    tracing::warn!(error = %e, "a removed template stays in the gallery index (skipped when found)");
                }
            }
        }
        index.set_expansion(self.spec.index.expansion);
        self.unsaved |= changed || fresh;
        matcher.use_index(index.clone(), self.spec.index.candidates);
        self.index = Some((index, keys));
    }

    fn save_if_changed(&mut self) {
        let Some((index, _)) = self.index.as_ref().filter(|_| self.unsaved) else {
            return;
        };
        self.unsaved = false;
        let file = self.spec.index.file(&self.spec.path);
        if let Err(e) = index.save(&file) {
            // A read-only folder: the index lives in memory and is built again next start.
            tracing::warn!(error = %e, "gallery index not saved; the next start builds it again");
        }
    }
}
