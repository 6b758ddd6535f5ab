//! Answers that take long to make, kept while what they were made from stays
//! as it was: campaigns' analytics read from the telemetry store, and stream
//! runs' generated histories.
//!
//! Reading a campaign of a million sessions exactly (ClickHouse's `FINAL`)
//! takes seconds, and the console asks again every few seconds. Each answer
//! is kept with the store's version of the campaign's rows
//! ([`AnalyticsSource::version`], one cheap count), so asking again costs
//! that count until new rows arrive. Then:
//! - a campaign that has ended waits for the answer to be read again, so
//!   scripts never see numbers older than the rows;
//! - a running campaign is answered at once with the last answer while one
//!   reading at a time brings it up to date in the background: its page
//!   stays responsive, at most one reading behind (its live counters, from
//!   the agents' reports, are always current). A background reading waits
//!   [`GAP_PER_READING`] times as long as the last one took, so a campaign
//!   whose reading takes seconds is not read without pause while it is
//!   watched, taking the cores the pages' other calls need. A report, a
//!   file people keep, asks for the rows as they are
//!   ([`crate::analytics::Currency::AsOfNow`]) and waits for its reading.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use throng_engine::analytics::Digest;
use throng_engine::analytics::errors::ErrorReport;

/// What the console reads of campaigns and stream runs, kept.
#[derive(Default)]
pub struct StoredAnswers {
    /// By campaign, resolution and target labels.
    pub digests: Kept<Digest>,
    /// By campaign.
    pub errors: Kept<ErrorReport>,
    /// By run and window; the version is the run's scenario timeline.
    pub histories: Kept<crate::stream_history::StreamHistory>,
}

/// The longest a caller waits for a reading of the same answer under way.
const READING_WAIT: Duration = Duration::from_secs(20);

/// The most answers kept of one kind; the least recently asked go first.
const MAX_SLOTS: usize = 256;

/// How many times as long as a reading took a running campaign's answer
/// waits before it is read again in the background: a fifth of the time
/// at most goes to reading it.
const GAP_PER_READING: u32 = 4;

/// An answer and the version of the rows it was read from.
type Versioned<V> = (u64, Arc<V>);

struct Slot<V> {
    latest: Option<Versioned<V>>,
    /// No background reading before this.
    quiet_until: Instant,
    /// Held while this answer is being read, so it is read once at a time.
    reading: Arc<tokio::sync::Mutex<()>>,
    asked: Instant,
}

/// Answers of one kind by key (for example a campaign and a resolution).
pub struct Kept<V> {
    slots: Arc<Mutex<HashMap<String, Slot<V>>>>,
    readings: Arc<Readings>,
}

/// How often answers of one kind were read, and how long that took: what
/// keeping them saves, shown on `/metrics`.
#[derive(Default)]
pub struct Readings {
    pub count: AtomicU64,
    pub micros: AtomicU64,
}

impl Readings {
    /// `read`, counted; answers how long it took too.
    async fn time<V, E>(&self, read: impl Future<Output = Result<V, E>>) -> (Result<V, E>, Duration) {
        let started = Instant::now();
        let answer = read.await;
        let took = started.elapsed();
        self.count.fetch_add(1, Ordering::Relaxed);
        self.micros.fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        (answer, took)
    }
}

impl<V> Default for Kept<V> {
    fn default() -> Self {
        Kept {
            slots: Arc::default(),
            readings: Arc::default(),
        }
    }
}

impl<V> Kept<V> {
    /// How many answers are kept.
    pub fn len(&self) -> usize {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.values().filter(|slot| slot.latest.is_some()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The readings made so far.
    pub fn readings(&self) -> &Readings {
        &self.readings
    }
}

impl<V: Send + Sync + 'static> Kept<V> {
    /// The answer for `key` as of rows at `version`: kept, or read with
    /// `read`. With `running`, an older answer is returned at once while
    /// `read` runs in the background.
    pub async fn get<F, Fut, E>(&self, key: String, version: u64, running: bool, read: F) -> Result<Arc<V>, E>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let (latest, reading, quiet_until) = self.slot(&key);
        match latest {
            Some((at, answer)) if at == version => return Ok(answer),
            Some((_, answer)) if running => {
                // One background reading at a time, once the last one's
                // gap has passed; callers meanwhile get the answer they
                // would have got a moment ago.
                if Instant::now() >= quiet_until
                    && let Ok(guard) = reading.try_lock_owned()
                {
                    let (slots, readings) = (self.slots.clone(), self.readings.clone());
                    tokio::spawn(async move {
                        let _reading = guard;
                        if let (Ok(fresh), took) = readings.time(read()).await {
                            store(&slots, &key, version, Arc::new(fresh), took);
                        }
                    });
                }
                return Ok(answer);
            }
            _ => {}
        }
        // Wait for a reading already under way (it may be of these very
        // rows), but not without end: past the wait, read anyway.
        let _reading = tokio::time::timeout(READING_WAIT, reading.lock()).await.ok();
        if let (Some((at, answer)), _, _) = self.slot(&key)
            && at == version
        {
            return Ok(answer);
        }
        let (fresh, took) = self.readings.time(read()).await;
        let fresh = Arc::new(fresh?);
        store(&self.slots, &key, version, fresh.clone(), took);
        Ok(fresh)
    }

    fn slot(&self, key: &str) -> (Option<Versioned<V>>, Arc<tokio::sync::Mutex<()>>, Instant) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if !slots.contains_key(key) && slots.len() >= MAX_SLOTS {
            let oldest = slots
                .iter()
                .min_by_key(|(_, slot)| slot.asked)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                slots.remove(&oldest);
            }
        }
        let slot = slots.entry(key.to_string()).or_insert_with(|| Slot {
            latest: None,
            quiet_until: Instant::now(),
            reading: Arc::default(),
            asked: Instant::now(),
        });
        slot.asked = Instant::now();
        (slot.latest.clone(), slot.reading.clone(), slot.quiet_until)
    }
}

/// Keeps `answer`, read in `took`, as of `version`.
fn store<V>(
    slots: &Mutex<HashMap<String, Slot<V>>>,
    key: &str,
    version: u64,
    answer: Arc<V>,
    took: Duration,
) {
    let mut slots = slots.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(slot) = slots.get_mut(key) {
        slot.latest = Some((version, answer));
        slot.quiet_until = Instant::now() + took * GAP_PER_READING;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use throng_engine::analytics::AnalyticsError;

    use super::*;

    /// Reads that count themselves and answer `value`.
    fn reader(
        reads: &Arc<AtomicU32>,
        value: u32,
    ) -> impl FnOnce() -> std::future::Ready<Result<u32, AnalyticsError>> + Send + 'static {
        let reads = reads.clone();
        move || {
            reads.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Ok(value))
        }
    }

    #[tokio::test]
    async fn an_answer_is_read_again_only_when_its_rows_changed() {
        let kept = Kept::<u32>::default();
        let reads = Arc::new(AtomicU32::new(0));
        let get = |version, value| kept.get("c".into(), version, false, reader(&reads, value));
        assert_eq!(*get(1, 10).await.unwrap(), 10);
        assert_eq!(*get(1, 11).await.unwrap(), 10, "same rows, same answer");
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        assert_eq!(kept.readings().count.load(Ordering::Relaxed), 1);
        assert_eq!(kept.len(), 1);
        assert_eq!(
            *get(2, 12).await.unwrap(),
            12,
            "an ended campaign waits for new rows"
        );
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    // A paused clock: the first reading takes no time, so its gap is none,
    // however busy the machine running the tests.
    #[tokio::test(start_paused = true)]
    async fn a_running_campaign_gets_the_last_answer_while_a_new_one_is_read() {
        let kept = Kept::<u32>::default();
        let reads = Arc::new(AtomicU32::new(0));
        kept.get("c".into(), 1, true, reader(&reads, 10)).await.unwrap();
        let answer = kept.get("c".into(), 2, true, reader(&reads, 20)).await.unwrap();
        assert_eq!(*answer, 10, "answered at once with the last answer");
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let answer = kept.get("c".into(), 2, true, reader(&reads, 30)).await.unwrap();
            if *answer == 20 {
                break;
            }
            assert!(Instant::now() < deadline, "the background reading never landed");
            tokio::task::yield_now().await;
        }
        assert_eq!(
            reads.load(Ordering::SeqCst),
            2,
            "no reading while the rows stayed at 2"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reading_is_not_repeated_until_its_gap_has_passed() {
        let kept = Kept::<u32>::default();
        let reads = Arc::new(AtomicU32::new(0));
        let slow = |value: u32| {
            let reads = reads.clone();
            move || async move {
                reads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(2)).await;
                Ok::<u32, AnalyticsError>(value)
            }
        };
        assert_eq!(*kept.get("c".into(), 1, true, slow(10)).await.unwrap(), 10);
        // New rows at once: the last answer, and no reading for 4 × 2 s.
        assert_eq!(*kept.get("c".into(), 2, true, slow(20)).await.unwrap(), 10);
        tokio::time::sleep(Duration::from_secs(7)).await;
        assert_eq!(*kept.get("c".into(), 2, true, slow(20)).await.unwrap(), 10);
        assert_eq!(reads.load(Ordering::SeqCst), 1, "read again within the gap");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(*kept.get("c".into(), 2, true, slow(20)).await.unwrap(), 10);
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(reads.load(Ordering::SeqCst), 2, "read again after the gap");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(*kept.get("c".into(), 2, true, slow(30)).await.unwrap(), 20);
    }

    #[tokio::test]
    async fn a_failed_reading_is_not_kept() {
        let kept = Kept::<u32>::default();
        let failed = kept
            .get("c".into(), 1, false, || async {
                Err(AnalyticsError::Unavailable {
                    endpoint: "http://store".into(),
                    reason: "down".into(),
                })
            })
            .await;
        assert!(failed.is_err());
        let reads = Arc::new(AtomicU32::new(0));
        assert_eq!(
            *kept.get("c".into(), 1, false, reader(&reads, 7)).await.unwrap(),
            7
        );
    }
}
