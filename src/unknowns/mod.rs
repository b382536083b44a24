//! Unknown faces: tracks that matched no identity, clustered into persistent
//! pseudo-identities (a recurring stranger keeps one `unknown_id` across visits and cameras).
//! Off unless `[unknowns] enabled`; the clusters live in the gallery file.

pub mod actions;
mod cluster;
mod config;
mod strangers;

pub use cluster::{Assignment, Cluster, ClusterConfig, ClusterError, Clusters, Template, UnknownTrack};
pub use config::{UnknownBand, UnknownsConfig};
pub use strangers::{Filed, Strangers, UnknownsError};

#[cfg(test)]
mod tests;
