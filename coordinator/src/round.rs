//! One round of the control loop, decided: a pure function from the cluster
//! view (and what agents were last told) to the writes and calls that make
//! the agents match what the campaigns and the live agents call for.
//! `crate::reconcile` applies a round: the writes in order under the
//! leader's fence, then the calls to agents, concurrently.
//!
//! Every unfinished shard of every active campaign is placed by rendezvous
//! hashing over live agents; a shard whose owner is gone (or is no longer its
//! best place) moves under a new fencing epoch, above both its last epoch
//! and its checkpoint's; campaigns whose shards are all done complete, and
//! those whose threshold failed stop.

use std::collections::HashMap;

use throng_engine::order::ShardOrder;
use throng_engine::records::{AgentRecord, Assignment};
use throng_engine::streams::scenario::ScenarioRun;
use throng_state::LeaseId;

use crate::campaign::{Campaign, CampaignState, CampaignStatus};
use crate::placement::{Candidate, Placer};
use crate::view::{ClusterView, LiveAgent};

/// What the agents were last told about a shard: while it still holds, the
/// shard's owner needs no new call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confirmed {
    pub agent_id: String,
    pub epoch: u64,
    /// The owner's lease: a re-registered agent (a new lease) runs nothing
    /// until told again.
    pub lease: LeaseId,
    pub paused: bool,
    pub rate_changes: usize,
    pub scenario_runs: Vec<ScenarioRun>,
}

/// A campaign that ends this round.
#[derive(Clone, Debug, PartialEq)]
pub struct Finish {
    pub campaign_id: String,
    pub status: CampaignStatus,
}

/// A change to where shards are assigned.
#[derive(Clone, Debug, PartialEq)]
pub enum Move {
    /// A shard that needs no owner any more (done, or its campaign is not
    /// active): its assignment goes.
    Release { shard_id: String, owner: Assignment },
    /// A shard placed on an agent under a new epoch, from its old owner if
    /// it had one. `trace` is the campaign's, so placement continues it.
    Place {
        shard_id: String,
        from: Option<Assignment>,
        to: Assignment,
        trace: Option<String>,
    },
}

/// A call to an agent.
#[derive(Debug)]
pub enum AgentCall {
    /// Start (or re-affirm) a shard; once it answers, `confirmed` holds.
    Assign {
        record: AgentRecord,
        order: ShardOrder,
        confirmed: Confirmed,
    },
    Revoke {
        record: AgentRecord,
        campaign_id: String,
        shard_index: u32,
    },
}

/// Everything one round does, in the order it must be done.
#[derive(Debug, Default)]
pub struct Round {
    pub finishes: Vec<Finish>,
    pub moves: Vec<Move>,
    /// Made once every write has landed.
    pub calls: Vec<AgentCall>,
}

/// Decides a round. `failed_threshold` says why a running campaign must
/// stop (a threshold that failed with enough data), if it must.
pub fn plan(
    view: &ClusterView,
    confirmed: &HashMap<String, Confirmed>,
    failed_threshold: impl Fn(&Campaign) -> Option<String>,
    now_ms: u64,
) -> Round {
    let candidates: Vec<Candidate> = view
        .agents
        .iter()
        .map(|a| Candidate {
            agent_id: a.record.agent_id.clone(),
            capacity: a.record.capacity,
        })
        .collect();
    let live = LiveAgents {
        placer: Placer::new(&candidates),
        by_id: view
            .agents
            .iter()
            .map(|a| (a.record.agent_id.as_str(), a))
            .collect(),
    };
    let mut round = Round::default();
    for campaign in view.campaigns.values() {
        let shards = campaign.shard_count();
        let state = campaign.status.state;
        let all_done = state.is_active() && view.shards_done(&campaign.id, shards) == shards;
        let aborted = (state == CampaignState::Running && !all_done)
            .then(|| failed_threshold(campaign))
            .flatten();
        let finished = all_done || aborted.is_some();
        if finished {
            let status = match aborted {
                Some(reason) => CampaignStatus {
                    state: CampaignState::Stopped,
                    ended_at_ms: Some(now_ms),
                    stop_reason: Some(reason),
                    ..campaign.status.clone()
                },
                None => CampaignStatus {
                    state: CampaignState::Completed,
                    ended_at_ms: Some(now_ms),
                    ..campaign.status.clone()
                },
            };
            round.finishes.push(Finish {
                campaign_id: campaign.id.clone(),
                status,
            });
        }
        for index in 0..shards {
            plan_shard(&mut round, view, confirmed, &live, campaign, index, finished);
        }
    }
    round
}

/// The live agents as a round looks them up: where a shard belongs, and
/// an agent by id (thousands of times a round, so not by a search).
struct LiveAgents<'a> {
    placer: Placer<'a>,
    by_id: HashMap<&'a str, &'a LiveAgent>,
}

/// One shard's part of the round.
fn plan_shard(
    round: &mut Round,
    view: &ClusterView,
    confirmed: &HashMap<String, Confirmed>,
    live: &LiveAgents,
    campaign: &Campaign,
    index: u32,
    finished: bool,
) {
    let shard_id = throng_state::keys::shard_id(&campaign.id, index);
    let current = view.assignments.get(&shard_id);
    let checkpoint = view.checkpoints.get(&shard_id).cloned().unwrap_or_default();
    let state = campaign.status.state;
    let revoke_from = |owner: &Assignment| {
        live.by_id
            .get(owner.agent_id.as_str())
            .map(|agent| AgentCall::Revoke {
                record: agent.record.clone(),
                campaign_id: campaign.id.clone(),
                shard_index: index,
            })
    };
    if finished || !state.is_active() || checkpoint.done {
        if let Some(owner) = current {
            round.moves.push(Move::Release {
                shard_id: shard_id.clone(),
                owner: owner.clone(),
            });
            round.calls.extend(revoke_from(owner));
        }
        return;
    }
    let Some(target) = live.placer.place(&shard_id) else {
        return;
    };
    let Some(agent) = live.by_id.get(target.agent_id.as_str()) else {
        return;
    };
    let assignment = match current {
        Some(owner) if owner.agent_id == target.agent_id => owner.clone(),
        _ => {
            // Above both the last owner's epoch and the checkpoint's: the
            // old owner's writes are fenced out.
            let epoch = current.map_or(0, |a| a.epoch).max(checkpoint.epoch) + 1;
            let moved = Assignment {
                campaign_id: campaign.id.clone(),
                shard_index: index,
                shard_count: campaign.shard_count(),
                epoch,
                agent_id: target.agent_id.clone(),
            };
            round.moves.push(Move::Place {
                shard_id: shard_id.clone(),
                from: current.cloned(),
                to: moved.clone(),
                trace: campaign.status.trace.clone(),
            });
            if let Some(owner) = current {
                round.calls.extend(revoke_from(owner));
            }
            moved
        }
    };
    let paused = state == CampaignState::Paused;
    let told = Confirmed {
        agent_id: target.agent_id.clone(),
        epoch: assignment.epoch,
        lease: agent.lease,
        paused,
        rate_changes: campaign.status.rate_changes.len(),
        scenario_runs: campaign.status.scenario_runs.clone(),
    };
    if confirmed.get(&shard_id) == Some(&told) {
        return;
    }
    let order = ShardOrder {
        assignment,
        workload: (*campaign.workload).clone(),
        paused,
        started_at_ms: campaign.status.origin_ms(),
        rate_changes: campaign.status.rate_changes.clone(),
        scenario_runs: campaign.status.scenario_runs.clone(),
    };
    round.calls.push(AgentCall::Assign {
        record: agent.record.clone(),
        order,
        confirmed: told,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use throng_engine::records::Checkpoint;
    use throng_engine::spec::ValidationContext;
    use throng_engine::workload::Workload;

    fn agent(id: &str, lease: LeaseId) -> LiveAgent {
        LiveAgent {
            record: AgentRecord {
                agent_id: id.into(),
                address: format!("http://{id}.test:7001"),
                capacity: 1,
            },
            lease,
        }
    }

    fn campaign(id: &str, shards: u32, state: CampaignState) -> Campaign {
        let document = format!(
            "name: {id}\ntarget: {{ url: \"http://127.0.0.1:9\" }}\nload: {{ rate: 5, sessions: 100, shards: {shards} }}\n"
        );
        let workload = Workload::parse(&document, &ValidationContext::default()).expect("spec");
        Campaign {
            id: id.into(),
            spec_json: workload.to_json().into(),
            workload: workload.into(),
            status: CampaignStatus {
                state,
                started_at_ms: Some(2_000),
                ..CampaignStatus::created(1_000)
            },
        }
    }

    fn view(agents: &[LiveAgent], campaigns: &[Campaign]) -> ClusterView {
        ClusterView {
            agents: agents.to_vec(),
            campaigns: campaigns.iter().map(|c| (c.id.clone(), c.clone())).collect(),
            ..ClusterView::default()
        }
    }

    fn assign(view: &mut ClusterView, campaign: &str, index: u32, agent: &str, epoch: u64) {
        let shards = view.campaigns[campaign].shard_count();
        let assignment = Assignment {
            campaign_id: campaign.into(),
            shard_index: index,
            shard_count: shards,
            epoch,
            agent_id: agent.into(),
        };
        view.assignments.insert(assignment.shard_id(), assignment);
    }

    fn checkpoint(view: &mut ClusterView, campaign: &str, index: u32, epoch: u64, done: bool) {
        let shard_id = throng_state::keys::shard_id(campaign, index);
        view.checkpoints.insert(
            shard_id,
            Checkpoint {
                epoch,
                next_seq: 10,
                done,
                sessions_failed: 0,
                watermark_ms: None,
            },
        );
    }

    /// The view once the round's placements landed, their epochs raised by
    /// `later` (as if the shards had moved about since).
    fn adopt(view: &mut ClusterView, round: &Round, later: u64) {
        for change in &round.moves {
            if let Move::Place { shard_id, to, .. } = change {
                let mut owner = to.clone();
                owner.epoch += later;
                view.assignments.insert(shard_id.clone(), owner);
            }
        }
    }

    fn no_threshold(_: &Campaign) -> Option<String> {
        None
    }

    fn placed(round: &Round) -> Vec<(String, Option<String>, String, u64)> {
        round
            .moves
            .iter()
            .filter_map(|m| match m {
                Move::Place {
                    shard_id, from, to, ..
                } => Some((
                    shard_id.clone(),
                    from.as_ref().map(|a| a.agent_id.clone()),
                    to.agent_id.clone(),
                    to.epoch,
                )),
                Move::Release { .. } => None,
            })
            .collect()
    }

    fn assigned(round: &Round) -> Vec<(String, String)> {
        round
            .calls
            .iter()
            .filter_map(|c| match c {
                AgentCall::Assign { record, order, .. } => {
                    Some((order.assignment.shard_id(), record.agent_id.clone()))
                }
                AgentCall::Revoke { .. } => None,
            })
            .collect()
    }

    fn revoked(round: &Round) -> Vec<(String, u32)> {
        round
            .calls
            .iter()
            .filter_map(|c| match c {
                AgentCall::Revoke {
                    record, shard_index, ..
                } => Some((record.agent_id.clone(), *shard_index)),
                AgentCall::Assign { .. } => None,
            })
            .collect()
    }

    /// What the agents would hold once every call of `round` answered.
    fn confirmations(round: &Round) -> HashMap<String, Confirmed> {
        round
            .calls
            .iter()
            .filter_map(|c| match c {
                AgentCall::Assign { order, confirmed, .. } => {
                    Some((order.assignment.shard_id(), confirmed.clone()))
                }
                AgentCall::Revoke { .. } => None,
            })
            .collect()
    }

    #[test]
    fn every_shard_of_a_running_campaign_is_placed_once_at_epoch_one() {
        let v = view(
            &[agent("a", 1), agent("b", 2)],
            &[campaign("c", 8, CampaignState::Running)],
        );
        let round = plan(&v, &HashMap::new(), no_threshold, 5_000);
        let moves = placed(&round);
        assert_eq!(moves.len(), 8);
        assert!(
            moves
                .iter()
                .all(|(_, from, _, epoch)| from.is_none() && *epoch == 1)
        );
        let on: std::collections::BTreeSet<&str> = moves.iter().map(|m| m.2.as_str()).collect();
        assert_eq!(on.len(), 2, "both agents take shards: {moves:?}");
        assert_eq!(assigned(&round).len(), 8);
        assert!(revoked(&round).is_empty() && round.finishes.is_empty());
    }

    #[test]
    fn a_lost_agents_shards_move_above_every_epoch_they_had_and_nobody_calls_the_dead() {
        let mut v = view(
            &[agent("a", 1), agent("b", 2)],
            &[campaign("c", 6, CampaignState::Running)],
        );
        let first = plan(&v, &HashMap::new(), no_threshold, 5_000);
        adopt(&mut v, &first, 2);
        let mut confirmed = confirmations(&first);
        for told in confirmed.values_mut() {
            told.epoch += 2;
        }
        let lost: Vec<u32> = v
            .assignments
            .values()
            .filter(|a| a.agent_id == "b")
            .map(|a| a.shard_index)
            .collect();
        assert!(!lost.is_empty());
        // One of the lost shards had checkpointed under an even later epoch.
        checkpoint(&mut v, "c", lost[0], 7, false);
        v.agents.retain(|a| a.record.agent_id != "b");

        let round = plan(&v, &confirmed, no_threshold, 6_000);
        let moves = placed(&round);
        assert_eq!(moves.len(), lost.len(), "only the lost shards move: {moves:?}");
        for (shard_id, from, to, epoch) in &moves {
            assert_eq!((from.as_deref(), to.as_str()), (Some("b"), "a"));
            let first_lost = throng_state::keys::shard_id("c", lost[0]);
            let floor = if *shard_id == first_lost { 7 } else { 3 };
            assert_eq!(*epoch, floor + 1, "{shard_id}");
        }
        assert!(revoked(&round).is_empty(), "the dead agent is not called");
        let mut told: Vec<String> = assigned(&round).into_iter().map(|(s, _)| s).collect();
        let mut moved: Vec<String> = moves.into_iter().map(|m| m.0).collect();
        told.sort();
        moved.sort();
        assert_eq!(told, moved, "shards still confirmed on `a` are not told again");
    }

    #[test]
    fn a_confirmed_shard_is_told_again_only_when_something_it_runs_by_changed() {
        let mut c = campaign("c", 2, CampaignState::Running);
        let v = view(&[agent("a", 1)], std::slice::from_ref(&c));
        let round = plan(&v, &HashMap::new(), no_threshold, 5_000);
        let mut v = v;
        adopt(&mut v, &round, 0);
        let confirmed = confirmations(&round);
        assert!(plan(&v, &confirmed, no_threshold, 6_000).calls.is_empty());

        c.status.state = CampaignState::Paused;
        v.campaigns.insert("c".into(), c.clone());
        let paused = plan(&v, &confirmed, no_threshold, 7_000);
        assert_eq!(assigned(&paused).len(), 2);
        assert!(
            paused
                .calls
                .iter()
                .all(|call| matches!(call, AgentCall::Assign { order, .. } if order.paused))
        );
        assert!(placed(&paused).is_empty(), "pausing moves nothing");

        c.status.state = CampaignState::Running;
        v.campaigns.insert("c".into(), c);
        v.agents[0].lease = 99;
        let reborn = plan(&v, &confirmed, no_threshold, 8_000);
        assert_eq!(
            assigned(&reborn).len(),
            2,
            "a re-registered agent runs nothing until told"
        );
    }

    #[test]
    fn a_campaign_whose_shards_are_all_done_completes_and_lets_them_go() {
        let mut v = view(&[agent("a", 1)], &[campaign("c", 3, CampaignState::Running)]);
        for index in 0..3 {
            assign(&mut v, "c", index, "a", 1);
            checkpoint(&mut v, "c", index, 1, true);
        }
        let round = plan(&v, &HashMap::new(), no_threshold, 9_000);
        assert_eq!(round.finishes.len(), 1);
        let status = &round.finishes[0].status;
        assert_eq!(
            (status.state, status.ended_at_ms),
            (CampaignState::Completed, Some(9_000))
        );
        assert_eq!(round.moves.len(), 3);
        assert!(round.moves.iter().all(|m| matches!(m, Move::Release { .. })));
        assert_eq!(
            revoked(&round),
            vec![("a".into(), 0), ("a".into(), 1), ("a".into(), 2)]
        );
        assert!(assigned(&round).is_empty());
    }

    #[test]
    fn a_failed_threshold_stops_a_running_campaign_with_its_reason() {
        let mut v = view(&[agent("a", 1)], &[campaign("c", 2, CampaignState::Running)]);
        assign(&mut v, "c", 0, "a", 1);
        checkpoint(&mut v, "c", 1, 1, true);
        let round = plan(
            &v,
            &HashMap::new(),
            |_| Some("threshold failed: p99 < 10".into()),
            9_000,
        );
        let status = &round.finishes[0].status;
        assert_eq!(status.state, CampaignState::Stopped);
        assert_eq!(status.stop_reason.as_deref(), Some("threshold failed: p99 < 10"));
        assert_eq!(revoked(&round), vec![("a".into(), 0)]);
        assert!(placed(&round).is_empty());
    }

    #[test]
    fn without_agents_or_an_active_campaign_nothing_is_placed() {
        let lonely = view(&[], &[campaign("c", 2, CampaignState::Running)]);
        let round = plan(&lonely, &HashMap::new(), no_threshold, 1);
        assert!(round.moves.is_empty() && round.calls.is_empty());
        let created = view(&[agent("a", 1)], &[campaign("c", 2, CampaignState::Created)]);
        let round = plan(&created, &HashMap::new(), no_threshold, 1);
        assert!(round.moves.is_empty() && round.calls.is_empty() && round.finishes.is_empty());
    }
}
