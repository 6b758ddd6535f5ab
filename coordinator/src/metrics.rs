//! The coordinator's `/metrics` (Prometheus text): leadership, agents and
//! their telemetry writers, every campaign's state, placement and merged
//! traffic counters (request rate, errors, latency histogram, active
//! sessions, stream events), scenario phases, placement moves, and the
//! answers kept from the telemetry store. Read at scrape time from the
//! cluster view and the stats hub.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use throng_engine::clock::epoch_ms;
use throng_node::metrics::Exposition;

use crate::app::App;
use crate::scenarios;
use throng_engine::workload::Workload;

pub async fn render(app: &App) -> String {
    let mut m = Exposition::default();
    m.gauge(
        "throng_coordinator_leader",
        "1 on the leader, 0 on a standby.",
        &[],
        f64::from(u8::from(app.leadership.is_leader())),
    );
    m.counter(
        "throng_shard_placements_total",
        "Shards placed on an agent by this coordinator while leader.",
        &[],
        app.placements.placed.load(Ordering::Relaxed) as f64,
    );
    m.counter(
        "throng_shard_moves_total",
        "Shards moved from one agent to another by this coordinator while leader.",
        &[],
        app.placements.moved.load(Ordering::Relaxed) as f64,
    );
    m.counter(
        "throng_reconcile_rounds_total",
        "Rounds of the reconcile loop run by this coordinator while leader.",
        &[],
        app.placements.rounds.load(Ordering::Relaxed) as f64,
    );
    m.counter(
        "throng_reconcile_round_seconds_total",
        "Time those rounds took, in all.",
        &[],
        app.placements.round_micros.load(Ordering::Relaxed) as f64 / 1e6,
    );
    m.histogram(
        "throng_coordinator_stats_delay_seconds",
        "How long agents' stats reports took from the agent to this coordinator's merged counts.",
        &[],
        &app.hub.report_delay(),
    );
    m.gauge(
        "throng_reconcile_last_round_seconds",
        "How long the latest round took.",
        &[],
        app.placements.last_round_micros.load(Ordering::Relaxed) as f64 / 1e6,
    );
    match app.cluster_view().await {
        Ok(view) => {
            m.gauge(
                "throng_state_store_up",
                "1 when etcd answered this scrape.",
                &[],
                1.0,
            );
            m.gauge(
                "throng_agents",
                "Agents registered with a live lease.",
                &[],
                view.agents.len() as f64,
            );
            let mut placed: BTreeMap<&str, u64> = BTreeMap::new();
            for assignment in view.assignments.values() {
                *placed.entry(assignment.campaign_id.as_str()).or_default() += 1;
            }
            for (id, campaign) in &view.campaigns {
                let labels = [("campaign", id.as_str())];
                let state = format!("{:?}", campaign.status.state).to_lowercase();
                m.gauge(
                    "throng_campaign_state",
                    "1 for the campaign's current state.",
                    &[("campaign", id), ("state", &state)],
                    1.0,
                );
                m.gauge(
                    "throng_campaign_shards_placed",
                    "Shards of the campaign placed on agents now.",
                    &labels,
                    placed.get(id.as_str()).copied().unwrap_or(0) as f64,
                );
                m.campaign(&labels, &app.hub.campaign_totals(id));
                if let Workload::Streams(run) = &*campaign.workload {
                    let now = scenarios::sim_now_ms(run, &campaign.status, epoch_ms());
                    let state =
                        scenarios::state_to_wire(id, run, &campaign.status.scenario_runs, now, Vec::new());
                    for entry in state.runs {
                        m.gauge(
                            "throng_scenario_run",
                            "1 per scenario run of a stream run, by its phase now.",
                            &[
                                ("run", id),
                                ("scenario", &entry.scenario),
                                ("phase", &entry.phase),
                                ("started_ms", &entry.started_ms.to_string()),
                            ],
                            1.0,
                        );
                    }
                }
            }
            for run in crate::generation::of_view(&view) {
                m.gauge(
                    "throng_stream_run_mode",
                    "1 per stream run that has not finished, by its clock mode.",
                    &[("run", &run.id), ("mode", run.mode), ("state", &run.state)],
                    1.0,
                );
                if let Some(cadence) = run.cadence {
                    m.gauge(
                        "throng_stream_run_batch_interval_seconds",
                        "An emulated run's wall seconds between batches.",
                        &[("run", &run.id)],
                        cadence.interval_ms as f64 / 1000.0,
                    );
                    m.gauge(
                        "throng_stream_run_batch_max_events",
                        "The most events an emulated run's batch holds.",
                        &[("run", &run.id)],
                        f64::from(cadence.batch_max),
                    );
                    m.gauge(
                        "throng_stream_run_batch_min_events",
                        "The fewest events an emulated run's volume aims at per batch.",
                        &[("run", &run.id)],
                        f64::from(cadence.batch_min),
                    );
                }
            }
        }
        Err(error) => {
            tracing::warn!(%error, "metrics: the state store did not answer");
            m.gauge(
                "throng_state_store_up",
                "1 when etcd answered this scrape.",
                &[],
                0.0,
            );
        }
    }
    let now = epoch_ms();
    for (agent, snapshot) in app.hub.agents() {
        let labels = [("agent", agent.as_str())];
        m.gauge(
            "throng_agent_shards",
            "Shards the agent runs, as of its last stats report.",
            &labels,
            f64::from(snapshot.shards),
        );
        m.gauge(
            "throng_agent_report_age_seconds",
            "Seconds since the agent's last stats report.",
            &labels,
            snapshot.age_seconds(now),
        );
        m.telemetry(&labels, &snapshot.telemetry);
        m.sinks(&labels, &snapshot.sinks);
        m.generator(&labels, &snapshot.generator);
    }
    let answers = &app.answers;
    for (kind, kept, readings) in [
        ("analytics", answers.digests.len(), answers.digests.readings()),
        ("errors", answers.errors.len(), answers.errors.readings()),
        (
            "stream_history",
            answers.histories.len(),
            answers.histories.readings(),
        ),
    ] {
        let labels = [("kind", kind)];
        m.gauge(
            "throng_answers_kept",
            "Answers kept until their rows change (a campaign's analytics by resolution, its errors, a run's history).",
            &labels,
            kept as f64,
        );
        m.counter(
            "throng_store_readings_total",
            "Times the telemetry store (or a history) was read for an answer, ahead of a page or when asked.",
            &labels,
            readings.count.load(Ordering::Relaxed) as f64,
        );
        m.counter(
            "throng_store_reading_seconds_total",
            "Time those readings took.",
            &labels,
            readings.micros.load(Ordering::Relaxed) as f64 / 1e6,
        );
    }
    m.process(&[]);
    m.finish()
}
