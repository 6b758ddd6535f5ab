//! Tokens and roles in real processes: a coordinator started with
//! `--tokens` and a cluster token, and an agent that asks for the cluster
//! token. Calls without a token, with a wrong one or with too small a role
//! are refused on ControlService, AgentService and the HTTP API, without
//! echoing a token; the admin token runs a campaign end to end (the
//! coordinator's calls to the agent carry the cluster token); a token that
//! calls too fast is slowed down.

mod common;

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use common::{Sandbox, http_request as send, spec, throng_bin};
use throng_proto::v1;
use throng_proto::v1::agent_service_client::AgentServiceClient;
use throng_proto::v1::control_service_client::ControlServiceClient;
use throng_testkit::poll_until;
use tonic::Code;
use tonic::transport::Channel;

const ADMIN: &str = "admin-0f1e2d3c4b5a69788796a5b4";
const READ: &str = "read-11223344556677889900aabb";
const BURSTY: &str = "read-ffeeddccbbaa998877665544";
const CLUSTER: &str = "cluster-a1b2c3d4e5f60718293a4b5c";

fn with_token<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
    }
    request
}

async fn list(client: &mut ControlServiceClient<Channel>, token: Option<&str>) -> Result<(), tonic::Status> {
    client
        .list_campaigns(with_token(v1::ListCampaignsRequest::default(), token))
        .await
        .map(|_| ())
}

/// A bare HTTP/1.0 GET with an optional bearer token: the status code and the body.
fn http(address: &str, path: &str, token: Option<&str>) -> (u16, String) {
    send(address, "GET", path, token, "")
}

fn assert_no_token_in(text: &str) {
    for token in [ADMIN, READ, BURSTY, CLUSTER] {
        assert!(!text.contains(token), "a token leaked: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_roles_guard_every_service() {
    let files = tempfile::tempdir().expect("dir");
    let tokens = files.path().join("tokens");
    std::fs::write(&tokens, format!("admin {ADMIN}\nread {READ}\nread {BURSTY}\n")).expect("tokens");
    let cluster = files.path().join("cluster-token");
    std::fs::write(&cluster, format!("{CLUSTER}\n")).expect("cluster token");
    let (tokens, cluster) = (tokens.display().to_string(), cluster.display().to_string());

    let mut sandbox = Sandbox::start().await;
    let http_address = sandbox.spawn_coordinator_with(
        "coordinator-1",
        &["--tokens", &tokens, "--cluster-token-file", &cluster],
    );
    let agent_port = sandbox.spawn_agent_with("agent-1", &["--cluster-token-file", &cluster]);
    let endpoint = sandbox.node("coordinator-1").endpoint();
    let mut client = poll_until(Duration::from_secs(30), "the coordinator to answer", || {
        let endpoint = endpoint.clone();
        async move { ControlServiceClient::connect(endpoint).await.ok() }
    })
    .await;
    poll_until(Duration::from_secs(30), "a leader that sees the agent", || {
        let mut client = client.clone();
        async move {
            let status = client
                .get_cluster_status(with_token(v1::GetClusterStatusRequest {}, Some(ADMIN)))
                .await
                .ok()?
                .into_inner();
            (!status.leader.is_empty() && status.agents.len() == 1).then_some(())
        }
    })
    .await;

    // ControlService: no token, a wrong one, too small a role.
    let refused = list(&mut client, None).await.expect_err("no token");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    let refused = list(&mut client, Some("read-00000000000000000000000"))
        .await
        .expect_err("wrong token");
    assert_eq!(refused.code(), Code::Unauthenticated);
    list(&mut client, Some(READ)).await.expect("a read token lists");
    let document = spec("guarded", sandbox.target.address, 30, 30.0, 2);
    let refused = client
        .create_campaign(with_token(
            v1::CampaignSpecRequest {
                document: document.clone(),
                start: true,
            },
            Some(READ),
        ))
        .await
        .expect_err("read may not create");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert_no_token_in(&format!("{refused:?}"));

    // The admin token runs a campaign: the coordinator's calls to the agent
    // carry the cluster token.
    let id = client
        .create_campaign(with_token(
            v1::CampaignSpecRequest {
                document,
                start: true,
            },
            Some(ADMIN),
        ))
        .await
        .expect("admin creates")
        .into_inner()
        .id;
    poll_until(
        Duration::from_secs(60),
        "the guarded campaign to complete",
        || {
            let mut client = client.clone();
            let id = id.clone();
            async move {
                let c = client
                    .get_campaign(with_token(v1::CampaignRef { id }, Some(ADMIN)))
                    .await
                    .ok()?
                    .into_inner();
                (c.state == v1::CampaignState::Completed as i32).then_some(())
            }
        },
    )
    .await;
    assert_eq!(sandbox.distinct_sessions(&id).await, 30);

    // AgentService: only the cluster token; health probes need none.
    let agent_endpoint = format!("http://127.0.0.1:{agent_port}");
    let mut agent = AgentServiceClient::connect(agent_endpoint.clone())
        .await
        .expect("connect to the agent");
    for token in [None, Some(ADMIN)] {
        let refused = agent
            .describe(with_token(v1::DescribeRequest {}, token))
            .await
            .expect_err("not the cluster token");
        assert_eq!(refused.code(), Code::Unauthenticated, "{token:?}: {refused:?}");
    }
    agent
        .describe(with_token(v1::DescribeRequest {}, Some(CLUSTER)))
        .await
        .expect("the cluster token describes");
    let channel = tonic::transport::Endpoint::from_shared(agent_endpoint)
        .expect("endpoint")
        .connect()
        .await
        .expect("connect for health");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("health needs no token")
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    // The HTTP API.
    let (status, answer) = http(&http_address, "/api/v1/campaigns", None);
    assert_eq!(status, 401, "{answer}");
    assert!(
        answer.to_lowercase().contains("www-authenticate: bearer"),
        "{answer}"
    );
    let (status, answer) = http(
        &http_address,
        "/api/v1/campaigns",
        Some("nope-nope-nope-nope-nope"),
    );
    assert_eq!(status, 401, "{answer}");
    assert_no_token_in(&answer);
    let (status, answer) = http(&http_address, "/api/v1/campaigns", Some(READ));
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains(&id), "{answer}");
    assert_eq!(http(&http_address, "/healthz", None).0, 200);
    assert_eq!(
        http(&http_address, "/dashboard", None).0,
        200,
        "the page holds no data"
    );
    // Each route needs the role it was declared with: validating reads,
    // creating and steering change things.
    let post = |path: &str, token: Option<&str>| send(&http_address, "POST", path, token, "name: x\n");
    assert_eq!(post("/api/v1/campaigns/validate", None).0, 401);
    assert_eq!(post("/api/v1/campaigns/validate", Some(READ)).0, 200);
    for path in [
        "/api/v1/campaigns",
        &format!("/api/v1/campaigns/{id}/stop"),
        "/api/v1/runs/r/scenarios/s/apply",
    ] {
        let (status, answer) = post(path, Some(READ));
        assert_eq!(status, 403, "{path} with a read token: {answer}");
        assert_no_token_in(&answer);
    }
    let (status, answer) = post("/api/v1/campaigns", Some(ADMIN));
    assert_eq!(
        status, 400,
        "an admin passes, the invalid spec does not: {answer}"
    );

    // The CLI: THRONG_TOKEN (or --token) is sent; refusals read plainly.
    let cli = |token: Option<&str>, args: &[&str]| {
        let mut command = Command::new(throng_bin());
        command
            .arg("--endpoint")
            .arg(&endpoint)
            .args(args)
            .env_remove("THRONG_TOKEN");
        if let Some(token) = token {
            command.env("THRONG_TOKEN", token);
        }
        command.output().expect("run throng")
    };
    let out = cli(None, &["campaign", "list"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("not authenticated"),
        "{stderr}"
    );
    let out = cli(Some(READ), &["campaign", "list"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&id));
    let out = cli(Some(READ), &["campaign", "stop", &id]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("not permitted"),
        "{stderr}"
    );
    assert_no_token_in(&stderr);

    // A token that calls too fast is slowed down; the others are not.
    let calls = (0..300).map(|_| {
        let mut client = client.clone();
        async move { list(&mut client, Some(BURSTY)).await }
    });
    let answers = futures::future::join_all(calls).await;
    let limited = answers.iter().filter(|a| a.is_err()).count();
    for refused in answers.iter().filter_map(|a| a.as_ref().err()) {
        assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    }
    assert!(
        (150..300).contains(&limited),
        "300 calls at once exceed 50/s with bursts of 100: {limited} refused"
    );
    list(&mut client, Some(READ))
        .await
        .expect("another token is not limited");
}

/// One raw HTTP/1.1 request with extra header lines: the status and the
/// answer's head (the connection may stay open, as for an upgrade).
fn head_of(address: &str, method: &str, path: &str, headers: &[String]) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(address).expect("connect to the HTTP API");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n{extra}\r\n"
    )
    .expect("send");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
        }
    }
    let answer = String::from_utf8_lossy(&answer).to_string();
    let head = answer
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_get_security_headers_cors_for_allowed_origins_and_websocket_tokens() {
    use base64::Engine as _;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let files = tempfile::tempdir().expect("dir");
    let tokens = files.path().join("tokens");
    std::fs::write(&tokens, format!("admin {ADMIN}\nread {READ}\n")).expect("tokens");
    let tokens = tokens.display().to_string();
    let mut sandbox = Sandbox::start().await;
    let http_address = sandbox.spawn_coordinator_with(
        "coordinator-1",
        &["--tokens", &tokens, "--cors-origin", "https://console.example"],
    );
    sandbox.spawn_agent("agent-1");
    let endpoint = sandbox.node("coordinator-1").endpoint();
    let mut client = poll_until(Duration::from_secs(30), "a leader that sees the agent", || {
        let endpoint = endpoint.clone();
        async move {
            let mut client = ControlServiceClient::connect(endpoint).await.ok()?;
            let status = client
                .get_cluster_status(with_token(v1::GetClusterStatusRequest {}, Some(ADMIN)))
                .await
                .ok()?
                .into_inner();
            (!status.leader.is_empty() && status.agents.len() == 1).then_some(client)
        }
    })
    .await;

    // Every answer carries the security headers; the dashboard's policy
    // admits scripts from its own origin and its style by hash, nothing
    // inline besides; its scripts are served without a token.
    let (status, head) = head_of(&http_address, "GET", "/healthz", &[]);
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'none'; frame-ancestors 'none'"),
        "{head}"
    );
    let (status, head) = head_of(&http_address, "GET", "/dashboard", &[]);
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("script-src 'self';"), "{head}");
    assert!(head.contains("style-src 'self' 'sha256-"), "{head}");
    assert!(!head.contains("unsafe-inline"), "{head}");
    let (status, head) = head_of(&http_address, "GET", "/dashboard/assets/uplot.js", &[]);
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("content-type: text/javascript"), "{head}");
    let (status, head) = head_of(&http_address, "GET", "/dashboard/assets/other.js", &[]);
    assert_eq!(status, 404, "{head}");

    // CORS: an allowed origin's preflight is answered without a token, and
    // its calls carry the origin back; another origin gets no CORS.
    let preflight = |origin: &str| {
        head_of(
            &http_address,
            "OPTIONS",
            "/api/v1/cluster",
            &[
                format!("Origin: {origin}"),
                "Access-Control-Request-Method: GET".to_string(),
                "Access-Control-Request-Headers: authorization".to_string(),
            ],
        )
    };
    let (status, head) = preflight("https://console.example");
    assert_eq!(status, 204, "{head}");
    assert!(
        head.contains("access-control-allow-origin: https://console.example"),
        "{head}"
    );
    assert!(
        head.contains("access-control-allow-headers: authorization, content-type"),
        "{head}"
    );
    let (status, head) = preflight("https://evil.example");
    assert_eq!(status, 403, "{head}");
    assert!(!head.contains("access-control-allow-origin"), "{head}");
    let (status, head) = head_of(
        &http_address,
        "GET",
        "/api/v1/cluster",
        &[
            "Origin: https://console.example".to_string(),
            format!("Authorization: Bearer {READ}"),
        ],
    );
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("access-control-allow-origin: https://console.example"),
        "{head}"
    );

    // A browser's WebSocket carries its token in a subprotocol.
    let run = client
        .create_campaign(with_token(
            v1::CampaignSpecRequest {
                document: "kind: streams\nname: watched\nscale: 0.02\nclock: { mode: accelerated, factor: 60, from: \"2026-02-02T00:00:00Z\" }\n".to_string(),
                start: true,
            },
            Some(ADMIN),
        ))
        .await
        .expect("a stream run")
        .into_inner()
        .id;
    let url = format!("ws://{http_address}/api/v1/runs/{run}/subscribe?patterns=system.*");
    let open = |protocols: Option<String>| {
        let mut request = url.clone().into_client_request().expect("request");
        if let Some(protocols) = protocols {
            request
                .headers_mut()
                .insert("sec-websocket-protocol", protocols.parse().expect("header"));
        }
        tokio_tungstenite::connect_async(request)
    };
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(READ);
    let (_, answer) = open(Some(format!("throng.v1, bearer.{encoded}")))
        .await
        .expect("the token in a subprotocol opens the socket");
    assert_eq!(
        answer
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.as_bytes()),
        Some(&b"throng.v1"[..])
    );
    let refused = open(Some("throng.v1, bearer.bm90LWEtdG9rZW4".to_string()))
        .await
        .expect_err("a wrong token");
    assert!(refused.to_string().contains("401"), "{refused}");
    let refused = open(None).await.expect_err("no token");
    assert!(refused.to_string().contains("401"), "{refused}");
}
