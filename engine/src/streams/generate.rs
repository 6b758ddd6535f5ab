//! Deterministic event generation for one shard: a root stream (one with
//! arrivals of its own) and every event its chains lead to.
//!
//! Root events come from fixed time buckets, each drawn from its own random
//! stream keyed by (seed, stream, bucket). A follower is drawn from its
//! parent's id. So every event is a pure function of the catalog, the seed
//! and time: any agent produces the same events for a shard, a shard can be
//! split from the others however the cluster is shaped, and resuming means
//! replaying the span a chain can reach back and dropping what was already
//! emitted.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use super::catalog::{Catalog, MAX_ENTITIES};
use super::definition::{Arrival, Condition, ValueDist};
use super::external::DaysKept;
use super::rhythm::LocalTime;
use super::scenario::{ScenarioEffects, ScenarioRun};
use crate::ids::{Part, mix64, stable_hash};

/// Length of a Poisson root's bucket: its rate is read once per bucket.
const RATE_BUCKET_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

/// A field's value.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    Text(Arc<str>),
    Number(f64),
}

impl FieldValue {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            FieldValue::Text(text) => serde_json::Value::String(text.to_string()),
            FieldValue::Number(n) => serde_json::json!(n),
        }
    }

    fn as_number(&self) -> Option<f64> {
        match self {
            FieldValue::Number(n) => Some(*n),
            FieldValue::Text(t) => t.parse().ok(),
        }
    }

    fn as_text(&self) -> String {
        match self {
            FieldValue::Text(t) => t.to_string(),
            FieldValue::Number(n) => n.to_string(),
        }
    }
}

/// No entity of that kind.
pub const NO_ENTITY: u32 = u32::MAX;

/// One generated event.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamEvent {
    /// Deterministic: the same event has the same id wherever it is made.
    pub id: u64,
    /// Index into the catalog's streams.
    pub stream: u16,
    /// Simulated time, epoch milliseconds.
    pub at_ms: i64,
    /// The event this one follows, if any.
    pub parent: Option<u64>,
    /// Entity ids by the catalog's entity kinds (`NO_ENTITY` where none).
    pub entities: [u32; MAX_ENTITIES],
    /// Values of the stream's fields, in the catalog's order.
    pub fields: Vec<FieldValue>,
}

impl StreamEvent {
    /// The event as a JSON object, as subscribers and storage see it.
    pub fn to_json(&self, catalog: &Catalog) -> serde_json::Value {
        let stream = &catalog.streams[usize::from(self.stream)];
        let mut data = serde_json::Map::new();
        for (field, value) in stream.fields.iter().zip(&self.fields) {
            data.insert(field.name.to_string(), value.to_json());
        }
        let mut entities = serde_json::Map::new();
        for (kind, id) in catalog.entities.iter().zip(self.entities) {
            if id != NO_ENTITY {
                entities.insert(kind.0.clone(), serde_json::json!(id));
            }
        }
        serde_json::json!({
            "id": format!("{:016x}", self.id),
            "stream": &*stream.name,
            "at_ms": self.at_ms,
            "parent": self.parent.map(|p| format!("{p:016x}")),
            "entities": entities,
            "data": data,
        })
    }
}

/// Writes an event's `entities` and `data` objects as text, exactly as
/// [`StreamEvent::to_json`] shows them (keys in name order), without
/// building the JSON tree: storing events makes this text for every one.
#[derive(Clone, Debug)]
pub struct EventText {
    /// Each stream's field indices in the order of their names.
    fields_by_name: Vec<Vec<usize>>,
    /// The entity kinds' indices in the order of their names.
    entities_by_name: Vec<usize>,
}

impl EventText {
    pub fn new(catalog: &Catalog) -> EventText {
        let by_name = |names: Vec<&str>| {
            let mut order: Vec<usize> = (0..names.len()).collect();
            order.sort_by_key(|&i| names[i]);
            order
        };
        EventText {
            fields_by_name: catalog
                .streams
                .iter()
                .map(|stream| by_name(stream.fields.iter().map(|f| &*f.name).collect()))
                .collect(),
            entities_by_name: by_name(catalog.entities.iter().map(|(kind, _)| kind.as_str()).collect()),
        }
    }

    /// The event's entities: `{"kind":id,…}`, kinds it has none of left out.
    pub fn entities(&self, event: &StreamEvent, catalog: &Catalog) -> String {
        let mut out = Vec::with_capacity(64);
        out.push(b'{');
        for &kind in &self.entities_by_name {
            let id = event.entities[kind];
            if id == NO_ENTITY {
                continue;
            }
            if out.len() > 1 {
                out.push(b',');
            }
            json_text(&mut out, &catalog.entities[kind].0);
            out.push(b':');
            out.extend_from_slice(id.to_string().as_bytes());
        }
        out.push(b'}');
        String::from_utf8(out).unwrap_or_default()
    }

    /// The event's main entity, `kind:id`: the first entity kind its
    /// stream names; empty when the event has none.
    pub fn key(&self, event: &StreamEvent, catalog: &Catalog) -> String {
        let stream = &catalog.streams[usize::from(event.stream)];
        stream
            .entities
            .first()
            .filter(|kind| event.entities[**kind] != NO_ENTITY)
            .map(|kind| format!("{}:{}", catalog.entities[*kind].0, event.entities[*kind]))
            .unwrap_or_default()
    }

    /// The event's field values: `{"name":value,…}`.
    pub fn data(&self, event: &StreamEvent, catalog: &Catalog) -> String {
        let stream = usize::from(event.stream);
        let fields = &catalog.streams[stream].fields;
        let mut out = Vec::with_capacity(128);
        out.push(b'{');
        for &index in &self.fields_by_name[stream] {
            let Some(value) = event.fields.get(index) else {
                continue;
            };
            if out.len() > 1 {
                out.push(b',');
            }
            json_text(&mut out, &fields[index].name);
            out.push(b':');
            match value {
                FieldValue::Text(text) => json_text(&mut out, text),
                // As a JSON number (`null` when not finite), as `to_json` writes it.
                FieldValue::Number(n) => {
                    let _ = serde_json::to_writer(&mut out, n);
                }
            }
        }
        out.push(b'}');
        String::from_utf8(out).unwrap_or_default()
    }
}

/// `text` as a JSON string, escaped.
fn json_text(out: &mut Vec<u8>, text: &str) {
    let _ = serde_json::to_writer(out, text);
}

/// Orders the pending heap by (time, id), earliest first.
struct Pending(StreamEvent);

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.0.at_ms, self.0.id) == (other.0.at_ms, other.0.id)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.0.at_ms, other.0.id).cmp(&(self.0.at_ms, self.0.id))
    }
}

/// A small, fast random stream (SplitMix64) for one bucket or one event.
struct Draws(u64);

impl Draws {
    fn new(key: u64) -> Self {
        Draws(key)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A standard normal draw (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u = self.unit().max(f64::MIN_POSITIVE);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// A Poisson draw with mean `lambda`.
    fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda < 30.0 {
            let limit = (-lambda).exp();
            let mut product = self.unit();
            let mut count = 0;
            while product > limit {
                product *= self.unit();
                count += 1;
            }
            count
        } else {
            (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u64
        }
    }
}

/// The rate multiplier of a (stream, hour) interval: 1, or a small deviation
/// in the catalog's share of intervals.
pub fn anomaly_factor(catalog: &Catalog, stream: usize, at_ms: i64) -> f64 {
    let anomalies = catalog.anomalies;
    if anomalies.share <= 0.0 {
        return 1.0;
    }
    let hour = at_ms.div_euclid(HOUR_MS) as u64;
    let mut draws = Draws::new(stable_hash(&[
        Part::U64(catalog.seed),
        Part::Str(&catalog.streams[stream].name),
        Part::Str("anomaly"),
        Part::U64(hour),
    ]));
    if draws.unit() >= anomalies.share {
        return 1.0;
    }
    let size = anomalies.min + draws.unit() * (anomalies.max - anomalies.min);
    if draws.unit() < 0.5 {
        1.0 - size
    } else {
        1.0 + size
    }
}

/// The multiplier of `stream`'s rate at `at_ms`: its rhythm, background
/// anomalies, and the real external events acting on it.
pub fn rate_factor(catalog: &Catalog, stream: usize, at_ms: i64) -> f64 {
    rate_factor_kept(catalog, &mut DaysKept::default(), stream, at_ms)
}

/// [`rate_factor`], with the external events' days kept in `kept`.
fn rate_factor_kept(catalog: &Catalog, kept: &mut DaysKept, stream: usize, at_ms: i64) -> f64 {
    let def = &catalog.streams[stream];
    let rhythm = &catalog.rhythms[def.rhythm].1;
    rhythm.factor(at_ms, LocalTime::at(at_ms, &catalog.zone))
        * anomaly_factor(catalog, stream, at_ms)
        * catalog
            .external_events
            .factor_kept(kept, catalog.seed, stream, None, at_ms)
}

/// Generates one shard's events in time order.
pub struct ShardGenerator {
    catalog: Arc<Catalog>,
    root: usize,
    /// Volume multiplier on root rates (tests and demos run smaller worlds).
    scale: f64,
    bucket_ms: i64,
    /// The next root bucket to draw.
    next_bucket: i64,
    /// Events drawn but not yet emitted.
    pending: BinaryHeap<Pending>,
    /// Events before this instant were emitted before a resume: drop them.
    emit_from_ms: i64,
    /// By stream: the longest time from one of its events to the last its
    /// chains lead to. An event that lands, with all it leads to, before
    /// `emit_from_ms` is not drawn at all while the shard replays.
    follow_spans: Vec<i64>,
    root_key: u64,
    /// Scenario runs bending the streams.
    effects: Arc<ScenarioEffects>,
    /// The external events of the days its last event read.
    days: RefCell<DaysKept>,
}

impl ShardGenerator {
    /// A generator for the shard rooted at `root`, emitting events from
    /// `from_ms` on: exactly those a run started earlier would emit from
    /// there.
    pub fn new(catalog: Arc<Catalog>, root: usize, scale: f64, from_ms: i64) -> ShardGenerator {
        let bucket_ms = match catalog.streams[root].arrival {
            Arrival::Every { period_ms } => period_ms,
            _ => RATE_BUCKET_MS,
        };
        // Replay far enough back that every ancestor of an event at `from_ms`
        // is drawn again.
        let replay_from = from_ms - catalog.follow_span_ms(root);
        let root_key = stable_hash(&[Part::U64(catalog.seed), Part::Str(&catalog.streams[root].name)]);
        ShardGenerator {
            root,
            scale,
            bucket_ms,
            next_bucket: replay_from.div_euclid(bucket_ms),
            pending: BinaryHeap::new(),
            emit_from_ms: from_ms,
            follow_spans: (0..catalog.streams.len())
                .map(|stream| catalog.follow_span_ms(stream))
                .collect(),
            root_key,
            effects: Arc::new(ScenarioEffects::default()),
            days: RefCell::default(),
            catalog,
        }
    }

    /// Follows this scenario timeline from now on. Events already drawn
    /// keep the timeline they were drawn under, so a change must reach a
    /// shard before its simulated time does (the coordinator schedules
    /// scenario changes slightly ahead of every shard's clock).
    pub fn set_timeline(&mut self, timeline: &[ScenarioRun]) {
        self.effects = Arc::new(ScenarioEffects::for_catalog(&self.catalog, timeline));
    }

    pub fn root(&self) -> usize {
        self.root
    }

    /// Every event before `until_ms` not yet emitted, in (time, id) order.
    /// Events at or after it stay pending for the next call.
    pub fn advance(&mut self, until_ms: i64, out: &mut Vec<StreamEvent>) {
        self.advance_within(until_ms, usize::MAX, out);
    }

    /// [`Self::advance`] in bounded steps: stops at a bucket boundary once
    /// about `budget` events were drawn or followed, and returns the instant
    /// before which every event is now emitted (`until_ms` when it got
    /// there). Where the steps fall changes nothing in the output.
    pub fn advance_within(&mut self, until_ms: i64, budget: usize, out: &mut Vec<StreamEvent>) -> i64 {
        let mut work = 0usize;
        loop {
            let bucket_start = self.next_bucket * self.bucket_ms;
            // Events of a bucket are drawn once the emission frontier
            // reaches it; nothing earlier can be caused by a later bucket.
            let frontier = bucket_start.min(until_ms);
            while let Some(top) = self.pending.peek() {
                if top.0.at_ms >= frontier {
                    break;
                }
                let Some(Pending(event)) = self.pending.pop() else {
                    break;
                };
                self.follow(&event);
                work += 1;
                if event.at_ms >= self.emit_from_ms {
                    out.push(event);
                }
            }
            if bucket_start >= until_ms {
                return until_ms;
            }
            if work >= budget {
                return bucket_start;
            }
            self.draw_bucket(self.next_bucket);
            self.next_bucket += 1;
            work += 1;
        }
    }

    /// Draws the root's own events of one bucket into the pending heap.
    fn draw_bucket(&mut self, bucket: i64) {
        let catalog = self.catalog.clone();
        let def = &catalog.streams[self.root];
        let start = bucket * self.bucket_ms;
        let mut draws = Draws::new(mix64(
            self.root_key ^ (bucket as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        ));
        let mut times = Vec::new();
        match def.arrival {
            Arrival::Rate { per_hour } => {
                let middle = start + self.bucket_ms / 2;
                let shaped = per_hour
                    * self.scale
                    * rate_factor_kept(&catalog, &mut self.days.borrow_mut(), self.root, middle);
                let bent = self.effects.rate(self.root, middle, shaped, self.scale);
                let lambda = bent * self.bucket_ms as f64 / HOUR_MS as f64;
                let count = draws.poisson(lambda);
                for _ in 0..count {
                    times.push(start + draws.below(self.bucket_ms as u64) as i64);
                }
            }
            Arrival::Every { period_ms } => {
                // Staggered by a per-stream phase, jittered by up to 5 % of
                // the period, so streams never fire in lockstep.
                let phase = (self.root_key % period_ms as u64) as i64;
                let jitter = ((draws.unit() - 0.5) * 0.1 * period_ms as f64) as i64;
                times.push(start + (phase + jitter).rem_euclid(period_ms));
            }
            Arrival::Follows => {}
        }
        times.sort_unstable();
        for (index, at_ms) in times.into_iter().enumerate() {
            if self.before_what_is_emitted(self.root, at_ms) {
                continue;
            }
            let id = stable_hash(&[
                Part::U64(self.root_key),
                Part::U64(bucket as u64),
                Part::U64(index as u64),
            ]);
            let event = self.make(self.root, id, at_ms, None);
            self.pending.push(Pending(event));
        }
    }

    /// Whether an event of `stream` at `at_ms`, and every event it leads
    /// to, falls before what this shard emits. Each event is drawn from its
    /// own id, so leaving one out changes no other.
    fn before_what_is_emitted(&self, stream: usize, at_ms: i64) -> bool {
        at_ms + self.follow_spans[stream] < self.emit_from_ms
    }

    /// Draws an event of `stream` with its entities and field values.
    fn make(&self, stream: usize, id: u64, at_ms: i64, parent: Option<&StreamEvent>) -> StreamEvent {
        let catalog = &self.catalog;
        let def = &catalog.streams[stream];
        let mut draws = Draws::new(id);
        let mut entities = [NO_ENTITY; MAX_ENTITIES];
        for kind in &def.entities {
            let inherited = parent.map_or(NO_ENTITY, |p| p.entities[*kind]);
            entities[*kind] = if inherited != NO_ENTITY {
                inherited
            } else {
                draws.below(catalog.entities[*kind].1) as u32
            };
        }
        let fields = def
            .fields
            .iter()
            .enumerate()
            .map(|(index, field)| {
                let value = self.draw_value(stream, &field.dist, at_ms, parent, &mut draws);
                match value {
                    FieldValue::Number(n) if !matches!(field.dist, ValueDist::Inherit(_)) => {
                        let factor = self.effects.field_factor(stream, index, at_ms)
                            * self.catalog.external_events.factor_kept(
                                &mut self.days.borrow_mut(),
                                self.catalog.seed,
                                stream,
                                Some(index),
                                at_ms,
                            );
                        if factor == 1.0 {
                            value
                        } else {
                            FieldValue::Number((n * factor * 100.0).round() / 100.0)
                        }
                    }
                    other => other,
                }
            })
            .collect();
        StreamEvent {
            id,
            stream: stream as u16,
            at_ms,
            parent: parent.map(|p| p.id),
            entities,
            fields,
        }
    }

    fn draw_value(
        &self,
        stream: usize,
        dist: &ValueDist,
        at_ms: i64,
        parent: Option<&StreamEvent>,
        draws: &mut Draws,
    ) -> FieldValue {
        match dist {
            ValueDist::Choice(options) => {
                let total: f64 = options.iter().map(|(_, w)| w).sum();
                let mut pick = draws.unit() * total;
                for (text, weight) in options {
                    if pick < *weight {
                        return FieldValue::Text(text.clone());
                    }
                    pick -= weight;
                }
                FieldValue::Text(
                    options
                        .last()
                        .map(|(t, _)| t.clone())
                        .unwrap_or_else(|| Arc::from("")),
                )
            }
            ValueDist::Uniform { low, high } => {
                let span = (high - low).floor() as u64 + 1;
                FieldValue::Number(low + draws.below(span) as f64)
            }
            ValueDist::Normal { mean, sd, min, max } => {
                let value = (mean + sd * draws.normal()).clamp(*min, *max);
                FieldValue::Number((value * 100.0).round() / 100.0)
            }
            ValueDist::Metric { base, sd } => {
                let factor = rate_factor_kept(&self.catalog, &mut self.days.borrow_mut(), stream, at_ms);
                let value = (base * factor * (1.0 + sd * draws.normal())).max(0.0);
                FieldValue::Number((value * 100.0).round() / 100.0)
            }
            ValueDist::Inherit(source) => {
                let found = parent.and_then(|p| {
                    let parent_def = &self.catalog.streams[usize::from(p.stream)];
                    parent_def.field(source).and_then(|i| p.fields.get(i).cloned())
                });
                found.unwrap_or(FieldValue::Text(Arc::from("")))
            }
        }
    }

    /// Draws what follows `event` through its stream's chains.
    fn follow(&mut self, event: &StreamEvent) {
        let catalog = self.catalog.clone();
        let stream = usize::from(event.stream);
        for chain_index in &catalog.chains_from[stream] {
            let chain = &catalog.chains[*chain_index];
            if let Some(condition) = &chain.when
                && !holds(condition, event)
            {
                continue;
            }
            let key = stable_hash(&[Part::U64(event.id), Part::Str(&chain.name)]);
            let mut draws = Draws::new(key);
            let mut pick = draws.unit();
            let base: Vec<f64> = chain.outcomes.iter().map(|o| o.probability).collect();
            let probabilities = self
                .effects
                .outcome_probabilities(*chain_index, &base, event.at_ms)
                .unwrap_or(base);
            let Some(outcome) = chain.outcomes.iter().zip(&probabilities).find_map(|(o, p)| {
                let chosen = pick < *p;
                pick -= p;
                chosen.then_some(o)
            }) else {
                continue;
            };
            let (low, high) = outcome.repeat;
            let count = low + draws.below(u64::from(high - low) + 1) as u32;
            for k in 0..count {
                let delay = outcome.delay_min_ms
                    + draws.below((outcome.delay_max_ms - outcome.delay_min_ms) as u64 + 1) as i64;
                if self.before_what_is_emitted(outcome.stream, event.at_ms + delay) {
                    continue;
                }
                let id = mix64(key ^ u64::from(k).wrapping_mul(0xd6e8_feb8_6659_fd93));
                let child = self.make(outcome.stream, id, event.at_ms + delay, Some(event));
                self.pending.push(Pending(child));
            }
        }
    }
}

fn holds(condition: &Condition, event: &StreamEvent) -> bool {
    let value = |field: usize| event.fields.get(field);
    match condition {
        Condition::Equals {
            field,
            value: expected,
        } => value(*field).is_some_and(|v| v.as_text() == *expected),
        Condition::AtMost { field, value: limit } => value(*field)
            .and_then(FieldValue::as_number)
            .is_some_and(|v| v <= *limit),
        Condition::AtLeast { field, value: limit } => value(*field)
            .and_then(FieldValue::as_number)
            .is_some_and(|v| v >= *limit),
    }
}

/// Every event of every shard in `[from_ms, until_ms)`, merged in (time, id)
/// order: what the whole cluster generates for that range.
pub fn generate_all(catalog: &Arc<Catalog>, scale: f64, from_ms: i64, until_ms: i64) -> Vec<StreamEvent> {
    generate_all_with(catalog, scale, from_ms, until_ms, &[])
}

/// [`generate_all`] under a scenario timeline.
pub fn generate_all_with(
    catalog: &Arc<Catalog>,
    scale: f64,
    from_ms: i64,
    until_ms: i64,
    timeline: &[ScenarioRun],
) -> Vec<StreamEvent> {
    let mut events = Vec::new();
    for root in catalog.roots() {
        let mut shard = ShardGenerator::new(catalog.clone(), root, scale, from_ms);
        shard.set_timeline(timeline);
        shard.advance(until_ms, &mut events);
    }
    events.sort_by_key(|e| (e.at_ms, e.id));
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    const FROM: i64 = 1_769_990_400_000;
    const HOUR: i64 = 3_600_000;

    #[test]
    fn bounded_steps_emit_exactly_what_one_call_does() {
        let catalog = Arc::new(Catalog::builtin());
        let mut largest = 0;
        for root in catalog.roots() {
            let mut whole = ShardGenerator::new(catalog.clone(), root, 0.2, FROM);
            let mut expected = Vec::new();
            whole.advance(FROM + 6 * HOUR, &mut expected);

            let mut stepped = ShardGenerator::new(catalog.clone(), root, 0.2, FROM);
            let (mut events, mut steps) = (Vec::new(), 0);
            loop {
                let before = events.len();
                let reached = stepped.advance_within(FROM + 6 * HOUR, 50, &mut events);
                steps += 1;
                // Everything emitted so far lies before the instant reached.
                assert!(events[before..].iter().all(|e| e.at_ms < reached));
                if reached == FROM + 6 * HOUR {
                    break;
                }
            }
            let name = &catalog.streams[root].name;
            assert!(expected == events, "{name}: same events in the same order");
            if expected.len() > 500 {
                assert!(
                    steps > 5,
                    "{name}: {} events came in {steps} steps",
                    expected.len()
                );
            }
            largest = largest.max(expected.len());
        }
        assert!(largest > 500, "some shard needed many steps");
    }

    #[test]
    fn stored_text_is_what_the_json_of_each_event_says() {
        let catalog = Arc::new(Catalog::builtin());
        let text = EventText::new(&catalog);
        let mut streams_seen = std::collections::BTreeSet::new();
        for root in catalog.roots() {
            let mut events = Vec::new();
            ShardGenerator::new(catalog.clone(), root, 0.2, FROM).advance(FROM + 24 * HOUR, &mut events);
            for event in events.iter().take(200) {
                let json = event.to_json(&catalog);
                assert_eq!(text.entities(event, &catalog), json["entities"].to_string());
                assert_eq!(text.data(event, &catalog), json["data"].to_string());
                streams_seen.insert(event.stream);
            }
        }
        assert!(
            streams_seen.len() >= 40,
            "most streams written: {}",
            streams_seen.len()
        );
        let odd = StreamEvent {
            id: 1,
            stream: 0,
            at_ms: FROM,
            parent: None,
            entities: [NO_ENTITY; MAX_ENTITIES],
            fields: catalog.streams[0]
                .fields
                .iter()
                .enumerate()
                .map(|(i, _)| match i % 3 {
                    0 => FieldValue::Text("quote \" and \\ and \n and é".into()),
                    1 => FieldValue::Number(f64::NAN),
                    _ => FieldValue::Number(-0.1 + 1e21),
                })
                .collect(),
        };
        let json = odd.to_json(&catalog);
        assert_eq!(text.entities(&odd, &catalog), "{}");
        assert_eq!(text.data(&odd, &catalog), json["data"].to_string());
    }
}
