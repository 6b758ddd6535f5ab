//! One stream shard's progress on the simulated clock: how far it has
//! generated (its watermark), how far the clock says it should be, and
//! pauses. The actor in [`crate::actors`] is a thin shell over this.

use std::collections::VecDeque;
use std::sync::Arc;

use super::generate::{EventText, ShardGenerator, StreamEvent};
use super::run::{Cadence, StreamRunSpec};
use super::scenario::ScenarioRun;
use crate::telemetry::StreamRecord;

/// How much simulated time one step of a backfill covers: bounds the
/// events held in memory at once and keeps checkpoints frequent.
const BACKFILL_STEP_MS: i64 = 3_600_000;
/// The most simulated time a catching-up shard covers in one step.
const CATCH_UP_STEP_MS: i64 = 6 * 3_600_000;
/// About how many events one step draws or follows at most. A step runs on
/// the async runtime between messages, so it must stay short: a shard
/// replaying its chains' span at start, or catching up, would otherwise hold
/// a worker thread for seconds and starve lease keep-alives beside it.
const STEP_EVENT_BUDGET: usize = 1_000;

pub struct StreamShardRunner {
    run: Arc<StreamRunSpec>,
    shard_index: u32,
    /// One per root stream of the shard (several only for an emulated run).
    generators: Vec<ShardGenerator>,
    /// An emulated run's batches: events made but not yet released.
    batches: Option<Batches>,
    /// Every event before this simulated instant has been generated.
    watermark_ms: i64,
    /// The run's start on the wall clock: every shard's common origin.
    started_at_ms: i64,
    /// Wall time spent paused, and since when it is paused now.
    paused_ms: i64,
    paused_since: Option<i64>,
    /// The last step stopped short of where it was going (its budget ran
    /// out), so the next one should follow at once.
    cut_short: bool,
    /// About how many events one step draws or follows at most.
    step_budget: usize,
    /// How its events' entities and data are written for storage.
    text: EventText,
}

impl StreamShardRunner {
    /// The runner of shard `shard_index`, resuming after `watermark_ms` when
    /// a checkpoint gives one. `None` when the run has no such shard.
    pub fn new(
        run: Arc<StreamRunSpec>,
        shard_index: u32,
        started_at_ms: i64,
        watermark_ms: Option<i64>,
    ) -> Option<StreamShardRunner> {
        let roots = run.shard_roots(shard_index)?;
        let start = watermark_ms.unwrap_or_else(|| run.clock.start_ms(started_at_ms));
        let generators = roots
            .into_iter()
            .map(|root| ShardGenerator::new(run.catalog.clone(), root, run.scale, start))
            .collect();
        let batches = run.clock.cadence().map(Batches::new);
        let text = EventText::new(&run.catalog);
        Some(StreamShardRunner {
            text,
            run,
            shard_index,
            generators,
            batches,
            watermark_ms: start,
            started_at_ms,
            paused_ms: 0,
            paused_since: None,
            cut_short: false,
            step_budget: STEP_EVENT_BUDGET,
        })
    }

    /// Steps of at most about `budget` events (tests use small ones).
    pub fn with_step_budget(mut self, budget: usize) -> Self {
        self.step_budget = budget.max(1);
        self
    }

    /// Follows this scenario timeline for everything not generated yet.
    pub fn set_timeline(&mut self, timeline: &[ScenarioRun]) {
        for generator in &mut self.generators {
            generator.set_timeline(timeline);
        }
    }

    /// An emulated run's cadence.
    pub fn cadence(&self) -> Option<Cadence> {
        self.batches.as_ref().map(|b| b.cadence)
    }

    /// The size and release instant (wall) of the last emulated batch.
    pub fn last_batch(&self) -> Option<(usize, i64)> {
        self.batches.as_ref().and_then(|b| b.last)
    }

    /// Every event before this simulated instant is handed out: events an
    /// emulated run holds for a later batch are not.
    pub fn watermark_ms(&self) -> i64 {
        match self.batches.as_ref().and_then(|b| b.held.front()) {
            Some(first) => first.at_ms.min(self.watermark_ms),
            None => self.watermark_ms,
        }
    }

    pub fn is_paused(&self) -> bool {
        self.paused_since.is_some()
    }

    /// True once the clock's end (if it has one) is reached.
    pub fn is_done(&self) -> bool {
        self.run
            .clock
            .until_ms()
            .is_some_and(|until| self.watermark_ms() >= until)
    }

    /// True when the next step should run at once rather than after a tick:
    /// a backfill, or a shard more than a step behind its clock.
    pub fn is_behind(&self, now_ms: i64) -> bool {
        if self.is_done() || self.is_paused() || self.batches.is_some() {
            return false;
        }
        if self.cut_short {
            return true;
        }
        match self.clock_ms(now_ms) {
            None => true,
            Some(sim) => sim - self.watermark_ms > CATCH_UP_STEP_MS,
        }
    }

    pub fn pause(&mut self, now_ms: i64) {
        self.paused_since.get_or_insert(now_ms);
    }

    pub fn resume(&mut self, now_ms: i64) {
        if let Some(since) = self.paused_since.take() {
            self.paused_ms += (now_ms - since).max(0);
        }
    }

    /// Simulated time on the run's clock at wall time `now_ms`, not counting
    /// pauses; `None` for a backfill, which has no pace.
    fn clock_ms(&self, now_ms: i64) -> Option<i64> {
        let paused = self.paused_ms + self.paused_since.map_or(0, |since| (now_ms - since).max(0));
        let running = (now_ms - self.started_at_ms - paused).max(0);
        self.run.clock.sim_ms(self.started_at_ms, running)
    }

    /// Where the next step goes: the clock, at most a step ahead, never past the end.
    fn target_ms(&self, now_ms: i64) -> i64 {
        let until = self.run.clock.until_ms().unwrap_or(i64::MAX);
        let target = match self.clock_ms(now_ms) {
            Some(sim) => sim.min(self.watermark_ms + CATCH_UP_STEP_MS),
            None => self.watermark_ms + BACKFILL_STEP_MS,
        };
        target.min(until)
    }

    /// Generates up to where the clock says, returning the new events in
    /// (time, id) order. An emulated run returns nothing between batches,
    /// and at most a batch at each multiple of its interval.
    pub fn advance(&mut self, now_ms: i64) -> Vec<StreamEvent> {
        if self.is_paused() {
            return Vec::new();
        }
        let Some(interval_ms) = self.batches.as_ref().map(|b| b.cadence.interval_ms) else {
            let target = self.target_ms(now_ms);
            return self.generate(target, self.step_budget);
        };
        // Batches leave at wall-clock multiples of the interval, each with
        // what the clock reached by then.
        let release_at = now_ms.div_euclid(interval_ms) * interval_ms;
        if self
            .last_batch()
            .is_some_and(|(_, released_at)| released_at >= release_at)
        {
            return Vec::new();
        }
        let until = self.run.clock.until_ms().unwrap_or(i64::MAX);
        let target = self.clock_ms(release_at).unwrap_or(release_at).min(until);
        let made = self.generate(target, usize::MAX);
        let batches = self.batches.as_mut().expect("an emulated run has batches");
        batches.held.extend(made);
        batches.release(release_at)
    }

    /// Every event before `target` (or as far as `budget` goes), from each
    /// of the shard's generators, in (time, id) order.
    fn generate(&mut self, target: i64, budget: usize) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        if target <= self.watermark_ms {
            return events;
        }
        let mut reached = target;
        for generator in &mut self.generators {
            reached = reached.min(generator.advance_within(target, budget, &mut events));
        }
        if self.generators.len() > 1 {
            events.sort_by_key(|e| (e.at_ms, e.id));
        }
        // While it replays the span before its start, a resumed shard
        // reaches instants below its watermark: they emit nothing.
        self.watermark_ms = self.watermark_ms.max(reached);
        self.cut_short = reached < target;
        events
    }

    /// Events as rows for the telemetry sink.
    pub fn records(&self, run_id: &str, epoch: u64, events: &[StreamEvent]) -> Vec<StreamRecord> {
        let catalog = &self.run.catalog;
        events
            .iter()
            .map(|event| StreamRecord {
                run_id: run_id.to_string(),
                shard: self.shard_index,
                epoch,
                event_id: event.id,
                stream: catalog.streams[usize::from(event.stream)].name.to_string(),
                at_ms: event.at_ms,
                parent_id: event.parent.unwrap_or(0),
                entities: self.text.entities(event, catalog),
                data: self.text.data(event, catalog),
                key: self.text.key(event, catalog),
            })
            .collect()
    }
}

/// An emulated run's batches: what was made and not yet released, and
/// the last release.
struct Batches {
    cadence: Cadence,
    held: VecDeque<StreamEvent>,
    /// The last batch's size and wall instant.
    last: Option<(usize, i64)>,
}

impl Batches {
    fn new(cadence: Cadence) -> Batches {
        Batches {
            cadence,
            held: VecDeque::new(),
            last: None,
        }
    }

    /// The next batch: the oldest held events, at most the batch's max.
    /// Events past it wait for the next release, so none is dropped.
    fn release(&mut self, at: i64) -> Vec<StreamEvent> {
        let size = self.held.len().min(self.cadence.batch_max as usize);
        self.last = Some((size, at));
        self.held.drain(..size).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(clock: &str) -> Arc<StreamRunSpec> {
        let document = format!("kind: streams\nname: t\nscale: 0.05\nclock: {clock}\n");
        let value: serde_json::Value = serde_yaml::from_str(&document).expect("yaml");
        Arc::new(StreamRunSpec::from_value(&value).expect("valid"))
    }

    const FROM: i64 = 1_769_990_400_000;

    /// Steps until the shard is where the clock says at `now_ms` (a step
    /// may stop short of it).
    fn catch_up(shard: &mut StreamShardRunner, now_ms: i64) -> Vec<StreamEvent> {
        let mut events = shard.advance(now_ms);
        while shard.is_behind(now_ms) {
            events.extend(shard.advance(now_ms));
        }
        events
    }

    #[test]
    fn an_emulated_run_releases_bounded_batches_on_its_interval_and_loses_nothing() {
        // A scale of its own, high enough that some intervals bring more
        // than the batch's max.
        let document = "kind: streams\nname: t\nscale: 0.5\nclock: { mode: emulated, interval: 2s, batch: { min: 3, max: 8 } }\n";
        let value: serde_json::Value = serde_yaml::from_str(document).expect("yaml");
        let run = Arc::new(StreamRunSpec::from_value(&value).expect("valid"));
        // Mid-morning on a Monday, when the marketplace is busy.
        let started = FROM + 10 * 3_600_000 + 300;
        let mut shard = StreamShardRunner::new(run.clone(), 0, started, None).expect("the one shard");
        let mut released = Vec::new();
        let mut sizes = Vec::new();
        let mut now = started;
        while now < started + 600_000 {
            let batch = shard.advance(now);
            if !batch.is_empty() {
                let (size, at) = shard.last_batch().expect("a batch");
                assert_eq!(size, batch.len());
                assert_eq!(at % 2_000, 0, "released on a multiple of the interval");
                assert!(
                    batch.iter().all(|e| e.at_ms < at),
                    "only events the clock reached"
                );
                sizes.push(size);
                released.extend(batch);
            }
            assert!(
                !shard.is_behind(now),
                "an emulated shard waits for its next release"
            );
            now += 100;
        }
        assert!(sizes.iter().all(|&s| s <= 8), "{sizes:?}");
        assert!(sizes.contains(&8), "some intervals were full: {sizes:?}");
        // Nothing was dropped: the held events plus those released are
        // exactly every event of the catalog up to where the clock went.
        let flushed = shard.watermark_ms();
        let expected = crate::streams::generate::generate_all(&run.catalog, run.scale, started, flushed);
        assert!(released.len() >= expected.len());
        assert!(
            released[..expected.len()] == expected[..],
            "released in order, none lost"
        );
        // The checkpoint is the first held event: a shard resumed there
        // goes on with exactly what was held.
        let mut resumed = StreamShardRunner::new(run, 0, started, Some(flushed)).expect("shard");
        let next = resumed.advance(now + 2_000);
        assert!(!next.is_empty());
        assert!(next.first().map(|e| e.at_ms) >= Some(flushed));
    }

    #[test]
    fn an_accelerated_clock_paces_generation_and_pauses_stop_it() {
        let run = run(
            "{ mode: accelerated, factor: 3600, from: \"2026-02-02T00:00:00Z\", until: \"2026-02-02T06:00:00Z\" }",
        );
        let started = 1_000_000;
        let mut shard = StreamShardRunner::new(run, 0, started, None).expect("shard 0");
        assert!(catch_up(&mut shard, started).is_empty());
        // One wall second is one simulated hour.
        catch_up(&mut shard, started + 1_000);
        assert_eq!(shard.watermark_ms(), FROM + 3_600_000);
        shard.pause(started + 1_000);
        assert!(catch_up(&mut shard, started + 3_000).is_empty());
        shard.resume(started + 3_000);
        catch_up(&mut shard, started + 4_000);
        assert_eq!(
            shard.watermark_ms(),
            FROM + 2 * 3_600_000,
            "two paused seconds do not count"
        );
        catch_up(&mut shard, started + 60_000);
        assert!(shard.is_done());
        assert_eq!(shard.watermark_ms(), FROM + 6 * 3_600_000, "never past the end");
    }

    #[test]
    fn a_backfill_steps_by_the_hour_and_a_resumed_shard_continues_exactly() {
        let run = run("{ mode: backfill, from: \"2026-02-02T00:00:00Z\", until: \"2026-02-02T05:30:00Z\" }");
        let mut whole = StreamShardRunner::new(run.clone(), 1, 0, None).expect("shard");
        let mut all = Vec::new();
        while !whole.is_done() {
            assert!(whole.is_behind(0));
            all.extend(whole.advance(0));
        }
        assert_eq!(whole.watermark_ms(), FROM + 5 * 3_600_000 + 1_800_000);
        let mut first = StreamShardRunner::new(run.clone(), 1, 0, None).expect("shard");
        let mut parts = first.advance(0);
        parts.extend(first.advance(0));
        let mut resumed = StreamShardRunner::new(run, 1, 0, Some(first.watermark_ms())).expect("shard");
        while !resumed.is_done() {
            parts.extend(resumed.advance(0));
        }
        assert!(!all.is_empty());
        assert!(all == parts);
    }

    #[test]
    fn small_steps_change_nothing_and_say_when_to_go_on() {
        let run = run(
            "{ mode: accelerated, factor: 3600, from: \"2026-02-02T00:00:00Z\", until: \"2026-02-02T06:00:00Z\" }",
        );
        let started = 1_000_000;
        let mut whole = StreamShardRunner::new(run.clone(), 0, started, None).expect("shard");
        let expected = catch_up(&mut whole, started + 60_000);
        assert!(whole.is_done());

        // A shard resumed mid-run replays its chains' span in small steps
        // first, then emits exactly what the whole run emits after it.
        let resume_at = FROM + 2 * 3_600_000;
        let mut stepped = StreamShardRunner::new(run, 0, started, Some(resume_at))
            .expect("shard")
            .with_step_budget(20);
        let (mut events, mut steps) = (Vec::new(), 0);
        while !stepped.is_done() {
            events.extend(stepped.advance(started + 60_000));
            steps += 1;
            assert!(
                stepped.watermark_ms() >= resume_at,
                "never behind where it resumed"
            );
            if !stepped.is_done() {
                assert!(
                    stepped.is_behind(started + 60_000),
                    "a step cut short goes on at once"
                );
            }
        }
        let after: Vec<_> = expected.into_iter().filter(|e| e.at_ms >= resume_at).collect();
        assert!(!after.is_empty());
        assert!(after == events, "the same events in the same order");
        assert!(steps > 10, "small steps: {steps}");
        assert!(!stepped.is_behind(started + 60_000));
    }
}
