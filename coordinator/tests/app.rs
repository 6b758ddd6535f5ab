//! The application layer's rules, called as the doors call them, against a
//! real etcd: lifecycle transitions, what may change when, refusals that
//! write nothing, leader-only writes, and stream-run calls.

use std::sync::Arc;
use std::time::Duration;

use throng_coordinator::CoordinatorError;
use throng_coordinator::app::{App, Injection, ScenarioChange};
use throng_coordinator::campaign::{Action, CampaignState};
use throng_coordinator::leader::{LeaderRecord, Leadership};
use throng_coordinator::view::LiveView;
use throng_engine::spec::ValidationContext;
use throng_state::{EtcdStore, Keys, StateStore};
use throng_testkit::{EtcdServer, poll_until};
use tokio::sync::watch;

/// A coordinator's application over `etcd`, campaigning for leadership
/// until the returned sender is dropped.
async fn app(etcd: &EtcdServer, cluster: &str, id: &str) -> (App, watch::Sender<bool>) {
    let store: Arc<dyn StateStore> = Arc::new(EtcdStore::connect(&[etcd.endpoint()]).await.expect("etcd"));
    let keys = Keys::new(cluster);
    let leadership = Leadership::new(
        &keys,
        LeaderRecord {
            coordinator_id: id.to_string(),
            address: format!("http://{id}.test:7000"),
        },
    );
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(
        leadership
            .clone()
            .run(store.clone(), Duration::from_secs(5), stop_rx.clone()),
    );
    let (view, _) = LiveView::start(store.clone(), keys.clone(), stop_rx.clone());
    let app = App {
        cluster: cluster.to_string(),
        store,
        keys,
        view,
        leadership,
        hub: Default::default(),
        validation: ValidationContext::default(),
        nudge: Arc::new(tokio::sync::Notify::new()),
        analytics: None,
        placements: Default::default(),
        coordinator_id: id.to_string(),
        agents: throng_coordinator::agents::AgentClients::new(None, None),
        baselines: Arc::default(),
        answers: Arc::default(),
        behaviour_rules: throng_engine::behaviour::rules_file::BehaviourRules::defaults(),
        feeds: Arc::default(),
    };
    (app, stop)
}

async fn leading(etcd: &EtcdServer, cluster: &str) -> (App, watch::Sender<bool>) {
    let (app, stop) = app(etcd, cluster, "c1").await;
    let leadership = app.leadership.clone();
    poll_until(Duration::from_secs(15), "leadership", || {
        let leading = leadership.is_leader();
        async move { leading.then_some(()) }
    })
    .await;
    (app, stop)
}

const SPEC: &str = "name: shop\nseed: 1\ntarget: { url: \"http://127.0.0.1:9\" }\n\
    pages: [\"/\", \"/a\"]\nload: { rate: 5, sessions: 100 }\n";

fn conflict(result: Result<impl std::fmt::Debug, CoordinatorError>, says: &str) {
    match result {
        Err(CoordinatorError::Conflict(message)) => {
            assert!(message.contains(says), "`{message}` does not say `{says}`")
        }
        other => panic!("expected a conflict saying `{says}`, got {other:?}"),
    }
}

fn invalid_at(result: Result<impl std::fmt::Debug, CoordinatorError>, path: &str) {
    match result {
        Err(CoordinatorError::InvalidSpec(errors)) => assert!(
            errors.0.iter().any(|e| e.path == path),
            "no error at {path}: {errors:?}"
        ),
        other => panic!("expected a spec error at {path}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_campaign_moves_only_as_its_state_allows_and_refusals_write_nothing() {
    let etcd = EtcdServer::start();
    let (app, _stop) = leading(&etcd, "lifecycle").await;
    let campaigns = app.campaigns();

    // An unknown library reference: refused with its path, nothing stored.
    let unknown = SPEC.replace("load:", "personas: [{ use: nobody }]\nload:");
    match campaigns.create(&unknown, false).await {
        Err(CoordinatorError::InvalidSpec(errors)) => {
            assert!(
                errors.0.iter().any(|e| e.path.starts_with("personas[0]")),
                "{errors:?}"
            )
        }
        other => panic!("unknown persona accepted: {other:?}"),
    }
    assert!(campaigns.list().await.expect("list").is_empty());

    let created = campaigns.create(SPEC, false).await.expect("create");
    let id = created.campaign.id.clone();
    assert_eq!(created.campaign.status.state, CampaignState::Created);
    conflict(campaigns.set_rate(&id, 9.0).await, "created");
    conflict(campaigns.act(&id, Action::Pause).await, "");

    // Before it starts, anything may change: a new revision.
    let edited = campaigns
        .update(&id, &SPEC.replace("\"/a\"", "\"/b\""))
        .await
        .expect("update while created");
    assert_eq!(edited.campaign.status.edits, 1);
    assert!(edited.campaign.spec_json.contains("/b"));

    let running = campaigns.act(&id, Action::Start).await.expect("start");
    assert_eq!(running.campaign.status.state, CampaignState::Running);
    // Running: pages cannot change live, the rate can.
    invalid_at(
        campaigns.update(&id, &SPEC.replace("\"/a\"", "\"/c\"")).await,
        "pages",
    );
    let faster = campaigns
        .update(&id, &SPEC.replace("/a\"]", "/b\"]").replace("rate: 5", "rate: 8"))
        .await
        .expect("rate edit while running");
    assert_eq!(faster.campaign.status.rate_changes.len(), 1);
    assert_eq!(faster.campaign.status.rate_changes[0].rate, 8.0);
    invalid_at(campaigns.set_rate(&id, -1.0).await, "rate");
    conflict(campaigns.delete(&id).await, "stop it first");
    let unchanged = campaigns.get(&id).await.expect("get");
    assert_eq!(
        unchanged.campaign.status, faster.campaign.status,
        "a refusal wrote"
    );

    let clone = campaigns
        .clone_campaign(&id, "shop-again", false)
        .await
        .expect("clone");
    assert_ne!(clone.campaign.id, id);
    assert_eq!(clone.campaign.workload.name(), "shop-again");

    let stopped = campaigns.act(&id, Action::Stop).await.expect("stop");
    assert_eq!(stopped.campaign.status.state, CampaignState::Stopped);
    assert!(stopped.campaign.status.ended_at_ms.is_some());
    conflict(campaigns.act(&id, Action::Stop).await, "");
    let finished_edit = campaigns.update(&id, SPEC).await;
    assert!(
        finished_edit.is_err(),
        "a finished campaign was edited: {finished_edit:?}"
    );
    assert!(campaigns.delete(&id).await.expect("delete") >= 2);
    assert!(matches!(
        campaigns.get(&id).await,
        Err(CoordinatorError::NotFound(_))
    ));
    let left: Vec<String> = campaigns
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|v| v.campaign.id)
        .collect();
    assert_eq!(left, vec![clone.campaign.id]);
}

#[tokio::test]
async fn a_standby_refuses_writes_naming_the_leader_and_still_answers_reads() {
    let etcd = EtcdServer::start();
    let (leader, _stop_leader) = leading(&etcd, "standby").await;
    let created = leader.campaigns().create(SPEC, false).await.expect("create");
    let (standby, _stop_standby) = app(&etcd, "standby", "c2").await;
    match standby.campaigns().create(SPEC, false).await {
        Err(CoordinatorError::NotLeader { leader }) => assert!(leader.contains("c1"), "{leader}"),
        other => panic!("a standby wrote: {other:?}"),
    }
    assert!(matches!(
        standby.campaigns().act(&created.campaign.id, Action::Start).await,
        Err(CoordinatorError::NotLeader { .. })
    ));
    assert!(matches!(
        standby
            .library()
            .apply("persona", "name: p\njourneys: { casual: 1 }\n")
            .await,
        Err(CoordinatorError::NotLeader { .. })
    ));
    let read = standby
        .campaigns()
        .get(&created.campaign.id)
        .await
        .expect("read on a standby");
    assert_eq!(read.campaign.status.state, CampaignState::Created);
    let status = standby.cluster().status().await.expect("status");
    assert_eq!(status.leader, "c1");
    assert_eq!(status.campaigns, 1);
}

#[tokio::test]
async fn stream_runs_take_scenarios_and_events_while_running_and_traffic_refuses_them() {
    let etcd = EtcdServer::start();
    let (app, _stop) = leading(&etcd, "streams").await;
    let run_spec = "kind: streams\nname: tutoring\ncatalog: builtin\n\
        clock: { mode: accelerated, factor: 60, from: \"2026-02-02T00:00:00Z\" }\n";
    let run = app.campaigns().create(run_spec, false).await.expect("create run");
    let id = run.campaign.id.clone();
    let traffic = app
        .campaigns()
        .create(SPEC, false)
        .await
        .expect("create campaign");

    conflict(
        app.scenarios().list(&traffic.campaign.id).await.map(|_| ()),
        "traffic campaign",
    );
    conflict(app.campaigns().set_rate(&id, 3.0).await, "stream run");
    let apply = || ScenarioChange::Apply {
        scenario: "exam-season-surge".into(),
        compose: false,
    };
    conflict(
        app.scenarios().change(&id, "", apply()).await.map(|_| ()),
        "created",
    );

    app.campaigns().act(&id, Action::Start).await.expect("start");
    let before = app.campaigns().get(&id).await.expect("get").campaign.status;
    // One bad event refuses the whole batch, naming it.
    let events = [
        Injection {
            template: "tiktok-mention".into(),
            ..Injection::default()
        },
        Injection {
            template: "no-such-event".into(),
            ..Injection::default()
        },
    ];
    match app.streams().inject(&id, &events).await {
        Err(CoordinatorError::InvalidFields(errors)) => {
            assert_eq!(errors.0[0].path, "events[1].template", "{errors}")
        }
        Err(other) => panic!("unexpected error {other:?}"),
        Ok(_) => panic!("an unknown template was injected"),
    }
    let bad_at = app
        .scenarios()
        .change(&id, "yesterday", apply())
        .await
        .map(|_| ());
    assert!(
        matches!(bad_at, Err(CoordinatorError::Invalid(ref m)) if m.starts_with("at:")),
        "{bad_at:?}"
    );
    assert_eq!(
        app.campaigns().get(&id).await.expect("get").campaign.status,
        before
    );

    let injected = app.streams().inject(&id, &events[..1]).await.expect("inject");
    assert_eq!(injected.events.len(), 1);
    let applied = app.scenarios().change(&id, "", apply()).await.expect("apply");
    assert!(applied.sim_now_ms.is_some(), "a live run has a clock");
    let names: Vec<&str> = applied.timeline.iter().map(|r| r.scenario.as_str()).collect();
    assert!(names.contains(&"exam-season-surge"), "{names:?}");
    app.scenarios()
        .change(&id, "", ScenarioChange::Stop)
        .await
        .expect("stop");
    conflict(
        app.scenarios()
            .change(&id, "", ScenarioChange::Stop)
            .await
            .map(|_| ()),
        "no scenario is active",
    );
    let listed = app.scenarios().list(&id).await.expect("list");
    let surge = listed
        .timeline
        .iter()
        .find(|r| r.scenario == "exam-season-surge")
        .expect("the scenario stays on the timeline");
    assert!(surge.stopped_ms.is_some(), "stop settles it: {surge:?}");
}

#[tokio::test]
async fn an_event_of_your_own_is_checked_by_field_and_bends_the_streams_it_names() {
    let etcd = EtcdServer::start();
    let (app, _stop) = leading(&etcd, "own-events").await;
    let run_spec = "kind: streams\nname: tutoring\ncatalog: builtin\n\
        clock: { mode: accelerated, factor: 60, from: \"2026-02-02T00:00:00Z\" }\n";
    let id = app
        .campaigns()
        .create(run_spec, false)
        .await
        .expect("create")
        .campaign
        .id;
    app.campaigns().act(&id, Action::Start).await.expect("start");
    let before = app.campaigns().get(&id).await.expect("get").campaign.status;
    let own = |event: serde_json::Value| Injection {
        at: "2026-02-04T10:00:00Z".into(),
        event: Some(event),
        ..Injection::default()
    };

    // Every problem of every event, each with its field path; nothing stored.
    let bad = [
        own(serde_json::json!({
            "title": "Campus festival", "category": "weather", "severity": "dire",
            "impact": [{ "stream": "customer.ghost", "multiply": 2 }, { "stream": "customer.tutor.search" }]
        })),
        own(serde_json::json!({ "id": "tiktok-mention", "category": "marketing", "impact": [] })),
        Injection {
            template: "tiktok-mention".into(),
            ..own(serde_json::json!({ "category": "marketing" }))
        },
    ];
    let message = match app.streams().inject(&id, &bad).await {
        Err(CoordinatorError::InvalidFields(errors)) => errors.to_string(),
        other => panic!("bad events were not refused: {other:?}"),
    };
    for expected in [
        "events[0].event.category: unknown category `weather`",
        "events[0].event.severity",
        "events[0].event.impact[0].stream: unknown stream `customer.ghost`",
        "events[0].event.impact[1].multiply: is required",
        "events[1].event.id: `tiktok-mention` is a library template",
        "events[1].event.impact: give at least one stream",
        "events[2]: give a `template` or an `event` of your own, not both",
    ] {
        assert!(message.contains(expected), "missing {expected} in {message}");
    }
    assert_eq!(
        app.campaigns().get(&id).await.expect("get").campaign.status,
        before
    );

    let festival = serde_json::json!({
        "id": "campus-festival", "title": "Campus festival", "category": "marketing", "icon": "🎪",
        "impact": [{ "stream": "customer.tutor.search", "multiply": 4, "duration": "6h" }]
    });
    let injected = app.streams().inject(&id, &[own(festival)]).await.expect("inject");
    let wire = throng_coordinator::external_events::to_wire(&injected);
    assert_eq!(wire.events.len(), 1);
    assert_eq!(wire.events[0].template, "campus-festival");
    assert_eq!(wire.events[0].title, "Campus festival");
    assert_eq!(wire.events[0].expected_streams, ["customer.tutor.search"]);

    // Listed among the run's events, and its stream moves in its six hours.
    let events = app
        .streams()
        .external_events(
            &id,
            throng_coordinator::app::streams::EventsQuery {
                from: "2026-02-04T00:00:00Z".into(),
                until: "2026-02-05T00:00:00Z".into(),
                ..Default::default()
            },
        )
        .await
        .expect("events");
    let listed = throng_coordinator::external_events::to_wire(&events);
    assert!(
        listed
            .events
            .iter()
            .any(|e| e.template == "campus-festival" && e.injected),
        "{:?}",
        listed.events
    );
    let from_ms = 1_770_199_200_000; // 2026-02-04T10:00Z
    let history = app
        .streams()
        .history(
            &id,
            throng_coordinator::stream_history::HistoryQuery {
                from_ms: Some(from_ms),
                until_ms: Some(from_ms + 6 * 3_600_000),
                block_ms: 6 * 3_600_000,
                patterns: vec!["customer.tutor.search".into()],
            },
        )
        .await
        .expect("history");
    let search = &history.series[0];
    assert!(
        search.counts[0] as f64 > 2.5 * search.baseline[0] as f64,
        "bent {} against a baseline of {}",
        search.counts[0],
        search.baseline[0]
    );
}

#[tokio::test]
async fn live_scores_are_normal_at_the_baseline_and_flag_a_scenario_by_how_far_it_moved() {
    let etcd = EtcdServer::start();
    let (app, _stop) = leading(&etcd, "scores").await;
    let run_spec = "kind: streams\nname: tutoring\ncatalog: builtin\n\
        clock: { mode: accelerated, factor: 60, from: \"2026-02-02T00:00:00Z\" }\n";
    let id = app
        .campaigns()
        .create(run_spec, true)
        .await
        .expect("run")
        .campaign
        .id;

    // Untouched, every stream sits at its baseline: normal, 50.
    let calm = app.streams().live_scores(&id).await.expect("scores");
    assert_eq!(calm.streams.len(), 50);
    for s in &calm.streams {
        assert_eq!(s.count, s.baseline, "{}", s.stream);
        assert_eq!((s.score, s.flag), (50.0, "normal"), "{}", s.stream);
    }

    // A surge since six simulated hours ago bends the last hour.
    let now = app
        .scenarios()
        .list(&id)
        .await
        .expect("list")
        .sim_now_ms
        .expect("clock");
    let at = jiff::Timestamp::from_millisecond(now - 6 * 3_600_000)
        .expect("instant")
        .to_string();
    let surge = ScenarioChange::Apply {
        scenario: "exam-season-surge".into(),
        compose: false,
    };
    app.scenarios().change(&id, &at, surge).await.expect("apply");
    let bent = app.streams().live_scores(&id).await.expect("scores");
    let moved: Vec<_> = bent.streams.iter().filter(|s| s.count != s.baseline).collect();
    assert!(!moved.is_empty(), "the surge moved no stream");
    assert!(
        bent.streams.iter().any(|s| s.flag != "normal"),
        "a surge flags some stream"
    );
    for s in &bent.streams {
        let sigmas = (s.count as f64 - s.baseline as f64).abs() / s.spread;
        let expected = if sigmas >= 3.0 {
            "critical"
        } else if sigmas > 1.0 {
            "warning"
        } else {
            "normal"
        };
        assert_eq!(
            s.flag, expected,
            "{}: {} against {} (spread {})",
            s.stream, s.count, s.baseline, s.spread
        );
        assert_eq!(s.count > s.baseline, s.score > 50.0, "{}", s.stream);
    }
}
