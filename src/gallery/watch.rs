use std::path::Path;
use std::time::{Duration, Instant};

use super::{Gallery, GalleryError, Matcher};

/// Hot reload: notices when `squint enroll` or `squint gallery remove` changed the gallery
/// file while the pipeline runs, and builds a new matcher from it.
pub struct GalleryWatch {
    gallery: Gallery,
    space: String,
    size: usize,
    version: i64,
    revision: i64,
    every: Duration,
    checked: Instant,
}

impl GalleryWatch {
    /// Opens the gallery and returns the watch and the current matcher.
    pub fn open(
        path: &Path,
        space: &str,
        size: usize,
        every: Duration,
    ) -> Result<(GalleryWatch, Matcher), GalleryError> {
        let gallery = Gallery::open_read_only(path)?;
        let matcher = gallery.matcher(space, size)?;
        let version = gallery.data_version()?;
        let revision = gallery.match_revision()?;
        let watch = GalleryWatch {
            gallery,
            space: space.to_string(),
            size,
            version,
            revision,
            every,
            checked: Instant::now(),
        };
        Ok((watch, matcher))
    }

    /// A fresh matcher when the file changed since the last look (looks at most once per
    /// interval); `None` otherwise.
    pub fn poll(&mut self) -> Option<Result<Matcher, GalleryError>> {
        if self.checked.elapsed() < self.every {
            return None;
        }
        self.checked = Instant::now();
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
        Some(self.gallery.matcher(&self.space, self.size))
    }
}
