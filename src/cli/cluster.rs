//! `squint cameras` and `squint cluster`: the site's cameras topic and consumer group.

use std::path::Path;

use anyhow::Context;

use super::{CamerasAction, ClusterAction};
use crate::cluster::{CamerasTopic, ClusterConfig, group_status, read_camera_file};
use crate::config::Config;
use crate::redact::redact_credentials;

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
