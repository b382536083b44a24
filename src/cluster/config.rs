use serde::Deserialize;

use crate::check::{KeyError, check_range};

/// `[cluster]`: run as one worker of a site whose cameras are shared out by a Kafka
/// consumer group. Absent: every `[[cameras]]` table runs in this process, as always.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Consumer group of the site's workers, e.g. `squint-site-a`.
    pub group: String,
    /// Static membership (`group.instance.id`), e.g. the pod name: a worker restarted within
    /// `session_timeout_s` gets its cameras back without moving anyone else's. Unset: a
    /// restart is a leave and a join, and cameras move.
    #[serde(default)]
    pub instance_id: Option<String>,
    /// Written into every event and alert; default `instance_id`, else the host name.
    #[serde(default)]
    pub worker_id: Option<String>,
    /// Compacted topic of the site's cameras: key = camera id, value = its `[[cameras]]`
    /// table as JSON, tombstone = removed. Its partitions are what the group shares out.
    #[serde(default = "default_cameras_topic")]
    pub cameras_topic: String,
    /// One gallery for the site: enrolments, removals, negatives and watchlist changes made
    /// with `--config` of this file go to this compacted topic, and every worker keeps its
    /// `[gallery] path` equal to it. Unset: each worker's gallery file is its own.
    #[serde(default)]
    pub gallery_topic: Option<String>,
    /// Partitions of `cameras_topic` when Squint creates it: the most workers that can hold
    /// cameras at once, and the unit of moving (see README, "Running on several machines").
    #[serde(default = "default_partitions")]
    pub partitions: i32,
    /// A worker silent this long is presumed dead and its cameras move. Brokers accept 6 s
    /// to 1800 s by default (group.min/max.session.timeout.ms).
    #[serde(default = "default_session_timeout")]
    pub session_timeout_s: f64,
    /// Longest wait, when cameras are taken away, for their tracks to end and their last
    /// events to reach Kafka before the partition is let go.
    #[serde(default = "default_stop_timeout")]
    pub stop_timeout_s: f64,
}

fn default_cameras_topic() -> String {
    "squint.cameras".into()
}
fn default_partitions() -> i32 {
    24
}
fn default_session_timeout() -> f64 {
    10.0
}
fn default_stop_timeout() -> f64 {
    10.0
}

impl ClusterConfig {
    /// The id events carry: `worker_id`, else `instance_id`, else the host name.
    pub fn worker_id(&self) -> String {
        self.worker_id
            .clone()
            .or_else(|| self.instance_id.clone())
            .unwrap_or_else(host_name)
    }

    pub(crate) fn validate(&self) -> Result<(), KeyError> {
        for (key, value) in [
            ("group", Some(&self.group)),
            ("instance_id", self.instance_id.as_ref()),
            ("worker_id", self.worker_id.as_ref()),
            ("cameras_topic", Some(&self.cameras_topic)),
            ("gallery_topic", self.gallery_topic.as_ref()),
        ] {
            if let Some(value) = value {
                check_name(value).map_err(|message| (key.to_string(), message))?;
            }
        }
        check_range("partitions", self.partitions, 1, 10_000)?;
        check_range("session_timeout_s", self.session_timeout_s, 1.0, 1800.0)?;
        check_range("stop_timeout_s", self.stop_timeout_s, 0.1, 600.0)?;
        Ok(())
    }
}

/// Kafka's rule for topic and group names, applied to every name here so a typo fails at
/// start-up rather than as a broker error.
fn check_name(value: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
    if value.is_empty() || value.len() > 249 || !value.chars().all(allowed) {
        return Err(format!(
            "`{value}` is not a valid name; use 1-249 letters, digits, `.`, `_` or `-`"
        ));
    }
    Ok(())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "squint".into())
}
