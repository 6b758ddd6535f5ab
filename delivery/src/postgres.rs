//! PostgreSQL: each batch written with `COPY` into a session's staging
//! table, then moved into the sink's table (or a table per stream) with
//! `ON CONFLICT DO NOTHING`, in one transaction: a batch sent again after
//! an outage or a failover adds nothing, since the key is (run, id).
//!
//! The table, created when missing:
//! `(id char(16), run text, stream text, at timestamptz, at_ms bigint,
//! parent char(16) null, entities jsonb, data jsonb, shard int,
//! primary key (run, id))`.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use futures::SinkExt;
use throng_engine::delivery::event_id_text;
use throng_engine::spec::redact_url_password;
use throng_engine::streams::sinks::{STREAM_PLACEHOLDER, name_for};
use throng_engine::telemetry::StreamRecord;
use tokio_postgres::{Client, NoTls};

use crate::writer::{Destination, SendError};

const COLUMNS: &str = "id char(16) not null, run text not null, stream text not null, \
                       at timestamptz not null, at_ms bigint not null, parent char(16), \
                       entities jsonb not null, data jsonb not null, shard integer not null";

pub struct PostgresDestination {
    url: String,
    /// The table, or its pattern with `{stream}`.
    table: String,
    client: Option<Client>,
    /// Tables known to exist.
    ready: HashSet<String>,
}

impl PostgresDestination {
    pub fn new(url: &str, table: &str) -> PostgresDestination {
        PostgresDestination {
            url: url.to_string(),
            table: table.to_string(),
            client: None,
            ready: HashSet::new(),
        }
    }

    /// The connection, opened (again) when there is none.
    async fn client(&mut self) -> Result<&mut Client, SendError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            let (client, connection) = tokio_postgres::connect(&self.url, NoTls)
                .await
                .map_err(|e| SendError::Unavailable(e.to_string()))?;
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::warn!(%error, "postgres sink connection ended");
                }
            });
            client
                .batch_execute(&format!(
                    "CREATE TEMP TABLE IF NOT EXISTS throng_staging ({COLUMNS}) ON COMMIT DELETE ROWS"
                ))
                .await
                .map_err(unavailable)?;
            self.client = Some(client);
        }
        self.client
            .as_mut()
            .ok_or_else(|| SendError::Unavailable("no connection".into()))
    }

    async fn write(&mut self, batch: &[StreamRecord]) -> Result<(), SendError> {
        let mut by_table: BTreeMap<String, Vec<&StreamRecord>> = BTreeMap::new();
        for record in batch {
            let table = if self.table.contains(STREAM_PLACEHOLDER) {
                name_for(&self.table, &record.stream, Some('_'))
            } else {
                self.table.clone()
            };
            by_table.entry(table).or_default().push(record);
        }
        let missing: Vec<String> = by_table
            .keys()
            .filter(|t| !self.ready.contains(*t))
            .cloned()
            .collect();
        let client = self.client().await?;
        for table in &missing {
            // Two agents creating the same table at once: one of them
            // fails, and its batch is tried again.
            client
                .batch_execute(&format!(
                    "CREATE TABLE IF NOT EXISTS {table} ({COLUMNS}, PRIMARY KEY (run, id))"
                ))
                .await
                .map_err(unavailable)?;
        }
        let transaction = client.transaction().await.map_err(unavailable)?;
        for (table, records) in &by_table {
            let sink = transaction
                .copy_in("COPY throng_staging FROM STDIN WITH (FORMAT csv)")
                .await
                .map_err(classify)?;
            let mut sink = std::pin::pin!(sink);
            sink.send(Bytes::from(csv(records))).await.map_err(classify)?;
            sink.as_mut().finish().await.map_err(classify)?;
            transaction
                .batch_execute(&format!(
                    "INSERT INTO {table} SELECT * FROM throng_staging ON CONFLICT DO NOTHING; \
                     TRUNCATE throng_staging"
                ))
                .await
                .map_err(classify)?;
        }
        transaction.commit().await.map_err(unavailable)?;
        self.ready.extend(missing);
        Ok(())
    }
}

fn unavailable(error: tokio_postgres::Error) -> SendError {
    SendError::Unavailable(error.to_string())
}

/// A value the database refuses (bad data) is a refusal; anything else
/// (a lost connection, a server going down) is for later.
fn classify(error: tokio_postgres::Error) -> SendError {
    let refused = error.code().is_some_and(|code| {
        let class = &code.code()[..2];
        // 22: data exception, 23: integrity constraint violation.
        class == "22" || class == "23"
    });
    if refused {
        SendError::Rejected(error.to_string())
    } else {
        SendError::Unavailable(error.to_string())
    }
}

/// `text` as a quoted CSV field.
fn quoted(out: &mut String, text: &str) {
    out.push('"');
    out.push_str(&text.replace('"', "\"\""));
    out.push('"');
}

/// The records as CSV rows in the table's column order (a parent of 0 is
/// NULL: an empty unquoted field).
fn csv(records: &[&StreamRecord]) -> String {
    let mut out = String::with_capacity(records.len() * 300);
    for r in records {
        out.push_str(&event_id_text(r.event_id));
        out.push(',');
        quoted(&mut out, &r.run_id);
        out.push(',');
        quoted(&mut out, &r.stream);
        out.push(',');
        let at = jiff::Timestamp::from_millisecond(r.at_ms)
            .map(|t| t.to_string())
            .unwrap_or_default();
        out.push_str(&at);
        out.push(',');
        out.push_str(&r.at_ms.to_string());
        out.push(',');
        if r.parent_id != 0 {
            out.push_str(&event_id_text(r.parent_id));
        }
        out.push(',');
        quoted(&mut out, &r.entities);
        out.push(',');
        quoted(&mut out, &r.data);
        out.push(',');
        out.push_str(&r.shard.to_string());
        out.push('\n');
    }
    out
}

#[async_trait::async_trait]
impl Destination for PostgresDestination {
    async fn send(&mut self, batch: &[StreamRecord]) -> Result<(), SendError> {
        let result = self.write(batch).await;
        if let Err(SendError::Unavailable(_)) = &result {
            // Open a fresh connection next time.
            self.client = None;
        }
        result
    }

    fn batch_size(&self) -> usize {
        5_000
    }

    fn describe(&self) -> String {
        format!("postgres {}", redact_url_password(&self.url))
    }
}
