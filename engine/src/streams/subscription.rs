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
use super::generate::{ShardGenerator, StreamEvent};
use super::history::{Flag, HourScorer, HourlySpreads};
use super::pattern::StreamPattern;
use super::scenario::ScenarioRun;

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

/// An event as a subscriber gets it: with its stream's 0-100 score and
/// flag for the event's hour against the 30-day baseline (see
/// [`HourScorer`]), what the run's history shows for that hour.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoredEvent {
    pub event: StreamEvent,
    pub score: f64,
    pub flag: Flag,
}

/// One consumer's subscription to a run.
pub struct Subscription {
    catalog: Arc<Catalog>,
    patterns: Vec<StreamPattern>,
    /// Streams the patterns take.
    wanted: Vec<bool>,
    /// Generators of every shard that makes a wanted stream.
    shards: Vec<ShardGenerator>,
    timeline: Vec<ScenarioRun>,
    scorer: HourScorer,
    /// Everything at or before this was delivered (or skipped on purpose).
    position: ResumeToken,
    /// Generated up to here (exclusive).
    generated_ms: i64,
}

impl Subscription {
    /// A subscription delivering events after `position`, scored against
    /// `spreads`, the run's 30-day baseline.
    pub fn new(
        catalog: Arc<Catalog>,
        scale: f64,
        patterns: Vec<StreamPattern>,
        timeline: &[ScenarioRun],
        position: ResumeToken,
        spreads: Arc<HourlySpreads>,
    ) -> Subscription {
        let wanted: Vec<bool> = (0..catalog.streams.len())
            .map(|s| patterns.iter().any(|p| p.matches(&catalog, s)))
            .collect();
        let start = position.at_ms;
        let roots: Vec<usize> = catalog
            .roots()
            .into_iter()
            .filter(|root| reaches_wanted(&catalog, *root, &wanted))
            .collect();
        let shards = roots
            .iter()
            .map(|&root| {
                let mut shard = ShardGenerator::new(catalog.clone(), root, scale, start);
                shard.set_timeline(timeline);
                shard
            })
            .collect();
        Subscription {
            scorer: HourScorer::new(catalog.clone(), scale, roots, spreads, timeline),
            timeline: timeline.to_vec(),
            catalog,
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

    /// Scores from here on against `spreads`.
    pub fn set_spreads(&mut self, spreads: Arc<HourlySpreads>) {
        self.scorer.set_spreads(spreads);
    }

    /// Follows a changed scenario timeline from here on.
    pub fn set_timeline(&mut self, timeline: &[ScenarioRun]) {
        if timeline != self.timeline.as_slice() {
            for shard in &mut self.shards {
                shard.set_timeline(timeline);
            }
            self.scorer.set_timeline(timeline);
            self.timeline = timeline.to_vec();
        }
    }

    /// The wanted events after the position and before `until_ms`, in
    /// order; the position moves past them.
    pub fn next_batch(&mut self, until_ms: i64) -> Vec<ScoredEvent> {
        if until_ms <= self.generated_ms {
            return Vec::new();
        }
        let mut generated = Vec::new();
        for shard in &mut self.shards {
            shard.advance(until_ms, &mut generated);
        }
        self.generated_ms = until_ms;
        generated.retain(|e| self.wanted[usize::from(e.stream)] && ResumeToken::of(e) > self.position);
        generated.sort_by_key(|e| (e.at_ms, e.id));
        let anomalies_only = self.patterns.iter().all(|p| *p == StreamPattern::Anomalies);
        let mut events = Vec::with_capacity(generated.len());
        for event in generated {
            let (score, flag) = self.scorer.score(usize::from(event.stream), event.at_ms);
            // The `anomalies` pattern takes what the history flags.
            if !anomalies_only || flag != Flag::Normal {
                events.push(ScoredEvent { event, score, flag });
            }
        }
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
        for scored in skipped {
            *missed
                .entry(
                    self.catalog.streams[usize::from(scored.event.stream)]
                        .name
                        .to_string(),
                )
                .or_default() += 1;
        }
        missed
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
        spreads: Arc<HourlySpreads>,
    ) -> (Vec<ScoredEvent>, Subscription) {
        let from = ResumeToken {
            at_ms: now_ms - SNAPSHOT_WINDOW_MS,
            id: 0,
        };
        let mut look_back = Subscription::new(
            catalog.clone(),
            scale,
            patterns.clone(),
            timeline,
            from,
            spreads.clone(),
        );
        let recent = look_back.next_batch(now_ms);
        let mut per_stream: BTreeMap<u16, Vec<ScoredEvent>> = BTreeMap::new();
        for scored in recent {
            per_stream.entry(scored.event.stream).or_default().push(scored);
        }
        let mut snapshot: Vec<ScoredEvent> = per_stream
            .into_values()
            .flat_map(|events| {
                let skip = events.len().saturating_sub(SNAPSHOT_PER_STREAM);
                events.into_iter().skip(skip)
            })
            .collect();
        snapshot.sort_by_key(|s| (s.event.at_ms, s.event.id));
        let live = Subscription::new(
            catalog,
            scale,
            patterns,
            timeline,
            ResumeToken {
                at_ms: now_ms - 1,
                id: u64::MAX,
            },
            spreads,
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
    use crate::streams::history::{History, Thresholds, against_baseline, hourly_spread};
    use crate::streams::rhythm::LocalTime;

    const HOUR: i64 = 3_600_000;

    const FEB_2: i64 = 1_769_990_400_000;
    const MINUTE: i64 = 60_000;

    fn catalog() -> Arc<Catalog> {
        Arc::new(Catalog::builtin())
    }

    /// A spread of 1 for every stream and hour: enough where nothing is bent.
    fn flat(catalog: &Catalog) -> Arc<HourlySpreads> {
        Arc::new(vec![[1.0; 24]; catalog.streams.len()])
    }

    /// Each stream's spread by local hour over the week before `FEB_2`.
    fn week_spreads(catalog: &Arc<Catalog>, scale: f64) -> Arc<HourlySpreads> {
        let from = FEB_2 - 7 * 24 * HOUR;
        let week = History::generate(catalog, scale, from, 7 * 24, HOUR, &[]);
        Arc::new(
            week.counts
                .iter()
                .map(|c| hourly_spread(catalog, c, from))
                .collect(),
        )
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
        let mut sub = Subscription::new(
            catalog.clone(),
            0.1,
            vec![pattern.clone()],
            &[],
            start,
            flat(&catalog),
        );
        let mut got = Vec::new();
        for step in 1..=30 {
            got.extend(sub.next_batch(FEB_2 + step * 2 * MINUTE));
        }
        // Nothing bends the run: every event is at its baseline.
        assert!(got.iter().all(|s| s.score == 50.0 && s.flag == Flag::Normal));
        let got: Vec<StreamEvent> = got.into_iter().map(|s| s.event).collect();
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
        let spreads = flat(&catalog);
        let mut whole = Subscription::new(catalog.clone(), 0.05, all.clone(), &[], start, spreads.clone());
        let expected = whole.next_batch(FEB_2 + 30 * MINUTE);

        let mut first = Subscription::new(catalog.clone(), 0.05, all.clone(), &[], start, spreads.clone());
        let mut got = first.next_batch(FEB_2 + 7 * MINUTE);
        // The consumer disconnects here, and comes back with its token.
        let token = ResumeToken::decode(&first.position().encode()).expect("token");
        let mut again = Subscription::new(catalog, 0.05, all, &[], token, spreads);
        got.extend(again.next_batch(FEB_2 + 30 * MINUTE));
        assert!(got == expected);
    }

    #[test]
    fn a_fresh_subscriber_gets_the_last_ten_per_stream_and_a_slow_one_is_told_what_it_missed() {
        let catalog = catalog();
        let pattern = vec![StreamPattern::parse("support.*", &catalog).expect("pattern")];
        let now = FEB_2 + 12 * 3_600_000;
        let spreads = flat(&catalog);
        let (snapshot, mut live) = Subscription::snapshot(catalog.clone(), 0.2, pattern, &[], now, spreads);
        let mut per_stream: BTreeMap<u16, usize> = BTreeMap::new();
        for ScoredEvent { event, .. } in &snapshot {
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
    fn events_carry_their_hours_score_and_the_anomalies_pattern_takes_what_history_flags() {
        let catalog = catalog();
        let spreads = week_spreads(&catalog, 0.2);
        let outage = ScenarioRun {
            scenario: "payment-outage".into(),
            started_ms: FEB_2 + 30 * MINUTE,
            stopped_ms: None,
            reset_ms: None,
            event: None,
        };
        let start = ResumeToken {
            at_ms: FEB_2 - 1,
            id: u64::MAX,
        };
        let timeline = [outage];
        let until = FEB_2 + 3 * HOUR;
        let subscribe =
            |patterns| Subscription::new(catalog.clone(), 0.2, patterns, &timeline, start, spreads.clone());
        let all = subscribe(vec![StreamPattern::All]).next_batch(until);
        let anomalies = subscribe(vec![StreamPattern::Anomalies]).next_batch(until);

        // Each event carries the score the hourly history gives its stream's hour.
        let hours = [FEB_2, FEB_2 + HOUR, FEB_2 + 2 * HOUR];
        let baseline = History::generate(&catalog, 0.2, FEB_2, 3, HOUR, &[]);
        let bent = History::generate(&catalog, 0.2, FEB_2, 3, HOUR, &timeline);
        for scored in &all {
            let (stream, block) = (
                usize::from(scored.event.stream),
                ((scored.event.at_ms - FEB_2) / HOUR) as usize,
            );
            let hour = LocalTime::at(hours[block], &catalog.zone).hour;
            let want = against_baseline(
                bent.counts[stream][block],
                baseline.counts[stream][block],
                spreads[stream][hour],
                Thresholds::default(),
            );
            assert_eq!((scored.score, scored.flag), want, "{scored:?}");
        }
        // The outage's failed payments are flagged high; the anomalies
        // pattern takes exactly the flagged events.
        let failed = catalog.stream("customer.payment.failed").expect("stream") as u16;
        assert!(
            all.iter()
                .any(|s| s.event.stream == failed && s.score > 70.0 && s.flag != Flag::Normal)
        );
        let flagged: Vec<&ScoredEvent> = all.iter().filter(|s| s.flag != Flag::Normal).collect();
        assert!(!flagged.is_empty() && flagged.len() < all.len());
        assert!(anomalies.iter().eq(flagged.into_iter()));

        // Without a scenario the run is its baseline: nothing to flag.
        let quiet = Subscription::new(
            catalog.clone(),
            0.2,
            vec![StreamPattern::Anomalies],
            &[],
            start,
            spreads.clone(),
        )
        .next_batch(until);
        assert!(quiet.is_empty());
    }
}
