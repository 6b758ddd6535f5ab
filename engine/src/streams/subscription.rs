//! Subscriptions: a consumer's view of a stream run, by pattern, in (time,
//! id) order, resumable from a token.
//!
//! Every event is a pure function of catalog, seed, scenario timeline and
//! simulated time, so a subscription generates the events it needs itself,
//! exactly as the agents do, rather than collecting them from the agents.
//! This gives consumers things a relay could not: a resume token is just a
//! position in simulated time, valid for as long as the run lasts (far more
//! than the 60 seconds of buffer a relay would keep); a slow consumer only
//! slows its own subscription, never generation; and what it missed is
//! always available again from the token it was given.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::catalog::Catalog;
use super::generate::{ShardGenerator, StreamEvent, anomaly_factor};
use super::pattern::StreamPattern;
use super::scenario::{ScenarioEffects, ScenarioRun};

/// Events a fresh subscriber gets per stream as a snapshot.
pub const SNAPSHOT_PER_STREAM: usize = 10;
/// How far back a snapshot looks for those events.
const SNAPSHOT_WINDOW_MS: i64 = 24 * 3_600_000;

/// A position in a run's event order: everything at or before it was delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ResumeToken {
    pub at_ms: i64,
    pub id: u64,
}

impl ResumeToken {
    /// `v1.<at_ms>.<id in hex>`.
    pub fn encode(&self) -> String {
        format!("v1.{}.{:016x}", self.at_ms, self.id)
    }

    pub fn decode(text: &str) -> Result<ResumeToken, String> {
        let bad = || format!("`{text}` is not a resume token (expected v1.<ms>.<16 hex digits>)");
        let mut parts = text.trim().split('.');
        if parts.next() != Some("v1") {
            return Err(bad());
        }
        let at_ms = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let id = parts
            .next()
            .filter(|p| p.len() == 16)
            .and_then(|p| u64::from_str_radix(p, 16).ok())
            .ok_or_else(bad)?;
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(ResumeToken { at_ms, id })
    }

    fn of(event: &StreamEvent) -> ResumeToken {
        ResumeToken {
            at_ms: event.at_ms,
            id: event.id,
        }
    }
}

/// One consumer's subscription to a run.
pub struct Subscription {
    catalog: Arc<Catalog>,
    scale: f64,
    patterns: Vec<StreamPattern>,
    /// Streams the patterns take.
    wanted: Vec<bool>,
    /// Generators of every shard that makes a wanted stream.
    shards: Vec<ShardGenerator>,
    timeline: Vec<ScenarioRun>,
    effects: ScenarioEffects,
    /// Everything at or before this was delivered (or skipped on purpose).
    position: ResumeToken,
    /// Generated up to here (exclusive).
    generated_ms: i64,
}

impl Subscription {
    /// A subscription delivering events after `position`.
    pub fn new(
        catalog: Arc<Catalog>,
        scale: f64,
        patterns: Vec<StreamPattern>,
        timeline: &[ScenarioRun],
        position: ResumeToken,
    ) -> Subscription {
        let wanted: Vec<bool> = (0..catalog.streams.len())
            .map(|s| patterns.iter().any(|p| p.matches(&catalog, s)))
            .collect();
        let start = position.at_ms;
        let shards = catalog
            .roots()
            .into_iter()
            .filter(|root| reaches_wanted(&catalog, *root, &wanted))
            .map(|root| {
                let mut shard = ShardGenerator::new(catalog.clone(), root, scale, start);
                shard.set_timeline(timeline);
                shard
            })
            .collect();
        Subscription {
            effects: ScenarioEffects::for_catalog(&catalog, timeline),
            timeline: timeline.to_vec(),
            catalog,
            scale,
            patterns,
            wanted,
            shards,
            position,
            generated_ms: start,
        }
    }

    pub fn position(&self) -> ResumeToken {
        self.position
    }

    /// Follows a changed scenario timeline from here on.
    pub fn set_timeline(&mut self, timeline: &[ScenarioRun]) {
        if timeline != self.timeline.as_slice() {
            for shard in &mut self.shards {
                shard.set_timeline(timeline);
            }
            self.effects = ScenarioEffects::for_catalog(&self.catalog, timeline);
            self.timeline = timeline.to_vec();
        }
    }

    /// The wanted events after the position and before `until_ms`, in
    /// order; the position moves past them.
    pub fn next_batch(&mut self, until_ms: i64) -> Vec<StreamEvent> {
        if until_ms <= self.generated_ms {
            return Vec::new();
        }
        let mut events = Vec::new();
        for shard in &mut self.shards {
            shard.advance(until_ms, &mut events);
        }
        self.generated_ms = until_ms;
        events.retain(|e| {
            self.wanted[usize::from(e.stream)] && ResumeToken::of(e) > self.position && self.takes(e)
        });
        events.sort_by_key(|e| (e.at_ms, e.id));
        // Everything before `until_ms` is now delivered: the position says so
        // even when the last events were not this subscriber's.
        self.position = self.position.max(ResumeToken {
            at_ms: until_ms - 1,
            id: u64::MAX,
        });
        events
    }

    /// Skips to `to_ms` without delivering, counting what is skipped per
    /// stream: what a consumer too slow to keep up is told it missed (it can
    /// come back for it with the token it had).
    pub fn skip_to(&mut self, to_ms: i64) -> BTreeMap<String, u64> {
        let skipped = self.next_batch(to_ms);
        let mut missed = BTreeMap::new();
        for event in skipped {
            *missed
                .entry(self.catalog.streams[usize::from(event.stream)].name.to_string())
                .or_default() += 1;
        }
        missed
    }

    /// The `anomalies` pattern takes only events of a stream bent at that
    /// instant (by a scenario or a background anomaly); others take all.
    fn takes(&self, event: &StreamEvent) -> bool {
        let anomalies_only = self.patterns.iter().all(|p| *p == StreamPattern::Anomalies);
        if !anomalies_only {
            return true;
        }
        let stream = usize::from(event.stream);
        anomaly_factor(&self.catalog, stream, event.at_ms) != 1.0
            || self.effects.rate(stream, event.at_ms, 1.0, self.scale) != 1.0
    }

    /// The last [`SNAPSHOT_PER_STREAM`] events of each wanted stream before
    /// `now_ms` (looking back a day), oldest first: what a fresh subscriber
    /// sees first. The subscription then continues from `now_ms`.
    pub fn snapshot(
        catalog: Arc<Catalog>,
        scale: f64,
        patterns: Vec<StreamPattern>,
        timeline: &[ScenarioRun],
        now_ms: i64,
    ) -> (Vec<StreamEvent>, Subscription) {
        let from = ResumeToken {
            at_ms: now_ms - SNAPSHOT_WINDOW_MS,
            id: 0,
        };
        let mut look_back = Subscription::new(catalog.clone(), scale, patterns.clone(), timeline, from);
        let recent = look_back.next_batch(now_ms);
        let mut per_stream: BTreeMap<u16, Vec<StreamEvent>> = BTreeMap::new();
        for event in recent {
            per_stream.entry(event.stream).or_default().push(event);
        }
        let mut snapshot: Vec<StreamEvent> = per_stream
            .into_values()
            .flat_map(|events| {
                let skip = events.len().saturating_sub(SNAPSHOT_PER_STREAM);
                events.into_iter().skip(skip)
            })
            .collect();
        snapshot.sort_by_key(|e| (e.at_ms, e.id));
        let live = Subscription::new(
            catalog,
            scale,
            patterns,
            timeline,
            ResumeToken {
                at_ms: now_ms - 1,
                id: u64::MAX,
            },
        );
        (snapshot, live)
    }
}

fn reaches_wanted(catalog: &Catalog, root: usize, wanted: &[bool]) -> bool {
    let mut stack = vec![root];
    let mut seen = vec![false; catalog.streams.len()];
    while let Some(stream) = stack.pop() {
        if wanted[stream] {
            return true;
        }
        if std::mem::replace(&mut seen[stream], true) {
            continue;
        }
        for chain in &catalog.chains_from[stream] {
            stack.extend(catalog.chains[*chain].outcomes.iter().map(|o| o.stream));
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streams::generate::generate_all;

    const FEB_2: i64 = 1_769_990_400_000;
    const MINUTE: i64 = 60_000;

    fn catalog() -> Arc<Catalog> {
        Arc::new(Catalog::builtin())
    }

    #[test]
    fn tokens_round_trip_and_bad_ones_are_refused() {
        let token = ResumeToken {
            at_ms: 1234,
            id: 0xabc,
        };
        assert_eq!(ResumeToken::decode(&token.encode()), Ok(token));
        for bad in [
            "",
            "v2.1.0000000000000abc",
            "v1.x.0000000000000abc",
            "v1.1.abc",
            "v1.1.0000000000000abc.9",
        ] {
            assert!(ResumeToken::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_subscription_sees_exactly_the_runs_events_of_its_pattern() {
        let catalog = catalog();
        let pattern = StreamPattern::parse("session.*", &catalog).expect("pattern");
        let start = ResumeToken {
            at_ms: FEB_2 - 1,
            id: u64::MAX,
        };
        let mut sub = Subscription::new(catalog.clone(), 0.1, vec![pattern.clone()], &[], start);
        let mut got = Vec::new();
        for step in 1..=30 {
            got.extend(sub.next_batch(FEB_2 + step * 2 * MINUTE));
        }
        let want: Vec<StreamEvent> = generate_all(&catalog, 0.1, FEB_2, FEB_2 + 60 * MINUTE)
            .into_iter()
            .filter(|e| pattern.matches(&catalog, usize::from(e.stream)))
            .collect();
        assert!(!want.is_empty());
        assert!(got == want);
    }

    #[test]
    fn resuming_from_a_token_delivers_every_event_exactly_once() {
        let catalog = catalog();
        let all = vec![StreamPattern::All];
        let start = ResumeToken {
            at_ms: FEB_2 - 1,
            id: u64::MAX,
        };
        let mut whole = Subscription::new(catalog.clone(), 0.05, all.clone(), &[], start);
        let expected = whole.next_batch(FEB_2 + 30 * MINUTE);

        let mut first = Subscription::new(catalog.clone(), 0.05, all.clone(), &[], start);
        let mut got = first.next_batch(FEB_2 + 7 * MINUTE);
        // The consumer disconnects here, and comes back with its token.
        let token = ResumeToken::decode(&first.position().encode()).expect("token");
        let mut again = Subscription::new(catalog, 0.05, all, &[], token);
        got.extend(again.next_batch(FEB_2 + 30 * MINUTE));
        assert!(got == expected);
    }

    #[test]
    fn a_fresh_subscriber_gets_the_last_ten_per_stream_and_a_slow_one_is_told_what_it_missed() {
        let catalog = catalog();
        let pattern = vec![StreamPattern::parse("support.*", &catalog).expect("pattern")];
        let now = FEB_2 + 12 * 3_600_000;
        let (snapshot, mut live) = Subscription::snapshot(catalog.clone(), 0.2, pattern, &[], now);
        let mut per_stream: BTreeMap<u16, usize> = BTreeMap::new();
        for event in &snapshot {
            *per_stream.entry(event.stream).or_default() += 1;
            assert!(event.at_ms < now);
        }
        assert!(per_stream.values().all(|n| *n <= SNAPSHOT_PER_STREAM));
        assert!(per_stream.values().any(|n| *n == SNAPSHOT_PER_STREAM));
        let token = live.position();
        let missed = live.skip_to(now + 10 * MINUTE);
        assert!(missed.values().sum::<u64>() > 0);
        assert!(live.position() > token);
    }

    #[test]
    fn the_anomalies_pattern_takes_only_bent_events() {
        let catalog = catalog();
        let outage = ScenarioRun {
            scenario: "support-overload".into(),
            started_ms: FEB_2 + 30 * MINUTE,
            stopped_ms: None,
            reset_ms: None,
            event: None,
        };
        let start = ResumeToken {
            at_ms: FEB_2 - 1,
            id: u64::MAX,
        };
        let mut sub = Subscription::new(
            catalog.clone(),
            0.2,
            vec![StreamPattern::Anomalies],
            &[outage],
            start,
        );
        let events = sub.next_batch(FEB_2 + 60 * MINUTE);
        let tickets = catalog.stream("support.ticket.created").unwrap_or(0) as u16;
        assert!(
            events
                .iter()
                .any(|e| e.stream == tickets && e.at_ms >= FEB_2 + 30 * MINUTE)
        );
        assert!(!events.iter().any(|e| e.stream == tickets
            && e.at_ms < FEB_2 + 30 * MINUTE
            && anomaly_factor(&catalog, usize::from(tickets), e.at_ms) == 1.0));
    }
}
