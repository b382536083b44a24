//! Bulk import of precomputed embeddings: what `squint gallery export` writes (one JSON
//! document), or JSON lines of one identity each (`{"name", "watchlist", "templates":
//! [{"source", "embedding"}], "negatives": [...]}`) for galleries too large for one document.
//! Identities are written a batch per transaction and made exactly as the file says; one that
//! already is goes untouched, so an interrupted import is resumed by running it again.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{ExportedIdentity, Gallery, GalleryError};

/// Identities written per transaction: large enough that SQLite's commit cost vanishes,
/// small enough that a stop loses little.
const BATCH: usize = 1000;

#[derive(Debug, Clone)]
pub struct ImportRequest<'a> {
    pub file: &'a Path,
    /// The embedding space of the file's embeddings, when the file does not say (JSON lines).
    pub space: Option<&'a str>,
    pub progress: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub identities: usize,
    /// Identities added or changed.
    pub written: usize,
    /// Identities that already were exactly as the file says.
    pub unchanged: usize,
    pub space: String,
    pub seconds: f64,
    /// Names written, for a cluster's gallery topic.
    #[serde(skip)]
    pub names: Vec<String>,
}

/// `squint gallery export`'s document (the fields an import reads).
#[derive(Deserialize)]
struct Document {
    embedding_space: Option<String>,
    identities: Vec<ExportedIdentity>,
}

pub fn import(gallery: &mut Gallery, request: &ImportRequest) -> Result<ImportReport, GalleryError> {
    let started = Instant::now();
    let file = request.file;
    let data_error = |message: String| GalleryError::Import {
        path: file.to_path_buf(),
        message,
    };
    let opened = std::fs::File::open(file).map_err(|e| data_error(format!("cannot read the file: {e}")))?;
    let size = opened.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = if request.progress {
        indicatif::ProgressBar::new(size)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let reader = BufReader::new(bar.wrap_read(opened));
    let lines = matches!(file.extension().and_then(|e| e.to_str()), Some("jsonl" | "ndjson"));
    let mut report = if lines {
        let space = space_of(gallery, file, None, request.space)?;
        let mut run = Run::new(gallery, file, space);
        for (number, line) in reader.lines().enumerate() {
            let line = line.map_err(|e| data_error(format!("line {}: {e}", number + 1)))?;
            if line.trim().is_empty() {
                continue;
            }
            let identity: ExportedIdentity = serde_json::from_str(&line)
                .map_err(|e| data_error(format!("line {}: not an identity record: {e}", number + 1)))?;
            run.push(identity, &format!("line {}", number + 1))?;
        }
        run.finish()?
    } else {
        let document: Document = read_document(reader).map_err(data_error)?;
        let space = space_of(gallery, file, document.embedding_space.as_deref(), request.space)?;
        let mut run = Run::new(gallery, file, space);
        for (i, identity) in document.identities.into_iter().enumerate() {
            run.push(identity, &format!("identities[{i}]"))?;
        }
        run.finish()?
    };
    bar.finish_and_clear();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn read_document(mut reader: impl Read) -> Result<Document, String> {
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the file: {e}"))?;
    serde_json::from_str(&text).map_err(|e| {
        format!("not a `squint gallery export` document ({e}); for one identity per line name the file *.jsonl")
    })
}

/// The space the file's embeddings are in: the file's own, `--space`, or the gallery's.
fn space_of(
    gallery: &Gallery,
    file: &Path,
    in_file: Option<&str>,
    given: Option<&str>,
) -> Result<String, GalleryError> {
    match (in_file, given) {
        (Some(a), Some(b)) if a != b => Err(GalleryError::Import {
            path: file.to_path_buf(),
            message: format!("the file's embeddings are in space `{a}`, --space says `{b}`"),
        }),
        (Some(space), _) | (None, Some(space)) => Ok(space.to_string()),
        (None, None) => gallery.embedding_space()?.ok_or_else(|| GalleryError::Import {
            path: file.to_path_buf(),
            message: "the file does not say which embedding space its embeddings are in and the gallery is empty; give --space (e.g. sface-2021dec)".into(),
        }),
    }
}

/// One import in progress: identities are checked as they come and written a batch at a time.
struct Run<'g> {
    gallery: &'g mut Gallery,
    file: PathBuf,
    space: String,
    batch: Vec<ExportedIdentity>,
    /// The values every embedding must have: the gallery's, else the first one read.
    size: Option<usize>,
    report: ImportReport,
}

impl<'g> Run<'g> {
    fn new(gallery: &'g mut Gallery, file: &Path, space: String) -> Run<'g> {
        Run {
            gallery,
            file: file.to_path_buf(),
            batch: Vec::new(),
            size: None,
            report: ImportReport {
                identities: 0,
                written: 0,
                unchanged: 0,
                space: space.clone(),
                seconds: 0.0,
                names: Vec::new(),
            },
            space,
        }
    }

    /// Checks one identity (`at` names where it is in the file) and queues it.
    /// (Names are checked with the batch, by [`Gallery::replace_identities`], before it writes.)
    fn push(&mut self, identity: ExportedIdentity, at: &str) -> Result<(), GalleryError> {
        let embeddings = identity.templates.iter().chain(&identity.negatives);
        for embedding in embeddings {
            let values = embedding.embedding.len();
            let expected = *self.size.get_or_insert(values);
            if values != expected || values == 0 {
                return Err(GalleryError::Import {
                    path: self.file.clone(),
                    message: format!(
                        "{at}: an embedding of `{}` has {values} values, the others {expected}",
                        identity.name
                    ),
                });
            }
        }
        if identity.templates.is_empty() {
            return Err(GalleryError::Import {
                path: self.file.clone(),
                message: format!(
                    "{at}: `{}` has no templates; an identity needs at least one",
                    identity.name
                ),
            });
        }
        self.batch.push(identity);
        if self.batch.len() >= BATCH {
            self.write()?;
        }
        Ok(())
    }

    fn write(&mut self) -> Result<(), GalleryError> {
        let batch = std::mem::take(&mut self.batch);
        let changed = self.gallery.replace_identities(&batch, &self.space)?;
        self.report.identities += batch.len();
        self.report.written += changed.len();
        self.report.unchanged += batch.len() - changed.len();
        self.report.names.extend(changed);
        Ok(())
    }

    fn finish(mut self) -> Result<ImportReport, GalleryError> {
        if !self.batch.is_empty() {
            self.write()?;
        }
        Ok(self.report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPACE: &str = "sface-2021dec";

    fn unit(dim: usize, hot: usize) -> Vec<f32> {
        let mut v = vec![0.0; dim];
        v[hot % dim] = 1.0;
        v
    }

    fn request<'a>(file: &'a Path, space: Option<&'a str>) -> ImportRequest<'a> {
        ImportRequest {
            file,
            space,
            progress: false,
        }
    }

    #[test]
    fn an_export_imports_into_an_identical_gallery_and_a_second_run_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut source = Gallery::create(&dir.path().join("a.db")).unwrap();
        for (i, name) in ["ada", "bo", "cy"].iter().enumerate() {
            source.add_template(name, "photo.jpg", SPACE, &unit(8, i)).unwrap();
            source.add_template(name, "frame.jpg", SPACE, &unit(8, i + 3)).unwrap();
        }
        source.add_negative("bo", "lookalike.jpg", SPACE, &unit(8, 7)).unwrap();
        source.set_watchlist("cy", "vip").unwrap();
        let file = dir.path().join("export.json");
        std::fs::write(&file, serde_json::to_string(&source.export().unwrap()).unwrap()).unwrap();

        let mut target = Gallery::create(&dir.path().join("b.db")).unwrap();
        let first = import(&mut target, &request(&file, None)).unwrap();
        assert_eq!((first.identities, first.written, first.unchanged), (3, 3, 0));
        assert_eq!(target.export().unwrap(), source.export().unwrap());
        let again = import(&mut target, &request(&file, None)).unwrap();
        assert_eq!(
            (again.written, again.unchanged),
            (0, 3),
            "a re-run resumes: nothing to write"
        );
    }

    #[test]
    fn json_lines_need_a_space_and_one_dimension_and_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let line = |name: &str, dim: usize| {
            serde_json::json!({"name": name, "watchlist": "default",
                "templates": [{"source": "x", "embedding": unit(dim, 1)}], "negatives": []})
            .to_string()
        };
        let file = dir.path().join("people.jsonl");
        std::fs::write(&file, format!("{}\n\n{}\n", line("ada", 8), line("bo", 8))).unwrap();
        let mut gallery = Gallery::create(&dir.path().join("g.db")).unwrap();
        let error = import(&mut gallery, &request(&file, None)).unwrap_err().to_string();
        assert!(error.contains("--space"), "{error}");
        let report = import(&mut gallery, &request(&file, Some(SPACE))).unwrap();
        assert_eq!(report.written, 2);
        assert_eq!(gallery.list().unwrap().len(), 2);

        std::fs::write(&file, format!("{}\n{}\n", line("cy", 8), line("di", 16))).unwrap();
        let error = import(&mut gallery, &request(&file, None)).unwrap_err().to_string();
        assert!(
            error.contains("line 2") && error.contains("`di`") && error.contains("16"),
            "{error}"
        );
        std::fs::write(&file, format!("{}\n", line("cy", 16))).unwrap();
        let error = import(&mut gallery, &request(&file, None)).unwrap_err().to_string();
        assert!(
            error.contains("16") && error.contains("8"),
            "the gallery's own size: {error}"
        );
        let error = import(&mut gallery, &request(&file, Some("other")))
            .unwrap_err()
            .to_string();
        assert!(error.contains("`other`") && error.contains(SPACE), "{error}");
        std::fs::write(&file, "{not json\n").unwrap();
        let error = import(&mut gallery, &request(&file, None)).unwrap_err().to_string();
        assert!(error.contains("line 1"), "{error}");
    }
}
