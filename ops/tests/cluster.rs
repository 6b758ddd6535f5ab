//! End-to-end failure tests against real processes: etcd, ClickHouse,
//! `throng coordinator` and `throng agent` binaries, and a target site.

mod common;

use std::time::{Duration, Instant};

use common::{Sandbox, campaign, expected_session_ids, recorded_session_ids, spec, start_campaign};
use throng_proto::v1;
use throng_proto::v1::agent_service_client::AgentServiceClient;
use throng_proto::v1::control_service_client::ControlServiceClient;
use throng_testkit::{poll_until, poll_until_explained};
use tonic::transport::Channel;

const TTL: Duration = Duration::from_secs(2);

async fn status(client: &mut ControlServiceClient<Channel>) -> Option<v1::ClusterStatus> {
    client
        .get_cluster_status(v1::GetClusterStatusRequest {})
        .await
        .ok()
        .map(|r| r.into_inner())
}

async fn wait_checkpointed(client: &mut ControlServiceClient<Channel>, id: &str, at_least: u64) {
    poll_until(Duration::from_secs(60), "sessions to be checkpointed", || {
        let mut client = client.clone();
        async move {
            let c = campaign(&mut client, id).await?;
            (c.sessions_checkpointed >= at_least).then_some(())
        }
    })
    .await;
}

async fn wait_completed(client: &mut ControlServiceClient<Channel>, id: &str) {
    poll_until(Duration::from_secs(90), "the campaign to complete", || {
        let mut client = client.clone();
        async move {
            let c = campaign(&mut client, id).await?;
            (c.state == v1::CampaignState::Completed as i32).then_some(())
        }
    })
    .await;
}

/// The agent with the most shards right now.
async fn busiest_agent(client: &mut ControlServiceClient<Channel>) -> String {
    let status = status(client).await.expect("cluster status");
    status
        .agents
        .iter()
        .max_by_key(|a| a.shards)
        .map(|a| a.id.clone())
        .expect("an agent")
}

/// Polls until `gone` has left the registry and every unfinished shard sits on a live agent.
async fn wait_replaced(
    client: &mut ControlServiceClient<Channel>,
    gone: &str,
    campaign_id: &str,
) -> Duration {
    let started = Instant::now();
    poll_until(
        Duration::from_secs(30),
        "shards of the lost agent to be re-placed",
        || {
            let mut client = client.clone();
            async move {
                let status = status(&mut client).await?;
                let c = campaign(&mut client, campaign_id).await?;
                let plan = c.plan?;
                let placed: u32 = status.agents.iter().map(|a| a.shards).sum();
                let still_there = status.agents.iter().any(|a| a.id == gone);
                (!still_there && placed == plan.shards - c.shards_done).then_some(())
            }
        },
    )
    .await;
    started.elapsed()
}

async fn assert_exact_sessions(sandbox: &Sandbox, document: &str, campaign_id: &str) {
    let expected = expected_session_ids(document);
    let recorded = recorded_session_ids(sandbox, campaign_id).await;
    let missing = expected.difference(&recorded).count();
    let unexpected = recorded.difference(&expected).count();
    assert_eq!(
        (missing, unexpected),
        (0, 0),
        "sessions missing / unexpected in ClickHouse"
    );
    assert_eq!(
        sandbox.distinct_sessions(campaign_id).await,
        expected.len() as u64
    );
    let final_rows: u64 = sandbox
        .clickhouse_client()
        .query("SELECT count() FROM sessions FINAL WHERE campaign_id = ?")
        .bind(campaign_id)
        .fetch_one()
        .await
        .expect("count FINAL");
    assert_eq!(final_rows, expected.len() as u64, "deduplicated row count");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agent_loses_no_session_and_counts_none_twice() {
    let mut sandbox = Sandbox::start().await;
    sandbox.spawn_coordinator("coordinator-1");
    for id in ["agent-1", "agent-2", "agent-3"] {
        sandbox.spawn_agent(id);
    }
    let (_, mut client) = sandbox.leader_client(3).await;
    let document = spec("killed", sandbox.target.address, 400, 40.0, 6);
    let id = start_campaign(&mut client, document.clone()).await;
    wait_checkpointed(&mut client, &id, 60).await;

    let victim = busiest_agent(&mut client).await;
    sandbox.node(&victim).kill9();
    let replaced_after = wait_replaced(&mut client, &victim, &id).await;
    eprintln!("shards of the killed agent re-placed {replaced_after:?} after kill -9 (lease TTL {TTL:?})");
    assert!(
        replaced_after <= 2 * TTL + Duration::from_secs(2),
        "re-placement took {replaced_after:?}, more than about two lease TTLs"
    );

    wait_completed(&mut client, &id).await;
    assert_exact_sessions(&sandbox, &document, &id).await;
    assert!(sandbox.target.requests() >= 400, "the target saw the traffic");

    // The analytics API reads the same exact count from ClickHouse, and the
    // agents' shares add up to it: re-run sessions count once.
    let answer = client
        .get_analytics(v1::AnalyticsRequest {
            campaign_ids: vec![id.clone()],
            by: "agent".to_string(),
            resolution_ms: 0,
        })
        .await
        .expect("analytics")
        .into_inner();
    let reports: serde_json::Value = serde_json::from_str(&answer.reports_json).expect("json");
    assert_eq!(reports[0]["totals"]["sessions"], 400, "{reports}");
    let by_agent: u64 = reports[0]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["sessions"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(by_agent, 400, "{reports}");

    // Every session's steps are stored once too, and page visits add up to
    // the sessions' page views.
    let db = sandbox.clickhouse_client();
    let with_steps: u64 = db
        .query("SELECT uniqExact(session_id) FROM actions WHERE campaign_id = ?")
        .bind(&id)
        .fetch_one()
        .await
        .expect("actions");
    assert_eq!(with_steps, 400);
    let visits: u64 = db
        .query("SELECT count() FROM page_visits WHERE campaign_id = ?")
        .bind(&id)
        .fetch_one()
        .await
        .expect("page visits");
    let page_views: u64 = db
        .query("SELECT sum(page_views) FROM sessions FINAL WHERE campaign_id = ?")
        .bind(&id)
        .fetch_one()
        .await
        .expect("page views");
    assert!(visits > 400, "{visits}");
    assert_eq!(visits, page_views);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_coordinator_takes_over_when_the_leader_dies() {
    let mut sandbox = Sandbox::start().await;
    sandbox.spawn_coordinator("coordinator-1");
    sandbox.spawn_coordinator("coordinator-2");
    sandbox.spawn_agent("agent-1");
    sandbox.spawn_agent("agent-2");
    let (leader, mut client) = sandbox.leader_client(2).await;
    let document = spec("takeover", sandbox.target.address, 300, 30.0, 4);
    let id = start_campaign(&mut client, document.clone()).await;
    wait_checkpointed(&mut client, &id, 40).await;

    sandbox.node(&leader).kill9();
    let killed_at = Instant::now();
    let standby = if leader == "coordinator-1" {
        "coordinator-2"
    } else {
        "coordinator-1"
    };
    let endpoint = sandbox.node(standby).endpoint();
    let mut standby_client = ControlServiceClient::connect(endpoint)
        .await
        .expect("standby answers");
    poll_until(Duration::from_secs(20), "the standby to lead", || {
        let mut client = standby_client.clone();
        let standby = standby.to_string();
        async move { (status(&mut client).await?.leader == standby).then_some(()) }
    })
    .await;
    eprintln!(
        "standby led {:?} after the leader's kill -9 (lease TTL {TTL:?})",
        killed_at.elapsed()
    );

    wait_completed(&mut standby_client, &id).await;
    assert_exact_sessions(&sandbox, &document, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_agent_fences_itself_instead_of_running_beside_its_replacement() {
    let mut sandbox = Sandbox::start().await;
    sandbox.spawn_coordinator("coordinator-1");
    for id in ["agent-1", "agent-2", "agent-3"] {
        sandbox.spawn_agent(id);
    }
    let (_, mut client) = sandbox.leader_client(3).await;
    let document = spec("frozen", sandbox.target.address, 500, 40.0, 6);
    let id = start_campaign(&mut client, document.clone()).await;
    wait_checkpointed(&mut client, &id, 60).await;

    let victim = busiest_agent(&mut client).await;
    // The shards and epochs it holds when it freezes.
    let mut victim_agent = AgentServiceClient::connect(sandbox.node(&victim).endpoint())
        .await
        .expect("agent answers");
    let held: Vec<(u32, u64)> = victim_agent
        .describe(v1::DescribeRequest {})
        .await
        .expect("describe")
        .into_inner()
        .shards
        .iter()
        .map(|s| (s.shard_index, s.epoch))
        .collect();
    assert!(!held.is_empty(), "the busiest agent holds shards");
    sandbox.node(&victim).freeze();
    let moved_after = wait_replaced(&mut client, &victim, &id).await;
    eprintln!("shards of the frozen agent re-placed {moved_after:?} after SIGSTOP (lease TTL {TTL:?})");
    sandbox.node(&victim).thaw();
    let thawed_ms = throng_engine::clock::epoch_ms();

    // Resumed, it drops every shard it held under its old epochs. (As a
    // fresh member it may then be given shards again, under newer epochs.)
    let agent_endpoint = sandbox.node(&victim).endpoint();
    let old = held.clone();
    poll_until(
        Duration::from_secs(10),
        "the thawed agent to drop its old shards",
        || {
            let endpoint = agent_endpoint.clone();
            let old = old.clone();
            async move {
                let mut agent = AgentServiceClient::connect(endpoint).await.ok()?;
                let shards = agent
                    .describe(v1::DescribeRequest {})
                    .await
                    .ok()?
                    .into_inner()
                    .shards;
                let keeps_old = shards.iter().any(|s| old.contains(&(s.shard_index, s.epoch)));
                (!keeps_old).then_some(())
            }
        },
    )
    .await;

    wait_completed(&mut client, &id).await;
    for (shard, epoch) in &held {
        let late: u64 = sandbox
            .clickhouse_client()
            .query(
                "SELECT count() FROM sessions WHERE campaign_id = ? AND agent_id = ? \
                 AND shard = ? AND epoch = ? AND started_ms >= ?",
            )
            .bind(&id)
            .bind(&victim)
            .bind(shard)
            .bind(epoch)
            .bind(thawed_ms)
            .fetch_one()
            .await
            .expect("count late sessions");
        assert_eq!(
            late, 0,
            "shard {shard} ran under its old epoch {epoch} after the thaw"
        );
    }
    assert_exact_sessions(&sandbox, &document, &id).await;
    let log = sandbox.log(&victim);
    assert!(
        log.contains("self-fenced"),
        "agent log shows self-fencing:\n{log}"
    );
}

/// Batch files waiting in a spill directory (not counting set-aside ones).
fn spilled_batches(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".batch"))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_without_clickhouse_loses_no_session_and_counts_none_twice() {
    const OUTAGE: Duration = Duration::from_secs(60);
    let mut sandbox = Sandbox::start().await;
    let spill = tempfile::tempdir().expect("spill dir");
    sandbox.spawn_coordinator("coordinator-1");
    let dirs: Vec<std::path::PathBuf> = ["agent-1", "agent-2"]
        .iter()
        .map(|id| {
            let dir = spill.path().join(id);
            sandbox.spawn_agent_with(id, &["--spill-dir", &dir.display().to_string()]);
            dir
        })
        .collect();
    let (_, mut client) = sandbox.leader_client(2).await;
    // 90 s of traffic: the outage falls in the middle of it.
    let document = spec("outage", sandbox.target.address, 900, 10.0, 4);
    let id = start_campaign(&mut client, document.clone()).await;
    wait_checkpointed(&mut client, &id, 50).await;

    sandbox.clickhouse.kill();
    let outage_ends = Instant::now() + OUTAGE;
    let before = campaign(&mut client, &id)
        .await
        .expect("campaign")
        .sessions_checkpointed;
    // The campaign goes on: its sessions wait on disk and still checkpoint.
    wait_checkpointed(&mut client, &id, before + 100).await;
    poll_until(Duration::from_secs(30), "batches spilled to disk", || async {
        (dirs.iter().map(|d| spilled_batches(d)).sum::<usize>() > 0).then_some(())
    })
    .await;
    let during = campaign(&mut client, &id).await.expect("campaign");
    assert_eq!(during.state, v1::CampaignState::Running as i32, "{during:?}");
    // Cluster status says so, per agent.
    poll_until(
        Duration::from_secs(20),
        "cluster status to show the spilling",
        || {
            let mut client = client.clone();
            async move {
                let agents = status(&mut client).await?.agents;
                agents
                    .iter()
                    .filter_map(|a| a.telemetry.as_ref())
                    .any(|t| t.rows_spilled > 0 && t.error.contains("unreachable"))
                    .then_some(())
            }
        },
    )
    .await;
    // The fault itself lasts its minute; everything else above polls.
    tokio::time::sleep_until(outage_ends.into()).await;
    sandbox.clickhouse.restart();

    wait_completed(&mut client, &id).await;
    poll_until(
        Duration::from_secs(60),
        "every spilled batch replayed",
        || async { (dirs.iter().map(|d| spilled_batches(d)).sum::<usize>() == 0).then_some(()) },
    )
    .await;
    assert_exact_sessions(&sandbox, &document, &id).await;
    poll_until(
        Duration::from_secs(20),
        "cluster status to show the writers healthy",
        || {
            let mut client = client.clone();
            async move {
                let agents = status(&mut client).await?.agents;
                agents
                    .iter()
                    .all(|a| {
                        a.telemetry
                            .as_ref()
                            .is_some_and(|t| t.error.is_empty() && t.rows_replayed == t.rows_spilled)
                    })
                    .then_some(())
            }
        },
    )
    .await;
    // Placement may give every shard to one agent; each agent that ran
    // shards through the outage spilled, and said so.
    let mut spilled = 0;
    for agent in ["agent-1", "agent-2"] {
        let log = sandbox.log(agent);
        if log.contains("shard starting") {
            assert!(log.contains("spilled"), "{agent} logged no spill:\n{log}");
            spilled += 1;
        }
    }
    assert!(spilled > 0, "no agent ran a shard");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_etcd_outage_refuses_control_calls_clearly_and_loses_no_session() {
    let mut sandbox = Sandbox::start().await;
    sandbox.spawn_coordinator("coordinator-1");
    sandbox.spawn_agent("agent-1");
    sandbox.spawn_agent("agent-2");
    let (_, mut client) = sandbox.leader_client(2).await;
    let document = spec("etcd-outage", sandbox.target.address, 300, 20.0, 4);
    let id = start_campaign(&mut client, document.clone()).await;
    wait_checkpointed(&mut client, &id, 40).await;

    sandbox.etcd.kill();
    // While etcd is down, a control call fails at once and says why.
    let refused = poll_until(
        Duration::from_secs(20),
        "a control call refused while etcd is down",
        || {
            let mut client = client.clone();
            async move {
                let call = client.list_campaigns(v1::ListCampaignsRequest::default());
                match tokio::time::timeout(Duration::from_secs(10), call).await {
                    Ok(Err(status)) => Some(status),
                    _ => None,
                }
            }
        },
    )
    .await;
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    sandbox.etcd.restart();

    // Afterwards calls succeed again and the campaign completes with every
    // session stored exactly once.
    poll_until(Duration::from_secs(30), "control calls to succeed again", || {
        let mut client = client.clone();
        async move {
            client
                .list_campaigns(v1::ListCampaignsRequest::default())
                .await
                .ok()
                .map(|_| ())
        }
    })
    .await;
    wait_completed(&mut client, &id).await;
    assert_exact_sessions(&sandbox, &document, &id).await;
}

/// A target that notes when each request came and from which address.
struct SourceRecordingSite {
    address: std::net::SocketAddr,
    arrivals: std::sync::Arc<std::sync::Mutex<Vec<(u64, std::net::IpAddr)>>>,
}

impl SourceRecordingSite {
    async fn start(ip: &str) -> SourceRecordingSite {
        use axum::extract::ConnectInfo;
        let arrivals = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let noted = arrivals.clone();
        let app =
            axum::Router::new().fallback(move |ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>| {
                let noted = noted.clone();
                async move {
                    let now = throng_engine::clock::epoch_ms();
                    noted.lock().expect("arrivals").push((now, peer.ip()));
                    "<html><body>ok</body></html>"
                }
            });
        let listener = tokio::net::TcpListener::bind(format!("{ip}:0"))
            .await
            .expect("bind the target on the namespace's link");
        let address = listener.local_addr().expect("target address");
        tokio::spawn(async move {
            let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
            let _ = axum::serve(listener, service).await;
        });
        SourceRecordingSite { address, arrivals }
    }

    /// Arrival times (epoch ms) of the requests from `ip`.
    fn arrivals_from(&self, ip: &str) -> Vec<u64> {
        let ip: std::net::IpAddr = ip.parse().expect("an IP");
        let arrivals = self.arrivals.lock().expect("arrivals");
        arrivals
            .iter()
            .filter(|(_, from)| *from == ip)
            .map(|(at, _)| *at)
            .collect()
    }
}

/// For every shard `lost` ran that another agent ran too, `lost`'s last
/// session started before the other's first: no shard ran on two agents at
/// once. Returns when the first of them was taken over (epoch ms).
async fn assert_taken_over_in_turn(sandbox: &Sandbox, campaign_id: &str, lost: &str) -> u64 {
    #[derive(clickhouse::Row, serde::Deserialize, Debug)]
    struct Span {
        shard: u32,
        agent_id: String,
        first_ms: u64,
        last_ms: u64,
    }
    let spans: Vec<Span> = sandbox
        .clickhouse_client()
        .query(
            "SELECT shard, agent_id, min(started_ms), max(started_ms) FROM sessions \
             WHERE campaign_id = ? GROUP BY shard, agent_id ORDER BY shard, agent_id",
        )
        .bind(campaign_id)
        .fetch_all()
        .await
        .expect("sessions by shard and agent");
    let mut taken_over_ms = Vec::new();
    for before in spans.iter().filter(|s| s.agent_id == lost) {
        for after in spans
            .iter()
            .filter(|s| s.shard == before.shard && s.agent_id != lost)
        {
            assert!(
                before.last_ms < after.first_ms,
                "shard {} ran on {lost} and {} at once: {spans:#?}",
                before.shard,
                after.agent_id
            );
            taken_over_ms.push(after.first_ms);
        }
    }
    taken_over_ms
        .into_iter()
        .min()
        .unwrap_or_else(|| panic!("no shard of {lost} moved: {spans:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_cut_off_from_etcd_stops_and_its_shards_move_without_loss() {
    // Declared first, dropped last: after every process inside it has gone.
    let namespace = common::netns::Namespace::create();
    let mut sandbox = Sandbox::start_reachable_from(&namespace).await;
    let site = SourceRecordingSite::start(&namespace.host_ip).await;
    sandbox.spawn_coordinator_with("coordinator-1", &["--allow", &namespace.host_ip]);
    // "far" runs in the namespace; "near" on the host, beside etcd.
    sandbox.spawn_in(&namespace, "agent", "far", &[]);
    sandbox.spawn_agent("near");
    let (_, mut client) = sandbox.leader_client(2).await;
    // Placement hashes shards onto agents: with 16 shards "far" holds some
    // but once in 65,536 runs (with 4 it was once in 16).
    let document = spec("partition", site.address, 400, 20.0, 16);
    let id = start_campaign(&mut client, document.clone()).await;
    wait_checkpointed(&mut client, &id, 40).await;
    // Its shards may start a moment after the other agent's.
    poll_until_explained(
        Duration::from_secs(20),
        "the agent in the namespace to generate traffic before the partition",
        || {
            let started = !site.arrivals_from(&namespace.inner_ip).is_empty();
            async move { started.then_some(()) }
        },
        || sandbox.log_tails(60),
    )
    .await;

    // Cut "far" off from etcd, not from the target, ClickHouse or the
    // coordinator: it cannot renew its lease, so it must stop, and its
    // shards must move to "near".
    namespace.cut_off_store();
    let cut_ms = throng_engine::clock::epoch_ms();
    let moved_after = wait_replaced(&mut client, "far", &id).await;
    eprintln!("shards of the partitioned agent re-placed {moved_after:?} after the cut (lease TTL {TTL:?})");
    wait_completed(&mut client, &id).await;

    // Every planned session once, whoever ran it.
    assert_exact_sessions(&sandbox, &document, &id).await;

    // Nothing kept generating beside its replacement: no request of "far"
    // reached the target after "near" took over any of its shards.
    let taken_over = assert_taken_over_in_turn(&sandbox, &id, "far").await;
    let far_requests = site.arrivals_from(&namespace.inner_ip);
    let last_far = far_requests.iter().max().copied().unwrap_or_default();
    assert!(
        last_far < taken_over,
        "the partitioned agent still sent requests {} ms after its replacement took over",
        last_far.saturating_sub(taken_over)
    );
    eprintln!(
        "the partitioned agent's last request came {} ms after the cut; its replacement began {} ms after it",
        last_far.saturating_sub(cut_ms),
        taken_over.saturating_sub(cut_ms)
    );
    assert!(
        sandbox.log("far").contains("self-fenced"),
        "the partitioned agent says it fenced itself:\n{}",
        sandbox.log("far")
    );

    // Healed, it joins again as a fresh member.
    namespace.reconnect_store();
    poll_until(
        Duration::from_secs(60),
        "the healed agent to register again",
        || {
            let mut client = client.clone();
            async move {
                let status = status(&mut client).await?;
                status.agents.iter().any(|a| a.id == "far").then_some(())
            }
        },
    )
    .await;
}

/// Three machines, each a network namespace with its own address and an
/// agent, etcd, ClickHouse, the coordinator and the target on the host: a
/// campaign spreads over all three, and when one machine drops off the
/// network its shards move to the other two, every session run once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_on_three_hosts_share_a_campaign_and_one_hosts_loss_moves_its_shards() {
    // Declared first, dropped last: after every process inside them has gone.
    let hosts: Vec<common::netns::Namespace> = (0..3).map(common::netns::Namespace::host).collect();
    for host in &hosts {
        host.route_through_host();
    }
    let mut sandbox = Sandbox::start_reachable_from_all(&hosts).await;
    // On the first host's link; the others reach it through the host.
    let site = SourceRecordingSite::start(&hosts[0].host_ip).await;
    sandbox.spawn_coordinator_with("coordinator-1", &["--allow", &hosts[0].host_ip]);
    for (k, host) in hosts.iter().enumerate() {
        sandbox.spawn_in(host, "agent", &format!("host-{k}"), &[]);
    }
    let (_, mut client) = sandbox.leader_client(3).await;
    // 32 shards: each host holds some but once in 100,000 runs.
    let document = spec("hosts", site.address, 960, 24.0, 32);
    let id = start_campaign(&mut client, document.clone()).await;
    poll_until_explained(
        Duration::from_secs(30),
        "traffic from every host",
        || {
            let silent: Vec<&str> = hosts
                .iter()
                .filter(|h| site.arrivals_from(&h.inner_ip).is_empty())
                .map(|h| h.inner_ip.as_str())
                .collect();
            async move { silent.is_empty().then_some(()) }
        },
        || sandbox.log_tails(60),
    )
    .await;
    wait_checkpointed(&mut client, &id, 100).await;

    let lost = &hosts[2];
    lost.unplug();
    let moved_after = wait_replaced(&mut client, "host-2", &id).await;
    eprintln!(
        "the unplugged host's shards re-placed {moved_after:?} after it dropped off (lease TTL {TTL:?})"
    );
    wait_completed(&mut client, &id).await;
    assert_exact_sessions(&sandbox, &document, &id).await;
    let taken_over = assert_taken_over_in_turn(&sandbox, &id, "host-2").await;
    let last_lost = site
        .arrivals_from(&lost.inner_ip)
        .into_iter()
        .max()
        .unwrap_or_default();
    assert!(
        last_lost < taken_over,
        "the unplugged host's requests reached the target {} ms after its shards were taken over",
        last_lost - taken_over
    );
    for survivor in &hosts[..2] {
        let last = site.arrivals_from(&survivor.inner_ip).into_iter().max();
        assert!(
            last.is_some_and(|at| at > taken_over),
            "host {} went on sending after the loss",
            survivor.inner_ip
        );
    }
}

/// A healthy target that answers every request after `delay`, counting them.
async fn unhurried_site(
    delay: Duration,
) -> (std::net::SocketAddr, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    let served = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = served.clone();
    let app = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            tokio::time::sleep(delay).await;
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            "<html><body>ok</body></html>"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address, served)
}

/// Every stats message of a campaign's watch, to its end.
async fn watch_to_end(client: &ControlServiceClient<Channel>, id: &str) -> Vec<v1::CampaignStats> {
    let mut stream = client
        .clone()
        .watch_campaign(v1::CampaignRef { id: id.to_string() })
        .await
        .expect("watch")
        .into_inner();
    let mut seen = Vec::new();
    while let Some(stats) = tokio::time::timeout(Duration::from_secs(60), stream.message())
        .await
        .expect("a stats message within a minute")
        .expect("the watch stream")
    {
        seen.push(stats);
    }
    seen
}

fn one_page_campaign(name: &str, target: std::net::SocketAddr, rate: u32, sessions: u32) -> String {
    format!(
        "name: {name}\nseed: 3\ntarget: {{ url: \"http://{target}\" }}\npages: [\"/\"]\n\
         session: {{ pages: {{ min: 1, max: 1 }} }}\nload: {{ rate: {rate}, sessions: {sessions}, shards: 1 }}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_asked_for_more_than_it_can_do_says_so_and_blames_no_failure_on_the_target() {
    // The agent runs at most two sessions of a shard at once and the target
    // answers in 25 ms: about 80 one-page sessions a second.
    let (target, served) = unhurried_site(Duration::from_millis(25)).await;
    let mut sandbox = Sandbox::start().await;
    let http = sandbox.spawn_coordinator_with_http("coordinator-1");
    sandbox.spawn_agent_with("agent-1", &["--max-sessions-per-shard", "2"]);
    let (_, mut client) = sandbox.leader_client(1).await;

    // Within what it can do: on time, and never flagged.
    let calm = start_campaign(&mut client, one_page_campaign("calm", target, 40, 200)).await;
    let calm_stats = watch_to_end(&client, &calm).await;
    let last = calm_stats.last().expect("stats");
    assert_eq!(last.sessions_completed, 200, "{last:?}");
    assert!(!last.ran_generator_limited, "{last:?}");
    assert!(
        calm_stats.iter().all(|s| s.limited_agents.is_empty()),
        "{calm_stats:?}"
    );

    // Five times more than it can do.
    let busy = start_campaign(&mut client, one_page_campaign("busy", target, 400, 600)).await;
    let watch = tokio::spawn({
        let client = client.clone();
        let busy = busy.clone();
        async move { watch_to_end(&client, &busy).await }
    });
    let reason = poll_until(
        Duration::from_secs(30),
        "the agent to say it is generator-limited",
        || {
            let mut client = client.clone();
            async move {
                let agent = status(&mut client)
                    .await?
                    .agents
                    .into_iter()
                    .find(|a| a.id == "agent-1")?;
                agent.generator.filter(|g| g.limited).map(|g| g.reason)
            }
        },
    )
    .await;
    assert!(reason.contains("sessions started over 250 ms late"), "{reason}");
    let (_, metrics) = common::http_request(&http, "GET", "/metrics", None, "");
    assert!(
        metrics.contains("throng_agent_generator_limited{agent=\"agent-1\"} 1"),
        "{metrics}"
    );

    let busy_stats = watch.await.expect("watch task");
    let last = busy_stats.last().expect("stats");
    assert_eq!(last.state, v1::CampaignState::Completed as i32, "{last:?}");
    assert!(
        last.ran_generator_limited,
        "the result says the generator limited it: {last:?}"
    );
    assert!(last.start_lag_p99_ms > 250.0, "{last:?}");
    assert!(
        busy_stats.iter().any(|s| s.limited_agents == ["agent-1"]),
        "the watch named the agent while it ran"
    );
    assert_eq!(last.sessions_completed, 600, "{last:?}");
    assert_eq!(
        (last.request_errors, last.generator_errors),
        (0, 0),
        "a healthy target, and sessions held back rather than failed: {:?}",
        last.errors_by_class
    );
    assert_eq!(served.load(std::sync::atomic::Ordering::Relaxed), 800);

    // The stored sessions say the same, for reports made after the fact.
    let answer = client
        .get_analytics(v1::AnalyticsRequest {
            campaign_ids: vec![calm, busy],
            by: String::new(),
            resolution_ms: 0,
        })
        .await
        .expect("analytics")
        .into_inner();
    let reports: serde_json::Value = serde_json::from_str(&answer.reports_json).expect("json");
    let (calm, busy) = (&reports[0]["totals"], &reports[1]["totals"]);
    assert_eq!(calm["generator_limited"], false, "{calm}");
    assert_eq!(busy["generator_limited"], true, "{busy}");
    assert!(busy["late_sessions"].as_u64() > Some(300), "{busy}");
    eprintln!(
        "asked for 400 sessions/s of an agent that does about 80: start lag p99 {:.0} ms, {} of 600 sessions late, no error",
        last.start_lag_p99_ms, busy["late_sessions"]
    );
}
