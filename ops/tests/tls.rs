//! Mutual TLS in real processes: a coordinator and an agent that serve gRPC
//! over TLS and ask every caller for a certificate their CA signed. The
//! coordinator's own calls to the agent present its certificate and a
//! campaign runs to the end; the CLI connects with the CA and a client
//! certificate; callers without one, with one the CA did not sign, or in
//! plain text are refused.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Sandbox, spec, throng_bin, wait_completed};
use throng_engine::http::tls::TlsTrust;
use throng_engine::http::{HttpEngine, HttpRequest};
use throng_proto::v1;
use throng_proto::v1::control_service_client::ControlServiceClient;
use throng_testkit::{TestPki, poll_until};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

async fn tls_channel(endpoint: &str, pki: &TestPki, identity: Option<&str>) -> Result<Channel, String> {
    let read = |name: &str| std::fs::read_to_string(pki.path(name)).expect("PEM");
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read("ca.pem")));
    if let Some(name) = identity {
        tls = tls.identity(Identity::from_pem(
            read(&format!("{name}.pem")),
            read(&format!("{name}-key.pem")),
        ));
    }
    let channel = Endpoint::from_shared(endpoint.to_string())
        .map_err(|e| e.to_string())?
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(3))
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(channel)
}

/// Whether a ListCampaigns call over this channel is answered.
async fn answered(channel: Result<Channel, String>) -> bool {
    let Ok(channel) = channel else {
        return false;
    };
    ControlServiceClient::new(channel)
        .list_campaigns(v1::ListCampaignsRequest::default())
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_and_clients_speak_mutual_tls() {
    let pki = TestPki::new();
    let tls_args = [
        "--tls-cert".to_string(),
        pki.arg("server.pem"),
        "--tls-key".to_string(),
        pki.arg("server-key.pem"),
        "--tls-ca".to_string(),
        pki.arg("ca.pem"),
        "--tls-client-auth".to_string(),
    ];
    let tls_args: Vec<&str> = tls_args.iter().map(String::as_str).collect();
    let mut sandbox = Sandbox::start().await;
    let http = format!("127.0.0.1:{}", throng_testkit::free_port());
    let mut coordinator_args = tls_args.clone();
    coordinator_args.extend(["--http", http.as_str()]);
    let port = sandbox.spawn("coordinator", "coordinator-1", &coordinator_args);
    sandbox.spawn("agent", "agent-1", &tls_args);
    let endpoint = format!("https://127.0.0.1:{port}");

    let (mut client, status) = poll_until(
        Duration::from_secs(30),
        "a leader that sees the agent over TLS",
        || {
            let (endpoint, pki) = (endpoint.clone(), &pki);
            async move {
                let mut client =
                    ControlServiceClient::new(tls_channel(&endpoint, pki, Some("client")).await.ok()?);
                let status = client
                    .get_cluster_status(v1::GetClusterStatusRequest {})
                    .await
                    .ok()?
                    .into_inner();
                (!status.leader.is_empty() && status.agents.len() == 1).then_some((client, status))
            }
        },
    )
    .await;
    assert!(
        status.agents[0].address.starts_with("https://"),
        "agents advertise https: {:?}",
        status.agents[0]
    );

    // The coordinator's calls to the agent present its certificate: the
    // campaign runs to the end.
    let id = client
        .create_campaign(v1::CampaignSpecRequest {
            document: spec("over-tls", sandbox.target.address, 40, 40.0, 2),
            start: true,
        })
        .await
        .expect("create over TLS")
        .into_inner()
        .id;
    wait_completed(&client, &id, Duration::from_secs(60)).await;
    assert_eq!(sandbox.distinct_sessions(&id).await, 40);

    // Refused: no client certificate, one the CA did not sign, plain text.
    assert!(
        !answered(tls_channel(&endpoint, &pki, None).await).await,
        "no client certificate"
    );
    assert!(
        !answered(tls_channel(&endpoint, &pki, Some("stranger")).await).await,
        "a certificate the CA did not sign"
    );
    let plain = Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("endpoint")
        .connect()
        .await;
    assert!(!answered(plain.map_err(|e| e.to_string())).await, "plain text");

    // The CLI, with the CA and a client certificate.
    let cli = |identity: bool| {
        let mut command = Command::new(throng_bin());
        command
            .args(["--endpoint", &endpoint, "--tls-ca", &pki.arg("ca.pem")])
            .args(["campaign", "list"]);
        if identity {
            command.args([
                "--tls-cert",
                &pki.arg("client.pem"),
                "--tls-key",
                &pki.arg("client-key.pem"),
            ]);
        }
        command.output().expect("run throng")
    };
    let out = cli(true);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&id));
    let out = cli(false);
    assert!(!out.status.success(), "mTLS refuses a CLI without a certificate");

    // The HTTP API is HTTPS with the same certificate (callers use tokens there,
    // not certificates).
    let trust = TlsTrust::WithCertificates(std::fs::read_to_string(pki.path("ca.pem")).expect("CA"));
    let https = HttpEngine::with_trust(&trust, false);
    let answer = https
        .send(
            HttpRequest::get(format!("https://{http}/api/v1/campaigns")),
            Duration::from_secs(5),
        )
        .await
        .expect("the HTTPS API answers");
    assert_eq!(answer.status, 200);
    let plain = HttpEngine::with_trust(&trust, false)
        .send(
            HttpRequest::get(format!("http://{http}/healthz")),
            Duration::from_secs(5),
        )
        .await;
    assert!(
        plain.is_err() || plain.is_ok_and(|r| r.status != 200),
        "no plain HTTP on the HTTPS port"
    );

    // A node given a key that is not PEM says so and does not start.
    let bad = Command::new(throng_bin())
        .args([
            "agent",
            "--etcd",
            &sandbox.etcd.endpoint(),
            "--grpc",
            "127.0.0.1:0",
        ])
        .args([
            "--tls-cert",
            &pki.arg("server.pem"),
            "--tls-key",
            &pki.arg("nothing.pem"),
        ])
        .output()
        .expect("run throng agent");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && stderr.contains("cannot read the key"),
        "{stderr}"
    );
}
