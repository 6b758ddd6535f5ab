//! OpenTelemetry traces in real processes: a coordinator and an agent export
//! to an OTLP receiver this test serves, and starting a campaign yields one
//! connected trace — the API call, validation, placement, the call to the
//! agent, the agent's `Assign` and its actors starting the shard — across
//! both processes. Sampled simulated sessions are traces of their own, and
//! their requests carry them to the target.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::recorder::Recorder;
use common::{Sandbox, spec, start_campaign};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use throng_testkit::poll_until;

/// A span as the receiver got it.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
    start_ns: u64,
    end_ns: u64,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<Received>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().expect("spans");
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push(Received {
                        service: service.clone(),
                        name: span.name,
                        trace_id: span.trace_id,
                        span_id: span.span_id,
                        parent_span_id: span.parent_span_id,
                        start_ns: span.start_time_unix_nano,
                        end_ns: span.end_time_unix_nano,
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn serve_receiver() -> (String, Receiver) {
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let service = TraceServiceServer::new(receiver.clone());
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await;
    });
    (format!("http://{address}"), receiver)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_start_is_one_trace_across_coordinator_and_agent() {
    let (endpoint, receiver) = serve_receiver().await;
    let mut sandbox = Sandbox::start().await;
    sandbox.spawn_coordinator_with("coordinator-1", &["--otlp-endpoint", &endpoint]);
    sandbox.spawn_agent_with("agent-1", &["--otlp-endpoint", &endpoint]);
    let (_, mut client) = sandbox.leader_client(1).await;
    start_campaign(&mut client, spec("traced", sandbox.target.address, 20, 20.0, 2)).await;

    let chain = ["CreateCampaign", "place shard", "assign", "Assign", "start shard"];
    let trace = poll_until(Duration::from_secs(40), "one trace with the whole chain", || {
        let spans = receiver.spans.lock().expect("spans").clone();
        async move {
            let create = spans.iter().find(|s| s.name == "CreateCampaign")?;
            let trace: Vec<Received> = spans
                .iter()
                .filter(|s| s.trace_id == create.trace_id)
                .cloned()
                .collect();
            let names: Vec<&str> = trace.iter().map(|s| s.name.as_str()).collect();
            chain.iter().all(|n| names.contains(n)).then_some(trace)
        }
    })
    .await;

    let by_id: HashMap<&[u8], &Received> = trace.iter().map(|s| (s.span_id.as_slice(), s)).collect();
    let parent_of = |span: &Received| by_id.get(span.parent_span_id.as_slice()).map(|p| p.name.as_str());
    let find = |name: &str| trace.iter().find(|s| s.name == name).expect(name);
    assert_eq!(find("CreateCampaign").service, "throng-coordinator");
    assert_eq!(parent_of(find("validate spec")), Some("CreateCampaign"));
    assert_eq!(parent_of(find("place shard")), Some("CreateCampaign"));
    assert_eq!(parent_of(find("assign")), Some("place shard"));
    let agent_side = find("Assign");
    assert_eq!(
        agent_side.service, "throng-agent",
        "the agent's span is in the same trace"
    );
    assert_eq!(parent_of(agent_side), Some("assign"));
    assert_eq!(parent_of(find("start shard")), Some("Assign"));
    let shards = trace.iter().filter(|s| s.name == "start shard").count();
    assert_eq!(shards, 2, "both shards' starts: {trace:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_does_not_stop_the_simulation() {
    // Nothing listens on this port.
    let dead = format!("http://127.0.0.1:{}", throng_testkit::free_port());
    let mut sandbox = Sandbox::start().await;
    sandbox.spawn_coordinator_with("coordinator-1", &["--otlp-endpoint", &dead]);
    sandbox.spawn_agent_with("agent-1", &["--otlp-endpoint", &dead]);
    let (_, mut client) = sandbox.leader_client(1).await;
    let id = start_campaign(
        &mut client,
        spec("untraced", sandbox.target.address, 100, 100.0, 2),
    )
    .await;
    common::wait_completed(&client, &id, Duration::from_secs(60)).await;
    assert_eq!(sandbox.distinct_sessions(&id).await, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_sessions_are_traces_their_requests_carry() {
    let (endpoint, receiver) = serve_receiver().await;
    let mut sandbox = Sandbox::start().await;
    sandbox.spawn_coordinator_with("coordinator-1", &["--otlp-endpoint", &endpoint]);
    sandbox.spawn_agent_with("agent-1", &["--otlp-endpoint", &endpoint]);
    let (_, mut client) = sandbox.leader_client(1).await;
    let target = Recorder::start().await;
    let document = spec("sampled", target.address, 40, 40.0, 2)
        .replace("target: { url:", "target: { traceparent: true, url:")
        + "trace_sessions: 0.5\n";
    let id = start_campaign(&mut client, document.clone()).await;
    // Which sessions are traced follows from their ids.
    let traced = common::expected_session_ids(&document)
        .into_iter()
        .filter(|session| throng_engine::campaign::session::trace::is_traced(*session, 0.5))
        .count();
    assert!(traced > 5 && traced < 35, "about half of 40 sessions: {traced}");
    common::wait_completed(&client, &id, Duration::from_secs(60)).await;
    let recorded = target.requests();
    let requests = recorded.len();
    let headers: Vec<String> = recorded.into_iter().filter_map(|r| r.traceparent).collect();
    assert_eq!(headers.len(), requests, "every request carried a traceparent");

    // Every traced session is a span; each of its requests is a span whose
    // context the target saw.
    let (sessions, request_spans) = poll_until(Duration::from_secs(40), "the sessions' spans", || {
        let spans = receiver.spans.lock().expect("spans").clone();
        let headers = headers.clone();
        async move {
            let sessions: Vec<Received> = spans.iter().filter(|s| s.name == "session").cloned().collect();
            let children: Vec<Received> = spans
                .iter()
                .filter(|s| sessions.iter().any(|p| p.span_id == s.parent_span_id))
                .cloned()
                .collect();
            let linked = headers
                .iter()
                .filter(|h| {
                    children
                        .iter()
                        .any(|c| h.contains(&format!("{}-{}", hex(&c.trace_id), hex(&c.span_id))))
                })
                .count();
            (sessions.len() == traced && linked == children.len() && children.len() >= sessions.len())
                .then_some((sessions, children))
        }
    })
    .await;
    eprintln!(
        "{traced} of 40 sessions traced, {} request spans, {requests} requests",
        request_spans.len()
    );
    assert!(sessions.iter().all(|s| s.service == "throng-agent"));
    for session in &sessions {
        let own: Vec<&Received> = request_spans
            .iter()
            .filter(|r| r.parent_span_id == session.span_id)
            .collect();
        assert!(!own.is_empty(), "a session span has its requests");
        for request in own {
            assert_eq!(request.trace_id, session.trace_id, "one trace per session");
            assert!(request.name.starts_with("GET "), "{}", request.name);
            assert!(
                request.start_ns >= session.start_ns && request.end_ns <= session.end_ns,
                "a request lies within its session"
            );
        }
    }
    // Untraced sessions' requests carry headers of traces nobody exported.
    let exported: Vec<String> = sessions.iter().map(|s| hex(&s.trace_id)).collect();
    let untraced = headers
        .iter()
        .filter(|h| !exported.iter().any(|t| h.contains(t.as_str())))
        .count();
    assert_eq!(untraced, requests - request_spans.len());
    assert!(untraced > 0, "not every session is traced at 0.5");
}
