use crate::LeaseId;

/// Errors of the state store.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StateError {
    /// The backend cannot be reached.
    #[error("state store at {endpoint} is unavailable: {reason}")]
    Unavailable { endpoint: String, reason: String },
    /// A lease expired (or was revoked) before it was renewed.
    #[error("lease {0:x} is lost")]
    LeaseLost(LeaseId),
    /// The backend refused or failed an operation.
    #[error("state store error: {0}")]
    Backend(String),
}

/// Result of state store operations.
pub type Result<T> = std::result::Result<T, StateError>;
