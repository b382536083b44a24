//! This worker's membership in the site's consumer group: the cameras-topic partitions it
//! holds decide which cameras it runs. librdkafka does the group protocol (cooperative-sticky
//! assignment, static membership); Squint only starts and stops cameras as partitions come
//! and go.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::Offset;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, TopicPartitionList};
use serde::Serialize;

use super::topic::{CameraChange, CamerasTopic, decode};
use super::{ClusterConfig, ClusterError};
use crate::ingest::CameraConfig;
use crate::publish::{ConnectionWatch, KafkaConfig, client_config};
use crate::redact::redact_credentials;

/// What the group asks of the pipeline. Both calls block until done: `stop` returns once the
/// camera's tracks have ended and their events are in Kafka (or its stop timeout passed), so
/// a partition is let go only after its cameras are.
pub trait CameraControl: Send + Sync {
    /// Runs `camera`, restarting it when it runs with another configuration; an error says
    /// why it could not start (it is retried when its record changes).
    fn start(&self, camera: &CameraConfig) -> Result<(), String>;
    fn stop(&self, camera_id: &str);
}

/// The group as this worker sees it, for /health, /metrics and logs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupView {
    pub worker_id: String,
    pub group: String,
    pub instance_id: Option<String>,
    /// `joining` until the first assignment, then `stable`, `rebalancing` while partitions
    /// move, `stopped` after shutdown.
    pub state: &'static str,
    pub partitions: BTreeSet<i32>,
    pub cameras: BTreeSet<String>,
    pub rebalances: u64,
    /// Records of the cameras topic that could not be used (bad JSON or config).
    pub bad_records: u64,
    pub last_error: Option<String>,
}

#[derive(Default)]
pub struct ClusterState {
    view: Mutex<GroupView>,
}

impl ClusterState {
    pub fn view(&self) -> GroupView {
        self.view.lock().map(|v| v.clone()).unwrap_or_default()
    }

    fn update(&self, f: impl FnOnce(&mut GroupView)) {
        if let Ok(mut view) = self.view.lock() {
            f(&mut view);
        }
    }
}

/// The cameras of each partition this worker holds.
type Held = BTreeMap<i32, HashMap<String, CameraConfig>>;

struct MemberContext {
    control: Arc<dyn CameraControl>,
    held: Mutex<Held>,
    state: Arc<ClusterState>,
    watch: ConnectionWatch,
}

impl ClientContext for MemberContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.watch.on_client_error(&error, reason);
        let message = redact_credentials(reason);
        self.state.update(|v| v.last_error = Some(message));
    }
}

impl ConsumerContext for MemberContext {
    /// librdkafka's default handling (incremental for cooperative-sticky), with two Squint
    /// steps: cameras of revoked partitions stop before they are let go, and every assigned
    /// partition is read from its start, whatever offset the group may have committed (Squint
    /// commits none; a tool that did must not hide cameras from their new worker).
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, partitions: &mut TopicPartitionList) {
        self.state.update(|v| v.rebalances += 1);
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let _ = partitions.set_all_offsets(Offset::Beginning);
                self.assigned(&partition_ids(partitions));
                match cooperative {
                    true => consumer.incremental_assign(partitions),
                    false => consumer.assign(partitions),
                }
            }
            other => {
                if other != RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS {
                    let error = KafkaError::Rebalance(other.into());
                    tracing::warn!(%error, "consumer group rebalance failed; librdkafka rejoins");
                    let message = redact_credentials(&error.to_string());
                    self.state.update(|v| v.last_error = Some(message));
                }
                self.revoke(partitions);
                match cooperative {
                    true => consumer.incremental_unassign(partitions),
                    false => consumer.unassign(),
                }
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "applying the group's assignment failed");
            self.state.update(|v| v.last_error = Some(e.to_string()));
        }
    }
}

impl MemberContext {
    fn assigned(&self, added: &[i32]) {
        tracing::info!(partitions = ?added, "cameras-topic partitions assigned");
        if let Ok(mut held) = self.held.lock() {
            for partition in added {
                held.entry(*partition).or_default();
            }
        }
        self.state.update(|v| {
            v.partitions.extend(added);
            v.state = "stable";
        });
    }

    /// Stops every camera of the revoked partitions before librdkafka lets them go.
    fn revoke(&self, partitions: &TopicPartitionList) {
        let revoked = partition_ids(partitions);
        tracing::info!(partitions = ?revoked, "cameras-topic partitions revoked; stopping their cameras");
        self.state.update(|v| v.state = "rebalancing");
        let cameras: Vec<String> = match self.held.lock() {
            Ok(mut held) => revoked
                .iter()
                .filter_map(|p| held.remove(p))
                .flat_map(|cameras| cameras.into_keys())
                .collect(),
            Err(_) => Vec::new(),
        };
        for camera in &cameras {
            self.control.stop(camera);
        }
        self.state.update(|v| {
            for partition in &revoked {
                v.partitions.remove(partition);
            }
            for camera in &cameras {
                v.cameras.remove(camera);
            }
        });
    }

    /// Applies one record of a held partition.
    fn apply(&self, partition: i32, change: CameraChange) {
        let Ok(mut held) = self.held.lock() else { return };
        let Some(cameras) = held.get_mut(&partition) else {
            return; // revoked since it was fetched
        };
        match change {
            CameraChange::Put(camera) => {
                if cameras.get(&camera.id) == Some(&*camera) {
                    return;
                }
                tracing::info!(camera = %camera.id, partition, "camera assigned to this worker");
                let started = self.control.start(&camera);
                let id = camera.id.clone();
                cameras.insert(id.clone(), *camera);
                self.state.update(|v| match started {
                    Ok(()) => {
                        v.cameras.insert(id);
                    }
                    Err(e) => {
                        v.cameras.remove(&id);
                        v.last_error = Some(format!("camera `{id}` not started: {e}"));
                    }
                });
            }
            CameraChange::Removed(id) => {
                if cameras.remove(&id).is_some() {
                    tracing::info!(camera = %id, partition, "camera removed from the cameras topic");
                    self.control.stop(&id);
                    self.state.update(|v| {
                        v.cameras.remove(&id);
                    });
                }
            }
        }
    }
}

fn partition_ids(partitions: &TopicPartitionList) -> Vec<i32> {
    partitions.elements().iter().map(|e| e.partition()).collect()
}

/// The running membership; [`Membership::shutdown`] leaves the group after stopping its cameras.
pub struct Membership {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub state: Arc<ClusterState>,
}

impl Membership {
    /// Joins `cluster.group` on the cameras topic (created when missing) and runs the
    /// cameras of the partitions it is given through `control`.
    pub fn start(
        cluster: &ClusterConfig,
        kafka: &KafkaConfig,
        control: Arc<dyn CameraControl>,
    ) -> Result<Membership, ClusterError> {
        CamerasTopic::new(kafka, cluster).ensure()?;
        let state = Arc::new(ClusterState::default());
        state.update(|v| {
            v.worker_id = cluster.worker_id();
            v.group = cluster.group.clone();
            v.instance_id = cluster.instance_id.clone();
            v.state = "joining";
        });
        let watch = ConnectionWatch::new(&kafka.properties);
        let context = MemberContext {
            control,
            held: Mutex::new(Held::new()),
            state: state.clone(),
            watch: watch.clone(),
        };
        let consumer: BaseConsumer<MemberContext> = member_client(cluster, kafka)
            .create_with_context(context)
            .map_err(|e| ClusterError::Kafka {
                brokers: redact_credentials(&kafka.brokers),
                message: watch.explain_failure(&e.to_string()),
            })?;
        consumer
            .subscribe(&[&cluster.cameras_topic])
            .map_err(|e| ClusterError::Kafka {
                brokers: redact_credentials(&kafka.brokers),
                message: e.to_string(),
            })?;
        tracing::info!(
            group = %cluster.group,
            instance_id = cluster.instance_id.as_deref().unwrap_or("(dynamic membership)"),
            worker_id = %cluster.worker_id(),
            topic = %cluster.cameras_topic,
            "joining the site's consumer group"
        );
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("cluster".into())
                .spawn(move || run(consumer, &stop))
                .map_err(|e| ClusterError::Kafka {
                    brokers: String::new(),
                    message: format!("starting the cluster thread: {e}"),
                })?
        };
        Ok(Membership {
            stop,
            thread: Some(thread),
            state,
        })
    }

    /// Stops this worker's cameras and leaves the group (a static member stays a member
    /// until its session times out, so a restart gets its cameras back).
    pub fn shutdown(self) {
        let state = self.state.clone();
        drop(self);
        state.update(|v| v.state = "stopped");
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The group consumer: never commits, so every assignment reads its partitions from the
/// start and so learns their cameras.
fn member_client(cluster: &ClusterConfig, kafka: &KafkaConfig) -> rdkafka::ClientConfig {
    let session_ms = (cluster.session_timeout_s * 1000.0).round() as u64;
    let mut client = client_config(&kafka.properties, &kafka.brokers);
    client
        .set("group.id", &cluster.group)
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // The topic is tiny and read from the start on every assignment: do not wait to
        // fill fetches, start the cameras.
        .set("fetch.wait.max.ms", "100")
        .set("session.timeout.ms", session_ms.to_string())
        .set("heartbeat.interval.ms", (session_ms / 4).clamp(100, 3000).to_string())
        // A revocation waits for cameras to stop; that must never count as a hung consumer.
        .set(
            "max.poll.interval.ms",
            ((cluster.stop_timeout_s * 1000.0) as u64 * 4 + 300_000).to_string(),
        )
        .set("client.id", format!("squint-{}", cluster.worker_id()));
    if let Some(instance) = &cluster.instance_id {
        client.set("group.instance.id", instance);
    }
    client
}

fn run(consumer: BaseConsumer<MemberContext>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(message)) => {
                let partition = message.partition();
                match decode(message.key(), message.payload()) {
                    Ok(change) => consumer.context().apply(partition, change),
                    Err(e) => {
                        tracing::error!(
                            partition,
                            offset = message.offset(),
                            "cameras topic: skipped a record: {e}"
                        );
                        consumer.context().state.update(|v| {
                            v.bad_records += 1;
                            v.last_error = Some(e);
                        });
                    }
                }
            }
            Some(Err(e)) => tracing::warn!(error = %e, "cameras topic"),
        }
    }
    leave(&consumer);
}

/// Gives every partition back (stopping its cameras) and waits, bounded, for librdkafka to
/// finish the leave.
fn leave(consumer: &BaseConsumer<MemberContext>) {
    consumer.unsubscribe();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let _ = consumer.poll(Duration::from_millis(50));
        if consumer.assignment().map(|a| a.count() == 0).unwrap_or(true) {
            break;
        }
    }
    // A static member's partitions are not revoked by leaving; stop their cameras anyway.
    let context = consumer.context();
    let remaining: Vec<String> = context
        .held
        .lock()
        .map(|mut held| {
            std::mem::take(&mut *held)
                .into_values()
                .flat_map(|c| c.into_keys())
                .collect()
        })
        .unwrap_or_default();
    for camera in &remaining {
        context.control.stop(camera);
    }
}

#[cfg(test)]
mod tests {
    use super::member_client;

    #[test]
    fn the_group_client_uses_cooperative_sticky_and_static_membership_when_asked() {
        let kafka = toml::from_str("brokers = \"127.0.0.1:9092\"").unwrap();
        let mut cluster: super::ClusterConfig = toml::from_str("group = \"site\"\nsession_timeout_s = 6").unwrap();
        let client = member_client(&cluster, &kafka);
        assert_eq!(client.get("partition.assignment.strategy"), Some("cooperative-sticky"));
        assert_eq!(client.get("session.timeout.ms"), Some("6000"));
        assert_eq!(client.get("heartbeat.interval.ms"), Some("1500"));
        assert_eq!(client.get("enable.auto.commit"), Some("false"));
        assert_eq!(client.get("group.instance.id"), None);
        cluster.instance_id = Some("squint-0".into());
        assert_eq!(
            member_client(&cluster, &kafka).get("group.instance.id"),
            Some("squint-0")
        );
    }
}
