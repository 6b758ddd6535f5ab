//! Visitors: who a session belongs to, stable across shards and agents.
//!
//! A new visitor's id is derived from the session. A returning session
//! belongs to one of the persona's *regulars*: session `n` (global sequence)
//! that returns goes to regular `n mod pool`, on its visit number
//! `2 + n / pool`. Every regular's visits therefore carry the same id and
//! increasing visit counts, computed by whichever shard runs them, with no
//! coordination (regulars had a first visit before the campaign).

use crate::ids::{self, Part};

/// The visitor of one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visitor {
    /// 64 bits; Matomo's `_id` is its 16 hex digits, GA4's `client_id` is derived from it.
    pub id: u64,
    pub returning: bool,
    /// 1 for a first visit.
    pub visit_count: u64,
    /// Global sequence of this visitor's previous visit in the campaign, if any.
    pub previous_seq: Option<u64>,
}

impl Visitor {
    /// The visitor of global session `global_seq` of persona `persona`.
    pub fn for_session(
        seed: u64,
        campaign: &str,
        persona: &str,
        global_seq: u64,
        session_id: u64,
        returning: bool,
        pool: u64,
    ) -> Visitor {
        if !returning || pool == 0 {
            return Visitor {
                id: ids::stable_hash(&[Part::Str("visitor"), Part::U64(session_id)]),
                returning: false,
                visit_count: 1,
                previous_seq: None,
            };
        }
        let regular = global_seq % pool;
        Visitor {
            id: ids::stable_hash(&[
                Part::Str("regular"),
                Part::U64(seed),
                Part::Str(campaign),
                Part::Str(persona),
                Part::U64(regular),
            ]),
            returning: true,
            visit_count: 2 + global_seq / pool,
            previous_seq: global_seq.checked_sub(pool),
        }
    }

    /// Matomo's visitor id: exactly 16 lower-case hex digits.
    pub fn matomo_id(&self) -> String {
        format!("{:016x}", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regulars_keep_their_id_and_count_up() {
        let pool = 10;
        let visits: Vec<Visitor> = [3u64, 13, 23, 53]
            .iter()
            .map(|n| Visitor::for_session(1, "c", "p", *n, 999 + n, true, pool))
            .collect();
        assert!(visits.iter().all(|v| v.id == visits[0].id && v.returning));
        let counts: Vec<u64> = visits.iter().map(|v| v.visit_count).collect();
        assert_eq!(counts, vec![2, 3, 4, 7]);
        assert_eq!(visits[1].previous_seq, Some(3));
        let other = Visitor::for_session(1, "c", "p", 4, 1003, true, pool);
        assert_ne!(other.id, visits[0].id);
        let new = Visitor::for_session(1, "c", "p", 3, 1002, false, pool);
        assert_eq!((new.visit_count, new.returning), (1, false));
        assert_eq!(new.matomo_id().len(), 16);
    }
}
