//! The strangers' clusters (see `crate::unknowns`) kept in the gallery file, beside the
//! identities they may one day be promoted to.

use rusqlite::params;

use super::store::{bytes, floats};
use super::{Gallery, GalleryError};

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
    /// (quality, embedding), best first.
    pub templates: Vec<(f32, Vec<f32>)>,
}

impl Gallery {
    /// Writes a cluster, replacing what was stored under its id.
    pub fn put_unknown(&mut self, unknown: &StoredUnknown) -> Result<(), GalleryError> {
        // A list of strings always serialises.
        let cameras = serde_json::Value::from(unknown.cameras.clone()).to_string();
        self.in_transaction(|tx| {
            tx.execute("DELETE FROM unknowns WHERE id = ?1", [&unknown.id])?;
            tx.execute(
                "INSERT INTO unknowns (id, visits, first_seen_ms, last_seen_ms, cameras, ignored) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    unknown.id,
                    unknown.visits as i64,
                    unknown.first_seen_ms as i64,
                    unknown.last_seen_ms as i64,
                    cameras,
                    unknown.ignored
                ],
            )?;
            for (quality, embedding) in &unknown.templates {
                tx.execute(
                    "INSERT INTO unknown_templates (unknown_id, quality, embedding) VALUES (?1, ?2, ?3)",
                    params![unknown.id, f64::from(*quality), bytes(embedding)],
                )?;
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

    /// Every stored cluster, oldest first, templates best first.
    pub fn unknowns(&self) -> Result<Vec<StoredUnknown>, GalleryError> {
        let read = || -> rusqlite::Result<Vec<StoredUnknown>> {
            let mut clusters = self.conn.prepare(
                "SELECT id, visits, first_seen_ms, last_seen_ms, cameras, ignored FROM unknowns ORDER BY first_seen_ms, id",
            )?;
            let mut templates = self.conn.prepare(
                "SELECT quality, embedding FROM unknown_templates WHERE unknown_id = ?1 ORDER BY quality DESC, id",
            )?;
            let rows = clusters.query_map([], |r| {
                Ok(StoredUnknown {
                    id: r.get(0)?,
                    visits: r.get::<_, i64>(1)? as u64,
                    first_seen_ms: r.get::<_, i64>(2)? as u64,
                    last_seen_ms: r.get::<_, i64>(3)? as u64,
                    cameras: serde_json::from_str(&r.get::<_, String>(4)?).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e))
                    })?,
                    ignored: r.get(5)?,
                    templates: Vec::new(),
                })
            })?;
            let mut out = Vec::new();
            for row in rows {
                let mut unknown = row?;
                unknown.templates = templates
                    .query_map([&unknown.id], |r| {
                        Ok((r.get::<_, f64>(0)? as f32, floats(&r.get::<_, Vec<u8>>(1)?)))
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                out.push(unknown);
            }
            Ok(out)
        };
        read().map_err(|e| self.sqlite(e))
    }
}
