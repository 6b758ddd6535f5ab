//! An hour file in Parquet: one row group, a column per part of an event
//! (`id`, `run`, `stream`, `at` as a UTC timestamp in milliseconds, `parent`
//! (null for a root event), `entities` and `data` as JSON text),
//! Snappy-compressed. Read back only to merge an hour published before.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::record::Field;
use parquet::schema::parser::parse_message_type;

const SCHEMA: &str = "
message stream_event {
  required binary id (STRING);
  required binary run (STRING);
  required binary stream (STRING);
  required int64 at (TIMESTAMP(MILLIS,true));
  optional binary parent (STRING);
  required binary entities (JSON);
  required binary data (JSON);
}";

/// One event's columns.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub id: String,
    pub run: String,
    pub stream: String,
    pub at_ms: i64,
    pub parent: Option<String>,
    pub entities: String,
    pub data: String,
}

fn error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Writes `rows` to `path` (created or replaced).
pub fn write(path: &Path, rows: &[Row]) -> std::io::Result<()> {
    let schema = Arc::new(parse_message_type(SCHEMA).map_err(error)?);
    let properties = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let file = File::create(path)?;
    let mut writer = SerializedFileWriter::new(file, schema, properties).map_err(error)?;
    let mut group = writer.next_row_group().map_err(error)?;
    let text = |pick: fn(&Row) -> &str| -> Vec<ByteArray> {
        rows.iter().map(|r| ByteArray::from(pick(r))).collect()
    };
    let mut index = 0;
    while let Some(mut column) = group.next_column().map_err(error)? {
        match index {
            3 => {
                let at: Vec<i64> = rows.iter().map(|r| r.at_ms).collect();
                column
                    .typed::<Int64Type>()
                    .write_batch(&at, None, None)
                    .map_err(error)?;
            }
            4 => {
                let present: Vec<ByteArray> = rows
                    .iter()
                    .filter_map(|r| r.parent.as_deref().map(ByteArray::from))
                    .collect();
                let levels: Vec<i16> = rows.iter().map(|r| i16::from(r.parent.is_some())).collect();
                column
                    .typed::<ByteArrayType>()
                    .write_batch(&present, Some(&levels), None)
                    .map_err(error)?;
            }
            _ => {
                let values = match index {
                    0 => text(|r| &r.id),
                    1 => text(|r| &r.run),
                    2 => text(|r| &r.stream),
                    5 => text(|r| &r.entities),
                    _ => text(|r| &r.data),
                };
                column
                    .typed::<ByteArrayType>()
                    .write_batch(&values, None, None)
                    .map_err(error)?;
            }
        }
        column.close().map_err(error)?;
        index += 1;
    }
    group.close().map_err(error)?;
    writer.close().map_err(error)?;
    Ok(())
}

impl Row {
    /// The row of an event's JSON line, as sinks write it.
    pub fn from_line(line: &str) -> Option<Row> {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        let text = |name: &str| value.get(name)?.as_str().map(str::to_string);
        Some(Row {
            id: text("id")?,
            run: text("run")?,
            stream: text("stream")?,
            at_ms: value.get("at_ms")?.as_i64()?,
            parent: text("parent"),
            entities: value.get("entities")?.to_string(),
            data: value.get("data")?.to_string(),
        })
    }
}

fn text(field: &Field) -> Option<String> {
    match field {
        Field::Str(s) => Some(s.clone()),
        Field::Bytes(b) => Some(String::from_utf8_lossy(b.data()).to_string()),
        _ => None,
    }
}

/// Reads back what [`write`] wrote.
pub fn read(path: &Path) -> std::io::Result<Vec<Row>> {
    let reader = SerializedFileReader::new(File::open(path)?).map_err(error)?;
    let mut rows = Vec::new();
    for row in reader.get_row_iter(None).map_err(error)? {
        let row = row.map_err(error)?;
        let fields: Vec<&Field> = row.get_column_iter().map(|(_, f)| f).collect();
        let [id, run, stream, at, parent, entities, data] = fields.as_slice() else {
            return Err(error("an hour file of another shape"));
        };
        let at_ms = match at {
            Field::TimestampMillis(ms) | Field::Long(ms) => *ms,
            _ => return Err(error("`at` is not a timestamp")),
        };
        let need = |f: &Field, name: &str| text(f).ok_or_else(|| error(format!("`{name}` is not text")));
        rows.push(Row {
            id: need(id, "id")?,
            run: need(run, "run")?,
            stream: need(stream, "stream")?,
            at_ms,
            parent: text(parent),
            entities: need(entities, "entities")?,
            data: need(data, "data")?,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_back_as_written() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("00.shard-0.parquet");
        let rows = vec![
            Row {
                id: "00000000000000ab".into(),
                run: "run-1".into(),
                stream: "customer.login".into(),
                at_ms: 1_770_000_000_123,
                parent: None,
                entities: r#"{"customer":7}"#.into(),
                data: r#"{"device":"mobile"}"#.into(),
            },
            Row {
                id: "00000000000000ac".into(),
                run: "run-1".into(),
                stream: "customer.login".into(),
                at_ms: 1_770_000_000_200,
                parent: Some("00000000000000ab".into()),
                entities: "{}".into(),
                data: "{}".into(),
            },
        ];
        write(&path, &rows).expect("written");
        assert_eq!(read(&path).expect("read"), rows);
    }
}
