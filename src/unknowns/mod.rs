//! Unknown faces: tracks that matched no identity, clustered into persistent
//! pseudo-identities (a recurring stranger keeps one `unknown_id` across visits and cameras).

mod cluster;

pub use cluster::{Assignment, Cluster, ClusterConfig, ClusterError, Clusters, Template, UnknownTrack};

#[cfg(test)]
mod tests;
