//! What every node needs, coordinator or agent: the token guard and its
//! roles (gRPC and HTTP), TLS for servers and clients, W3C trace context
//! across process boundaries, and the bounded ring of recent log lines
//! that `GetLogs` reads.

pub mod auth;
pub mod log_ring;
pub mod tls;
pub mod trace_context;
