//! The coordinator's HTTP JSON API: the same answers as `ControlService`,
//! for scripts and browsers. Read-only for now.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::{Value, json};
use throng_proto::v1::control_service_server::ControlService;
use tokio::sync::watch;

use crate::service::ControlServiceImpl;

fn status_to_http(status: &tonic::Status) -> StatusCode {
    match status.code() {
        tonic::Code::NotFound => StatusCode::NOT_FOUND,
        tonic::Code::InvalidArgument => StatusCode::BAD_REQUEST,
        tonic::Code::FailedPrecondition => StatusCode::CONFLICT,
        tonic::Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn error(status: tonic::Status) -> Response {
    (
        status_to_http(&status),
        Json(json!({ "error": status.message() })),
    )
        .into_response()
}

fn campaign_json(c: &throng_proto::v1::Campaign) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "state": c.state().as_str_name().trim_start_matches("CAMPAIGN_STATE_").to_lowercase(),
        "created_at_ms": c.created_at_ms,
        "shards_done": c.shards_done,
        "sessions_checkpointed": c.sessions_checkpointed,
        "spec": serde_json::from_str::<Value>(&c.spec_json).unwrap_or(Value::Null),
    })
}

async fn cluster(State(service): State<ControlServiceImpl>) -> Response {
    match service
        .get_cluster_status(tonic::Request::new(Default::default()))
        .await
    {
        Ok(status) => {
            let s = status.into_inner();
            let agents: Vec<Value> = s
                .agents
                .iter()
                .map(
                    |a| json!({"id": a.id, "address": a.address, "capacity": a.capacity, "shards": a.shards}),
                )
                .collect();
            Json(json!({"cluster": s.cluster, "leader": s.leader, "agents": agents, "campaigns": s.campaigns, "shards": s.shards}))
                .into_response()
        }
        Err(status) => error(status),
    }
}

async fn campaigns(State(service): State<ControlServiceImpl>) -> Response {
    match service
        .list_campaigns(tonic::Request::new(Default::default()))
        .await
    {
        Ok(list) => Json(
            json!({"campaigns": list.into_inner().campaigns.iter().map(campaign_json).collect::<Vec<_>>()}),
        )
        .into_response(),
        Err(status) => error(status),
    }
}

async fn campaign(State(service): State<ControlServiceImpl>, Path(id): Path<String>) -> Response {
    let request = tonic::Request::new(throng_proto::v1::CampaignRef { id });
    match service.get_campaign(request).await {
        Ok(c) => Json(campaign_json(&c.into_inner())).into_response(),
        Err(status) => error(status),
    }
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    service: ControlServiceImpl,
    mut stop: watch::Receiver<bool>,
) {
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/cluster", get(cluster))
        .route("/api/v1/campaigns", get(campaigns))
        .route("/api/v1/campaigns/{id}", get(campaign))
        .with_state(service);
    let shutdown = async move {
        let _ = stop.wait_for(|stopped| *stopped).await;
    };
    if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        tracing::error!(%error, "coordinator HTTP server failed");
    }
}
