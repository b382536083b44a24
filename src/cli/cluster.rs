//! `squint cameras` and `squint cluster`: the site's cameras topic and consumer group.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cluster::{CamerasTopic, ClusterConfig, group_status, publish_identities, read_camera_file};
use crate::config::Config;
use crate::gallery::Gallery;
use crate::redact::redact_credentials;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum CamerasAction {
    /// Add or replace the cameras of a file of `[[cameras]]` tables (validated as in a config
    /// file); a changed camera restarts on its worker, the others keep running.
    Put { file: PathBuf },
    /// Remove cameras by id; their workers stop them.
    Rm {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// The cameras in the topic, credentials redacted.
    List {
        /// One JSON object per line instead.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClusterAction {
    /// Members of the group, their partitions and cameras.
    Status {
        #[arg(long)]
        json: bool,
    },
}

/// The config's `[cluster]`, or an error saying it is needed.
fn clustered(path: &Path) -> anyhow::Result<(Config, ClusterConfig)> {
    let config = Config::load(path)?;
    let cluster = config.cluster.clone().with_context(|| {
        format!(
            "config file {}: no [cluster] table; these commands work on a cluster's cameras topic (see README, \"Running on several machines\")",
            path.display()
        )
    })?;
    Ok((config, cluster))
}

pub fn cameras(path: &Path, action: CamerasAction) -> anyhow::Result<()> {
    let (config, cluster) = clustered(path)?;
    let topic = CamerasTopic::new(&config.kafka, &cluster);
    match action {
        CamerasAction::Put { file } => {
            let cameras = read_camera_file(&file, config.pipeline.templates_dir())?;
            topic.put(&cameras)?;
            let ids: Vec<&str> = cameras.iter().map(|c| c.id.as_str()).collect();
            println!(
                "{} camera(s) in {}: {}",
                ids.len(),
                cluster.cameras_topic,
                ids.join(", ")
            );
        }
        CamerasAction::Rm { ids } => {
            topic.remove(&ids)?;
            println!("removed from {}: {}", cluster.cameras_topic, ids.join(", "));
        }
        CamerasAction::List { json } => {
            for (id, record) in topic.read_all()? {
                let url = redact_credentials(&record.camera.url);
                if json {
                    let mut value = serde_json::to_value(&record.camera)?;
                    value["url"] = serde_json::json!(url);
                    value["partition"] = serde_json::json!(record.partition);
                    println!("{value}");
                } else {
                    println!("{id}\tpartition {}\t{url}", record.partition);
                }
            }
        }
    }
    Ok(())
}

pub fn cluster(path: &Path, action: ClusterAction) -> anyhow::Result<()> {
    let (config, cluster) = clustered(path)?;
    match action {
        ClusterAction::Status { json } => {
            let status = group_status(&cluster, &config.kafka)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
                return Ok(());
            }
            println!(
                "group {} ({}), {} member(s)",
                status.group,
                status.state,
                status.members.len()
            );
            for member in &status.members {
                println!(
                    "  {} ({}) partitions {:?}: {}",
                    member.client_id,
                    member.host,
                    member.partitions,
                    member.cameras.join(", ")
                );
            }
            if !status.unassigned.is_empty() {
                println!("  not running anywhere: {}", status.unassigned.join(", "));
            }
        }
    }
    Ok(())
}

/// The site's gallery topic named by a worker config (`--config` of `enroll` and `gallery`),
/// loaded before anything is changed so a bad config changes nothing.
pub struct SiteGallery {
    config: Config,
    cluster: ClusterConfig,
}

impl SiteGallery {
    pub fn load(path: &Path) -> anyhow::Result<SiteGallery> {
        let (config, cluster) = clustered(path)?;
        if cluster.gallery_topic.is_none() {
            anyhow::bail!(
                "config file {}: key `cluster.gallery_topic` is not set; without it each worker's gallery is its own",
                path.display()
            );
        }
        Ok(SiteGallery { config, cluster })
    }

    /// Publishes the current state of `names` (tombstones for removed ones).
    pub fn publish(&self, gallery: &Gallery, names: &[String]) -> anyhow::Result<()> {
        publish_identities(&self.config.kafka, &self.cluster, gallery, names)?;
        let topic = self.cluster.gallery_topic.as_deref().unwrap_or_default();
        match names.len() {
            0..=10 => println!("published to {topic}: {}", names.join(", ")),
            n => println!("published {n} identities to {topic}"),
        }
        Ok(())
    }
}
