//! The numbers STREAMS.md promises, checked on generated history of the
//! built-in catalog (at a tenth of its volume, which keeps every share and
//! ratio and makes the tests quick), plus determinism and exact resumption.

use std::collections::HashMap;
use std::sync::Arc;

use throng_engine::streams::generate::{anomaly_factor, generate_all};
use throng_engine::streams::{Catalog, ShardGenerator, StreamEvent};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// Monday 2026-02-02T00:00Z: 30 days from here hold no season or holiday.
const FEB_2: i64 = 1_769_990_400_000;
const SCALE: f64 = 0.1;

fn catalog() -> Arc<Catalog> {
    Arc::new(Catalog::builtin())
}

fn named<'a>(catalog: &Catalog, events: &'a [StreamEvent], name: &str) -> Vec<&'a StreamEvent> {
    let stream = catalog.stream(name).unwrap_or_else(|| panic!("no stream {name}")) as u16;
    events.iter().filter(|e| e.stream == stream).collect()
}

/// Thirty days of every stream, generated once for the tests that read it.
fn month() -> &'static (Arc<Catalog>, Vec<StreamEvent>) {
    static MONTH: std::sync::OnceLock<(Arc<Catalog>, Vec<StreamEvent>)> = std::sync::OnceLock::new();
    MONTH.get_or_init(|| {
        let catalog = catalog();
        let events = generate_all(&catalog, SCALE, FEB_2, FEB_2 + 30 * DAY);
        (catalog, events)
    })
}

#[test]
fn the_booking_chain_sums_and_confirms_three_in_four() {
    let (catalog, events) = month();
    let requested = named(catalog, events, "customer.booking.requested");
    let responses: Vec<&StreamEvent> = [
        "tutor.booking.confirmed",
        "tutor.booking.declined",
        "tutor.booking.expired",
    ]
    .iter()
    .flat_map(|name| named(catalog, events, name))
    .collect();
    let by_id: HashMap<u64, &StreamEvent> = requested.iter().map(|e| (e.id, *e)).collect();
    let mut answered: HashMap<u64, u32> = HashMap::new();
    for response in &responses {
        let parent = response.parent.expect("a response follows its request");
        // Requests from before the window are not in it; their answers are.
        if response.at_ms >= FEB_2 + DAY {
            let request = by_id
                .get(&parent)
                .expect("no orphan: the request is in the history");
            let delay = response.at_ms - request.at_ms;
            assert!((2 * HOUR..=DAY).contains(&delay), "answered after {delay} ms");
            assert_eq!(request.entities, response.entities, "same student and tutor");
        }
        *answered.entry(parent).or_default() += 1;
    }
    // Every request old enough to be answered has exactly one answer.
    let settled: Vec<&&StreamEvent> = requested.iter().filter(|r| r.at_ms < FEB_2 + 29 * DAY).collect();
    assert!(settled.len() > 10_000, "{}", settled.len());
    for request in &settled {
        assert_eq!(answered.get(&request.id), Some(&1), "request {:x}", request.id);
    }
    let confirmed = named(catalog, events, "tutor.booking.confirmed")
        .iter()
        .filter(|c| {
            by_id
                .get(&c.parent.unwrap_or(0))
                .is_some_and(|r| r.at_ms < FEB_2 + 29 * DAY)
        })
        .count();
    let share = confirmed as f64 / settled.len() as f64;
    assert!((0.70..=0.80).contains(&share), "confirmation share {share}");
}

#[test]
fn ratings_no_shows_and_tickets_keep_their_shares() {
    let (catalog, events) = month();
    let inside = |e: &&StreamEvent| e.at_ms >= FEB_2 + 3 * DAY && e.at_ms < FEB_2 + 25 * DAY;
    let completed: HashMap<u64, i64> = named(catalog, events, "session.completed")
        .into_iter()
        .filter(inside)
        .map(|e| (e.id, e.at_ms))
        .collect();
    let mut rated = 0;
    for rating in named(catalog, events, "session.rating.submitted") {
        if let Some(done) = rating.parent.and_then(|p| completed.get(&p)) {
            let delay = rating.at_ms - done;
            assert!((0..=48 * HOUR).contains(&delay), "rated after {delay} ms");
            rated += 1;
        }
    }
    let rating_share = rated as f64 / completed.len() as f64;
    assert!(
        (0.40..=0.60).contains(&rating_share),
        "rating share {rating_share}"
    );

    let scheduled: HashMap<u64, i64> = named(catalog, events, "session.scheduled")
        .into_iter()
        .filter(inside)
        .map(|e| (e.id, e.at_ms))
        .collect();
    let share_of = |name: &str| {
        let n = named(catalog, events, name)
            .iter()
            .filter(|e| e.parent.is_some_and(|p| scheduled.contains_key(&p)))
            .count();
        n as f64 / scheduled.len() as f64
    };
    let (students, tutors) = (
        share_of("session.no_show.student"),
        share_of("session.no_show.tutor"),
    );
    assert!((0.02..=0.05).contains(&students), "student no-shows {students}");
    assert!((0.01..=0.02).contains(&tutors), "tutor no-shows {tutors}");

    let failed: HashMap<u64, i64> = named(catalog, events, "customer.payment.failed")
        .into_iter()
        .filter(inside)
        .map(|e| (e.id, e.at_ms))
        .collect();
    let tickets: Vec<i64> = named(catalog, events, "support.ticket.created")
        .iter()
        .filter_map(|t| t.parent.and_then(|p| failed.get(&p)).map(|f| t.at_ms - f))
        .collect();
    assert!(tickets.iter().all(|d| (HOUR..=6 * HOUR).contains(d)));
    let ticket_share = tickets.len() as f64 / failed.len() as f64;
    assert!(
        (0.25..=0.45).contains(&ticket_share),
        "{ticket_share} of failed payments raise a ticket"
    );
}

#[test]
fn weekends_and_peak_hours_show() {
    let (catalog, events) = month();
    let mut by_day = [0u64; 30];
    let mut by_hour = [0u64; 24];
    for event in named(catalog, events, "session.scheduled") {
        let offset = event.at_ms - FEB_2;
        by_day[(offset / DAY) as usize] += 1;
        by_hour[((offset % DAY) / HOUR) as usize] += 1;
    }
    // Day 0 is a Monday: days 5, 6, 12, 13… are the weekend.
    let mean = |weekend: bool| {
        let days: Vec<f64> = (0..30)
            .filter(|d| (d % 7 >= 5) == weekend)
            .map(|d| by_day[d] as f64)
            .collect();
        days.iter().sum::<f64>() / days.len() as f64
    };
    let uplift = mean(true) / mean(false);
    assert!((1.3..=1.5).contains(&uplift), "weekend uplift {uplift}");
    let peak: u64 = by_hour[8..22].iter().sum::<u64>() / 14;
    let night: u64 = (by_hour[23] + by_hour[..7].iter().sum::<u64>()) / 8;
    assert!(peak > 8 * night, "peak {peak}/h against night {night}/h");
}

/// Sessions scheduled per day over `days` days from `from_ms`.
fn sessions_per_day(catalog: &Arc<Catalog>, from_ms: i64, days: i64) -> f64 {
    let root = catalog.stream("session.scheduled").unwrap_or(0);
    let mut shard = ShardGenerator::new(catalog.clone(), root, SCALE, from_ms);
    let mut out = Vec::new();
    shard.advance(from_ms + days * DAY, &mut out);
    out.iter().filter(|e| usize::from(e.stream) == root).count() as f64 / days as f64
}

#[test]
fn the_academic_calendar_and_growth_show() {
    let catalog = catalog();
    // Four whole weeks each, Monday to Sunday.
    let april = sessions_per_day(&catalog, 1_776_038_400_000, 14); // 2026-04-13
    let may = sessions_per_day(&catalog, 1_778_457_600_000, 14); // 2026-05-11
    let july = sessions_per_day(&catalog, 1_783_296_000_000, 14); // 2026-07-06
    let growth = |days: f64| 1.03f64.powf(days / 30.44);
    let exam = may / april / growth(28.0);
    assert!((1.4..=1.6).contains(&exam), "exam-season uplift {exam}");
    let summer = july / april / growth(84.0);
    assert!((0.7..=0.8).contains(&summer), "summer dip {summer}");
    let winter_break = sessions_per_day(&catalog, 1_766_966_400_000, 7) // 2025-12-29
        / sessions_per_day(&catalog, 1_765_756_800_000, 7); // 2025-12-15
    assert!(
        (0.45..=0.55).contains(&winter_break),
        "holiday week {winter_break}"
    );
    // A year apart, same weekdays: 2-5 % a month, compounded.
    let march = sessions_per_day(&catalog, 1_772_409_600_000, 14); // 2026-03-02
    let next_march = sessions_per_day(&catalog, 1_803_859_200_000, 14); // 2027-03-01
    let monthly = (next_march / march).powf(1.0 / 11.95) - 1.0;
    assert!((0.02..=0.05).contains(&monthly), "growth {monthly} a month");
}

#[test]
fn a_small_share_of_intervals_is_anomalous() {
    let catalog = catalog();
    let mut anomalous = 0;
    let mut intervals = 0;
    for stream in 0..catalog.streams.len() {
        for hour in 0..30 * 24 {
            intervals += 1;
            if anomaly_factor(&catalog, stream, FEB_2 + hour * HOUR) != 1.0 {
                anomalous += 1;
            }
        }
    }
    let share = f64::from(anomalous) / f64::from(intervals);
    assert!((0.05..=0.10).contains(&share), "anomalous share {share}");
}

#[test]
fn generation_is_deterministic_and_pinned() {
    let catalog = catalog();
    let window = |c: &Arc<Catalog>| generate_all(c, 1.0, FEB_2 + 10 * HOUR, FEB_2 + 11 * HOUR);
    let first = window(&catalog);
    assert_eq!(first, window(&catalog));
    assert!(
        first
            .windows(2)
            .all(|w| (w[0].at_ms, w[0].id) <= (w[1].at_ms, w[1].id))
    );
    // A golden digest of one hour of the built-in catalog: any change to the
    // generator or the catalog that moves an event shows here.
    let digest = first.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, e| {
        (h ^ e.id ^ (e.at_ms as u64).rotate_left(17) ^ u64::from(e.stream))
            .wrapping_mul(0x0000_0100_0000_01b3)
    });
    assert_eq!(
        (first.len(), digest),
        GOLDEN,
        "events and digest of 10:00-11:00 on 2026-02-02"
    );
    let other_seed = {
        let mut c = Catalog::builtin();
        c.seed += 1;
        window(&Arc::new(c))
    };
    assert_ne!(first, other_seed);
}

const GOLDEN: (usize, u64) = (20_731, 2_857_440_386_620_841_900);

#[test]
fn a_resumed_shard_emits_exactly_what_an_unbroken_one_does() {
    let catalog = catalog();
    let root = catalog.stream("session.scheduled").unwrap_or(0);
    let (start, cut, end) = (FEB_2, FEB_2 + 3 * DAY + 7 * HOUR + 1234, FEB_2 + 5 * DAY);
    let mut unbroken = Vec::new();
    ShardGenerator::new(catalog.clone(), root, SCALE, start).advance(end, &mut unbroken);
    let mut resumed = Vec::new();
    let mut before = ShardGenerator::new(catalog.clone(), root, SCALE, start);
    // Advancing in uneven steps changes nothing either.
    for step in [HOUR, 17 * HOUR, cut - start] {
        before.advance(start + step, &mut resumed);
    }
    ShardGenerator::new(catalog.clone(), root, SCALE, cut).advance(end, &mut resumed);
    assert!(unbroken.len() > 5_000);
    assert_eq!(unbroken.len(), resumed.len());
    assert!(unbroken == resumed, "the resumed shard differs");
}
