/// Why a call to an agent failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("agent {address} unreachable: {reason}")]
    Unreachable { address: String, reason: String },
    #[error("agent refused: {0}")]
    Refused(String),
}

/// Result of calls to an agent.
pub type Result<T> = std::result::Result<T, CallError>;
