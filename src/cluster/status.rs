//! `squint cluster status`: the group's members, the partitions each holds and the cameras
//! in them, from the broker's view (DescribeGroups) and the cameras topic.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use serde::Serialize;

use super::topic::CamerasTopic;
use super::{ClusterConfig, ClusterError};
use crate::publish::{ConnectionWatch, KafkaConfig, WatchedContext, client_config};
use crate::redact::redact_credentials;

#[derive(Debug, Clone, Serialize)]
pub struct MemberStatus {
    pub member_id: String,
    pub client_id: String,
    pub host: String,
    pub partitions: Vec<i32>,
    pub cameras: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupStatus {
    pub group: String,
    /// The broker's group state: `Stable`, `PreparingRebalance`, `Empty`, …
    pub state: String,
    pub members: Vec<MemberStatus>,
    /// Cameras in partitions no member holds (none while the group is stable with members).
    pub unassigned: Vec<String>,
}

pub fn group_status(cluster: &ClusterConfig, kafka: &KafkaConfig) -> Result<GroupStatus, ClusterError> {
    let cameras = CamerasTopic::new(kafka, cluster).read_all()?;
    let watch = ConnectionWatch::new(&kafka.properties);
    let kafka_error = |message: String| ClusterError::Kafka {
        brokers: redact_credentials(&kafka.brokers),
        message: watch.explain_failure(&message),
    };
    let consumer: BaseConsumer<WatchedContext> = client_config(&kafka.properties, &kafka.brokers)
        .create_with_context(WatchedContext(watch.clone()))
        .map_err(|e| kafka_error(e.to_string()))?;
    let groups = consumer
        .fetch_group_list(Some(&cluster.group), Duration::from_secs(15))
        .map_err(|e| {
            kafka_error(format!(
                "describing group {}: {e} (does this broker answer DescribeGroups? each worker's /health shows the cameras it holds)",
                cluster.group
            ))
        })?;
    let Some(group) = groups.groups().iter().find(|g| g.name() == cluster.group) else {
        return Err(kafka_error(format!("the broker does not know group {}", cluster.group)));
    };
    let mut by_partition: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for (id, record) in &cameras {
        by_partition.entry(record.partition).or_default().push(id.clone());
    }
    let mut members = Vec::new();
    for member in group.members() {
        let partitions = member
            .assignment()
            .map(|bytes| assigned_partitions(bytes, &cluster.cameras_topic))
            .unwrap_or_default();
        let cameras = partitions
            .iter()
            .flat_map(|p| by_partition.remove(p).unwrap_or_default())
            .collect();
        members.push(MemberStatus {
            member_id: member.id().to_string(),
            client_id: member.client_id().to_string(),
            host: member.client_host().to_string(),
            partitions,
            cameras,
        });
    }
    members.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    Ok(GroupStatus {
        group: cluster.group.clone(),
        state: group.state().to_string(),
        members,
        unassigned: by_partition.into_values().flatten().collect(),
    })
}

/// The partitions of `topic` in a consumer-protocol assignment (version, then per topic its
/// name and partitions, then user data; big-endian). Unreadable bytes give none.
pub fn assigned_partitions(bytes: &[u8], topic: &str) -> Vec<i32> {
    let mut reader = Reader(bytes);
    let mut found = Vec::new();
    let parsed = (|| {
        reader.i16()?;
        for _ in 0..reader.i32()? {
            let name = reader.string()?;
            for _ in 0..reader.i32()? {
                let partition = reader.i32()?;
                if name == topic {
                    found.push(partition);
                }
            }
        }
        Some(())
    })();
    if parsed.is_none() {
        return Vec::new();
    }
    found.sort_unstable();
    found
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<String> {
        let len = usize::try_from(self.i16()?).ok()?;
        Some(String::from_utf8_lossy(self.take(len)?).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::assigned_partitions;

    #[test]
    fn a_consumer_protocol_assignment_is_decoded() {
        let mut bytes = vec![0, 1, 0, 0, 0, 2];
        for (topic, partitions) in [("squint.cameras", vec![3i32, 1]), ("other", vec![7])] {
            bytes.extend((topic.len() as i16).to_be_bytes());
            bytes.extend(topic.as_bytes());
            bytes.extend((partitions.len() as i32).to_be_bytes());
            for p in partitions {
                bytes.extend(p.to_be_bytes());
            }
        }
        bytes.extend([0xff, 0xff, 0xff, 0xff]);
        assert_eq!(assigned_partitions(&bytes, "squint.cameras"), vec![1, 3]);
        assert_eq!(assigned_partitions(&bytes, "other"), vec![7]);
        assert!(assigned_partitions(&bytes[..9], "squint.cameras").is_empty());
    }
}
