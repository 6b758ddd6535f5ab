//! Throng's gRPC wire types, generated from `proto/throng/v1/*.proto`.
//!
//! These types stay at the edge: services convert them to the domain types of
//! `throng-engine` as soon as a request arrives.

#![allow(clippy::all, missing_docs)]

/// Version 1 of the API.
pub mod v1 {
    tonic::include_proto!("throng.v1");
}

/// The encoded file descriptor set, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("throng_descriptor");
