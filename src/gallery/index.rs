//! An approximate nearest-neighbour index (HNSW, usearch) over a gallery's templates, so a
//! probe against a large gallery costs a graph walk instead of a pass over every template.
//! It only proposes candidates: the matcher re-ranks them exactly (f32, negatives, anchors).

use std::path::{Path, PathBuf};

use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

/// Candidates weighed while inserting (efConstruction). 128 → 400 took recall@1 of real
/// probes at 100k from 0.85 to 0.87 (efSearch 128) for 2.2x the build time; 256 is between.
const EXPANSION_ADD: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("gallery index {path}: {message}")]
    Index { path: PathBuf, message: String },
    #[error("gallery index: {0}")]
    Build(String),
}

/// The HNSW graph over template keys (see [`template_key`]).
pub struct TemplateIndex {
    inner: Index,
    dim: usize,
}

impl std::fmt::Debug for TemplateIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateIndex")
            .field("dim", &self.dim)
            .field("len", &self.len())
            .finish()
    }
}

/// `connectivity`: neighbours kept per node (HNSW's M).
fn options(dim: usize, connectivity: usize) -> IndexOptions {
    IndexOptions {
        dimensions: dim,
        // Templates and probes are L2-normalised: inner product is the cosine.
        metric: MetricKind::IP,
        // Half precision halves the index's memory; exact re-ranking restores the scores.
        quantization: ScalarKind::F16,
        connectivity,
        expansion_add: EXPANSION_ADD,
        expansion_search: 128,
        multi: false,
    }
}

impl TemplateIndex {
    /// An empty index with room for `capacity` templates, added from up to `threads` threads.
    pub fn new(dim: usize, connectivity: usize, capacity: usize, threads: usize) -> Result<TemplateIndex, IndexError> {
        let inner = Index::new(&options(dim, connectivity)).map_err(|e| IndexError::Build(e.to_string()))?;
        inner
            .reserve_capacity_and_threads(spare(capacity), threads.max(THREAD_SLOTS))
            .map_err(|e| IndexError::Build(e.to_string()))?;
        Ok(TemplateIndex { inner, dim })
    }

    /// Builds the index over `rows` (key, template) on `threads` threads; `progress` is told
    /// how many were added so far, now and then.
    pub fn build(
        dim: usize,
        connectivity: usize,
        rows: &[(u64, &[f32])],
        threads: usize,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<TemplateIndex, IndexError> {
        let index = TemplateIndex::new(dim, connectivity, rows.len(), threads)?;
        let threads = threads.clamp(1, rows.len().max(1));
        let chunk = rows.len().div_ceil(threads).max(1);
        let done = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let workers: Vec<_> = rows
                .chunks(chunk)
                .map(|part| {
                    let (index, done) = (&index, &done);
                    scope.spawn(move || -> Result<(), IndexError> {
                        for (i, (key, template)) in part.iter().enumerate() {
                            index.add(*key, template)?;
                            if i % 4096 == 4095 {
                                progress(done.fetch_add(4096, std::sync::atomic::Ordering::Relaxed) + 4096);
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            workers.into_iter().try_for_each(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(IndexError::Build("a build thread panicked".into())))
            })
        })?;
        progress(rows.len());
        Ok(index)
    }

    /// Reads an index saved by [`TemplateIndex::save`]; refuses one of another dimension.
    pub fn load(path: &Path, dim: usize) -> Result<TemplateIndex, IndexError> {
        let failed = |message: String| IndexError::Index {
            path: path.to_path_buf(),
            message,
        };
        let text = path.to_str().ok_or_else(|| failed("the path is not UTF-8".into()))?;
        let meta = Index::metadata(text).map_err(|e| failed(e.to_string()))?;
        if meta.dimensions as usize != dim {
            return Err(failed(format!(
                "holds {}-value vectors, the recognizer makes {dim}",
                meta.dimensions
            )));
        }
        // The file's header sets the graph's shape; the options only start an index to load into.
        let inner = Index::new(&options(dim, 16)).map_err(|e| failed(e.to_string()))?;
        inner.load(text).map_err(|e| failed(e.to_string()))?;
        inner
            .reserve_capacity_and_threads(spare(inner.size()), THREAD_SLOTS)
            .map_err(|e| failed(e.to_string()))?;
        Ok(TemplateIndex { inner, dim })
    }

    /// Writes the index atomically (a temporary file renamed over `path`), so a reader never
    /// sees half a file.
    pub fn save(&self, path: &Path) -> Result<(), IndexError> {
        let failed = |message: String| IndexError::Index {
            path: path.to_path_buf(),
            message,
        };
        let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
        let text = temporary
            .to_str()
            .ok_or_else(|| failed("the path is not UTF-8".into()))?;
        self.inner.save(text).map_err(|e| failed(e.to_string()))?;
        std::fs::rename(&temporary, path).map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            failed(e.to_string())
        })
    }

    /// Adds (or, for a key already present, keeps) a template.
    pub fn add(&self, key: u64, template: &[f32]) -> Result<(), IndexError> {
        if template.len() != self.dim {
            return Err(IndexError::Build(format!(
                "template has {} values, the index holds {}",
                template.len(),
                self.dim
            )));
        }
        if self.inner.contains(key) {
            return Ok(());
        }
        // Growing reallocates, which searches running on other threads must not see: the
        // owner makes room first (`with_room`).
        if self.inner.size() >= self.inner.capacity() {
            return Err(IndexError::Build("the index is full".into()));
        }
        self.inner
            .add(key, template)
            .map_err(|e| IndexError::Build(e.to_string()))
    }

    /// Room for `extra` more templates: this index when it has it, otherwise a copy with
    /// room to spare (a shared index is never reallocated under searches in flight).
    pub fn with_room(self: &std::sync::Arc<Self>, extra: usize) -> Result<std::sync::Arc<Self>, IndexError> {
        let needed = self.inner.size() + extra;
        if needed <= self.inner.capacity() {
            return Ok(self.clone());
        }
        let mut buffer = vec![0u8; self.inner.serialized_length()];
        self.inner.save_to_buffer(&mut buffer).map_err(build_error)?;
        let inner = Index::new(&options(self.dim, self.inner.connectivity())).map_err(build_error)?;
        inner.load_from_buffer(&buffer).map_err(build_error)?;
        drop(buffer);
        inner
            .reserve_capacity_and_threads(spare(needed), THREAD_SLOTS)
            .map_err(build_error)?;
        inner.change_expansion_search(self.inner.expansion_search());
        Ok(std::sync::Arc::new(TemplateIndex { inner, dim: self.dim }))
    }

    pub fn remove(&self, key: u64) -> Result<(), IndexError> {
        self.inner
            .remove(key)
            .map(|_| ())
            .map_err(|e| IndexError::Build(e.to_string()))
    }

    pub fn contains(&self, key: u64) -> bool {
        self.inner.contains(key)
    }

    /// How many candidates a search walks the graph with (efSearch): more is slower and finds
    /// the true best more often. Set before the index is shared, not while searches run.
    pub fn set_expansion(&self, expansion: usize) {
        self.inner.change_expansion_search(expansion.max(1));
    }

    pub fn expansion(&self) -> usize {
        self.inner.expansion_search()
    }

    /// The keys of (up to) `count` templates most similar to `probe`.
    pub fn search(&self, probe: &[f32], count: usize) -> Vec<u64> {
        match self.inner.search(probe, count) {
            Ok(found) => found.keys,
            Err(e) => {
                tracing::warn!(error = %e, "gallery index search failed; no candidates for this probe");
                Vec::new()
            }
        }
    }

    pub fn len(&self) -> usize {
        self.inner.size()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the index holds in memory (graph and vectors).
    pub fn memory_bytes(&self) -> usize {
        self.inner.memory_usage()
    }
}

/// Threads that may use the index at once (usearch keeps a search context per thread and
/// fails beyond its count): build threads, or the matching threads plus the reload thread.
const THREAD_SLOTS: usize = 16;

fn build_error(e: impl std::fmt::Display) -> IndexError {
    IndexError::Build(e.to_string())
}

/// Capacity for `templates` with room for the enrolments of a while.
fn spare(templates: usize) -> usize {
    templates + templates / 8 + 1024
}

/// The index key of a gallery template: its row id and a checksum of its embedding, so a row
/// id SQLite reuses after a removal never brings back the old template's vector.
pub fn template_key(row_id: i64, embedding: &[f32]) -> u64 {
    let mut crc = crc32fast::Hasher::new();
    for value in embedding {
        crc.update(&value.to_le_bytes());
    }
    ((row_id as u64) << 32) | u64::from(crc.finalize())
}
