//! Placement: which live agent runs which shard.
//!
//! Weighted rendezvous hashing (highest random weight): every (shard, agent)
//! pair gets a stable pseudo-random score `-capacity / ln(u)`, and a shard
//! goes to the agent with the highest score. This is deterministic (no state
//! to keep or agree on), balanced in proportion to capacity, and moves the
//! minimum when membership changes: only the shards of a leaving agent move,
//! and a joining agent takes only the shards it now scores highest on.

use std::collections::BTreeMap;

use throng_engine::ids::{Part, mix64, stable_hash};

/// A candidate agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub agent_id: String,
    /// Relative weight; 0 means "never place here".
    pub capacity: u32,
}

/// The stable hash of an id, computed once per shard and per agent.
fn id_hash(id: &str) -> u64 {
    stable_hash(&[Part::Str("placement"), Part::Str(id)])
}

/// The pair's score: its combined hash as u in (0, 1), then `-capacity / ln(u)`.
fn score(shard_hash: u64, agent_hash: u64, capacity: u32) -> f64 {
    if capacity == 0 {
        return f64::NEG_INFINITY;
    }
    let hash = mix64(shard_hash ^ mix64(agent_hash.wrapping_add(0x9e37_79b9_7f4a_7c15)));
    // The top 53 bits, offset by half a step so u is never 0 or 1.
    let u = ((hash >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    -f64::from(capacity) / u.ln()
}

fn best<'a>(shard_hash: u64, candidates: &'a [Candidate], agent_hashes: &[u64]) -> Option<&'a Candidate> {
    candidates
        .iter()
        .zip(agent_hashes)
        .filter(|(c, _)| c.capacity > 0)
        .map(|(c, h)| (c, score(shard_hash, *h, c.capacity)))
        // Ties (practically impossible) break on the id, for determinism.
        .max_by(|(a, sa), (b, sb)| sa.total_cmp(sb).then_with(|| b.agent_id.cmp(&a.agent_id)))
        .map(|(c, _)| c)
}

/// The candidates of one round, each agent's id hashed once: placing a
/// shard then costs one score per agent (with a thousand agents and ten
/// thousand shards, hashing every agent's id again for every shard was most
/// of a round).
pub struct Placer<'a> {
    candidates: &'a [Candidate],
    agent_hashes: Vec<u64>,
}

impl<'a> Placer<'a> {
    pub fn new(candidates: &'a [Candidate]) -> Self {
        Placer {
            candidates,
            agent_hashes: candidates.iter().map(|c| id_hash(&c.agent_id)).collect(),
        }
    }

    /// The agent that should run `shard_id`, or None if no candidate can.
    pub fn place(&self, shard_id: &str) -> Option<&'a Candidate> {
        best(id_hash(shard_id), self.candidates, &self.agent_hashes)
    }
}

/// Places every shard; shards no candidate can take are left out.
pub fn place_all(shard_ids: &[String], candidates: &[Candidate]) -> BTreeMap<String, String> {
    let placer = Placer::new(candidates);
    shard_ids
        .iter()
        .filter_map(|shard| placer.place(shard).map(|c| (shard.clone(), c.agent_id.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn agents(capacities: &[u32]) -> Vec<Candidate> {
        capacities
            .iter()
            .enumerate()
            .map(|(i, c)| Candidate {
                agent_id: format!("agent-{i}"),
                capacity: *c,
            })
            .collect()
    }

    fn shards(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("campaign:{i:05}")).collect()
    }

    fn counts(placement: &BTreeMap<String, String>) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for agent in placement.values() {
            *counts.entry(agent.clone()).or_insert(0) += 1;
        }
        counts
    }

    #[test]
    fn nothing_is_placed_without_agents() {
        assert!(Placer::new(&[]).place("s").is_none());
        assert!(Placer::new(&agents(&[0, 0])).place("s").is_none());
    }

    #[test]
    fn equal_agents_get_equal_shares() {
        let placement = place_all(&shards(10_000), &agents(&[1; 10]));
        for (agent, count) in counts(&placement) {
            assert!((850..=1150).contains(&count), "{agent} got {count} of 10000");
        }
    }

    #[test]
    fn shares_follow_capacity() {
        let placement = place_all(&shards(12_000), &agents(&[1, 2, 3]));
        let counts = counts(&placement);
        let expected = [2_000.0, 4_000.0, 6_000.0];
        for (i, want) in expected.iter().enumerate() {
            let got = counts[&format!("agent-{i}")] as f64;
            assert!((got - want).abs() / want < 0.06, "agent-{i}: {got} vs {want}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn placement_is_deterministic_and_order_free(
            caps in prop::collection::vec(1u32..8, 1..12),
            seed in any::<u64>(),
        ) {
            let candidates = agents(&caps);
            let mut reversed = candidates.clone();
            reversed.reverse();
            let ids: Vec<String> = (0..200).map(|i| format!("c{seed}:{i}")).collect();
            prop_assert_eq!(place_all(&ids, &candidates), place_all(&ids, &reversed));
        }

        #[test]
        fn a_leaving_agent_moves_only_its_own_shards(
            caps in prop::collection::vec(1u32..8, 2..12),
            leaving in any::<prop::sample::Index>(),
        ) {
            let candidates = agents(&caps);
            let ids = shards(500);
            let before = place_all(&ids, &candidates);
            let gone = leaving.index(candidates.len());
            let mut remaining = candidates.clone();
            let removed = remaining.remove(gone);
            let after = place_all(&ids, &remaining);
            for id in &ids {
                if before[id] != removed.agent_id {
                    prop_assert_eq!(&before[id], &after[id], "shard {} moved needlessly", id);
                } else {
                    prop_assert_ne!(&after[id], &removed.agent_id);
                }
            }
        }

        #[test]
        fn a_joining_agent_takes_shards_only_for_itself(
            caps in prop::collection::vec(1u32..8, 1..12),
            new_capacity in 1u32..8,
        ) {
            let candidates = agents(&caps);
            let ids = shards(500);
            let before = place_all(&ids, &candidates);
            let mut grown = candidates.clone();
            grown.push(Candidate { agent_id: "newcomer".into(), capacity: new_capacity });
            let after = place_all(&ids, &grown);
            for id in &ids {
                if after[id] != "newcomer" {
                    prop_assert_eq!(&before[id], &after[id]);
                }
            }
        }
    }
}
