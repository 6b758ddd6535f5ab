//! The embedded store's data files (`throng up --data-dir DIR`): every row
//! also appended to `sessions.jsonl`, `requests.jsonl`, `actions.jsonl`,
//! `browser_sessions.jsonl` and `stream_events.jsonl`, one JSON object per line with the column names of
//! the ClickHouse schema, so the files load elsewhere as they are
//! (`INSERT INTO sessions FORMAT JSONEachRow`).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::rows::{event_row, session_rows};
use super::{SessionRecord, StreamRecord};

pub struct DataFiles {
    dir: PathBuf,
    sessions: BufWriter<File>,
    requests: BufWriter<File>,
    actions: BufWriter<File>,
    browser_sessions: BufWriter<File>,
    events: BufWriter<File>,
}

fn append(dir: &Path, name: &str) -> std::io::Result<BufWriter<File>> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))?;
    Ok(BufWriter::new(file))
}

/// A row as one JSON line, its day number written as a date.
fn line<T: Serialize>(out: &mut BufWriter<File>, row: &T) -> std::io::Result<()> {
    let mut value = serde_json::to_value(row).map_err(std::io::Error::other)?;
    if let Some(day) = value.get("event_date").and_then(serde_json::Value::as_i64) {
        let date = jiff::Timestamp::from_second(day * 86_400)
            .map(|t| t.strftime("%Y-%m-%d").to_string())
            .unwrap_or_default();
        value["event_date"] = serde_json::Value::String(date);
    }
    serde_json::to_writer(&mut *out, &value).map_err(std::io::Error::other)?;
    out.write_all(b"\n")
}

impl DataFiles {
    pub fn open(dir: &Path) -> std::io::Result<DataFiles> {
        std::fs::create_dir_all(dir)?;
        Ok(DataFiles {
            dir: dir.to_path_buf(),
            sessions: append(dir, "sessions.jsonl")?,
            requests: append(dir, "requests.jsonl")?,
            actions: append(dir, "actions.jsonl")?,
            browser_sessions: append(dir, "browser_sessions.jsonl")?,
            events: append(dir, "stream_events.jsonl")?,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn write_session(&mut self, record: &SessionRecord) -> std::io::Result<()> {
        let rows = session_rows(record.clone());
        line(&mut self.sessions, &rows.session)?;
        for request in &rows.requests {
            line(&mut self.requests, request)?;
        }
        for action in &rows.actions {
            line(&mut self.actions, action)?;
        }
        if let Some(browser) = &rows.browser {
            line(&mut self.browser_sessions, browser)?;
        }
        Ok(())
    }

    pub fn write_events(&mut self, events: &[StreamRecord]) -> std::io::Result<()> {
        for event in events {
            line(&mut self.events, &event_row(event.clone()))?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.sessions.flush()?;
        self.requests.flush()?;
        self.actions.flush()?;
        self.browser_sessions.flush()?;
        self.events.flush()
    }
}
