//! The strangers' clusters (see the unknowns stage) kept in the gallery file, beside the
//! identities they may one day be promoted to.

use rusqlite::{OptionalExtension, params};

use super::store::{bytes, ensure_identity, floats};
use super::{Gallery, GalleryError, Matcher};

/// One cluster of unknown faces as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredUnknown {
    /// A UUID, as text.
    pub id: String,
    pub visits: u64,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    pub cameras: Vec<String>,
    pub ignored: bool,
    /// Start of each recent visit, oldest first.
    pub visit_times: Vec<u64>,
    /// Best first.
    pub templates: Vec<StoredFace>,
}

/// One of a cluster's best faces.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFace {
    pub quality: f32,
    /// Width of the face in the frame it was seen in.
    pub width_px: f32,
    pub embedding: Vec<f32>,
    /// The aligned crop as JPEG, for review and promotion.
    pub jpeg: Option<Vec<u8>>,
}

fn write_unknown(tx: &rusqlite::Transaction, unknown: &StoredUnknown) -> rusqlite::Result<()> {
    // Lists of strings and numbers always serialise.
    let cameras = serde_json::Value::from(unknown.cameras.clone()).to_string();
    let visit_times = serde_json::Value::from(unknown.visit_times.clone()).to_string();
    let stored_ignored: Option<bool> = tx
        .query_row("SELECT ignored FROM unknowns WHERE id = ?1", [&unknown.id], |r| {
            r.get(0)
        })
        .optional()?;
    tx.execute("DELETE FROM unknowns WHERE id = ?1", [&unknown.id])?;
    tx.execute(
        "INSERT INTO unknowns (id, visits, first_seen_ms, last_seen_ms, cameras, ignored, visit_times) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            unknown.id,
            unknown.visits as i64,
            unknown.first_seen_ms as i64,
            unknown.last_seen_ms as i64,
            cameras,
            unknown.ignored || stored_ignored.unwrap_or(false),
            visit_times
        ],
    )?;
    for face in &unknown.templates {
        tx.execute(
            "INSERT INTO unknown_templates (unknown_id, quality, embedding, width_px, face) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                unknown.id,
                f64::from(face.quality),
                bytes(&face.embedding),
                f64::from(face.width_px),
                face.jpeg
            ],
        )?;
    }
    Ok(())
}

/// The error of an unknown id that is not stored.
fn missing(gallery: &Gallery, id: &str) -> GalleryError {
    GalleryError::UnknownCluster {
        path: gallery.path.clone(),
        id: id.to_string(),
    }
}

impl Gallery {
    /// Writes a cluster, replacing what was stored under its id.
    pub fn put_unknown(&mut self, unknown: &StoredUnknown) -> Result<(), GalleryError> {
        self.write_unknowns(std::slice::from_ref(unknown), &[])
    }

    /// Writes clusters and forgets others in one transaction (a merge does both). An
    /// `ignored` mark made meanwhile by another process (`squint unknowns ignore`) is kept.
    pub fn write_unknowns(&mut self, put: &[StoredUnknown], remove: &[String]) -> Result<(), GalleryError> {
        self.in_transaction(|tx| {
            for id in remove {
                tx.execute("DELETE FROM unknowns WHERE id = ?1", [id])?;
            }
            for unknown in put {
                write_unknown(tx, unknown)?;
            }
            Ok(())
        })
    }

    /// Forgets a cluster (merged into another, promoted, or past retention); false when
    /// there was none.
    pub fn remove_unknown(&mut self, id: &str) -> Result<bool, GalleryError> {
        let removed = self
            .conn
            .execute("DELETE FROM unknowns WHERE id = ?1", [id])
            .map_err(|e| self.sqlite(e))?;
        Ok(removed > 0)
    }

    /// Forgets the clusters last seen before `cutoff_ms`; returns how many.
    pub fn remove_unknowns_seen_before(&mut self, cutoff_ms: u64) -> Result<usize, GalleryError> {
        // Stored as i64: a cutoff past its range (`u64::MAX`, "all") covers every row.
        let cutoff = i64::try_from(cutoff_ms).unwrap_or(i64::MAX);
        self.conn
            .execute("DELETE FROM unknowns WHERE last_seen_ms < ?1", [cutoff])
            .map_err(|e| self.sqlite(e))
    }

    /// Marks a cluster "never alert, never an identity"; an error when there is none.
    pub fn ignore_unknown(&mut self, id: &str) -> Result<(), GalleryError> {
        let changed = self
            .conn
            .execute("UPDATE unknowns SET ignored = 1 WHERE id = ?1", [id])
            .map_err(|e| self.sqlite(e))?;
        match changed {
            0 => Err(missing(self, id)),
            _ => Ok(()),
        }
    }

    /// Turns a cluster into identity `name` (created, or added to when it exists): the
    /// cluster's faces become its templates, each at the size it was seen, so the identity
    /// starts with templates of surveillance resolution. Returns how many were stored.
    pub fn promote_unknown(&mut self, id: &str, name: &str, watchlist: Option<&str>) -> Result<usize, GalleryError> {
        super::validate_name(name)?;
        // Strangers are only clustered by a pipeline matching against this gallery, so its
        // space is that of their templates.
        let space = self.embedding_space()?.ok_or_else(|| missing(self, id))?;
        let space = space.as_str();
        let unknown = self.unknown(id)?.ok_or_else(|| missing(self, id))?;
        if unknown.ignored {
            return Err(GalleryError::IgnoredCluster {
                path: self.path.clone(),
                id: id.to_string(),
            });
        }
        let Some(size) = unknown.templates.first().map(|t| t.embedding.len()) else {
            return Err(missing(self, id));
        };
        self.check_space(space, size)?;
        self.in_transaction(|tx| {
            let identity = ensure_identity(tx, name, space, size)?;
            if let Some(watchlist) = watchlist {
                tx.execute(
                    "UPDATE identities SET watchlist = ?1 WHERE name = ?2",
                    [watchlist, name],
                )?;
            }
            for face in &unknown.templates {
                tx.execute(
                    "INSERT INTO templates (identity_id, source, embedding) VALUES (?1, ?2, ?3)",
                    params![
                        identity,
                        format!("unknown:{id}@{}px", face.width_px.round()),
                        bytes(&face.embedding)
                    ],
                )?;
            }
            tx.execute("DELETE FROM unknowns WHERE id = ?1", [id])?;
            Ok(unknown.templates.len())
        })
    }

    /// One stored cluster.
    pub fn unknown(&self, id: &str) -> Result<Option<StoredUnknown>, GalleryError> {
        let mut found = self.read_unknowns(Some(id)).map_err(|e| self.sqlite(e))?;
        Ok(found.pop())
    }

    /// Every stored cluster, oldest first, templates best first.
    pub fn unknowns(&self) -> Result<Vec<StoredUnknown>, GalleryError> {
        self.read_unknowns(None).map_err(|e| self.sqlite(e))
    }

    /// The clusters with id `only`, or all of them.
    fn read_unknowns(&self, only: Option<&str>) -> rusqlite::Result<Vec<StoredUnknown>> {
        let json_error = |column, e: serde_json::Error| {
            rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(e))
        };
        let mut clusters = self.conn.prepare(
            "SELECT id, visits, first_seen_ms, last_seen_ms, cameras, ignored, visit_times FROM unknowns WHERE ?1 IS NULL OR id = ?1 ORDER BY first_seen_ms, id",
        )?;
        let mut templates = self.conn.prepare(
            "SELECT quality, embedding, width_px, face FROM unknown_templates WHERE unknown_id = ?1 ORDER BY quality DESC, id",
        )?;
        let rows = clusters.query_map([only], |r| {
            Ok(StoredUnknown {
                id: r.get(0)?,
                visits: r.get::<_, i64>(1)? as u64,
                first_seen_ms: r.get::<_, i64>(2)? as u64,
                last_seen_ms: r.get::<_, i64>(3)? as u64,
                cameras: serde_json::from_str(&r.get::<_, String>(4)?).map_err(|e| json_error(4, e))?,
                ignored: r.get(5)?,
                visit_times: serde_json::from_str(&r.get::<_, String>(6)?).map_err(|e| json_error(6, e))?,
                templates: Vec::new(),
            })
        })?;
        let mut out = Vec::new();
        for row in rows {
            let mut unknown = row?;
            unknown.templates = templates
                .query_map([&unknown.id], |r| {
                    Ok(StoredFace {
                        quality: r.get::<_, f64>(0)? as f32,
                        embedding: floats(&r.get::<_, Vec<u8>>(1)?),
                        width_px: r.get::<_, f64>(2)? as f32,
                        jpeg: r.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            out.push(unknown);
        }
        Ok(out)
    }

    /// Adds the faces of ignored clusters to `matcher` as anchors no identity matches.
    pub(super) fn add_ignored_anchors(&self, matcher: &mut Matcher, size: usize) -> Result<(), GalleryError> {
        let read = || -> rusqlite::Result<Vec<Vec<u8>>> {
            let mut stmt = self.conn.prepare(
                "SELECT t.embedding FROM unknown_templates t JOIN unknowns u ON u.id = t.unknown_id WHERE u.ignored ORDER BY t.id",
            )?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        };
        for blob in read().map_err(|e| self.sqlite(e))? {
            let embedding = floats(&blob);
            if embedding.len() == size {
                matcher.add_anchor(&embedding);
            }
        }
        Ok(())
    }
}
