//! What a node's servers are built from, alike on coordinators and agents:
//! the bound listener (an error names the address), the connections it
//! accepts (without Nagle's delay), and gRPC reflection in both versions
//! (grpcurl and Postman ask v1; older grpcurl, Evans and Python's
//! grpcio-reflection ask v1alpha).

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tonic_reflection::server::{v1, v1alpha};

/// A listener that could not be bound, or a server that could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenError {
    pub address: String,
    pub reason: String,
}

/// Binds `address` (port 0: any free port) and answers where it bound.
pub async fn bind(address: SocketAddr) -> Result<(TcpListener, SocketAddr), ListenError> {
    let error = |e: std::io::Error| ListenError {
        address: address.to_string(),
        reason: e.to_string(),
    };
    let listener = TcpListener::bind(address).await.map_err(error)?;
    let bound = listener.local_addr().map_err(error)?;
    Ok((listener, bound))
}

/// The connections `listener` accepts, for a gRPC server, each with
/// `TCP_NODELAY`: with Nagle's algorithm on, an answer of more than one
/// segment waits for the client's delayed ACK (about 40 ms) before its last
/// segment leaves, which put that much on every larger answer (an agent's
/// `Describe`, a stream's messages).
pub fn incoming(listener: TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// The reflection services, v1 and v1alpha, over an encoded descriptor set.
pub fn reflection(
    descriptors: &'static [u8],
) -> Result<
    (
        v1::ServerReflectionServer<impl v1::ServerReflection>,
        v1alpha::ServerReflectionServer<impl v1alpha::ServerReflection>,
    ),
    String,
> {
    let v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(descriptors)
        .build_v1()
        .map_err(|e| e.to_string())?;
    let v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(descriptors)
        .build_v1alpha()
        .map_err(|e| e.to_string())?;
    Ok((v1, v1alpha))
}
