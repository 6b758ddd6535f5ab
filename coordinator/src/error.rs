//! The coordinator's errors and their one mapping to gRPC codes.

use throng_engine::spec::SpecErrors;

/// Errors of the coordinator.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    #[error("invalid campaign spec: {0}")]
    InvalidSpec(SpecErrors),
    /// A request's fields (not a spec's): every problem, with its path.
    #[error("invalid request: {0}")]
    InvalidFields(SpecErrors),
    #[error("invalid {kind}: {errors}")]
    InvalidItem {
        kind: throng_engine::spec::library::ItemKind,
        errors: SpecErrors,
    },
    #[error("{0} not found")]
    NotFound(String),
    /// Something asked for is not there; the message says what and where.
    #[error("{0}")]
    Missing(String),
    /// A request field that is not a spec's: every problem, named.
    #[error("{0}")]
    Invalid(String),
    /// A dependency (an agent, the telemetry store) did not answer.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Conflict(String),
    #[error("this coordinator is not the leader (leader: {leader}); retry against it")]
    NotLeader { leader: String },
    #[error(transparent)]
    State(#[from] throng_state::StateError),
    #[error("cannot listen on {address}: {reason}")]
    Listen { address: String, reason: String },
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<throng_node::server::ListenError> for CoordinatorError {
    fn from(error: throng_node::server::ListenError) -> Self {
        CoordinatorError::Listen {
            address: error.address,
            reason: error.reason,
        }
    }
}

/// Result of coordinator operations.
pub type Result<T> = std::result::Result<T, CoordinatorError>;

impl From<CoordinatorError> for tonic::Status {
    fn from(error: CoordinatorError) -> Self {
        use prost::Message;
        use throng_proto::v1;
        let message = error.to_string();
        match error {
            CoordinatorError::InvalidSpec(errors)
            | CoordinatorError::InvalidFields(errors)
            | CoordinatorError::InvalidItem { errors, .. } => {
                // Every problem, in the message and as structured details.
                let details = v1::FieldErrors {
                    errors: errors
                        .0
                        .iter()
                        .map(|e| v1::FieldError {
                            path: e.path.clone(),
                            message: e.message.clone(),
                        })
                        .collect(),
                };
                tonic::Status::with_details(
                    tonic::Code::InvalidArgument,
                    message,
                    details.encode_to_vec().into(),
                )
            }
            CoordinatorError::NotFound(_) | CoordinatorError::Missing(_) => tonic::Status::not_found(message),
            CoordinatorError::Invalid(_) => tonic::Status::invalid_argument(message),
            CoordinatorError::Unavailable(_) => tonic::Status::unavailable(message),
            CoordinatorError::Conflict(_) => tonic::Status::failed_precondition(message),
            // Retryable: against the leader, or once the dependency is back.
            CoordinatorError::NotLeader { .. } => tonic::Status::unavailable(message),
            CoordinatorError::State(_) => tonic::Status::unavailable(message),
            CoordinatorError::Listen { .. } | CoordinatorError::Internal(_) => {
                tonic::Status::internal(message)
            }
        }
    }
}
