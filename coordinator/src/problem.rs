//! Errors as HTTP problem documents (RFC 9457, `application/problem+json`):
//! `title` is the HTTP reason, `detail` the message, `code` the gRPC code
//! the same call gets, and for invalid input `errors` lists every problem
//! with its field path. The application's error is mapped here once for
//! HTTP, as `crate::error` maps it once for gRPC.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::CoordinatorError;

/// The application's error as a problem document.
pub fn of(error: CoordinatorError) -> Response {
    use CoordinatorError as E;
    let (status, code) = match &error {
        E::InvalidSpec(_) | E::InvalidFields(_) | E::InvalidItem { .. } | E::Invalid(_) => {
            (StatusCode::BAD_REQUEST, "InvalidArgument")
        }
        E::NotFound(_) | E::Missing(_) => (StatusCode::NOT_FOUND, "NotFound"),
        E::Conflict(_) => (StatusCode::CONFLICT, "FailedPrecondition"),
        // Retryable: against the leader, or once the dependency is back.
        E::Unavailable(_) | E::NotLeader { .. } | E::State(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, "Unavailable")
        }
        E::Listen { .. } | E::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Internal"),
    };
    let fields = match &error {
        E::InvalidSpec(errors) | E::InvalidFields(errors) | E::InvalidItem { errors, .. } => errors
            .0
            .iter()
            .map(|f| json!({"path": f.path, "message": f.message}))
            .collect(),
        _ => Vec::new(),
    };
    document(status, code, &error.to_string(), fields)
}

/// A request the door itself finds malformed (its query, body or path).
pub fn invalid(message: impl Into<String>) -> Response {
    of(CoordinatorError::Invalid(message.into()))
}

/// A refusal of the token guard, which speaks gRPC statuses.
pub fn refusal(status: &tonic::Status) -> Response {
    let (http, code) = match status.code() {
        tonic::Code::Unauthenticated => (StatusCode::UNAUTHORIZED, "Unauthenticated"),
        tonic::Code::PermissionDenied => (StatusCode::FORBIDDEN, "PermissionDenied"),
        tonic::Code::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, "ResourceExhausted"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "Internal"),
    };
    document(http, code, status.message(), Vec::new())
}

fn document(status: StatusCode, code: &str, detail: &str, fields: Vec<Value>) -> Response {
    let mut problem = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
        "code": code,
    });
    if !fields.is_empty() {
        problem["errors"] = Value::Array(fields);
    }
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/problem+json")],
        problem.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use throng_engine::spec::{FieldError, SpecErrors};

    async fn body(response: Response) -> (u16, Value) {
        let status = response.status().as_u16();
        let content_type = response.headers()[axum::http::header::CONTENT_TYPE].clone();
        assert_eq!(content_type, "application/problem+json");
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, serde_json::from_slice(&bytes).expect("JSON"))
    }

    #[tokio::test]
    async fn each_error_has_its_status_and_the_code_grpc_answers_with() {
        let cases = [
            (
                CoordinatorError::Invalid("limit: too big".into()),
                400,
                tonic::Code::InvalidArgument,
            ),
            (
                CoordinatorError::NotFound("campaign x".into()),
                404,
                tonic::Code::NotFound,
            ),
            (
                CoordinatorError::Missing("no session 3".into()),
                404,
                tonic::Code::NotFound,
            ),
            (
                CoordinatorError::Conflict("stop it first".into()),
                409,
                tonic::Code::FailedPrecondition,
            ),
            (
                CoordinatorError::Unavailable("agent a".into()),
                503,
                tonic::Code::Unavailable,
            ),
            (
                CoordinatorError::NotLeader { leader: "c1".into() },
                503,
                tonic::Code::Unavailable,
            ),
            (
                CoordinatorError::Internal("oops".into()),
                500,
                tonic::Code::Internal,
            ),
        ];
        for (error, http, grpc) in cases {
            let message = error.to_string();
            let grpc_code = tonic::Status::from(clone(&error)).code();
            assert_eq!(grpc_code, grpc, "{message}");
            let (code, problem) = body(of(error)).await;
            assert_eq!(code, http, "{message}");
            assert_eq!(problem["status"], http);
            assert_eq!(problem["detail"], message);
            assert_eq!(problem["code"], format!("{grpc:?}"));
            assert!(problem.get("errors").is_none());
        }
    }

    #[tokio::test]
    async fn a_spec_error_lists_every_problem_with_its_path() {
        let errors = SpecErrors(vec![
            FieldError {
                path: "load.rate".into(),
                message: "must be above 0".into(),
            },
            FieldError {
                path: "personas[1].use".into(),
                message: "no persona `nobody`".into(),
            },
        ]);
        let (code, problem) = body(of(CoordinatorError::InvalidSpec(errors))).await;
        assert_eq!(code, 400);
        assert_eq!(problem["title"], "Bad Request");
        let paths: Vec<&str> = problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["path"].as_str().expect("path"))
            .collect();
        assert_eq!(paths, ["load.rate", "personas[1].use"]);
    }

    /// The variants these tests use, rebuilt (the error is not `Clone`).
    fn clone(error: &CoordinatorError) -> CoordinatorError {
        match error {
            CoordinatorError::Invalid(m) => CoordinatorError::Invalid(m.clone()),
            CoordinatorError::NotFound(m) => CoordinatorError::NotFound(m.clone()),
            CoordinatorError::Missing(m) => CoordinatorError::Missing(m.clone()),
            CoordinatorError::Conflict(m) => CoordinatorError::Conflict(m.clone()),
            CoordinatorError::Unavailable(m) => CoordinatorError::Unavailable(m.clone()),
            CoordinatorError::NotLeader { leader } => CoordinatorError::NotLeader {
                leader: leader.clone(),
            },
            other => CoordinatorError::Internal(other.to_string()),
        }
    }
}
