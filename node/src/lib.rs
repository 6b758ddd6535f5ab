//! What every node needs, coordinator or agent: the token guard and its
//! roles (gRPC and HTTP), TLS for servers and clients, W3C trace context
//! across process boundaries, the bounded ring of recent log lines that
//! `GetLogs` reads, the Prometheus exposition of `/metrics` (with the
//! process's own gauges), and what its servers are built from (the bound
//! listener, gRPC reflection).

pub mod auth;
pub mod log_ring;
pub mod metrics;
pub mod server;
pub mod tls;
pub mod trace_context;
