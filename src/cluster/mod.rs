//! Several workers share a site: a Kafka consumer group on the compacted cameras topic
//! decides which worker runs which camera ([`Membership`]); `squint cameras` edits that topic
//! ([`CamerasTopic`]) and `squint cluster status` shows who holds what ([`group_status`]).

mod config;
mod gallery;
mod member;
mod status;
mod topic;

pub use config::ClusterConfig;
pub use gallery::{GALLERY_RECORD_VERSION, GalleryRecord, GallerySync, publish_identities};
pub use member::{CameraControl, ClusterState, GroupView, Membership};
pub use status::{GroupStatus, MemberStatus, assigned_partitions, group_status};
pub use topic::{CameraChange, CameraRecord, CamerasTopic, CompactedTopic, RawRecord, decode, read_camera_file};

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("kafka ({brokers}): {message}")]
    Kafka { brokers: String, message: String },
    #[error(transparent)]
    Publish(#[from] crate::publish::PublishError),
    #[error("cameras file {path}: {message}")]
    CameraFile { path: std::path::PathBuf, message: String },
    #[error("camera `{camera}` is not in the cameras topic {topic}; see `squint cameras list`")]
    NoSuchCamera { camera: String, topic: String },
    #[error("the cameras topic {topic} does not exist; create it with `squint cameras put`")]
    NoTopic { topic: String },
    #[error(
        "gallery topic {topic} holds embeddings of `{topic_space}` but this worker's models.recognizer embeds into `{space}`; run the site's recognizer on every worker (or give this one its own gallery_topic)"
    )]
    GallerySpace {
        topic: String,
        topic_space: String,
        space: String,
    },
    #[error(transparent)]
    Gallery(#[from] crate::gallery::GalleryError),
}

#[cfg(test)]
mod tests;
