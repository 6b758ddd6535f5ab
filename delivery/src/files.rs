//! Files: JSON lines or Parquet ([`crate::parquet_file`]), one file per
//! stream, simulated hour and shard, laid out by run, stream and date:
//!
//! ```text
//! <path>/<run>/<stream>/<YYYY-MM-DD>/<HH>.shard-<k>.jsonl   (or .parquet)
//! ```
//!
//! An hour's file appears whole, once its hour is over in the shard's
//! simulated time (or the shard has finished): until then its events
//! gather, synced, in `<path>/<run>/.partial/`. Publishing an hour merges
//! what an earlier publication of it holds, drops repeated ids, orders the
//! events by time and id, and renames the result into place; so a shard
//! re-placed mid-hour, which generates part of the hour again, leaves each
//! event in its file once. Failover keeps every event when `<path>` is a
//! directory every agent shares (a volume, a network file system).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use throng_engine::delivery::write_event_json;
use throng_engine::streams::sinks::FileFormat;
use throng_engine::telemetry::StreamRecord;

use crate::parquet_file::{self, Row};
use crate::writer::{Destination, SendError};

const HOUR_MS: i64 = 3_600_000;

/// An hour of one stream from one shard, still gathering.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct OpenHour {
    shard: u32,
    /// Hours since 1970-01-01T00 (simulated).
    hour: i64,
    stream: String,
}

pub struct FilesDestination {
    /// `<path>/<run>`.
    root: PathBuf,
    format: FileFormat,
    open: BTreeSet<OpenHour>,
    /// Each shard's latest simulated hour.
    latest: HashMap<u32, i64>,
    /// Shards whose leftover partial hours (from before a restart) are known.
    scanned: HashSet<u32>,
}

impl FilesDestination {
    pub fn new(path: &str, run_id: &str, format: FileFormat) -> FilesDestination {
        FilesDestination {
            root: Path::new(path).join(run_id),
            format,
            open: BTreeSet::new(),
            latest: HashMap::new(),
            scanned: HashSet::new(),
        }
    }

    fn partial_path(&self, open: &OpenHour) -> PathBuf {
        let (date, hour) = date_and_hour(open.hour);
        self.root
            .join(".partial")
            .join(format!("shard-{}", open.shard))
            .join(&open.stream)
            .join(date)
            .join(format!("{hour:02}.jsonl"))
    }

    /// Where the hour's file is published.
    pub fn published_path(&self, shard: u32, stream: &str, hour: i64) -> PathBuf {
        let (date, hh) = date_and_hour(hour);
        self.root
            .join(stream)
            .join(date)
            .join(format!("{hh:02}.shard-{shard}.{}", self.format.extension()))
    }

    /// Adopts the partial hours a previous writer of this shard left.
    fn scan(&mut self, shard: u32) {
        if !self.scanned.insert(shard) {
            return;
        }
        let dir = self.root.join(".partial").join(format!("shard-{shard}"));
        let Ok(streams) = fs::read_dir(&dir) else { return };
        for stream in streams.flatten() {
            let stream_name = stream.file_name().to_string_lossy().to_string();
            let Ok(dates) = fs::read_dir(stream.path()) else {
                continue;
            };
            for date in dates.flatten() {
                let Ok(hours) = fs::read_dir(date.path()) else {
                    continue;
                };
                for hour in hours.flatten() {
                    let name = hour.file_name().to_string_lossy().to_string();
                    let date_text = date.file_name().to_string_lossy().to_string();
                    if let Some(index) = hour_index(&date_text, name.trim_end_matches(".jsonl")) {
                        self.open.insert(OpenHour {
                            shard,
                            hour: index,
                            stream: stream_name.clone(),
                        });
                    }
                }
            }
        }
    }

    fn append(&mut self, batch: &[StreamRecord]) -> std::io::Result<()> {
        let mut lines: HashMap<OpenHour, String> = HashMap::new();
        for record in batch {
            let open = OpenHour {
                shard: record.shard,
                hour: record.at_ms.div_euclid(HOUR_MS),
                stream: record.stream.clone(),
            };
            let text = lines.entry(open).or_default();
            write_event_json(text, record);
            text.push('\n');
        }
        for (open, text) in lines {
            let path = self.partial_path(&open);
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)?;
            }
            let mut file = fs::OpenOptions::new().create(true).append(true).open(&path)?;
            file.write_all(text.as_bytes())?;
            file.sync_data()?;
            let latest = self.latest.entry(open.shard).or_insert(open.hour);
            *latest = (*latest).max(open.hour);
            self.open.insert(open);
        }
        Ok(())
    }

    /// Publishes every open hour of `shard` before `before` (all of them
    /// when none).
    fn publish_shard(&mut self, shard: u32, before: Option<i64>) -> std::io::Result<()> {
        let due: Vec<OpenHour> = self
            .open
            .iter()
            .filter(|o| o.shard == shard && before.is_none_or(|b| o.hour < b))
            .cloned()
            .collect();
        for open in due {
            self.publish(&open)?;
            self.open.remove(&open);
        }
        Ok(())
    }

    /// Writes the hour's file whole: what it held, and the partial events,
    /// each id once, in time order.
    fn publish(&self, open: &OpenHour) -> std::io::Result<()> {
        let partial = self.partial_path(open);
        let target = self.published_path(open.shard, &open.stream, open.hour);
        let gathered = match fs::read_to_string(&partial) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => return Err(error),
        };
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir)?;
        }
        let temporary = target.with_extension("partial");
        match self.format {
            FileFormat::JsonLines => {
                let mut events: Vec<Event> = Vec::new();
                if let Ok(text) = fs::read_to_string(&target) {
                    events.extend(text.lines().filter_map(Event::parse));
                }
                events.extend(gathered.lines().filter_map(Event::parse));
                events.sort_by(|a, b| (a.at_ms, &a.id).cmp(&(b.at_ms, &b.id)));
                events.dedup_by(|a, b| a.id == b.id);
                let mut file = fs::File::create(&temporary)?;
                for event in &events {
                    file.write_all(event.line.as_bytes())?;
                    file.write_all(b"\n")?;
                }
                file.sync_all()?;
            }
            FileFormat::Parquet => {
                let mut rows: Vec<Row> = if target.exists() {
                    parquet_file::read(&target)?
                } else {
                    Vec::new()
                };
                rows.extend(gathered.lines().filter_map(Row::from_line));
                rows.sort_by(|a, b| (a.at_ms, &a.id).cmp(&(b.at_ms, &b.id)));
                rows.dedup_by(|a, b| a.id == b.id);
                parquet_file::write(&temporary, &rows)?;
                fs::File::open(&temporary)?.sync_all()?;
            }
        }
        fs::rename(&temporary, &target)?;
        match fs::remove_file(&partial) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }
}

/// One published line, with what orders and dedups it.
struct Event {
    id: String,
    at_ms: i64,
    line: String,
}

impl Event {
    fn parse(line: &str) -> Option<Event> {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        Some(Event {
            id: value.get("id")?.as_str()?.to_string(),
            at_ms: value.get("at_ms")?.as_i64()?,
            line: line.to_string(),
        })
    }
}

/// `YYYY-MM-DD` and the hour of day of an hour index.
fn date_and_hour(hour: i64) -> (String, i64) {
    let at = jiff::Timestamp::from_second(hour * 3600).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let civil = at.to_zoned(jiff::tz::TimeZone::UTC);
    (civil.strftime("%Y-%m-%d").to_string(), i64::from(civil.hour()))
}

/// The hour index of a date directory and an hour file's stem.
fn hour_index(date: &str, hour: &str) -> Option<i64> {
    let hour: i64 = hour.parse().ok()?;
    let day: jiff::civil::Date = date.parse().ok()?;
    let midnight = day
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()?
        .timestamp()
        .as_second();
    Some(midnight / 3600 + hour)
}

fn io(error: std::io::Error) -> SendError {
    SendError::Unavailable(error.to_string())
}

#[async_trait::async_trait]
impl Destination for FilesDestination {
    async fn send(&mut self, batch: &[StreamRecord]) -> Result<(), SendError> {
        // Disk work (appends, syncs, whole hour files) off the runtime's
        // workers, so the agent's lease keep-alive never waits for it.
        tokio::task::block_in_place(|| {
            let shards: BTreeSet<u32> = batch.iter().map(|r| r.shard).collect();
            for shard in &shards {
                self.scan(*shard);
            }
            self.append(batch).map_err(io)?;
            for shard in shards {
                let latest = self.latest.get(&shard).copied();
                self.publish_shard(shard, latest).map_err(io)?;
            }
            Ok(())
        })
    }

    async fn shard_finished(&mut self, shard: u32) -> Result<(), SendError> {
        tokio::task::block_in_place(|| {
            self.scan(shard);
            self.publish_shard(shard, None).map_err(io)
        })
    }

    fn batch_size(&self) -> usize {
        20_000
    }

    fn describe(&self) -> String {
        format!("files {}", self.root.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u64, shard: u32, at_ms: i64, stream: &str) -> StreamRecord {
        StreamRecord {
            run_id: "run-1".into(),
            shard,
            epoch: 1,
            event_id: id,
            stream: stream.into(),
            at_ms,
            parent_id: 0,
            entities: "{}".into(),
            data: "{}".into(),
            key: String::new(),
        }
    }

    fn ids(path: &Path) -> Vec<String> {
        fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(Event::parse)
            .map(|e| e.id)
            .collect()
    }

    /// 2026-02-02T00:00Z.
    const MIDNIGHT: i64 = 1_769_990_400_000;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn hours_appear_whole_once_over_and_a_repeated_hour_keeps_each_event_once() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().display().to_string();
        let mut files = FilesDestination::new(&path, "run-1", FileFormat::JsonLines);
        let first = files.published_path(0, "order.placed", MIDNIGHT / HOUR_MS);
        assert!(
            first.ends_with("run-1/order.placed/2026-02-02/00.shard-0.jsonl"),
            "{first:?}"
        );

        files
            .send(&[
                record(1, 0, MIDNIGHT + 10, "order.placed"),
                record(2, 0, MIDNIGHT + 20, "order.placed"),
            ])
            .await
            .expect("sent");
        assert!(!first.exists(), "the hour is not over yet");
        files
            .send(&[record(3, 0, MIDNIGHT + HOUR_MS + 5, "order.placed")])
            .await
            .expect("sent");
        assert_eq!(ids(&first), ["0000000000000001", "0000000000000002"]);

        // A new writer (the shard re-placed) generates from inside hour 0
        // again: event 2 repeats, event 4 is new.
        let mut again = FilesDestination::new(&path, "run-1", FileFormat::JsonLines);
        again
            .send(&[
                record(2, 0, MIDNIGHT + 20, "order.placed"),
                record(4, 0, MIDNIGHT + 30, "order.placed"),
            ])
            .await
            .expect("sent");
        again.shard_finished(0).await.expect("finished");
        assert_eq!(
            ids(&first),
            ["0000000000000001", "0000000000000002", "0000000000000004"]
        );
        let second = again.published_path(0, "order.placed", MIDNIGHT / HOUR_MS + 1);
        assert_eq!(
            ids(&second),
            ["0000000000000003"],
            "the partial hour the first writer left"
        );
        assert_eq!(hour_index("2026-02-02", "01"), Some(MIDNIGHT / HOUR_MS + 1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_parquet_hour_merges_a_repeated_hour_too() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().display().to_string();
        let mut files = FilesDestination::new(&path, "run-1", FileFormat::Parquet);
        files
            .send(&[
                record(1, 0, MIDNIGHT + 10, "order.placed"),
                record(2, 0, MIDNIGHT + 20, "order.placed"),
            ])
            .await
            .expect("sent");
        files.shard_finished(0).await.expect("finished");
        let mut again = FilesDestination::new(&path, "run-1", FileFormat::Parquet);
        again
            .send(&[
                record(2, 0, MIDNIGHT + 20, "order.placed"),
                record(3, 0, MIDNIGHT + 30, "order.placed"),
            ])
            .await
            .expect("sent");
        again.shard_finished(0).await.expect("finished");
        let hour = again.published_path(0, "order.placed", MIDNIGHT / HOUR_MS);
        assert!(hour.to_string_lossy().ends_with("00.shard-0.parquet"), "{hour:?}");
        let rows = parquet_file::read(&hour).expect("a parquet file");
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["0000000000000001", "0000000000000002", "0000000000000003"]);
        assert_eq!(rows[0].at_ms, MIDNIGHT + 10);
        assert_eq!(rows[0].parent, None);
    }
}
