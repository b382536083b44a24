use super::{AlertEvent, IdentityEvent};

/// Which topic a record goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicKind {
    Identity,
    Alert,
}

impl TopicKind {
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            TopicKind::Identity => 0,
            TopicKind::Alert => 1,
        }
    }

    pub(crate) fn from_byte(byte: u8) -> Option<TopicKind> {
        match byte {
            0 => Some(TopicKind::Identity),
            1 => Some(TopicKind::Alert),
            _ => None,
        }
    }
}

/// An event on its way to Kafka.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Identity(Box<IdentityEvent>),
    Alert(Box<AlertEvent>),
}

impl Outgoing {
    pub fn kind(&self) -> TopicKind {
        match self {
            Outgoing::Identity(_) => TopicKind::Identity,
            Outgoing::Alert(_) => TopicKind::Alert,
        }
    }

    /// The Kafka key: events of one camera stay in order on one partition.
    pub fn camera_id(&self) -> &str {
        match self {
            Outgoing::Identity(e) => &e.camera_id,
            Outgoing::Alert(a) => &a.camera_id,
        }
    }

    /// Names the worker that produced it (`[cluster]`).
    pub fn set_worker_id(&mut self, worker_id: &str) {
        let slot = match self {
            Outgoing::Identity(e) => &mut e.worker_id,
            Outgoing::Alert(a) => &mut a.worker_id,
        };
        *slot = Some(worker_id.to_string());
    }

    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        match self {
            Outgoing::Identity(e) => serde_json::to_vec(e),
            Outgoing::Alert(a) => serde_json::to_vec(a),
        }
    }
}
