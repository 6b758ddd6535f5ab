/// Errors of the agent node.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    State(#[from] throng_state::StateError),
    #[error("cannot listen on {address}: {reason}")]
    Listen { address: String, reason: String },
    #[error("cannot start the actor tree: {0}")]
    Actors(String),
    #[error("cannot build the gRPC server: {0}")]
    Server(String),
}

impl From<throng_node::server::ListenError> for AgentError {
    fn from(error: throng_node::server::ListenError) -> Self {
        AgentError::Listen {
            address: error.address,
            reason: error.reason,
        }
    }
}

/// Result of agent operations.
pub type Result<T> = std::result::Result<T, AgentError>;
