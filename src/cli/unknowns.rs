//! `squint unknowns`: the strangers `[unknowns]` clustered, reviewed from the command line.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;

use crate::gallery::{Gallery, StoredUnknown};
use crate::publish::timestamp;
use crate::unknowns::actions;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum UnknownsAction {
    /// One line per stranger: id, visits, first and last seen, cameras, faces, ignored.
    List {
        /// One JSON object per line instead.
        #[arg(long)]
        json: bool,
    },
    /// One stranger in full; --faces writes its best face crops as JPEG files.
    Show {
        id: String,
        #[arg(long)]
        faces: Option<PathBuf>,
    },
    /// Make the stranger an identity (or add them to one): their best faces become its
    /// templates, each at the size it was seen.
    Promote {
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        watchlist: Option<String>,
    },
    /// Never alert on this stranger, and never let them match an identity.
    Ignore { id: String },
    /// Make one stranger of two (the older id stays).
    Merge { a: String, b: String },
    /// Delete strangers not seen for --older-than-days days, or --all of them.
    Purge {
        #[arg(long, required_unless_present = "all")]
        older_than_days: Option<f64>,
        #[arg(long, conflicts_with = "older_than_days")]
        all: bool,
    },
}

pub fn run(path: &Path, action: UnknownsAction) -> anyhow::Result<()> {
    let mut gallery = match action {
        UnknownsAction::List { .. } | UnknownsAction::Show { .. } => Gallery::open_read_only(path)?,
        _ => Gallery::open(path)?,
    };
    match action {
        UnknownsAction::List { json } => list(&gallery, json)?,
        UnknownsAction::Show { id, faces } => {
            let unknown = actions::find(&gallery, &id)?;
            println!("{}", serde_json::to_string_pretty(&summary(&unknown))?);
            if let Some(dir) = faces {
                write_faces(&unknown, &dir)?;
            }
        }
        UnknownsAction::Promote { id, name, watchlist } => {
            let id = actions::find(&gallery, &id)?.id;
            let templates = gallery.promote_unknown(&id, &name, watchlist.as_deref())?;
            println!(
                "{id} is now {name} ({templates} template(s)); a running pipeline names them from its next gallery check"
            );
        }
        UnknownsAction::Ignore { id } => {
            let id = actions::find(&gallery, &id)?.id;
            gallery.ignore_unknown(&id)?;
            println!("{id} ignored: no recurring alerts, and never matched to an identity");
        }
        UnknownsAction::Merge { a, b } => {
            let kept = actions::merge(&mut gallery, &a, &b)?;
            println!("merged into {kept}");
        }
        UnknownsAction::Purge { older_than_days, all } => {
            let cutoff = match (all, older_than_days) {
                (true, _) => u64::MAX,
                (false, days) => cutoff_ms(days.unwrap_or(0.0)),
            };
            let purged = actions::purge(&mut gallery, cutoff)?;
            println!("deleted {purged} stranger(s)");
        }
    }
    Ok(())
}

fn cutoff_ms(days: f64) -> u64 {
    let now = crate::publish::unix_ms(SystemTime::now());
    now.saturating_sub((days.max(0.0) * 86_400_000.0) as u64)
}

fn summary(u: &StoredUnknown) -> serde_json::Value {
    serde_json::json!({
        "id": u.id,
        "visits": u.visits,
        "first_seen": timestamp(u.first_seen_ms),
        "last_seen": timestamp(u.last_seen_ms),
        "cameras": u.cameras,
        "faces": u.templates.len(),
        "face_widths_px": u.templates.iter().map(|t| t.width_px.round()).collect::<Vec<_>>(),
        "ignored": u.ignored,
    })
}

fn list(gallery: &Gallery, json: bool) -> anyhow::Result<()> {
    let unknowns = gallery.unknowns()?;
    if json {
        for u in &unknowns {
            println!("{}", summary(u));
        }
        return Ok(());
    }
    println!("ID\tVISITS\tFIRST SEEN\tLAST SEEN\tCAMERAS\tFACES\tIGNORED");
    for u in &unknowns {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            u.id,
            u.visits,
            timestamp(u.first_seen_ms),
            timestamp(u.last_seen_ms),
            u.cameras.join(","),
            u.templates.len(),
            if u.ignored { "yes" } else { "no" }
        );
    }
    Ok(())
}

fn write_faces(unknown: &StoredUnknown, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (i, face) in unknown.templates.iter().enumerate() {
        let Some(jpeg) = &face.jpeg else { continue };
        let path = dir.join(format!("{}-{i}-{}px.jpg", unknown.id, face.width_px.round()));
        std::fs::write(&path, jpeg).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
