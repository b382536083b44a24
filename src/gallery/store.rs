use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{GalleryError, Matcher};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS identities (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL DEFAULT (unixepoch()),
    watchlist TEXT NOT NULL DEFAULT 'default'
);
CREATE TABLE IF NOT EXISTS templates (
    id INTEGER PRIMARY KEY,
    identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    embedding BLOB NOT NULL,
    created_at INTEGER NOT NULL DEFAULT (unixepoch())
);
CREATE TABLE IF NOT EXISTS negatives (
    id INTEGER PRIMARY KEY,
    identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    embedding BLOB NOT NULL,
    created_at INTEGER NOT NULL DEFAULT (unixepoch())
);
CREATE TABLE IF NOT EXISTS unknowns (
    id TEXT PRIMARY KEY,
    visits INTEGER NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    cameras TEXT NOT NULL,
    ignored INTEGER NOT NULL DEFAULT 0,
    visit_times TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS unknown_templates (
    id INTEGER PRIMARY KEY,
    unknown_id TEXT NOT NULL REFERENCES unknowns(id) ON DELETE CASCADE,
    quality REAL NOT NULL,
    embedding BLOB NOT NULL,
    width_px REAL NOT NULL DEFAULT 0,
    face BLOB
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '5');
INSERT OR IGNORE INTO meta (key, value) VALUES ('match_revision', '0');
";

/// Bumps `match_revision` whenever something the matcher is built from changes (identities,
/// templates, negatives, ignored unknowns), so a running pipeline rebuilds its matcher for
/// those changes only and not for every stranger's visit it records itself.
const MATCH_TRIGGERS: &str = "
CREATE TRIGGER IF NOT EXISTS match_identities_ins AFTER INSERT ON identities BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'match_revision'; END;
CREATE TRIGGER IF NOT EXISTS match_identities_upd AFTER UPDATE ON identities BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'match_revision'; END;
CREATE TRIGGER IF NOT EXISTS match_identities_del AFTER DELETE ON identities BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'match_revision'; END;
CREATE TRIGGER IF NOT EXISTS match_templates_ins AFTER INSERT ON templates BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'match_revision'; END;
CREATE TRIGGER IF NOT EXISTS match_templates_del AFTER DELETE ON templates BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'match_revision'; END;
CREATE TRIGGER IF NOT EXISTS match_negatives_ins AFTER INSERT ON negatives BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'match_revision'; END;
CREATE TRIGGER IF NOT EXISTS match_negatives_del AFTER DELETE ON negatives BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'match_revision'; END;
CREATE TRIGGER IF NOT EXISTS match_unknowns_ins AFTER INSERT ON unknowns WHEN NEW.ignored BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'match_revision'; END;
CREATE TRIGGER IF NOT EXISTS match_unknowns_upd AFTER UPDATE OF ignored ON unknowns BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'match_revision'; END;
CREATE TRIGGER IF NOT EXISTS match_unknowns_del AFTER DELETE ON unknowns WHEN OLD.ignored BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'match_revision'; END;
";

/// The newest gallery layout this build reads and writes. Version 2 added `negatives`,
/// version 3 the identities' `watchlist`, version 4 the `unknowns` (clustered strangers),
/// version 5 their faces, template widths and visit times, and `match_revision`.
pub const GALLERY_SCHEMA_VERSION: u32 = 5;

/// The watchlist of identities enrolled without one.
pub const DEFAULT_WATCHLIST: &str = "default";

/// The whole gallery as `squint gallery export` writes it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GalleryExport {
    pub schema_version: u32,
    pub embedding_space: Option<String>,
    pub identities: Vec<ExportedIdentity>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExportedIdentity {
    pub name: String,
    pub watchlist: String,
    pub templates: Vec<ExportedEmbedding>,
    pub negatives: Vec<ExportedEmbedding>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExportedEmbedding {
    pub source: String,
    pub embedding: Vec<f32>,
}

/// One identity as `squint gallery list` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct IdentitySummary {
    pub name: String,
    pub templates: usize,
    pub watchlist: String,
}

pub struct Gallery {
    pub(super) path: PathBuf,
    pub(super) conn: Connection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Create,
    ReadWrite,
    ReadOnly,
}

impl Gallery {
    /// Opens the gallery file, creating it (and its folder) when missing. Only enrolment
    /// creates galleries: everything else opens existing ones, so a mistyped path is an
    /// error instead of a new empty gallery.
    pub fn create(path: &Path) -> Result<Gallery, GalleryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        Gallery::open_with(path, Access::Create)
    }

    /// Opens an existing gallery to change it.
    pub fn open(path: &Path) -> Result<Gallery, GalleryError> {
        Gallery::open_with(path, Access::ReadWrite)
    }

    /// Opens an existing gallery without ever writing to it (`run`, `list`, `export`), so a
    /// gallery on read-only storage or owned by another user still works.
    pub fn open_read_only(path: &Path) -> Result<Gallery, GalleryError> {
        Gallery::open_with(path, Access::ReadOnly)
    }

    /// Fails unless a gallery file exists at `path`: a cheap check callers make before
    /// slower work (loading models) that would be wasted on a mistyped path.
    pub fn require_existing(path: &Path) -> Result<(), GalleryError> {
        match path.is_file() {
            true => Ok(()),
            false => Err(GalleryError::Missing {
                path: path.to_path_buf(),
            }),
        }
    }

    fn open_with(path: &Path, access: Access) -> Result<Gallery, GalleryError> {
        if access != Access::Create {
            Gallery::require_existing(path)?;
        }
        let sqlite = |source| GalleryError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        // A file or folder this user may not write, named as such rather than as SQLite's
        // "unable to open" or "readonly database".
        let unwritable = |e: rusqlite::Error| match is_unwritable(&e) {
            true => GalleryError::ReadOnly {
                path: path.to_path_buf(),
            },
            false => sqlite(e),
        };
        let flags = match access {
            Access::Create => OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
            Access::ReadWrite => OpenFlags::SQLITE_OPEN_READ_WRITE,
            Access::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY,
        };
        let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(sqlite)?;
        // SQLite opens lazily: a read-only file it cannot read shows only at the first query.
        let conn = match first_read(&conn) {
            Err(e) if access == Access::ReadOnly => open_immutable(path).map_err(|_| sqlite(e))?,
            read => read.map(|()| conn).map_err(unwritable)?,
        };
        // Another process (e.g. `squint enroll` during `squint run`) may hold the write lock
        // for a moment.
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(sqlite)?;
        check_schema_version(&conn, path)?;
        if access == Access::ReadOnly {
            check_readable_as_is(&conn, path)?;
        } else {
            conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL;")
                .map_err(unwritable)?;
            conn.execute_batch(SCHEMA).map_err(unwritable)?;
            upgrade(&conn).map_err(sqlite)?;
            conn.execute_batch(MATCH_TRIGGERS).map_err(unwritable)?;
        }
        Ok(Gallery {
            path: path.to_path_buf(),
            conn,
        })
    }

    /// Changes whenever another connection (e.g. `squint enroll`) commits to the file.
    pub fn data_version(&self) -> Result<i64, GalleryError> {
        self.conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(|e| self.sqlite(e))
    }

    /// Changes whenever what [`Gallery::matcher`] builds from may have changed.
    pub fn match_revision(&self) -> Result<i64, GalleryError> {
        Ok(self.meta("match_revision")?.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// Runs `write` in one transaction, committed only when all of it succeeded.
    pub(super) fn in_transaction<T>(
        &mut self,
        write: impl FnOnce(&rusqlite::Transaction) -> rusqlite::Result<T>,
    ) -> Result<T, GalleryError> {
        let result = (|| {
            let tx = self.conn.transaction()?;
            let value = write(&tx)?;
            tx.commit()?;
            Ok(value)
        })();
        result.map_err(|e| self.sqlite(e))
    }

    pub(super) fn sqlite(&self, source: rusqlite::Error) -> GalleryError {
        GalleryError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn meta(&self, key: &str) -> Result<Option<String>, GalleryError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.sqlite(e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The space of the gallery's embeddings, fixed by the first enrolment.
    pub fn embedding_space(&self) -> Result<Option<String>, GalleryError> {
        self.meta("embedding_space")
    }

    /// Makes sure embeddings of `space` (with `size` values) may go into or be matched
    /// against this gallery; the first enrolment fixes the space.
    pub fn check_space(&self, space: &str, size: usize) -> Result<(), GalleryError> {
        match self.meta("embedding_space")? {
            Some(stored) if stored != space => Err(GalleryError::SpaceMismatch {
                path: self.path.clone(),
                stored,
                requested: space.to_string(),
            }),
            Some(_) => {
                let stored: usize = self
                    .meta("embedding_size")?
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(size);
                if stored == size {
                    Ok(())
                } else {
                    Err(GalleryError::Dimension {
                        path: self.path.clone(),
                        got: size,
                        expected: stored,
                    })
                }
            }
            None => Ok(()),
        }
    }

    /// Stores one template for `name`, creating the identity if needed.
    pub fn add_template(
        &mut self,
        name: &str,
        source: &str,
        space: &str,
        embedding: &[f32],
    ) -> Result<(), GalleryError> {
        super::validate_name(name)?;
        self.check_space(space, embedding.len())?;
        let blob = bytes(embedding);
        self.in_transaction(|tx| {
            let id = ensure_identity(tx, name, space, embedding.len())?;
            tx.execute(
                "INSERT INTO templates (identity_id, source, embedding) VALUES (?1, ?2, ?3)",
                params![id, source, blob],
            )?;
            Ok(())
        })
    }

    pub fn list(&self) -> Result<Vec<IdentitySummary>, GalleryError> {
        let mut stmt = self
            .conn
            .prepare("SELECT i.name, COUNT(t.id), i.watchlist FROM identities i LEFT JOIN templates t ON t.identity_id = i.id GROUP BY i.id ORDER BY i.name")
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(IdentitySummary {
                    name: r.get(0)?,
                    templates: r.get::<_, i64>(1)? as usize,
                    watchlist: r.get(2)?,
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// Stores a "not this person" embedding for an enrolled identity: a probe closer to it
    /// than to the identity's own templates is not matched to the identity.
    pub fn add_negative(
        &mut self,
        name: &str,
        source: &str,
        space: &str,
        embedding: &[f32],
    ) -> Result<(), GalleryError> {
        self.check_space(space, embedding.len())?;
        let blob = bytes(embedding);
        let id: Option<i64> = self
            .conn
            .query_row("SELECT id FROM identities WHERE name = ?1", [name], |r| r.get(0))
            .optional()
            .map_err(|e| self.sqlite(e))?;
        let id = id.ok_or_else(|| GalleryError::UnknownIdentity {
            path: self.path.clone(),
            name: name.to_string(),
        })?;
        self.conn
            .execute(
                "INSERT INTO negatives (identity_id, source, embedding) VALUES (?1, ?2, ?3)",
                params![id, source, blob],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(())
    }

    /// Everything in the gallery, for backups and other tools.
    pub fn export(&self) -> Result<GalleryExport, GalleryError> {
        let mut templates = self.embeddings_by_identity(Table::Templates)?;
        let mut negatives = self.embeddings_by_identity(Table::Negatives)?;
        let identities = self
            .list()?
            .into_iter()
            .map(|summary| ExportedIdentity {
                templates: templates.remove(&summary.name).unwrap_or_default(),
                negatives: negatives.remove(&summary.name).unwrap_or_default(),
                name: summary.name,
                watchlist: summary.watchlist,
            })
            .collect();
        Ok(GalleryExport {
            schema_version: GALLERY_SCHEMA_VERSION,
            embedding_space: self.meta("embedding_space")?,
            identities,
        })
    }

    /// One identity as [`Gallery::export`] writes it; `None` when there is none of that name.
    pub fn export_identity(&self, name: &str) -> Result<Option<ExportedIdentity>, GalleryError> {
        let watchlist: Option<String> = self
            .conn
            .query_row("SELECT watchlist FROM identities WHERE name = ?1", [name], |r| r.get(0))
            .optional()
            .map_err(|e| self.sqlite(e))?;
        let Some(watchlist) = watchlist else {
            return Ok(None);
        };
        let embeddings = |table| -> Result<Vec<ExportedEmbedding>, GalleryError> {
            let rows = self.rows(table, Some(name))?;
            Ok(rows
                .into_iter()
                .map(|(_, source, blob)| ExportedEmbedding {
                    source,
                    embedding: floats(&blob),
                })
                .collect())
        };
        Ok(Some(ExportedIdentity {
            name: name.to_string(),
            watchlist,
            templates: embeddings(Table::Templates)?,
            negatives: embeddings(Table::Negatives)?,
        }))
    }

    /// Makes identity `identity.name` exactly this: watchlist, templates and negatives (a
    /// record of a cluster's gallery topic). Returns false when it already was.
    pub fn replace_identity(&mut self, identity: &ExportedIdentity, space: &str) -> Result<bool, GalleryError> {
        Ok(!self
            .replace_identities(std::slice::from_ref(identity), space)?
            .is_empty())
    }

    /// [`Gallery::replace_identity`] for many, in one transaction; returns the names of those
    /// that changed (the others already were as given).
    pub fn replace_identities(
        &mut self,
        identities: &[ExportedIdentity],
        space: &str,
    ) -> Result<Vec<String>, GalleryError> {
        let mut changed = Vec::new();
        for identity in identities {
            super::validate_name(&identity.name)?;
            if self.export_identity(&identity.name)?.as_ref() != Some(identity) {
                changed.push(identity);
            }
        }
        if changed.is_empty() {
            return Ok(Vec::new());
        }
        let size = changed
            .iter()
            .find_map(|i| i.templates.first())
            .map_or(0, |t| t.embedding.len());
        self.check_space(space, size)?;
        self.in_transaction(|tx| {
            for identity in &changed {
                write_identity(tx, identity, space, size)?;
            }
            Ok(())
        })?;
        Ok(changed.into_iter().map(|i| i.name.clone()).collect())
    }

    fn embeddings_by_identity(
        &self,
        table: Table,
    ) -> Result<std::collections::HashMap<String, Vec<ExportedEmbedding>>, GalleryError> {
        let mut grouped: std::collections::HashMap<String, Vec<ExportedEmbedding>> = Default::default();
        for (name, source, blob) in self.rows(table, None)? {
            let embedding = floats(&blob);
            grouped
                .entry(name)
                .or_default()
                .push(ExportedEmbedding { source, embedding });
        }
        Ok(grouped)
    }

    /// (identity, source, embedding blob) of every row of `table` (of identity `only`, when
    /// given), by identity, then in the order they were added.
    fn rows(&self, table: Table, only: Option<&str>) -> Result<Vec<(String, String, Vec<u8>)>, GalleryError> {
        let sql = format!(
            "SELECT i.name, e.source, e.embedding FROM {} e JOIN identities i ON i.id = e.identity_id WHERE ?1 IS NULL OR i.name = ?1 ORDER BY i.name, e.id",
            table.name()
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([only], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// Every template with its identity and row id, in row order (no sort: a million rows
    /// come back in their storage order).
    fn keyed_templates(&self) -> Result<Vec<(String, i64, Vec<u8>)>, GalleryError> {
        let mut stmt = self
            .conn
            .prepare("SELECT i.name, e.id, e.embedding FROM templates e JOIN identities i ON i.id = e.identity_id ORDER BY e.id")
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// Puts an enrolled identity on a watchlist (each watchlist has its own alert policy).
    pub fn set_watchlist(&mut self, name: &str, watchlist: &str) -> Result<(), GalleryError> {
        let n = self
            .conn
            .execute(
                "UPDATE identities SET watchlist = ?2 WHERE name = ?1",
                [name, watchlist],
            )
            .map_err(|e| self.sqlite(e))?;
        if n == 0 {
            return Err(GalleryError::UnknownIdentity {
                path: self.path.clone(),
                name: name.to_string(),
            });
        }
        Ok(())
    }

    /// Removes an identity and its templates; false when there was none of that name.
    pub fn remove(&mut self, name: &str) -> Result<bool, GalleryError> {
        let n = self
            .conn
            .execute("DELETE FROM identities WHERE name = ?1", [name])
            .map_err(|e| self.sqlite(e))?;
        Ok(n > 0)
    }

    /// Builds the in-memory matcher for probes of `space`.
    pub fn matcher(&self, space: &str, size: usize) -> Result<Matcher, GalleryError> {
        self.check_space(space, size)?;
        let mut matcher = Matcher::new(size);
        for (name, id, blob) in self.keyed_templates()? {
            let embedding = self.decode(&blob, size)?;
            matcher.add_keyed(&name, super::template_key(id, &embedding), &embedding);
        }
        for summary in self.list()? {
            matcher.set_watchlist(&summary.name, &summary.watchlist);
        }
        for (name, _, blob) in self.rows(Table::Negatives, None)? {
            matcher.add_negative(&name, &self.decode(&blob, size)?);
        }
        self.add_ignored_anchors(&mut matcher, size)?;
        matcher.prepare();
        Ok(matcher)
    }

    fn decode(&self, blob: &[u8], size: usize) -> Result<Vec<f32>, GalleryError> {
        let embedding = floats(blob);
        if embedding.len() != size {
            return Err(GalleryError::Dimension {
                path: self.path.clone(),
                got: embedding.len(),
                expected: size,
            });
        }
        Ok(embedding)
    }
}

/// The tables that hold embeddings.
#[derive(Debug, Clone, Copy)]
enum Table {
    Templates,
    Negatives,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Templates => "templates",
            Table::Negatives => "negatives",
        }
    }
}

/// Refuses a gallery written by a newer Squint before anything is written to it.
fn check_schema_version(conn: &Connection, path: &Path) -> Result<(), GalleryError> {
    let has_meta: bool = conn
        .query_row(
            "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
            [],
            |r| r.get(0),
        )
        .map_err(|source| GalleryError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
    if !has_meta {
        return Ok(());
    }
    let stored: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))
        .optional()
        .map_err(|source| GalleryError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
    match stored.and_then(|v| v.parse::<u32>().ok()) {
        Some(version) if version > GALLERY_SCHEMA_VERSION => Err(GalleryError::NewerSchema {
            path: path.to_path_buf(),
            version,
            supported: GALLERY_SCHEMA_VERSION,
        }),
        _ => Ok(()),
    }
}

/// Brings a gallery of an older layout up to this one (in place, keeping its data).
fn is_unwritable(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
    )
}

fn first_read(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))
        .map(drop)
}

/// Reading a WAL-mode file needs its `-shm` index, which SQLite cannot create in a folder
/// this user may not write. Opened as immutable instead, the file is read as it is; changes
/// made to it while Squint runs are then seen only at the next start.
fn open_immutable(path: &Path) -> rusqlite::Result<Connection> {
    let escaped = path
        .to_string_lossy()
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23");
    let conn = Connection::open_with_flags(
        format!("file:{escaped}?mode=ro&immutable=1"),
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    first_read(&conn)?;
    tracing::warn!(
        gallery = %path.display(),
        "gallery folder is not writable: gallery opened as immutable, so enrolments made while this runs are seen only after a restart"
    );
    Ok(conn)
}

/// A read-only connection cannot create or upgrade tables: the file must already be a
/// gallery of the current layout.
fn check_readable_as_is(conn: &Connection, path: &Path) -> Result<(), GalleryError> {
    let version: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))
        .optional()
        .map_err(|_| GalleryError::NotAGallery {
            path: path.to_path_buf(),
        })?;
    match version.and_then(|v| v.parse::<u32>().ok()) {
        Some(GALLERY_SCHEMA_VERSION) => Ok(()),
        Some(version) => Err(GalleryError::OlderSchema {
            path: path.to_path_buf(),
            version,
            supported: GALLERY_SCHEMA_VERSION,
        }),
        None => Err(GalleryError::NotAGallery {
            path: path.to_path_buf(),
        }),
    }
}

fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
        [table, column],
        |r| r.get(0),
    )
}

fn upgrade(conn: &Connection) -> rusqlite::Result<()> {
    let has_watchlist = has_column(conn, "identities", "watchlist")?;
    if !has_watchlist {
        conn.execute_batch("ALTER TABLE identities ADD COLUMN watchlist TEXT NOT NULL DEFAULT 'default';")?;
    }
    for (table, column, definition) in [
        ("unknowns", "visit_times", "TEXT NOT NULL DEFAULT '[]'"),
        ("unknown_templates", "width_px", "REAL NOT NULL DEFAULT 0"),
        ("unknown_templates", "face", "BLOB"),
    ] {
        if !has_column(conn, table, column)? {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {definition};"))?;
        }
    }
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'schema_version' AND CAST(value AS INTEGER) < ?1",
        [GALLERY_SCHEMA_VERSION],
    )?;
    Ok(())
}

/// The row id of identity `name`, created if needed, in a gallery whose embeddings are of
/// `space` with `size` values (recorded by the first enrolment).
pub(super) fn ensure_identity(
    tx: &rusqlite::Transaction,
    name: &str,
    space: &str,
    size: usize,
) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('embedding_space', ?1)",
        [space],
    )?;
    tx.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('embedding_size', ?1)",
        [size.to_string()],
    )?;
    tx.execute("INSERT OR IGNORE INTO identities (name) VALUES (?1)", [name])?;
    tx.query_row("SELECT id FROM identities WHERE name = ?1", [name], |r| r.get(0))
}

/// Embeddings are stored as little-endian f32 blobs.
/// Deletes `identity.name` and writes it anew: watchlist, templates and negatives.
fn write_identity(
    tx: &rusqlite::Transaction,
    identity: &ExportedIdentity,
    space: &str,
    size: usize,
) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM identities WHERE name = ?1", [&identity.name])?;
    let id = ensure_identity(tx, &identity.name, space, size)?;
    tx.execute(
        "UPDATE identities SET watchlist = ?2 WHERE id = ?1",
        params![id, identity.watchlist],
    )?;
    for (table, rows) in [
        (Table::Templates, &identity.templates),
        (Table::Negatives, &identity.negatives),
    ] {
        let sql = format!(
            "INSERT INTO {} (identity_id, source, embedding) VALUES (?1, ?2, ?3)",
            table.name()
        );
        for row in rows {
            tx.execute(&sql, params![id, row.source, bytes(&row.embedding)])?;
        }
    }
    Ok(())
}

pub(super) fn bytes(embedding: &[f32]) -> Vec<u8> {
    embedding.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub(super) fn floats(blob: &[u8]) -> Vec<f32> {
    blob.chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
