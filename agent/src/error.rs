/// Errors of the agent node.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    State(#[from] throng_state::StateError),
    #[error("cannot listen on {address}: {reason}")]
    Listen { address: String, reason: String },
    #[error("cannot start the actor tree: {0}")]
    Actors(String),
}

/// Result of agent operations.
pub type Result<T> = std::result::Result<T, AgentError>;
