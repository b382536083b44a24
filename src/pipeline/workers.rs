//! The loops each pipeline thread runs.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select, Sender, TryRecvError, TrySendError};

use super::matching::Matching;
use crate::alert::{AlertStage, ThumbnailStore};
use crate::align::{Refiner, align_face};
use crate::detect::{Detector, RegionSearch, Search, SearchStats};
use crate::gallery::GalleryWatch;
use crate::image::BgrImage;
use crate::observe::{RecentMatch, Review, Snapshots};
use crate::publish::Outgoing;
use crate::recognize::{Batch, CropSizes, RecognizeConfig, RecognizerSet, next_batch};
use crate::stats::{PipelineStats, add_elapsed};
use crate::track::{TrackInfo, TrackedFace, Tracker};
use crate::types::{BBox, Detection, EmbeddedFace, FaceCrop, Frame, FrameMeta, TrackMessage};
use crate::unknowns::{Assignment, Filed, UnknownsError};

/// One camera's frames as the detect worker sees them.
pub struct CameraInput {
    pub frames: Receiver<Frame>,
    /// Live cameras drop crops when the recognizer is behind (video must not wait); files
    /// wait instead, so no face of a file is lost.
    pub wait_for_recognizer: bool,
    /// Search only this `[x, y, w, h]` region of each frame.
    pub roi: Option<[u32; 4]>,
    /// Side of the aligned crops this camera's recognizers take, by face width.
    pub crop_sizes: CropSizes,
    pub tracker: Tracker,
    /// Present in `regions` search: this camera's background model and sweep schedule.
    pub search: Option<RegionSearch>,
    pub search_stats: Arc<SearchStats>,
    /// Dropped once the camera's source has closed and its tracks' ends are queued: whoever
    /// stops a single camera waits for that.
    pub released: Option<Sender<()>>,
}

impl CameraInput {
    /// The part of the frame to search, and its offset in the frame.
    fn region<'f>(&self, frame: &'f Frame) -> (Cow<'f, BgrImage>, (f32, f32)) {
        match self.roi {
            Some([x, y, w, h]) => (
                Cow::Owned(frame.image.crop(x as i32, y as i32, w, h)),
                (x as f32, y as f32),
            ),
            None => (Cow::Borrowed(&frame.image), (0.0, 0.0)),
        }
    }

    /// Where to search `image` (the camera's region of `frame`, at `offset` in it): motion
    /// and the tracks' windows, or all of it.
    fn plan(&mut self, frame: &Frame, image: &BgrImage, (dx, dy): (f32, f32)) -> Search {
        let plan = match self.search.as_mut() {
            None => Search::Full,
            Some(search) => {
                let windows: Vec<BBox> = self
                    .tracker
                    .windows(frame.seq)
                    .into_iter()
                    .map(|w| BBox {
                        x: w.x - dx,
                        y: w.y - dy,
                        ..w
                    })
                    .collect();
                search
                    .plan(image, &windows, frame.stream_start)
                    .unwrap_or_else(|e| {
                        tracing::warn!(camera = %frame.camera_id, error = %e, "motion analysis failed; frame searched whole");
                        Search::Full
                    })
            }
        };
        self.search_stats.record(&plan, image.width, image.height);
        plan
    }
}

/// Detects, tracks and aligns faces for every camera. Whenever frames are waiting it takes
/// the newest ready frame of each camera and runs them through the detector together, so
/// cameras of the same size share one batched model run. Only the faces the recognition
/// budget picks are aligned and queued.
pub struct DetectWorker {
    pub detector: Detector,
    /// Re-finds the landmarks of faces narrower than its width (`[align]`).
    pub refiner: Option<(Refiner, f32)>,
    pub cameras: Vec<CameraInput>,
    /// One queue per recognizer worker; a track's faces and its end always take the same
    /// one, so each track stays in order.
    pub crops: Vec<Sender<TrackMessage<FaceCrop>>>,
    pub stats: Arc<PipelineStats>,
    pub snapshots: Arc<Snapshots>,
    /// Cameras given to this worker while it runs (`[cluster]`); while it is open the worker
    /// keeps running even with no camera.
    pub arrivals: Option<Receiver<CameraInput>>,
}

/// The recognizer queue of `track` among `workers`.
fn shard(track: &TrackInfo, workers: usize) -> usize {
    let camera = track.camera_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    ((camera ^ track.track_id) % workers.max(1) as u64) as usize
}

impl DetectWorker {
    fn queue_of(&self, track: &TrackInfo) -> &Sender<TrackMessage<FaceCrop>> {
        &self.crops[shard(track, self.crops.len())]
    }

    /// Ends when every camera's ingest thread is gone and its queue is empty, and no more
    /// cameras can arrive.
    pub fn run(mut self) {
        while !self.cameras.is_empty() || self.arrivals.is_some() {
            let mut select = Select::new();
            for camera in &self.cameras {
                select.recv(&camera.frames);
            }
            if let Some(arrivals) = &self.arrivals {
                select.recv(arrivals);
            }
            if select.ready_timeout(Duration::from_millis(100)).is_err() {
                continue;
            }
            self.take_arrivals();
            let mut ready = Vec::new();
            let mut closed = Vec::new();
            for (index, camera) in self.cameras.iter().enumerate() {
                match camera.frames.try_recv() {
                    Ok(frame) => ready.push((index, frame)),
                    Err(TryRecvError::Disconnected) => closed.push(index),
                    Err(TryRecvError::Empty) => {}
                }
            }
            if !self.process(&ready) {
                return;
            }
            for index in closed.into_iter().rev() {
                let mut camera = self.cameras.remove(index);
                if !self.end_tracks(camera.tracker.end_all()) {
                    return;
                }
                drop(camera.released.take());
            }
        }
    }

    /// Adds the cameras given to this worker since the last look.
    fn take_arrivals(&mut self) {
        let Some(arrivals) = &self.arrivals else { return };
        loop {
            match arrivals.try_recv() {
                Ok(camera) => self.cameras.push(camera),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.arrivals = None;
                    return;
                }
            }
        }
    }

    /// Tells the alert stage that tracks ended; never dropped. False when it is gone.
    fn end_tracks(&self, ended: Vec<TrackInfo>) -> bool {
        ended
            .into_iter()
            .all(|track| self.queue_of(&track).send(TrackMessage::Ended(track)).is_ok())
    }

    /// Returns false when the recognizer is gone.
    fn process(&mut self, ready: &[(usize, Frame)]) -> bool {
        if ready.is_empty() {
            return true;
        }
        for (_, frame) in ready {
            let age = frame.captured_at.elapsed().unwrap_or_default();
            self.stats.frame_wait_latency.record(age);
        }
        let started = Instant::now();
        let regions: Vec<_> = ready
            .iter()
            .map(|(index, frame)| self.cameras[*index].region(frame))
            .collect();
        let plans: Vec<Search> = ready
            .iter()
            .zip(&regions)
            .map(|((index, frame), (image, offset))| self.cameras[*index].plan(frame, image, *offset))
            .collect();
        let searches: Vec<(&BgrImage, &Search)> = regions
            .iter()
            .zip(&plans)
            .map(|((image, _), plan)| (image.as_ref(), plan))
            .collect();
        let found = match self.detector.detect_searched(&searches) {
            Ok(found) => found,
            Err(e) => {
                self.stats.frame_errors.fetch_add(ready.len() as u64, Ordering::Relaxed);
                tracing::warn!(frames = ready.len(), error = %e, "frames skipped");
                return true;
            }
        };
        add_elapsed(&self.stats.detect_ns, started);
        self.stats.detect_latency.record(started.elapsed());
        self.stats.frames.fetch_add(ready.len() as u64, Ordering::Relaxed);
        for (((index, frame), (_, (dx, dy))), faces) in ready.iter().zip(&regions).zip(found) {
            let mut faces: Vec<_> = faces.into_iter().map(|d| d.offset(*dx, *dy)).collect();
            self.refine(frame, &mut faces);
            let faces = crate::detect::assess_all(&frame.image, faces);
            self.snapshots.offer(
                &frame.camera_id,
                frame.seq,
                &frame.image,
                faces.iter().map(|(d, _)| d.bbox),
            );
            self.stats.faces_per_frame.record(faces.len());
            let (tracked, ended) = self.cameras[*index].tracker.update(&FrameMeta::from(frame), faces);
            let camera = &self.cameras[*index];
            if !self.send_faces(frame, tracked, camera.wait_for_recognizer, &camera.crop_sizes)
                || !self.end_tracks(ended)
            {
                return false;
            }
        }
        true
    }

    /// Small faces get the refiner's landmarks; a refiner error keeps the detector's (logged).
    fn refine(&mut self, frame: &Frame, faces: &mut [Detection]) {
        let Some((refiner, below_px)) = self.refiner.as_mut() else {
            return;
        };
        let started = Instant::now();
        match refiner.refine_small(&frame.image, faces.iter_mut(), *below_px) {
            Ok(0) => return,
            Ok(refined) => {
                self.stats.faces_refined.fetch_add(refined as u64, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!(camera = %frame.camera_id, error = %e, "landmarks not refined; the detector's are used");
            }
        }
        add_elapsed(&self.stats.refine_ns, started);
        self.stats.refine_latency.record(started.elapsed());
    }

    /// Aligns the faces the budget picked and queues them for the recognizer; false when
    /// the recognizer is gone.
    fn send_faces(&self, frame: &Frame, faces: Vec<TrackedFace>, wait: bool, crop_sizes: &CropSizes) -> bool {
        for TrackedFace {
            detection,
            quality,
            track,
            embed,
        } in faces
        {
            self.stats.faces.fetch_add(1, Ordering::Relaxed);
            if !embed {
                self.stats.faces_skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let started = Instant::now();
            let side = crop_sizes.for_width(quality.width_px);
            let image = match align_face(&frame.image, &detection.landmarks, side) {
                Ok(image) => image,
                Err(e) => {
                    tracing::warn!(camera = %frame.camera_id, error = %e, "face not aligned");
                    continue;
                }
            };
            add_elapsed(&self.stats.align_ns, started);
            self.stats.align_latency.record(started.elapsed());
            let queue = self.queue_of(&track).clone();
            let crop = TrackMessage::Face(FaceCrop {
                frame: FrameMeta::from(frame),
                detection,
                quality,
                track,
                image,
                queued_at: Instant::now(),
            });
            if wait {
                if queue.send(crop).is_err() {
                    return false;
                }
                continue;
            }
            match queue.try_send(crop) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    self.stats.crops_dropped.fetch_add(1, Ordering::Relaxed);
                }
                Err(TrySendError::Disconnected(_)) => return false,
            }
        }
        true
    }
}

/// Embeds faces in dynamic batches (one per model when cameras use their own) and passes
/// them on, with track ends, in order.
pub struct RecognizeWorker {
    pub recognizers: RecognizerSet,
    pub config: RecognizeConfig,
    pub crops: Receiver<TrackMessage<FaceCrop>>,
    pub faces: Sender<TrackMessage<EmbeddedFace>>,
    pub stats: Arc<PipelineStats>,
}

impl RecognizeWorker {
    pub fn run(mut self) {
        let max_wait = Duration::from_millis(self.config.max_wait_ms);
        loop {
            match next_batch(&self.crops, self.config.max_batch, max_wait, Duration::from_millis(100)) {
                Batch::Items(batch) => {
                    if !self.process(batch) {
                        return;
                    }
                }
                Batch::Idle => {}
                Batch::Closed => return,
            }
        }
    }

    fn process(&mut self, batch: Vec<TrackMessage<FaceCrop>>) -> bool {
        let crops: Vec<&FaceCrop> = batch
            .iter()
            .filter_map(|m| match m {
                TrackMessage::Face(crop) => Some(crop),
                TrackMessage::Ended(_) => None,
            })
            .collect();
        let mut embeddings = self.embed(&crops).into_iter();
        for message in batch {
            let out = match message {
                TrackMessage::Face(crop) => match embeddings.next().flatten() {
                    Some((embedding, recognizer)) => TrackMessage::Face(EmbeddedFace {
                        frame: crop.frame,
                        detection: crop.detection,
                        quality: crop.quality,
                        track: crop.track,
                        crop: crop.image,
                        embedding,
                        recognizer,
                    }),
                    None => continue,
                },
                TrackMessage::Ended(track) => TrackMessage::Ended(track),
            };
            if self.faces.send(out).is_err() {
                return false;
            }
        }
        true
    }

    /// One embedding per crop with the id of the model that made it, or `None` for each
    /// crop of a batch that failed.
    fn embed(&mut self, crops: &[&FaceCrop]) -> Vec<Option<(Vec<f32>, Arc<str>)>> {
        if crops.is_empty() {
            return Vec::new();
        }
        for crop in crops {
            self.stats.crop_wait_latency.record(crop.queued_at.elapsed());
        }
        let started = Instant::now();
        let images: Vec<_> = crops
            .iter()
            .map(|c| (&*c.frame.camera_id, c.quality.width_px, &c.image))
            .collect();
        let results = self.recognizers.embed(&images);
        add_elapsed(&self.stats.embed_ns, started);
        self.stats.embed_latency.record(started.elapsed());
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.stats.batch_sizes.record(crops.len());
        let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        if let Some(first) = failed.first() {
            tracing::error!(error = %first, faces = failed.len(), "faces not embedded");
        }
        let ids = self.recognizers.model_ids();
        let mut per_model = vec![0u64; ids.len()];
        let embeddings = results
            .into_iter()
            .map(|r| {
                let (embedding, model) = r.ok()?;
                per_model[model] += 1;
                Some((embedding, ids[model].clone()))
            })
            .collect();
        for (id, &faces) in ids.iter().zip(&per_model).filter(|(_, n)| **n > 0) {
            self.stats.count_embedded(id, faces);
        }
        embeddings
    }
}

/// Matches faces against the gallery, gathers evidence per track and raises alerts; with
/// `[unknowns]`, labels unknown tracks with their stranger cluster and files them under one
/// when they end.
pub struct AlertWorker {
    pub matching: Matching,
    pub thumbnails: Option<ThumbnailStore>,
    pub gallery: GalleryWatch,
    /// Confirmed matches go to the review page, for "wrong person".
    pub review: Arc<Review>,
    pub faces: Receiver<TrackMessage<EmbeddedFace>>,
    pub events: Sender<Outgoing>,
    pub stats: Arc<PipelineStats>,
    pub snapshots: Arc<Snapshots>,
}

impl AlertWorker {
    pub fn run(mut self) {
        loop {
            self.reload_gallery();
            let message = match self.faces.recv_timeout(Duration::from_millis(200)) {
                Ok(message) => message,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            };
            let started = Instant::now();
            let out = match &message {
                TrackMessage::Face(face) => {
                    let out = self.matching.face(face);
                    self.offer_for_review(face, &out);
                    out
                }
                TrackMessage::Ended(track) => {
                    let ended = self.matching.track_ended(track);
                    self.count_filed(track, ended.filed);
                    ended.out
                }
            };
            self.stats.match_latency.record(started.elapsed());
            // Suppression raises no event, so the count is taken after every message.
            self.stats
                .alerts_suppressed
                .store(self.matching.engine.suppressed, Ordering::Relaxed);
            for mut event in out {
                self.attach_thumbnails(&mut event);
                self.count(&event);
                if self.events.send(event).is_err() {
                    return;
                }
            }
        }
    }

    /// Lists confirmed matches on the review page, with what "wrong person" needs.
    fn offer_for_review(&self, face: &EmbeddedFace, out: &[Outgoing]) {
        for event in out {
            let Outgoing::Alert(alert) = event else { continue };
            if alert.stage != AlertStage::Confirmed {
                continue;
            }
            let Some(template) = self.matching.engine.track_template(&face.track) else {
                continue;
            };
            self.review.recent.push(RecentMatch {
                identity: alert.identity.clone(),
                camera_id: alert.camera_id.clone(),
                track_id: alert.track_id.clone(),
                at_ms: alert.captured_at_ms,
                similarity: alert.evidence.track_similarity,
                face_jpeg: alert.best_face.as_ref().and_then(|f| f.jpeg().ok()),
                template,
            });
        }
    }

    /// Counts where an ended unknown track was filed.
    fn count_filed(&self, track: &TrackInfo, filed: Option<Result<Filed, UnknownsError>>) {
        let counter = match filed {
            None => return,
            Some(Ok(Filed::Assigned(Assignment::Opened(_)))) => &self.stats.unknowns_opened,
            Some(Ok(Filed::Assigned(Assignment::Joined(_)))) => &self.stats.unknowns_joined,
            Some(Ok(Filed::Assigned(Assignment::Ignored(_)))) => &self.stats.unknowns_ignored,
            Some(Ok(Filed::Skipped(reason))) => {
                tracing::debug!(camera = %track.camera_id, track = track.track_id, reason, "unknown track not clustered");
                &self.stats.unknowns_skipped
            }
            Some(Err(e)) => {
                tracing::error!(error = %e, "unknown track not stored; it is missing from the strangers' clusters");
                return;
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(clusters) = self.matching.clusters() {
            self.stats.unknown_clusters.store(clusters as u64, Ordering::Relaxed);
        }
    }

    /// Picks up gallery changes made while running (`squint enroll`, `gallery remove`).
    fn reload_gallery(&mut self) {
        match self.gallery.poll() {
            Some(Ok(matcher)) => {
                tracing::info!(
                    identities = matcher.identities(),
                    templates = matcher.templates(),
                    index = matcher.index().is_some(),
                    "gallery changed; reloaded"
                );
                let (identities, templates, indexed) =
                    (matcher.identities(), matcher.templates(), matcher.index().is_some());
                self.matching.engine.set_matcher(matcher);
                let floor = self.matching.engine.threshold_floor();
                self.stats.record_gallery(identities, templates, indexed, floor);
            }
            Some(Err(e)) => {
                tracing::error!(error = %e, "gallery changed but could not be reloaded; keeping the previous one")
            }
            None => {}
        }
    }

    /// Writes the alert's pictures (best face, camera frame) when thumbnails are on.
    fn attach_thumbnails(&mut self, event: &mut Outgoing) {
        let (Some(store), Outgoing::Alert(alert)) = (self.thumbnails.as_mut(), event) else {
            return;
        };
        if alert.best_face.is_none() {
            return;
        }
        let frame = self.snapshots.jpeg(&alert.camera_id).and_then(Result::ok);
        if let Err(e) = store.attach(alert, frame) {
            tracing::warn!(error = %e, alert = %alert.key, "alert thumbnails not written");
        }
        self.stats.thumbnail_bytes.store(store.bytes(), Ordering::Relaxed);
    }

    fn count(&self, event: &Outgoing) {
        match event {
            Outgoing::Identity(e) => {
                self.stats.events.fetch_add(1, Ordering::Relaxed);
                let label = match crate::alert::track_number(&e.track_id) {
                    Some(track) => format!("{} #{track}", e.identity),
                    None => e.identity.clone(),
                };
                self.snapshots.label(&e.camera_id, e.frame_seq, &e.bbox, &label);
                let captured = std::time::UNIX_EPOCH + Duration::from_millis(e.captured_at_ms);
                let age = std::time::SystemTime::now()
                    .duration_since(captured)
                    .unwrap_or_default();
                self.stats.event_latency.record(age);
            }
            Outgoing::Alert(_) => {
                self.stats.alerts.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::SystemTime;

    use super::*;

    fn track(camera: &str, track_id: u64) -> TrackInfo {
        TrackInfo {
            camera_id: Arc::from(camera),
            track_id,
            frames_seen: 1,
            first_seq: 0,
            last_seq: 0,
            first_seen: SystemTime::UNIX_EPOCH,
            last_seen: SystemTime::UNIX_EPOCH,
            width_min_px: 20.0,
            width_max_px: 20.0,
        }
    }

    #[test]
    fn a_track_always_takes_the_same_recognizer_and_tracks_spread() {
        for id in 0..50 {
            assert_eq!(shard(&track("door", id), 3), shard(&track("door", id), 3));
            assert_eq!(shard(&track("door", id), 1), 0);
        }
        let used: std::collections::BTreeSet<usize> = (0..50)
            .flat_map(|id| [shard(&track("door", id), 3), shard(&track("gate", id), 3)])
            .collect();
        assert_eq!(used.len(), 3, "every worker gets tracks");
    }
}
